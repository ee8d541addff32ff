"""Value types, configuration and orchestration. Importing the package loads only the value types and errors;
orchestration lives in `pipeline.batch`, `pipeline.ticket` and is imported from there."""

from .errors import AudioDecodeError, ConfigError, HotlineError, ModelError, StageError
from .types import (
    AudioChunk,
    Evidence,
    LocationField,
    LocationParts,
    Segment,
    TextDoc,
    TicketDraft,
    TicketField,
    Token,
    Transcript,
    Word,
)

__all__ = [
    "AudioChunk", "AudioDecodeError", "ConfigError", "Evidence", "HotlineError", "LocationField", "LocationParts",
    "ModelError", "Segment", "StageError", "TextDoc", "TicketDraft", "TicketField", "Token", "Transcript", "Word",
]  # fmt: skip
