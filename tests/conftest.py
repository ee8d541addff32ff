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
# daemons with null sinks; PortAudio (sounddevice, pyaudio) reaches their monitors through ALSA's pulse plugin, as
# PCMs defined in an ALSA config file written to the temp folder. Needs the apt packages in PULSE_APT_PACKAGES and
# the 'live' extra; without them these tests FAIL (set HOTLINE_SKIP_AUDIO_SERVER=1 to skip them instead).

PULSE_APT_PACKAGES = "pulseaudio pulseaudio-utils portaudio19-dev libasound2-plugins"
_ALSA_SYSTEM_CONF = ("/usr/share/alsa/alsa.conf", "/usr/local/share/alsa/alsa.conf")


def _audio_server_missing(what: str) -> None:
    import os

    if os.environ.get("HOTLINE_SKIP_AUDIO_SERVER") == "1":
        pytest.skip(f"audio_server tier skipped (HOTLINE_SKIP_AUDIO_SERVER=1): {what}")
    pytest.fail(f"{what}; the audio_server tier needs `apt-get install -y {PULSE_APT_PACKAGES}` and "
                "`pip install '.[live]'` (or set HOTLINE_SKIP_AUDIO_SERVER=1 to skip it)", pytrace=False)  # fmt: skip


class PulseServer:
    """One private PulseAudio daemon: no config files, an anonymous unix socket in its own folder, null sinks.

    Tests may break it (`unload_sink`, `kill`, `freeze`); `restore()` brings it back as it started.
    """

    def __init__(self, root: Path, name: str, sinks: dict[str, int]):
        self.name = name
        self.sinks = dict(sinks)  # sink name -> sample rate
        self.dir = root / name
        self.socket = self.dir / "native"
        self.log = self.dir / "pulse.log"
        self.process = None

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    def start(self, timeout_s: float = 15.0) -> None:
        import os
        import subprocess
        import time

        for sub in ("runtime", "state"):
            (self.dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        env.update(XDG_RUNTIME_DIR=str(self.dir / "runtime"), PULSE_RUNTIME_PATH=str(self.dir / "runtime"),
                   PULSE_STATE_PATH=str(self.dir / "state"))  # fmt: skip
        cmd = [
            "pulseaudio", "--daemonize=no", "--system=no", "-n", "--exit-idle-time=-1", "--disable-shm=yes",
            "--realtime=no", "--high-priority=no", "--use-pid-file=no", "--log-target=stderr",
            f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
        ] + [f"--load=module-null-sink sink_name={s} rate={r}" for s, r in self.sinks.items()]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"PulseAudio {self.name!r} exited with {self.process.returncode}: {self.log_tail()}", pytrace=False)
            cmd = ["pactl", "-s", self.address, "list", "short", "sinks"]
            ok = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
            if ok.returncode == 0 and all(f"\t{s}\t" in ok.stdout for s in self.sinks):
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"PulseAudio {self.name!r} did not come up within {timeout_s:g} s: {self.log_tail()}", pytrace=False)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pactl(self, *args: str) -> str:
        import subprocess

        out = subprocess.run(["pactl", "-s", self.address, *args], capture_output=True, text=True, timeout=10, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} on {self.name!r} failed: {out.stderr.strip()}")
        return out.stdout

    def play(self, sink: str, wav: Path):
        """Start `paplay` into `sink`; the caller waits for (or kills) the returned process."""
        import subprocess

        return subprocess.Popen(["paplay", "-s", self.address, f"--device={sink}", str(wav)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def sink_modules(self) -> dict[str, int]:
        found = {}
        for line in self.pactl("list", "short", "modules").splitlines():
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1] == "module-null-sink":
                for arg in cols[2].split():
                    if arg.startswith("sink_name="):
                        found[arg.split("=", 1)[1]] = int(cols[0])
        return found

    def unload_sink(self, sink: str) -> None:
        self.pactl("unload-module", str(self.sink_modules()[sink]))

    def kill(self) -> None:
        """A crash: SIGKILL, no goodbye to the clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        """A hang: SIGSTOP. The clients' streams stay open and deliver nothing."""
        import signal

        self.process.send_signal(signal.SIGSTOP)

    def restore(self) -> None:
        """Back to how it started: thawed (or restarted if it died) with all its sinks."""
        import signal

        if self.process is None or self.process.poll() is not None:
            self.start()
            return
        self.process.send_signal(signal.SIGCONT)
        present = self.sink_modules()
        for sink, rate in self.sinks.items():
            if sink not in present:
                self.pactl("load-module", "module-null-sink", f"sink_name={sink}", f"rate={rate}")

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class PulseRig:
    """The audio rig: `main` has `callsink` (16 kHz) and `opsink` (48 kHz); `spare` has one sink, `unplugsink`,
    that tests unplug, crash or freeze (it is the daemon's only sink, so PulseAudio cannot move the streams
    elsewhere). `pcm[name]` is the PortAudio device name recording that sink's monitor."""

    def __init__(self, root: Path):
        self.root = root
        self.main = PulseServer(root, "main", {"callsink": 16000, "opsink": 48000})
        self.spare = PulseServer(root, "spare", {"unplugsink": 16000})
        self.pcm = {"callsink": "hotline_callsink", "opsink": "hotline_opsink", "unplugsink": "hotline_unplug"}
        self.alsa_conf = root / "asound.conf"
        self.client_conf = root / "client.conf"

    def write_config(self) -> None:
        servers = {"callsink": self.main, "opsink": self.main, "unplugsink": self.spare}
        self.alsa_conf.write_text("".join(
            f'pcm.{self.pcm[sink]} {{\n    type pulse\n    server "{srv.address}"\n    device "{sink}.monitor"\n}}\n'
            for sink, srv in servers.items()
        ))  # fmt: skip
        # no autospawn: a client that loses its server must not start a stray default daemon
        self.client_conf.write_text("autospawn = no\nenable-shm = no\n")


@pytest.fixture(scope="session")
def pulse_audio(tmp_path_factory) -> Iterator[PulseRig]:
    """Private PulseAudio daemons for the session (see PulseRig), and the environment that points ALSA,
    PortAudio, paplay and pactl at them; everything is undone at the end."""
    import glob
    import importlib.util
    import shutil
    import sys
    import tempfile

    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            _audio_server_missing(f"`{tool}` is not installed")
    plugin = "alsa-lib/libasound_module_pcm_pulse.so"
    if not any(glob.glob(f"{lib}/{plugin}") for lib in ("/usr/lib/*", "/usr/lib", "/usr/lib64", "/usr/local/lib")):
        _audio_server_missing("ALSA's pulse plugin (libasound_module_pcm_pulse.so, package libasound2-plugins) is not installed")
    system_conf = next((p for p in _ALSA_SYSTEM_CONF if Path(p).is_file()), None)
    if system_conf is None:
        _audio_server_missing(f"no ALSA system configuration ({' or '.join(_ALSA_SYSTEM_CONF)})")
    for module in ("sounddevice", "pyaudio"):
        if importlib.util.find_spec(module) is None:
            _audio_server_missing(f"the Python package {module} is not installed")

    root = tmp_path_factory.mktemp("pulse")
    own_root = len(str(root / "spare" / "native")) > 100  # a unix socket path must fit in 108 bytes
    if own_root:
        root = Path(tempfile.mkdtemp(prefix="hotline-pulse-", dir="/tmp"))
    rig = PulseRig(root)
    rig.write_config()
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PULSE_SOURCE", "PULSE_SINK", "PULSE_RUNTIME_PATH", "PULSE_STATE_PATH"):
            mp.delenv(var, raising=False)
        mp.setenv("ALSA_CONFIG_PATH", f"{system_conf}:{rig.alsa_conf}")  # the system config, then our PCMs
        mp.setenv("PULSE_SERVER", rig.main.address)  # ALSA's `pulse`/`default` devices, paplay, pactl
        mp.setenv("PULSE_CLIENTCONFIG", str(rig.client_conf))
        try:
            rig.main.start()
            rig.spare.start()
            if "sounddevice" in sys.modules:  # PortAudio lists devices when it initialises: rescan with the rig up
                sd = sys.modules["sounddevice"]
                sd._terminate()
                sd._initialize()
            yield rig
        finally:
            rig.spare.stop()
            rig.main.stop()
            if own_root:
                shutil.rmtree(root, ignore_errors=True)
