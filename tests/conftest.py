"""Shared fixtures (only here). The `model` tier loads the real embedded Whisper base model once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pytest

from pipeline.base.types import Segment

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "audio_samples"


class FakeEngine:
    """Implements the engine protocol with scripted segments: `script[speaker]` is a list of (start_s, end_s, text)."""

    def __init__(self, script: Optional[dict] = None, model: str = "fake"):
        self.script = script or {None: [(0.0, 1.0, "测试")]}
        self.calls: list[tuple[int, Optional[str]]] = []

        class _Info:
            pass

        self.info = _Info()
        self.info.model = model

    def transcribe(self, samples: np.ndarray, speaker: Optional[str] = None, offset_s: float = 0.0) -> Iterator[Segment]:
        self.calls.append((len(samples), speaker))
        for i, (start, end, text) in enumerate(self.script.get(speaker, [])):
            yield Segment(i, start + offset_s, end + offset_s, text, speaker)


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_interrupts():
    """Ctrl-C raises KeyboardInterrupt in the tests, as in a terminal, even when the test run itself was started
    with SIGINT ignored (a background job of a shell without job control, `nohup`): Python then installs no
    handler, and the tests of what Ctrl-C does would see nothing happen. The fault tests' child processes set
    the same handler themselves (tests/fault_runner.py)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="session")
def engine():
    """The real Whisper engine with default options (Whisper base from the PyPI packages)."""
    from asr.engine import WhisperEngine
    from pipeline.base.config import AsrOptions

    return WhisperEngine(AsrOptions())


@pytest.fixture(scope="session")
def ticket_builder():
    from pipeline.ticket import TicketBuilder

    return TicketBuilder()


@pytest.fixture(scope="session")
def segmenter():
    """One jieba segmenter with the domain dictionary (loading it takes about a second)."""
    from pipeline.base.segmenter import JiebaSegmenter

    return JiebaSegmenter()


@pytest.fixture
def registry():
    """A fresh registry with every shipped stage."""
    from pipeline.ticket import default_registry

    return default_registry()


# ---------------------------------------------------------------------------------------------------------------
# The `audio_server` tier (tests/test_capture_pulse.py): live capture through a real audio path. Private PulseAudio
# daemons with null sinks (tests/pulse.py); PortAudio (sounddevice, pyaudio) reaches their monitors through ALSA's
# pulse plugin, as PCMs defined in an ALSA config file written to the temp folder. Needs the apt packages in
# PULSE_APT_PACKAGES and the 'live' extra; without them these tests FAIL (set HOTLINE_SKIP_AUDIO_SERVER=1 to skip
# them instead).


def _audio_server_missing(what: str) -> None:
    import os

    from tests.pulse import PULSE_APT_PACKAGES

    if os.environ.get("HOTLINE_SKIP_AUDIO_SERVER") == "1":
        pytest.skip(f"audio_server tier skipped (HOTLINE_SKIP_AUDIO_SERVER=1): {what}")
    pytest.fail(f"{what}; the audio_server tier needs `apt-get install -y {PULSE_APT_PACKAGES}` and "
                "`pip install '.[live]'` (or set HOTLINE_SKIP_AUDIO_SERVER=1 to skip it)", pytrace=False)  # fmt: skip


class PulseRig:
    """The audio rig: `main` has `callsink` (16 kHz) and `opsink` (48 kHz); `spare` has one sink, `unplugsink`,
    that tests unplug, crash or freeze (it is the daemon's only sink, so PulseAudio cannot move the streams
    elsewhere). `pcm[name]` is the PortAudio device name recording that sink's monitor."""

    def __init__(self, root: Path):
        from tests.pulse import PulseServer

        self.root = root
        self.main = PulseServer(root, "main", {"callsink": 16000, "opsink": 48000})
        self.spare = PulseServer(root, "spare", {"unplugsink": 16000})
        self.pcm = {"callsink": "hotline_callsink", "opsink": "hotline_opsink", "unplugsink": "hotline_unplug"}
        self.alsa_conf = root / "asound.conf"
        self.client_conf = root / "client.conf"

    def write_config(self) -> None:
        from tests.pulse import write_alsa_config, write_client_config

        servers = {"callsink": self.main, "opsink": self.main, "unplugsink": self.spare}
        write_alsa_config(self.alsa_conf, {self.pcm[sink]: (srv, sink) for sink, srv in servers.items()})
        write_client_config(self.client_conf)


@pytest.fixture(scope="session")
def pulse_audio(tmp_path_factory) -> Iterator[PulseRig]:
    """Private PulseAudio daemons for the session (see PulseRig), and the environment that points ALSA,
    PortAudio, paplay and pactl at them; everything is undone at the end."""
    import shutil

    from tests.pulse import client_environment, missing_requirement, rescan_portaudio, socket_root

    missing = missing_requirement(("sounddevice", "pyaudio"))
    if missing is not None:
        _audio_server_missing(missing)
    root, own_root = socket_root(tmp_path_factory.mktemp("pulse"), "spare")
    rig = PulseRig(root)
    rig.write_config()
    with pytest.MonkeyPatch.context() as mp:
        for var, value in client_environment(rig.alsa_conf, rig.client_conf, rig.main).items():
            if value is None:
                mp.delenv(var, raising=False)
            else:
                mp.setenv(var, value)
        try:
            try:
                rig.main.start()
                rig.spare.start()
            except RuntimeError as e:
                pytest.fail(str(e), pytrace=False)
            rescan_portaudio()
            yield rig
        finally:
            rig.spare.stop()
            rig.main.stop()
            if own_root:
                shutil.rmtree(root, ignore_errors=True)
