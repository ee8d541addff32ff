"""The console server's settings: one frozen dataclass, checked at construction (errors name the field)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pipeline.base.errors import ConfigError

__all__ = ["ServerSettings", "default_data_dir", "default_decode_workers", "default_max_live"]

SAMPLE_RATE_HZ = 16000


def default_max_live() -> int:
    """Live calls served at once by default: one per CPU core (`os.cpu_count()`). Whisper base decodes a live
    call's windows in roughly a quarter of real time on one core, and by default each core runs one decode at a
    time (`default_decode_workers`), so more live calls than cores would only make each of them lag; calls
    beyond the limit are recorded and drafted after hang-up (README, "Operator console")."""
    return max(1, os.cpu_count() or 1)


def default_decode_workers(max_live: int) -> int:
    """Whisper decodes run at once by default: one per live call, up to the CPU cores, each on its share of
    them (`AsrOptions.workers`, `DecodeScheduler`). With no live calls at all, one (recorded calls are drafted
    one after the other)."""
    return max(1, min(max_live, os.cpu_count() or 1))


def default_data_dir() -> Path:
    """Where recordings go by default: the user's data directory for hotline (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("hotline"))


@dataclass(frozen=True)
class ServerSettings:
    """What `hotline serve` runs with.

    Attributes:
        host, port: where the server listens (`port` 0: any free port, for tests).
        max_live: live calls at once; a call beyond it is recorded and drafted after hang-up (default: the CPU
            count, `default_max_live`).
        data_dir: recordings are written under data_dir/recordings.
        max_frame_bytes: the largest websocket audio frame (int16 PCM) accepted; 64000 bytes is 2 s at 16 kHz.
        max_call_s: a call is ended (and drafted) after this many seconds of audio.
        max_upload_mb: the largest recording accepted by POST /api/uploads, in MiB.
        session_ttl_h: how long a login lasts.
        allowed_origins: websocket Origins accepted besides the server's own (e.g. a reverse proxy's public
            name), as "scheme://host[:port]".
        login_max_failures, login_window_s: wrong passwords allowed per account name and client address in the
            window; further logins are answered 429 until the oldest failure leaves the window.
        static_dir: the page's files (default: the package's static folder).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_live: int = field(default_factory=default_max_live)
    data_dir: Path = field(default_factory=default_data_dir)
    max_frame_bytes: int = 64000
    max_call_s: float = 7200.0
    max_upload_mb: float = 200.0
    session_ttl_h: float = 12.0
    allowed_origins: tuple[str, ...] = ()
    login_max_failures: int = 5
    login_window_s: float = 300.0
    static_dir: Optional[Path] = None

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, expected: str) -> None:
            if not ok:
                raise ConfigError(name, getattr(self, name), expected)

        def integer(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def number(v: object) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v

        check("host", isinstance(self.host, str) and bool(self.host), "a host name or address, e.g. 127.0.0.1")
        check("port", integer(self.port) and 0 <= self.port <= 65535, "a port number 0-65535")
        check("max_live", integer(self.max_live) and self.max_live >= 0, "a whole number >= 0 (0: no live calls)")
        check("max_frame_bytes", integer(self.max_frame_bytes) and self.max_frame_bytes >= 2, "a whole number of bytes >= 2")
        for name in ("max_call_s", "max_upload_mb", "session_ttl_h", "login_window_s"):
            check(name, number(getattr(self, name)) and getattr(self, name) > 0, "a number > 0")
        check("login_max_failures", integer(self.login_max_failures) and self.login_max_failures >= 1, "a whole number >= 1")
        origins_ok = isinstance(self.allowed_origins, tuple) and all(
            isinstance(o, str) and o.startswith(("http://", "https://")) and not o.endswith("/") for o in self.allowed_origins
        )
        check("allowed_origins", origins_ok, 'a tuple of origins like "https://hotline.example.org" (no path, no trailing /)')
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.static_dir is not None:
            object.__setattr__(self, "static_dir", Path(self.static_dir))

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_call_samples(self) -> int:
        return int(self.max_call_s * SAMPLE_RATE_HZ)

    @property
    def static_path(self) -> Path:
        return self.static_dir if self.static_dir is not None else Path(__file__).resolve().parent / "static"
