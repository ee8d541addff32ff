"""The base layer: value types, errors, typed config, the stage registry and the Chinese-text helpers
(segmenter, numerals, personal-number masking, the domain vocabulary).

Every other package may import it; it imports nothing of the project above it (the import-linter
contracts in pyproject.toml keep it so). Importing it loads only the value types and errors.
"""

from .errors import AudioDecodeError, CaptureError, ConfigError, HotlineError, ModelError, StageError
from .types import (
    AudioChunk,
    CallResult,
    Evidence,
    LocationField,
    LocationParts,
    Segment,
    TextDoc,
    TicketDraft,
    TicketField,
    Token,
    Transcript,
    UrgencyField,
    Word,
)

__all__ = [
    "AudioChunk", "AudioDecodeError", "CallResult", "CaptureError", "ConfigError", "Evidence", "HotlineError",
    "LocationField", "LocationParts", "ModelError", "Segment", "StageError", "TextDoc", "TicketDraft", "TicketField",
    "Token", "Transcript", "UrgencyField", "Word",
]  # fmt: skip
