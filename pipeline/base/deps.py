"""Optional dependencies: import on demand, or fail with the exact install line."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import `module`, or raise ImportError saying `purpose` needs it and which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{purpose} needs {module.split('.')[0]}: pip install 'hotline[{extra}]'") from None
