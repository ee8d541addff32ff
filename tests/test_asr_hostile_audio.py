"""Broken and hostile audio, generated into a temp folder: every file either transcribes or fails with one
AudioDecodeError line naming it, before any of it is transcribed; never a MemoryError, a traceback, or partial
audio passed off as the whole call. And long recordings: transcribed block by block, cut at quiet points."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
import soundfile as sf

import asr.audio
from pipeline.base.config import AsrOptions, PipelineConfig
from pipeline.base.errors import AudioDecodeError
from pipeline.base.types import Segment
from pipeline.batch import run_batch
from pipeline.call import CallPipeline
from pipeline.live import Replay

SR = 16000
EITHER = "either"  # the file may transcribe or fail, as long as it does one of them cleanly


class RecordingEngine:
    """The engine protocol: records what it is given (samples, speaker, offset_s) and says one segment per piece."""

    def __init__(self):
        self.calls: list[tuple[int, Optional[str], float]] = []
        self.info = type("Info", (), {"model": "recording"})()

    def transcribe(self, samples: np.ndarray, speaker: Optional[str] = None, offset_s: float = 0.0):
        self.calls.append((len(samples), speaker, offset_s))
        if len(samples):
            yield Segment(0, offset_s, offset_s + len(samples) / SR, "测试", speaker)


def _tone(seconds: float, rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _wav_header(path: Path, rate_hz: int, data_bytes: int = 134_000, declared_bytes=None, channels: int = 1) -> None:
    declared = data_bytes if declared_bytes is None else declared_bytes
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate_hz, rate_hz * 2 * channels, 2 * channels, 16)
    riff = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + fmt
    path.write_bytes(riff + b"data" + struct.pack("<I", declared) + bytes(data_bytes))


def _encode(path: Path, container: str, codec: str, sample_format: str, seconds: float = 4.2) -> None:
    import av

    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=SR)
        stream.layout, stream.format = "mono", sample_format
        frame = av.AudioFrame.from_ndarray((_tone(seconds) * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = SR, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def _cut(write: Callable[[Path], None], share: float = 0.5) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        write(path)
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * share)])

    return build


def _flac_total_samples(path: Path) -> None:
    sf.write(path, _tone(2.0), SR, format="FLAC")
    data = bytearray(path.read_bytes())
    bits = int.from_bytes(data[18:26], "big") | ((1 << 36) - 1)  # STREAMINFO: 2^36 - 1 samples
    data[18:26] = bits.to_bytes(8, "big")
    path.write_bytes(bytes(data))


def _nan_wav(path: Path) -> None:
    x = _tone(2.0)
    x[SR] = np.nan
    sf.write(path, x, SR, subtype="FLOAT")


# name: (how to build it, --channels, what must happen: a reason the AudioDecodeError gives, None = transcribes, EITHER)
# fmt: off
CORPUS: dict[str, tuple[Callable[[Path], None], Optional[tuple[str, ...]], Optional[str]]] = {
    "rate_8hz.wav": (lambda p: _wav_header(p, 8), None, "sample rate 8 Hz is not plausible"),
    "rate_1hz.wav": (lambda p: _wav_header(p, 1), None, "sample rate 1 Hz is not plausible"),
    "rate_2mhz.wav": (lambda p: _wav_header(p, 2_000_000), None, "sample rate 2000000 Hz is not plausible"),
    "data_chunk_2gb.wav": (lambda p: _wav_header(p, SR, declared_bytes=0x7FFFFFF0), None,
                           "truncated: header declares 2147483632 bytes"),
    "channels_1000.wav": (lambda p: _wav_header(p, SR, data_bytes=200_000, channels=1000), None, EITHER),
    "flac_2e36_samples.flac": (_flac_total_samples, None, "header declares 4294967 s of audio in a file of"),
    "truncated.wav": (_cut(lambda p: sf.write(p, _tone(4.0), SR, subtype="PCM_16")), None, "truncated: header declares"),
    "truncated.mp3": (_cut(lambda p: _encode(p, "mp3", "libmp3lame", "s16p")), None, "truncated: container declares 4.20 s"),
    "truncated.mka": (_cut(lambda p: _encode(p, "matroska", "flac", "s16")), None, "truncated: container declares 4.20 s"),
    "truncated.flac": (_cut(lambda p: sf.write(p, _tone(4.0), SR, format="FLAC")), None, "corrupt audio data"),
    "truncated.m4a": (_cut(lambda p: _encode(p, "mp4", "aac", "fltp")), None, "not a readable audio file"),
    "truncated.ogg": (_cut(lambda p: _encode(p, "ogg", "libopus", "s16")), None, EITHER),  # Ogg states no duration of its own
    "random_bytes.mp3": (lambda p: p.write_bytes(np.random.default_rng(7).bytes(50_000)), None, EITHER),
    "zero_length.wav": (lambda p: sf.write(p, np.zeros(0, np.float32), SR), None, "contains no audio samples"),
    "empty.wav": (lambda p: p.write_bytes(b""), None, "empty file"),
    "text.wav": (lambda p: p.write_text("this is not audio\n"), None, "not a readable audio file"),
    "folder.wav": (lambda p: p.mkdir(), None, "is a directory"),
    "nan.wav": (_nan_wav, None, "NaN or infinity"),
    "three_labels_for_stereo.wav": (lambda p: sf.write(p, np.zeros((SR, 2), np.float32), SR), ("operator", "caller", "boss"),
                                    "has 2 channel"),
    "silence.wav": (lambda p: sf.write(p, np.zeros(10 * SR, np.float32), SR), None, None),
    "noise.wav": (lambda p: sf.write(p, np.random.default_rng(3).uniform(-1, 1, 10 * SR).astype(np.float32), SR), None, None),
    "telephone_8k.wav": (lambda p: sf.write(p, _tone(3.0, 8000), 8000, subtype="PCM_16"), None, None),
}
# fmt: on


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, (build, _, _) in CORPUS.items():
        build(folder / name)
    return folder


def _pipeline(ticket_builder, engine, channels=None) -> CallPipeline:
    return CallPipeline(PipelineConfig(asr=AsrOptions(channels=channels)), engine=engine, builder=ticket_builder)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_asr_hostile_audio_transcribes_or_fails_on_one_line_naming_the_file(corpus, ticket_builder, name):
    _, channels, expect = CORPUS[name]
    path = corpus / name
    engine = RecordingEngine()
    try:
        result = _pipeline(ticket_builder, engine, channels).process(path)
    except AudioDecodeError as e:
        assert expect is not None, f"{name} should transcribe: {e}"
        assert e.path == str(path) and str(path) in str(e) and "\n" not in str(e)
        if expect != EITHER:
            assert expect in e.reason
        assert engine.calls == []  # nothing of it was transcribed
    else:
        assert expect in (None, EITHER), f"{name} should fail with {expect!r}"
        assert result.duration_s > 0 and sum(n for n, _, _ in engine.calls) == round(result.duration_s * SR)


@pytest.mark.parametrize("name", sorted(n for n, (_, _, expect) in CORPUS.items() if expect not in (None, EITHER)))
def test_asr_hostile_audio_replay_load_checks_the_same(corpus, name):
    _, channels, expect = CORPUS[name]
    with pytest.raises(AudioDecodeError) as info:
        Replay.load(corpus / name, channels)
    assert expect in info.value.reason and info.value.path == str(corpus / name)


@pytest.mark.parametrize("fmt", ["json"])
def test_asr_hostile_audio_batch_goes_on_and_writes_nothing_for_a_failed_file(corpus, ticket_builder, tmp_path, fmt):
    files = [(corpus / name, corpus) for name in sorted(CORPUS) if CORPUS[name][1] is None]
    outcomes = list(run_batch(_pipeline(ticket_builder, RecordingEngine()), files, tmp_path / "out", fmt))
    assert [o.path for o in outcomes] == [f for f, _ in files]
    for o in outcomes:
        expect = CORPUS[o.path.name][2]
        assert o.status == ("ok" if expect is None else o.status)
        if o.status == "failed":
            assert expect is not None and "\n" not in o.error and "Error" not in o.error  # a reason, not a traceback
            assert not (tmp_path / "out" / f"{o.path.name}.{fmt}").exists()
        else:
            assert o.status == "ok" and expect in (None, EITHER)
            assert (tmp_path / "out" / f"{o.path.name}.{fmt}").exists()


# --- long recordings: block by block ------------------------------------------------------------------------------


def _speech(seconds: float, pauses: list[tuple[float, float]], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (0.3 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
    for a, b in pauses:
        x[int(a * SR) : int(b * SR)] *= 0.01
    return x


# one pause per channel in the last 3 s of each 10 s block (where the cut is searched), at other times per channel
PAUSES = {"operator": [(8.0, 8.8), (17.2, 17.9), (27.5, 28.2)], "caller": [(7.5, 8.2), (18.6, 19.3), (28.6, 29.3)]}


@pytest.mark.parametrize("channels", [None, ("operator", "caller")])
def test_asr_long_recording_is_transcribed_in_bounded_blocks_cut_in_pauses(tmp_path, ticket_builder, monkeypatch, channels):
    """Regression: a recording was decoded whole (a 2-hour file: 2.3 GB peak). Now the engine gets at most a block
    plus the carried tail at a time, each piece ends in a pause, and the transcript is as one: ids in time order."""
    monkeypatch.setattr(asr.audio, "BLOCK_S", 10.0, raising=False)
    monkeypatch.setattr(asr.audio, "QUIET_SEARCH_S", 3.0, raising=False)
    signals = {"operator": _speech(33.0, PAUSES["operator"], 1), "caller": _speech(33.0, PAUSES["caller"], 2)}
    path = tmp_path / "long.wav"
    sf.write(path, np.stack(list(signals.values()), axis=1) if channels else signals["operator"], SR, subtype="FLOAT")
    engine = RecordingEngine()
    progress: list[tuple[float, float]] = []

    transcript = _pipeline(ticket_builder, engine, channels).transcribe(path, lambda done, whole: progress.append((done, whole)))

    assert transcript.duration_s == pytest.approx(33.0)
    assert max(n for n, _, _ in engine.calls) <= 13.0 * SR
    for speaker in channels or (None,):
        pieces = [(offset, n) for n, s, offset in engine.calls if s == speaker]
        ends = [offset + n / SR for offset, n in pieces]
        assert [offset for offset, _ in pieces] == pytest.approx([0.0, *ends[:-1]]) and ends[-1] == pytest.approx(33.0)
        pauses = PAUSES[speaker or "operator"] if channels else PAUSES["operator"]
        assert len(pieces) == 4 and all(any(a < e < b for a, b in pauses) for e in ends[:-1])
    starts = [s.start_s for s in transcript.segments]
    assert starts == sorted(starts) and [s.id for s in transcript.segments] == list(range(len(starts)))
    assert progress[-1] == (pytest.approx(33.0), pytest.approx(33.0)) and all(d <= w + 1e-9 for d, w in progress)


@pytest.mark.parametrize("share", [0.6])
def test_asr_long_recording_truncated_at_the_end_fails_whole(tmp_path, ticket_builder, monkeypatch, share):
    """A truncation found only at the end of a long file fails the file after its first blocks were transcribed:
    the batch reports it and writes nothing."""
    monkeypatch.setattr(asr.audio, "BLOCK_S", 2.0, raising=False)
    path = tmp_path / "long.mp3"
    _cut(lambda p: _encode(p, "mp3", "libmp3lame", "s16p", seconds=12.0), share)(path)
    engine = RecordingEngine()
    [outcome] = run_batch(_pipeline(ticket_builder, engine), [(path, tmp_path)], tmp_path / "out", "json")
    assert outcome.status == "failed" and outcome.error.startswith("truncated: container declares 12.00 s but only 7.")
    assert engine.calls and not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
