"""Private PulseAudio servers for capture through a real audio path, without pytest (the `audio_server` test
tier builds its rig on this in conftest.py; `bench/stream.py --capture` uses `PrivatePulse`).

A server is a `pulseaudio` daemon with no config files, an anonymous unix socket in its own folder and null
sinks. PortAudio (sounddevice, pyaudio) reaches a sink's `.monitor` through ALSA's pulse plugin, as a PCM
defined in an ALSA config file; `client_environment` gives the variables that point ALSA, PortAudio, paplay
and pactl at it. They must be in the environment before PortAudio initialises (`rescan_portaudio` makes an
already initialised sounddevice list the devices again).

Needs the apt packages in PULSE_APT_PACKAGES; `missing_requirement` says what is missing. Failures raise
RuntimeError with the server's name and the tail of its log.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

__all__ = [
    "ALSA_SYSTEM_CONF", "PULSE_APT_PACKAGES", "PrivatePulse", "PulseServer", "alsa_system_conf", "client_environment",
    "missing_requirement", "rescan_portaudio", "socket_root", "write_alsa_config", "write_client_config",
]  # fmt: skip

PULSE_APT_PACKAGES = "pulseaudio pulseaudio-utils portaudio19-dev libasound2-plugins"
ALSA_SYSTEM_CONF = ("/usr/share/alsa/alsa.conf", "/usr/local/share/alsa/alsa.conf")
_PULSE_PLUGIN = "alsa-lib/libasound_module_pcm_pulse.so"
_SOCKET_PATH_MAX = 100  # a unix socket path must fit in 108 bytes
_UNSET = ("PULSE_SOURCE", "PULSE_SINK", "PULSE_RUNTIME_PATH", "PULSE_STATE_PATH")  # would redirect our clients


def alsa_system_conf() -> Optional[str]:
    """ALSA's own configuration file (ALSA_CONFIG_PATH replaces it, so it must be named first), or None."""
    return next((p for p in ALSA_SYSTEM_CONF if Path(p).is_file()), None)


def missing_requirement(python_modules: Sequence[str] = ("sounddevice",)) -> Optional[str]:
    """What is missing to run a private server and record it through PortAudio, or None when nothing is."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    if not any(glob.glob(f"{lib}/{_PULSE_PLUGIN}") for lib in ("/usr/lib/*", "/usr/lib", "/usr/lib64", "/usr/local/lib")):
        return "ALSA's pulse plugin (libasound_module_pcm_pulse.so, package libasound2-plugins) is not installed"
    if alsa_system_conf() is None:
        return f"no ALSA system configuration ({' or '.join(ALSA_SYSTEM_CONF)})"
    for module in python_modules:
        if importlib.util.find_spec(module) is None:
            return f"the Python package {module} is not installed"
    return None


def socket_root(root: Path, longest_name: str = "server") -> tuple[Path, bool]:
    """`root`, or a fresh short folder under /tmp when `root/<longest_name>/native` is too long for a unix
    socket. Returns (folder, whether it is a new one the caller must remove)."""
    if len(str(root / longest_name / "native")) <= _SOCKET_PATH_MAX:
        return root, False
    return Path(tempfile.mkdtemp(prefix="hotline-pulse-", dir="/tmp")), True


class PulseServer:
    """One private PulseAudio daemon: no config files, an anonymous unix socket in its own folder, null sinks.

    Tests may break it (`unload_sink`, `kill`, `freeze`); `restore()` brings it back as it started.

    Args:
        root: the folder that gets this server's folder (`root/name`: socket, log, runtime and state).
        name: the server's name (its folder, and the name in error messages).
        sinks: sink name -> sample rate in Hz.
    """

    def __init__(self, root: Path, name: str, sinks: Mapping[str, int]):
        self.name = name
        self.sinks = dict(sinks)
        self.dir = root / name
        self.socket = self.dir / "native"
        self.log = self.dir / "pulse.log"
        self.process: Optional[subprocess.Popen] = None

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    def start(self, timeout_s: float = 15.0) -> None:
        """Start the daemon and wait until every sink is listed.

        Raises:
            RuntimeError: the daemon exited, or its sinks did not appear within `timeout_s` (the message has
                the tail of its log).
        """
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
                raise RuntimeError(f"PulseAudio {self.name!r} exited with {self.process.returncode}: {self.log_tail()}")
            cmd = ["pactl", "-s", self.address, "list", "short", "sinks"]
            ok = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
            if ok.returncode == 0 and all(f"\t{s}\t" in ok.stdout for s in self.sinks):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PulseAudio {self.name!r} did not come up within {timeout_s:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pactl(self, *args: str) -> str:
        out = subprocess.run(["pactl", "-s", self.address, *args], capture_output=True, text=True, timeout=10, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} on {self.name!r} failed: {out.stderr.strip()}")
        return out.stdout

    def play(self, sink: str, wav: Path) -> subprocess.Popen:
        """Start `paplay` into `sink`; the caller waits for (or kills) the returned process. paplay exits
        once the sink has played the whole file (it drains its stream)."""
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
        self.process.send_signal(signal.SIGSTOP)

    def restore(self) -> None:
        """Back to how it started: thawed (or restarted if it died) with all its sinks."""
        if self.process is None or self.process.poll() is not None:
            self.start()
            return
        self.process.send_signal(signal.SIGCONT)
        present = self.sink_modules()
        for sink, rate in self.sinks.items():
            if sink not in present:
                self.pactl("load-module", "module-null-sink", f"sink_name={sink}", f"rate={rate}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def write_alsa_config(path: Path, pcms: Mapping[str, tuple[PulseServer, str]]) -> None:
    """Write an ALSA config defining one PCM per entry, `pcm name -> (server, sink)`, that records the
    sink's monitor through ALSA's pulse plugin (PortAudio lists it under that name)."""
    path.write_text("".join(
        f'pcm.{pcm} {{\n    type pulse\n    server "{srv.address}"\n    device "{sink}.monitor"\n}}\n'
        for pcm, (srv, sink) in pcms.items()
    ))  # fmt: skip


def write_client_config(path: Path) -> None:
    """A PulseAudio client config without autospawn: a client that loses its server must not start a stray
    default daemon."""
    path.write_text("autospawn = no\nenable-shm = no\n")


def client_environment(alsa_conf: Path, client_conf: Path, server: PulseServer) -> dict[str, Optional[str]]:
    """The environment that points ALSA (hence PortAudio), paplay and pactl at `server` and the PCMs of
    `alsa_conf`: variable -> value, None meaning "unset it".

    Raises:
        RuntimeError: there is no ALSA system configuration to name before `alsa_conf`.
    """
    system_conf = alsa_system_conf()
    if system_conf is None:
        raise RuntimeError(f"no ALSA system configuration ({' or '.join(ALSA_SYSTEM_CONF)})")
    env: dict[str, Optional[str]] = dict.fromkeys(_UNSET)
    env.update(
        ALSA_CONFIG_PATH=f"{system_conf}:{alsa_conf}",  # the system config, then our PCMs
        PULSE_SERVER=server.address,  # ALSA's `pulse`/`default` devices, paplay, pactl
        PULSE_CLIENTCONFIG=str(client_conf),
    )
    return env


def rescan_portaudio() -> None:
    """PortAudio lists the devices when it initialises: make an already imported sounddevice list them again."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


class PrivatePulse:
    """One private server with null sinks, set up for this process: PCMs `hotline_<sink>` recording each sink's
    monitor, and `os.environ` pointing ALSA, PortAudio, paplay and pactl at it until `close()` (then it is put
    back as it was). For a benchmark or a script; tests use the `pulse_audio` fixture.

    Use as a context manager. Set up before sounddevice is imported, or it is made to rescan its devices.

    Args:
        sinks: sink name -> sample rate in Hz.
        root: where the server's files go (default: a fresh folder under /tmp, removed at the end).

    Raises:
        RuntimeError: something needed is not installed (the message names the apt packages), or the
            server does not come up.
    """

    def __init__(self, sinks: Mapping[str, int], root: Optional[Path] = None, name: str = "server"):
        missing = missing_requirement(())
        if missing is not None:
            raise RuntimeError(f"{missing}; a private PulseAudio server needs `apt-get install -y {PULSE_APT_PACKAGES}`")
        if root is None:
            self.root, self._own_root = Path(tempfile.mkdtemp(prefix="hotline-pulse-", dir="/tmp")), True
        else:
            self.root, self._own_root = socket_root(root, name)
        self.server = PulseServer(self.root, name, sinks)
        self.pcm = {sink: f"hotline_{sink}" for sink in sinks}
        self.alsa_conf = self.root / "asound.conf"
        self.client_conf = self.root / "client.conf"
        self._saved_env: dict[str, Optional[str]] = {}

    def __enter__(self) -> "PrivatePulse":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        write_alsa_config(self.alsa_conf, {pcm: (self.server, sink) for sink, pcm in self.pcm.items()})
        write_client_config(self.client_conf)
        env = client_environment(self.alsa_conf, self.client_conf, self.server)
        self._saved_env = {k: os.environ.get(k) for k in env}
        _apply(env)
        try:
            self.server.start()
            rescan_portaudio()
        except BaseException:
            self.close()
            raise

    def play(self, sink: str, wav: Path) -> subprocess.Popen:
        return self.server.play(sink, wav)

    def close(self) -> None:
        self.server.stop()
        if self._saved_env:
            _apply(self._saved_env)
            self._saved_env = {}
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)


def _apply(env: Mapping[str, Optional[str]]) -> None:
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
