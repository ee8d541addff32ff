"""The package's exceptions. Each message names the file or value at fault and, where there is one, the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

__all__ = ["AudioDecodeError", "CaptureError", "ConfigError", "HotlineError", "ModelError", "StageError"]


class HotlineError(Exception):
    """Base class of every error this package raises on purpose."""


class AudioDecodeError(HotlineError, RuntimeError):
    """An audio file could not be read. `path` names the file, `reason` says why in one line."""

    def __init__(self, path: Union[str, Path], reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"Error reading audio {self.path!r}: {reason}")


class ModelError(HotlineError, RuntimeError):
    """A model is missing, corrupt or cannot be loaded; the message says how to fix it."""


class ConfigError(HotlineError, ValueError):
    """A configuration value is invalid; the message names the field and the value."""

    def __init__(self, field: str, value: object, expected: str, source: Optional[str] = None):
        self.field = field
        self.value = value
        self.expected = expected
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"Invalid {field}={value!r}{where}: {expected}")

    def in_file(self, source: Optional[str]) -> "ConfigError":
        """This error naming the config file `source` too (for what is found after the file was read: a stage's
        options are checked when the stage is built). One that already names a file comes back as it is."""
        if not source or self.source:
            return self
        return ConfigError(self.field, self.value, self.expected, source)


class StageError(HotlineError, RuntimeError):
    """A pipeline stage failed or returned the wrong type; the message names the stage."""


class CaptureError(HotlineError, RuntimeError):
    """Live capture from a sound device failed: no such device, busy, or lost mid-call.

    `device` names the device (or the spec that matched none), `reason` says why in one line.
    """

    def __init__(self, device: str, reason: str):
        self.device = device
        self.reason = reason
        super().__init__(f"Audio capture from {device!r} failed: {reason}")
