"""Live capture from sound input devices (a headset, the loopback/monitor of a softphone's output) through
PortAudio, with sounddevice (default) or pyaudio as the binding.

Each input is opened at its own rate (by default the rate the device reports) with up to two channels. The
backend callback only copies each block into a thread-safe queue; the consumer (`Capture.chunks`) mixes the
channels down, resamples to 16 kHz with one stateful `av.AudioResampler` per input and yields mono float32
`AudioChunk`s labelled with the input's speaker. `start_s` is the time since `start()` on one clock for all
inputs: an input's first chunk starts when its device began delivering, later chunks follow back to back.

A device that fails mid-call (unplugged, its sound server gone, its stream stopped, no audio for
`timeout_s`) ends `chunks()` the same way every time: every block captured so far is yielded first, then a
`CaptureError` naming the device and the reason is raised. `stop()` is always safe and idempotent.

Both bindings are optional: `pip install 'hotline[live]'` (pyaudio builds against PortAudio's headers, e.g.
Debian's `portaudio19-dev`; sounddevice needs the PortAudio library, `libportaudio2`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Protocol, Sequence, Union

import numpy as np

from pipeline.base.errors import CaptureError
from pipeline.base.types import AudioChunk

from .audio import SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS", "DEFAULT_BACKEND", "Capture", "CaptureError", "CaptureInput", "CaptureStats", "InputDevice",
    "list_devices", "open_capture", "resolve_device",
]  # fmt: skip

BACKENDS = ("sounddevice", "pyaudio")
DEFAULT_BACKEND = "sounddevice"
_MAX_CHANNELS = 2  # a headset or a loopback is mono or stereo; more channels are opened as two and mixed
_POLL_S = 0.1  # how often a waiting consumer checks for stop() and for dead streams
_CLOSE_TIMEOUT_S = 2.0  # stop() waits this long for PortAudio to close the streams

OnBlock = Callable[[np.ndarray, bool], None]  # (frames × channels float32 copy, input overflow flagged)


@dataclass(frozen=True, slots=True)
class InputDevice:
    """A sound input as the backend lists it. `index` is the backend's (PortAudio's) device index."""

    backend: str
    index: int
    name: str
    channels: int  # the most input channels it offers
    default_rate_hz: int

    def describe(self) -> str:
        return f"[{self.index}] {self.name} ({self.channels} ch, {self.default_rate_hz} Hz)"


@dataclass(frozen=True, slots=True)
class CaptureInput:
    """One device to capture, the speaker label its chunks carry, and the rate to open it at
    (None: the device's default rate)."""

    device: InputDevice
    speaker: Optional[str] = None
    rate_hz: Optional[int] = None

    def __post_init__(self) -> None:
        if self.rate_hz is not None and (
            isinstance(self.rate_hz, bool) or not isinstance(self.rate_hz, int) or self.rate_hz <= 0
        ):
            raise ValueError(f"CaptureInput.rate_hz must be a positive integer or None, got {self.rate_hz!r}")


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """What one input delivered: seconds at 16 kHz, input overflows the driver flagged (audio lost in the
    driver) and blocks dropped because the consumer fell `max_backlog_s` behind (replaced by silence)."""

    device: str
    speaker: Optional[str]
    rate_hz: int
    captured_s: float
    overflows: int
    dropped_blocks: int


# ---------------------------------------------------------------------------------------------- backends


class _Stream(Protocol):
    def start(self) -> None: ...
    def is_active(self) -> bool: ...
    def close(self) -> None: ...


class _Backend(Protocol):
    name: str
    errors: tuple[type[BaseException], ...]  # what the binding raises when PortAudio fails

    def devices(self) -> list[InputDevice]: ...
    def default_index(self) -> Optional[int]: ...
    def open(self, device: InputDevice, rate_hz: int, channels: int, blocksize: int, on_block: OnBlock) -> _Stream: ...
    def close(self) -> None: ...


def _missing(module: str, e: BaseException) -> ImportError:
    hint = "" if isinstance(e, ImportError) else f" ({e}; on Debian/Ubuntu: apt-get install libportaudio2)"
    return ImportError(f"live capture with {module} needs the 'live' extra: pip install 'hotline[live]'{hint}")


class _SoundDeviceStream:
    def __init__(self, stream) -> None:
        self._stream = stream

    def start(self) -> None:
        self._stream.start()

    def is_active(self) -> bool:
        return bool(self._stream.active)

    def close(self) -> None:
        self._stream.abort(ignore_errors=True)
        self._stream.close(ignore_errors=True)


class _SoundDeviceBackend:
    name = "sounddevice"

    def __init__(self) -> None:
        try:
            import sounddevice
        except (ImportError, OSError) as e:  # OSError: the PortAudio library itself is missing
            raise _missing("sounddevice", e) from None
        self._sd = sounddevice
        self.errors = (sounddevice.PortAudioError, ValueError)

    def devices(self) -> list[InputDevice]:
        return [
            InputDevice(
                self.name, int(d["index"]), str(d["name"]), int(d["max_input_channels"]), int(round(d["default_samplerate"]))
            )
            for d in self._sd.query_devices()
            if d["max_input_channels"] > 0
        ]

    def default_index(self) -> Optional[int]:
        try:
            return int(self._sd.query_devices(kind="input")["index"])
        except (self._sd.PortAudioError, ValueError):
            return None

    def open(self, device: InputDevice, rate_hz: int, channels: int, blocksize: int, on_block: OnBlock) -> _Stream:
        def callback(indata, frames, time_info, status) -> None:
            on_block(indata.copy(), bool(status.input_overflow))

        stream = self._sd.InputStream(
            device=device.index, samplerate=rate_hz, channels=channels, dtype="float32", blocksize=blocksize, callback=callback
        )
        return _SoundDeviceStream(stream)

    def close(self) -> None:
        pass  # sounddevice keeps PortAudio initialised for the life of the process


class _PyAudioStream:
    def __init__(self, stream) -> None:
        self._stream = stream

    def start(self) -> None:
        self._stream.start_stream()

    def is_active(self) -> bool:
        try:
            return bool(self._stream.is_active())
        except OSError:
            return False

    def close(self) -> None:
        try:
            self._stream.close()  # closing an active stream aborts it (Pa_CloseStream)
        except OSError as e:
            logger.debug("closing a pyaudio stream: %s", e)


class _PyAudioBackend:
    name = "pyaudio"

    def __init__(self) -> None:
        try:
            import pyaudio
        except (ImportError, OSError) as e:
            raise _missing("pyaudio", e) from None
        self._pyaudio = pyaudio
        self.errors = (OSError, ValueError)
        self._pa = pyaudio.PyAudio()  # one PortAudio session per backend object: it sees the devices present now

    def devices(self) -> list[InputDevice]:
        found = []
        for i in range(self._pa.get_device_count()):
            d = self._pa.get_device_info_by_index(i)
            if d["maxInputChannels"] > 0:
                found.append(
                    InputDevice(self.name, i, str(d["name"]), int(d["maxInputChannels"]), int(round(d["defaultSampleRate"])))
                )
        return found

    def default_index(self) -> Optional[int]:
        try:
            return int(self._pa.get_default_input_device_info()["index"])
        except OSError:
            return None

    def open(self, device: InputDevice, rate_hz: int, channels: int, blocksize: int, on_block: OnBlock) -> _Stream:
        pa = self._pyaudio

        def callback(in_data, frame_count, time_info, status_flags):
            block = np.frombuffer(in_data, dtype=np.float32).reshape(-1, channels)  # in_data is a fresh bytes copy
            on_block(block, bool(status_flags & pa.paInputOverflow))
            return None, pa.paContinue

        stream = self._pa.open(
            format=pa.paFloat32, channels=channels, rate=rate_hz, input=True, input_device_index=device.index,
            frames_per_buffer=blocksize, stream_callback=callback, start=False,
        )  # fmt: skip
        return _PyAudioStream(stream)

    def close(self) -> None:
        self._pa.terminate()


def _backend(name: str) -> _Backend:
    if name == "sounddevice":
        return _SoundDeviceBackend()
    if name == "pyaudio":
        return _PyAudioBackend()
    raise ValueError(f"unknown capture backend {name!r} (accepted: {', '.join(BACKENDS)})")


# ---------------------------------------------------------------------------------------------- devices


def list_devices(backend: str = DEFAULT_BACKEND) -> list[InputDevice]:
    """Every input device the backend sees, in index order (for `hotline devices`).

    Raises:
        ValueError: unknown backend name.
        ImportError: the backend is not installed (the message names `pip install 'hotline[live]'`).
    """
    b = _backend(backend)
    try:
        return b.devices()
    finally:
        b.close()


def _available(devices: Sequence[InputDevice]) -> str:
    return "; ".join(d.describe() for d in devices) if devices else "none (no input devices found)"


def resolve_device(backend: str, spec: Union[int, str, None]) -> InputDevice:
    """Find one input device: None → the default input; an int (or a string of digits) → that index;
    another string → the device whose name contains it, ignoring case (an exact name wins).

    Raises:
        CaptureError: nothing matches, the match is ambiguous, or the index is not an input; the message
            names the spec and lists the available inputs.
        TypeError: spec is neither int, str nor None.
    """
    if spec is not None and (isinstance(spec, bool) or not isinstance(spec, (int, str))):
        raise TypeError(f"device must be an index, a name or None, got {type(spec).__name__}")
    b = _backend(backend)
    try:
        devices = b.devices()
        default = b.default_index() if spec is None else None
    finally:
        b.close()
    if spec is None:
        for d in devices:
            if d.index == default:
                return d
        raise CaptureError(
            "default input", f"the {backend} backend has no default input device; available inputs: {_available(devices)}"
        )
    text = spec.strip() if isinstance(spec, str) else None
    if isinstance(spec, int) or (text and text.isdigit()):
        index = spec if isinstance(spec, int) else int(text)
        for d in devices:
            if d.index == index:
                return d
        raise CaptureError(str(spec), f"no input device with index {index}; available inputs: {_available(devices)}")
    key = (text or "").casefold()
    if not key:
        raise CaptureError(repr(spec), f"empty device name; available inputs: {_available(devices)}")
    exact = [d for d in devices if d.name.casefold() == key]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [d for d in devices if key in d.name.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CaptureError(spec, f"no input device matches {spec!r}; available inputs: {_available(devices)}")
    raise CaptureError(spec, f"{spec!r} matches several inputs, give an index: {_available(matches)}")


# ---------------------------------------------------------------------------------------------- capture


class _Input:
    """Per-input state. The callback side touches only `on_block` and the counters it bumps."""

    def __init__(self, spec: CaptureInput, q: queue.Queue, index: int) -> None:
        self.spec = spec
        self.rate_hz = spec.rate_hz or spec.device.default_rate_hz
        self.channels = max(1, min(spec.device.channels, _MAX_CHANNELS))
        self.stream: Optional[_Stream] = None
        self._queue = q
        self._index = index
        # written by the callback thread only:
        self.overflows = 0  # blocks the driver flagged with an input overflow (audio lost in the driver)
        self.dropped_blocks = 0  # blocks the full queue refused
        self._lost_frames = 0  # frames refused since the last block that got through
        self.first_block_s: Optional[float] = None  # monotonic time the first block arrived
        # consumer side:
        self.logged_overflows = 0
        self.emitted = 0  # 16 kHz samples yielded
        self.offset_s: Optional[float] = None  # when, after the capture started, this input's audio begins
        self.last_block_s = 0.0  # monotonic time the consumer last received a block
        self.resampler = None

    @property
    def name(self) -> str:
        return self.spec.device.name

    def on_block(self, block: np.ndarray, overflow: bool) -> None:  # runs on PortAudio's thread: copy and queue only
        if self.first_block_s is None:
            self.first_block_s = time.monotonic()
        if overflow:
            self.overflows += 1
        try:
            self._queue.put_nowait((self._index, block, self._lost_frames))
            self._lost_frames = 0
        except queue.Full:
            self.dropped_blocks += 1
            self._lost_frames += len(block)


class Capture:
    """Capture one or more inputs (e.g. the operator's headset and the softphone's loopback) as one stream of
    16 kHz mono `AudioChunk`s, each labelled with its input's speaker.

    Use as a context manager, or call `start()` and `stop()`; iterate `chunks()` to consume. The work (mixdown,
    resampling) happens while you iterate.

    Args:
        inputs: the inputs; an `InputDevice` alone means one input without a speaker label.
        block_s: the audio each callback delivers (and each chunk roughly holds).
        max_backlog_s: how much audio may wait for the consumer; beyond it blocks are dropped, counted,
            logged and replaced by silence so both speakers' timelines stay aligned.
    """

    def __init__(
        self,
        inputs: Union[Sequence[CaptureInput], CaptureInput, InputDevice],
        *,
        block_s: float = 0.1,
        max_backlog_s: float = 120.0,
    ):
        if isinstance(inputs, InputDevice):
            inputs = [CaptureInput(inputs)]
        elif isinstance(inputs, CaptureInput):
            inputs = [inputs]
        inputs = list(inputs)
        if not inputs or not all(isinstance(i, CaptureInput) for i in inputs):
            raise TypeError("Capture needs at least one CaptureInput (or an InputDevice)")
        if not block_s > 0:
            raise ValueError(f"block_s must be > 0, got {block_s!r}")
        if not max_backlog_s > block_s:
            raise ValueError(f"max_backlog_s must be > block_s, got {max_backlog_s!r}")
        keys = [(i.device.backend, i.device.index) for i in inputs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"the same device is given twice: {', '.join(i.device.describe() for i in inputs)}")
        self.block_s = float(block_s)
        self._queue: queue.Queue = queue.Queue(maxsize=max(2, int(len(inputs) * max_backlog_s / block_s)))
        self._inputs = [_Input(spec, self._queue, n) for n, spec in enumerate(inputs)]
        self._backends: dict[str, _Backend] = {}
        self._lock = threading.Lock()
        self._started = False
        self._started_s = 0.0
        self._stopped = threading.Event()

    @property
    def inputs(self) -> tuple[CaptureInput, ...]:
        return tuple(i.spec for i in self._inputs)

    def __enter__(self) -> "Capture":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Open and start every input. Calling it again is a no-op; a stopped Capture cannot restart.

        Raises:
            CaptureError: a device cannot be opened or started (busy, gone, unsupported rate); whatever was
                opened is closed again.
        """
        with self._lock:
            if self._stopped.is_set():
                raise RuntimeError("this Capture was stopped; make a new one")
            if self._started:
                return
            self._started = True
            self._started_s = time.monotonic()
            try:
                for inp in self._inputs:
                    self._open(inp)
                now = time.monotonic()
                for inp in self._inputs:
                    inp.last_block_s = now
            except BaseException:
                self._close_all()
                self._stopped.set()
                raise

    def _open(self, inp: _Input) -> None:
        name = inp.spec.device.backend
        if name not in self._backends:
            self._backends[name] = _backend(name)
        backend = self._backends[name]
        blocksize = max(1, round(inp.rate_hz * self.block_s))
        try:
            inp.stream = backend.open(inp.spec.device, inp.rate_hz, inp.channels, blocksize, inp.on_block)
            inp.stream.start()
        except backend.errors as e:
            reason = " ".join((str(e) or type(e).__name__).split())
            raise CaptureError(inp.name, f"cannot open it at {inp.rate_hz} Hz, {inp.channels} ch: {reason}") from None
        logger.info(
            "capturing %s at %d Hz, %d ch, speaker %s", inp.spec.device.describe(), inp.rate_hz, inp.channels, inp.spec.speaker
        )

    def stop(self) -> None:
        """Stop and close every device. Safe to call at any time, from any thread, any number of times.
        A consumer blocked in `chunks()` then yields what is already captured and ends."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
            self._close_all()

    def _close_all(self) -> None:
        """Close the streams and backends on a helper thread and wait at most _CLOSE_TIMEOUT_S: closing a
        stream whose device or sound server hangs blocks inside PortAudio, and stop() must not."""
        streams = [(i.name, i.stream) for i in self._inputs if i.stream is not None]
        backends = list(self._backends.values())
        for i in self._inputs:
            i.stream = None
        self._backends.clear()

        def close() -> None:
            for name, stream in streams:
                try:
                    stream.close()
                except Exception as e:  # noqa: BLE001 - closing a dead device must not mask the real error
                    logger.debug("closing %s: %s", name, e)
            for b in backends:
                b.close()

        closer = threading.Thread(target=close, name="hotline-capture-close", daemon=True)
        closer.start()
        closer.join(_CLOSE_TIMEOUT_S)
        if closer.is_alive():
            names = ", ".join(repr(n) for n, _ in streams)
            logger.warning(
                "closing %s takes over %g s (device or sound server hangs); left to finish in the background",
                names,
                _CLOSE_TIMEOUT_S,
            )

    def stats(self) -> tuple[CaptureStats, ...]:
        return tuple(
            CaptureStats(i.name, i.spec.speaker, i.rate_hz, i.emitted / SAMPLE_RATE_HZ, i.overflows, i.dropped_blocks)
            for i in self._inputs
        )

    @property
    def started_s(self) -> float:
        """Monotonic time the capture started: chunk times (`AudioChunk.start_s`) count from it."""
        return self._started_s

    def chunks(self, timeout_s: float = 5.0) -> Iterator[AudioChunk]:
        """Yield 16 kHz mono float32 chunks from every input as they arrive (see `batches`)."""
        for batch in self.batches(timeout_s):
            yield from batch

    def batches(self, timeout_s: float = 5.0) -> Iterator[list[AudioChunk]]:
        """Yield everything captured since the previous batch, as 16 kHz mono float32 chunks (starting the
        capture if needed), waiting only when nothing has arrived, until `stop()`; then the audio still
        queued and the resamplers' tails are yielded and it ends. A consumer slower than the audio (a
        decode that takes longer than a block) thus always gets the latest audio, never a backlog.

        Args:
            timeout_s: an input that delivers nothing for this long counts as lost (on a PulseAudio null
                sink the first block can take up to 2 s).

        Raises:
            CaptureError: an input stopped by itself or went silent for `timeout_s`; raised only after
                every block captured before the failure has been yielded. The capture is stopped first.
        """
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if not self._started:
            self.start()
        failure: Optional[tuple[_Input, str]] = None
        try:
            while True:
                try:
                    first = self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    if self._stopped.is_set():
                        break
                    failure = self._check_alive(timeout_s)
                    if failure is not None:
                        break
                    continue
                now = time.monotonic()
                batch = []
                for n, block, lost in [first, *self._drain()]:
                    inp = self._inputs[n]
                    inp.last_block_s = now
                    batch.extend(self._convert(inp, block, lost))
                yield batch
            if failure is not None:
                self.stop()  # no more blocks after this: drain what the queue still holds
            tail = [c for n, block, lost in self._drain() for c in self._convert(self._inputs[n], block, lost)]
            tail += [c for inp in self._inputs for c in self._flush(inp)]
            if tail:
                yield tail
        finally:
            if failure is not None:
                self.stop()
        if failure is not None:
            inp, reason = failure
            raise CaptureError(inp.name, f"{reason}; captured {inp.emitted / SAMPLE_RATE_HZ:.1f} s before that")

    def _drain(self) -> list[tuple[int, np.ndarray, int]]:
        """Every block queued now, without waiting."""
        blocks = []
        while True:
            try:
                blocks.append(self._queue.get_nowait())
            except queue.Empty:
                return blocks

    def _check_alive(self, timeout_s: float) -> Optional[tuple[_Input, str]]:
        now = time.monotonic()
        for inp in self._inputs:
            if inp.stream is not None and not inp.stream.is_active():
                return inp, "the input stream stopped by itself (device unplugged, or its sound server went away)"
            if now - inp.last_block_s > timeout_s:
                return inp, f"no audio from the device for {timeout_s:g} s (unplugged or stalled)"
        return None

    def _convert(self, inp: _Input, block: np.ndarray, lost_frames: int) -> Iterator[AudioChunk]:
        if inp.offset_s is None:  # devices start at different moments: put each input's audio on one clock
            first = inp.first_block_s if inp.first_block_s is not None else time.monotonic()
            inp.offset_s = max(0.0, first - len(block) / inp.rate_hz - self._started_s)
        if inp.overflows > inp.logged_overflows:
            logger.warning("input overflow on %r: the driver lost audio (%d overflows so far)", inp.name, inp.overflows)
            inp.logged_overflows = inp.overflows
        if lost_frames:
            logger.warning("consumer fell behind: %d frames from %r were dropped and are replaced by silence (%d blocks so far)",
                           lost_frames, inp.name, inp.dropped_blocks)  # fmt: skip
            yield from self._resample(inp, np.zeros(lost_frames, dtype=np.float32))
        mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
        yield from self._resample(inp, np.ascontiguousarray(mono, dtype=np.float32))

    def _resample(self, inp: _Input, mono: np.ndarray) -> Iterator[AudioChunk]:
        if inp.rate_hz == SAMPLE_RATE_HZ:
            yield self._chunk(inp, mono)
            return
        import av

        if inp.resampler is None:
            inp.resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE_HZ)
        frame = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = inp.rate_hz
        for out in inp.resampler.resample(frame):
            yield self._chunk(inp, out.to_ndarray()[0])

    def _flush(self, inp: _Input) -> Iterator[AudioChunk]:
        if inp.resampler is not None:
            for out in inp.resampler.resample(None):
                yield self._chunk(inp, out.to_ndarray()[0])
            inp.resampler = None

    def _chunk(self, inp: _Input, samples: np.ndarray) -> AudioChunk:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        chunk = AudioChunk(samples, SAMPLE_RATE_HZ, (inp.offset_s or 0.0) + inp.emitted / SAMPLE_RATE_HZ, inp.spec.speaker)
        inp.emitted += len(samples)
        return chunk


def open_capture(
    device: Union[int, str, None] = None,
    *,
    backend: str = DEFAULT_BACKEND,
    caller_device: Union[int, str, None] = None,
    rate_hz: Optional[int] = None,
    block_s: float = 0.1,
    labels: tuple[str, str] = ("operator", "caller"),
) -> Capture:
    """Resolve `device` (and `caller_device`) and build a Capture, not yet started (for `hotline live`).

    With one device the chunks carry no speaker label; with a caller device too, they are labelled
    `labels[0]` (the operator's device) and `labels[1]` (the caller side).

    Raises:
        CaptureError: a device spec matches no input (the message lists the available inputs), or both
            specs name the same device.
    """
    op = resolve_device(backend, device)
    if caller_device is None:
        return Capture([CaptureInput(op, None, rate_hz)], block_s=block_s)
    caller = resolve_device(backend, caller_device)
    if caller.index == op.index:
        raise CaptureError(caller.name, f"the operator and caller devices are the same input ({caller.describe()})")
    return Capture([CaptureInput(op, labels[0], rate_hz), CaptureInput(caller, labels[1], rate_hz)], block_s=block_s)
