"""Live capture through a real audio path: paplay → PulseAudio null sink → its monitor → ALSA pulse plugin →
PortAudio → sounddevice / pyaudio → asr.capture. The rig (private PulseAudio daemons) is the session fixture
`pulse_audio` in conftest.py.

A null sink renders in blocks of up to 2 s while nobody listens, so a new stream's first audio can take that long:
the helpers start playing only once every input has delivered a chunk, and every wait has a deadline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from asr.audio import SAMPLE_RATE_HZ, load_audio
from asr.capture import Capture, CaptureError, CaptureInput, list_devices, open_capture, resolve_device
from asr.metrics import cer
from pipeline.base.types import AudioChunk

pytestmark = pytest.mark.audio_server

REPO = Path(__file__).resolve().parent.parent
CALLER_WAV = REPO / "audio_samples" / "BAC009S0764W0121.wav"
CALLER_REF = "甚至出现交易几乎停滞的情况"
OPERATOR_WAV = REPO / "audio_samples" / "aishell-BAC009S0724W0121.wav"
OPERATOR_REF = "广州市房地产中介协会分析"
BACKENDS = ["sounddevice", "pyaudio"]
DEADLINE_S = 40.0  # no test waits longer than this for audio


def _reference(wav: Path) -> np.ndarray:
    return load_audio(wav).mono()


def _record(capture: Capture, plays: list[tuple[object, str, Path]], tail_s: float = 0.6) -> list[AudioChunk]:
    """Capture while each (server, sink, wav) plays; playing starts once every input delivers audio. After the
    players finish (and `tail_s`), stop() ends the capture and the loop drains what is still queued."""
    speakers = {i.speaker for i in capture.inputs}
    seen: set = set()
    chunks: list[AudioChunk] = []
    players: list = []
    ended_at: Optional[float] = None
    t0 = time.monotonic()
    try:
        for chunk in capture.chunks(timeout_s=10.0):
            chunks.append(chunk)
            seen.add(chunk.speaker)
            now = time.monotonic()
            assert now - t0 < DEADLINE_S, f"recording did not finish within {DEADLINE_S:g} s"
            if not players:
                if seen == speakers:
                    players = [server.play(sink, wav) for server, sink, wav in plays]
            elif ended_at is None:
                if all(p.poll() is not None for p in players):
                    ended_at = now
            elif now - ended_at > tail_s:
                capture.stop()
    finally:
        capture.stop()
        for p in players:
            if p.poll() is None:
                p.kill()
            _out, err = p.communicate(timeout=10)
            assert p.returncode == 0, f"paplay failed ({p.returncode}): {err.decode(errors='replace')}"
    return chunks


def _by_speaker(chunks: list[AudioChunk], speaker: Optional[str]) -> np.ndarray:
    mine = [c for c in chunks if c.speaker == speaker]
    assert mine, f"no chunks labelled {speaker!r}"
    assert 0.0 <= mine[0].start_s < 10.0, f"the first chunk starts at {mine[0].start_s} s"
    expected_start = mine[0].start_s
    for c in mine:  # 16 kHz mono float32, back to back in audio time
        assert c.sample_rate_hz == SAMPLE_RATE_HZ and c.samples.ndim == 1 and c.samples.dtype == np.float32
        assert c.start_s == pytest.approx(expected_start, abs=1e-9)
        expected_start += c.duration_s
    return np.concatenate([c.samples for c in mine])


def _first_start(chunks: list[AudioChunk], speaker: Optional[str]) -> float:
    return next(c.start_s for c in chunks if c.speaker == speaker)


def _match(captured: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """Find `ref` in `captured`: (offset s, correlation of the aligned audio, RMS ratio captured/ref)."""
    assert len(captured) >= len(ref), (
        f"captured {len(captured) / SAMPLE_RATE_HZ:.2f} s, less than the {len(ref) / SAMPLE_RATE_HZ:.2f} s played"
    )
    n = 1 << int(np.ceil(np.log2(len(captured) + len(ref))))
    xc = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(ref, n)), n)[: len(captured) - len(ref) + 1]
    lag = int(np.argmax(xc))
    seg = captured[lag : lag + len(ref)]
    corr = float(np.corrcoef(seg, ref)[0, 1])
    rms = float(np.sqrt(np.mean(seg**2)) / np.sqrt(np.mean(ref**2)))
    return lag / SAMPLE_RATE_HZ, corr, rms


def _assert_same_audio(captured: np.ndarray, wav: Path) -> None:
    offset_s, corr, rms = _match(captured, _reference(wav))
    # the played waveform comes back (any rate error smears it and the correlation collapses), at unit gain
    assert corr >= 0.9, f"captured audio does not match {wav.name}: correlation {corr:.3f} at {offset_s:.2f} s"
    assert 0.8 <= rms <= 1.25, f"level changed on the way: RMS ratio {rms:.2f}"


_recordings: dict = {}


def _recording(key: str, build, plays) -> list[AudioChunk]:
    """Each recording is made once per session and shared by its signal test and its transcript test."""
    if key not in _recordings:
        _recordings[key] = _record(build(), plays)
    return _recordings[key]


def _single(rig, monkeypatch, backend: str, device: str) -> list[AudioChunk]:
    if device == "pulse":  # the stock ALSA `pulse` device, pointed at a source the usual way
        monkeypatch.setenv("PULSE_SOURCE", "callsink.monitor")
    return _recording(f"{backend}/{device}", lambda: open_capture(device, backend=backend), [(rig.main, "callsink", CALLER_WAV)])


SINGLE_CASES = [("sounddevice", "hotline_callsink"), ("pyaudio", "hotline_callsink"), ("sounddevice", "pulse")]


@pytest.mark.parametrize("backend,device", SINGLE_CASES)
def test_capture_pulse_records_played_speech(pulse_audio, monkeypatch, backend, device):
    chunks = _single(pulse_audio, monkeypatch, backend, device)
    audio = _by_speaker(chunks, None)
    _assert_same_audio(audio, CALLER_WAV)


@pytest.mark.model
@pytest.mark.parametrize("backend,device", SINGLE_CASES[:2])
def test_capture_pulse_transcript_cer(pulse_audio, monkeypatch, engine, backend, device):
    audio = _by_speaker(_single(pulse_audio, monkeypatch, backend, device), None)
    text = "".join(s.text for s in engine.transcribe(audio))
    edits, n = cer(CALLER_REF, text)
    assert edits / n <= 0.3, f"CER {edits}/{n} for {text!r}"


@pytest.mark.parametrize("backend", ["sounddevice"])
@pytest.mark.parametrize("rate_hz", [48000, 16000])
def test_capture_pulse_resamples_device_rate(pulse_audio, backend, rate_hz):
    """opsink runs at 48 kHz; the stream is opened at `rate_hz` and must come out as 16 kHz, undistorted."""
    dev = resolve_device(backend, pulse_audio.pcm["opsink"])
    chunks = _record(Capture([CaptureInput(dev, "operator", rate_hz)]), [(pulse_audio.main, "opsink", CALLER_WAV)])
    _assert_same_audio(_by_speaker(chunks, "operator"), CALLER_WAV)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "spec,fragment", [("nosuchmic", "no input device matches 'nosuchmic'"), (999, "no input device with index 999")]
)
def test_capture_pulse_missing_device(pulse_audio, backend, spec, fragment):
    names = {d.name for d in list_devices(backend)}
    assert {"hotline_callsink", "hotline_opsink", "hotline_unplug"} <= names
    with pytest.raises(CaptureError, match=fragment) as err:
        open_capture(spec, backend=backend)
    assert "available inputs" in str(err.value) and "hotline_callsink" in str(err.value)
    assert err.value.device == str(spec)


@pytest.mark.parametrize("backend", BACKENDS)
def test_capture_pulse_same_device_twice(pulse_audio, backend):
    with pytest.raises(CaptureError, match="operator and caller devices are the same"):
        open_capture("hotline_callsink", caller_device="HOTLINE_CALLSINK", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how,reason", [
    ("unload-sink", "stopped by itself"),
    ("kill-server", "stopped by itself"),
    ("freeze-server", "no audio from the device for 4 s"),
])  # fmt: skip
def test_capture_pulse_device_disappears_mid_call(pulse_audio, backend, how, reason):
    """Mid-call the device goes: every chunk captured before is yielded, then CaptureError names the device and
    the reason, stop() returns promptly, and reopening the vanished device is a CaptureError too."""
    spare = pulse_audio.spare
    name = pulse_audio.pcm["unplugsink"]
    dev = resolve_device(backend, name)
    capture = Capture([CaptureInput(dev, "caller")])
    chunks: list[AudioChunk] = []
    player = None
    broken_at: Optional[float] = None
    t0 = time.monotonic()
    try:
        with pytest.raises(CaptureError, match=reason) as err:
            for chunk in capture.chunks(timeout_s=4.0):
                chunks.append(chunk)
                assert time.monotonic() - t0 < DEADLINE_S, "the failure was never reported"
                if player is None:
                    player = spare.play("unplugsink", CALLER_WAV)
                elif broken_at is None and sum(len(c.samples) for c in chunks) >= 2.0 * SAMPLE_RATE_HZ:
                    broken_at = time.monotonic()
                    {
                        "unload-sink": lambda: spare.unload_sink("unplugsink"),
                        "kill-server": spare.kill,
                        "freeze-server": spare.freeze,
                    }[how]()
        detected_s = time.monotonic() - broken_at
        assert err.value.device == name and name in str(err.value)
        assert detected_s < 4.0 + 2.0 + 2.0  # the stall timeout, the bounded close, slack
        t1 = time.monotonic()
        capture.stop()
        capture.stop()
        assert time.monotonic() - t1 < 0.5
        # the speech captured before the failure was all delivered
        audio = _by_speaker(chunks, "caller")
        assert len(audio) >= 2.0 * SAMPLE_RATE_HZ
        assert np.sqrt(np.mean(audio**2)) > 0.002, "the speech played before the failure is missing"
        if how != "freeze-server":  # opening a frozen server's device would block inside PortAudio
            with pytest.raises(CaptureError, match=name):
                Capture([CaptureInput(dev, "caller")]).start()
    finally:
        capture.stop()
        if player is not None:
            if player.poll() is None:
                player.kill()
            player.communicate(timeout=10)
        if how == "freeze-server":
            spare.kill()  # a stream's close may still be stuck on the frozen server: crashing it releases it
        spare.restore()


def _two_devices(rig, backend: str) -> list[AudioChunk]:
    return _recording(
        f"{backend}/two", lambda: open_capture("hotline_opsink", caller_device="hotline_callsink", backend=backend),
        [(rig.main, "opsink", OPERATOR_WAV), (rig.main, "callsink", CALLER_WAV)],
    )  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_capture_pulse_two_devices_labelled(pulse_audio, backend):
    chunks = _two_devices(pulse_audio, backend)
    assert {c.speaker for c in chunks} == {"operator", "caller"}
    operator, caller = _by_speaker(chunks, "operator"), _by_speaker(chunks, "caller")
    _assert_same_audio(operator, OPERATOR_WAV)
    _assert_same_audio(caller, CALLER_WAV)
    assert _match(operator, _reference(CALLER_WAV))[1] < 0.5, "the caller leaks into the operator's input"
    # both sinks started playing together: the speech must sit at the same time on both inputs' timelines
    op_at = _first_start(chunks, "operator") + _match(operator, _reference(OPERATOR_WAV))[0]
    caller_at = _first_start(chunks, "caller") + _match(caller, _reference(CALLER_WAV))[0]
    assert abs(op_at - caller_at) < 0.3, f"operator speech at {op_at:.2f} s, caller speech at {caller_at:.2f} s"


@pytest.mark.model
@pytest.mark.parametrize("backend", ["sounddevice"])
def test_capture_pulse_two_devices_transcripts(pulse_audio, engine, backend):
    chunks = _two_devices(pulse_audio, backend)
    for speaker, ref in (("operator", OPERATOR_REF), ("caller", CALLER_REF)):
        audio = _by_speaker(chunks, speaker)
        segments = list(engine.transcribe(audio, speaker=speaker))
        assert segments and all(s.speaker == speaker for s in segments)
        edits, n = cer(ref, "".join(s.text for s in segments))
        assert edits / n <= 0.3, f"{speaker}: CER {edits}/{n}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_capture_pulse_stop_then_drain(pulse_audio, backend):
    """The Ctrl-C pattern of `hotline live`: the loop is interrupted, stop() is called, and a second chunks()
    returns the audio still queued plus the resampler's tail, continuing the same timeline, then ends."""
    capture = open_capture("hotline_callsink", backend=backend)
    first: list[AudioChunk] = []
    t0 = time.monotonic()
    try:
        for chunk in capture.chunks(timeout_s=10.0):
            first.append(chunk)
            assert time.monotonic() - t0 < DEADLINE_S
            if sum(len(c.samples) for c in first) >= SAMPLE_RATE_HZ:
                break  # e.g. KeyboardInterrupt in the consumer
        time.sleep(0.5)  # audio keeps arriving into the queue meanwhile
    finally:
        capture.stop()
    rest = list(capture.chunks(timeout_s=10.0))
    assert rest, "the audio queued before stop() was lost"
    assert capture.stats()[0].captured_s == pytest.approx(sum(c.duration_s for c in first + rest))
    _by_speaker(first + rest, None)  # one contiguous timeline
    assert list(capture.chunks()) == []


@pytest.mark.parametrize("backend,consumer_s", [("sounddevice", 0.5)])
def test_capture_pulse_slow_consumer_gets_everything_queued(pulse_audio, backend, consumer_s):
    """The live loop steps once per batch: a consumer slower than a block (a decode) gets, in one batch, all the
    audio that arrived meanwhile, so it never falls behind the caller (it stepped once per 0.1 s block before)."""
    capture = open_capture("hotline_callsink", backend=backend)
    batches: list[list[AudioChunk]] = []
    t0 = time.monotonic()
    try:
        for batch in capture.batches(timeout_s=10.0):
            batches.append(batch)
            assert time.monotonic() - t0 < DEADLINE_S
            if len(batches) == 5:
                break
            time.sleep(consumer_s)  # a decode
    finally:
        capture.stop()
    later = [sum(c.duration_s for c in b) for b in batches[2:]]  # the first blocks of a null sink come in bursts
    assert all(s >= consumer_s * 0.6 for s in later), later
    _by_speaker([c for b in batches for c in b], None)  # one contiguous timeline
