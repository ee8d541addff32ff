"""hotline's core: `pipeline.base` is the bottom layer (value types, errors, config, registry, Chinese-text
helpers) that every package may import; the other modules here are the orchestration on top of asr, classify
and summarize (`pipeline.call`: the one call object; `batch`, `live`, `ticket`, `output`, `view`).

Importing the package loads only the base layer's value types and errors, re-exported here.
"""

from .base import *  # noqa: F403
from .base import __all__  # noqa: F401
