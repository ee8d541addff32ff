"""Model tier: the real embedded Whisper base on the real speech in audio_samples/.

Asserts invariants (timestamps, Simplified output, silence and noise give nothing, channels as speakers) and
CER bounds set from measurement, not exact transcripts. Each file is transcribed once per module.
Run alone with `pytest -m model`; leave out with `pytest -m "not model"`.
"""

from __future__ import annotations

import csv
import types
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio
from asr.hygiene import traditional_chars
from asr.metrics import cer, edit_distance, normalize_for_cer
from pipeline.call import CallPipeline
from pipeline.base.config import AsrOptions, PipelineConfig
from pipeline.base.errors import AudioDecodeError
from pipeline.base.types import Segment, Transcript

pytestmark = pytest.mark.model

SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
CLIPS = ("BAC009S0764W0121.wav", "aishell-BAC009S0724W0121.wav")  # the AISHELL-1 source clips
# Measured with Whisper base int8 on CPU, default AsrOptions (beam 5, VAD on, no prompt), edits/reference chars:
#   BAC009S0764W0121 1/13 (0.077), aishell-BAC009S0724W0121 2/12 (0.167); both 3/25 = 0.120;
#   call_joined.wav (the two clips alternated three times) 9/75 = 0.120.
# Bounds are the measurement plus about two edits per short clip (int8 kernels differ a little between CPUs);
# a real regression (wrong language, Traditional, a lost or repeated segment: 12-13 edits) costs far more.
CLIP_MAX_CER = {"BAC009S0764W0121.wav": 0.24, "aishell-BAC009S0724W0121.wav": 0.34}  # 3/13, 4/12
CORPUS_MAX_CER = 0.24  # measured 0.120 (3/25); bound 6/25
# call_joined.wav says the same two sentences three times. Whisper's compression-ratio check takes such
# repetition for a loop and falls back to temperature sampling, which is not repeatable: over 12 runs on
# 2026-11-29 the CER ranged 6/75..28/75 (a skipped turn made it 51/75 before the engine re-decoded skipped
# speech). Bound 30/75; test_model_asr_joined_call_covers_every_turn checks that no turn is lost.
JOINED_MAX_CER = 0.4
# BAC009S0764W0121 rendered in other codecs: measured 1/13 (0.077) for every codec, 2/13 (0.154) for the 8 kHz
# telephone band. Bound: 4 edits of 13.
FORMAT_MAX_CER = 0.31
FORMATS = (
    "BAC009S0764W0121_8k.wav",
    "BAC009S0764W0121.amr",
    "BAC009S0764W0121.mp3",
    "BAC009S0764W0121.flac",
    "BAC009S0764W0121.ogg",
    "BAC009S0764W0121.m4a",
)
# call_stereo.wav, per side: measured operator 4/24 (0.167: aishell-BAC009S0724W0121 twice), caller 1/13 (0.077).
# Bound 0.3: 7 edits of 24, 3 of 13; a lost operator turn is 12 more edits.
SIDE_MAX_CER = 0.3
# A side's text scored against the *other* side's reference: far from it unless the channels leak.
# Measured operator vs caller's reference 24/13 (1.846), caller vs operator's 24/24 (1.000).
OTHER_SIDE_MIN_CER = 0.8


def _references() -> dict[str, str]:
    with open(SAMPLES / "references.tsv", encoding="utf-8", newline="") as f:
        return {row["file"]: row["reference"] for row in csv.DictReader(f, delimiter="\t")}


REFS = _references()


@lru_cache(maxsize=1)
def _make_samples() -> types.ModuleType:
    """audio_samples/make_samples.py as a module (the stereo call's turn plan lives there), no bytecode written."""
    path = SAMPLES / "make_samples.py"
    module = types.ModuleType("make_samples")
    module.__file__ = str(path)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def transcribe(engine):
    """name in audio_samples/ → Transcript (mono mix), each file decoded and transcribed once per module."""
    pipeline = CallPipeline(engine=engine)

    @lru_cache(maxsize=None)
    def run(name: str) -> Transcript:
        transcript = pipeline.transcribe(SAMPLES / name)
        e, n = cer(REFS[name], transcript.text)
        print(f"{name}: CER {e}/{n} = {e / n:.3f}  {transcript.text}")
        return transcript

    return run


@pytest.fixture(scope="module")
def stereo_call(engine) -> Transcript:
    config = PipelineConfig(asr=AsrOptions(channels=("operator", "caller")))
    return CallPipeline(config, engine=engine).transcribe(SAMPLES / "call_stereo.wav")


def _side_text(transcript: Transcript, speaker: str) -> str:
    return "".join(s.text for s in transcript.segments if s.speaker == speaker)


def _side_reference(speaker: str) -> str:
    return "".join(REFS[clip] for who, clip in _make_samples().CALL_TURNS if who == speaker)


def _assert_valid_timestamps(segments: tuple[Segment, ...], duration_s: float) -> None:
    assert [s.id for s in segments] == list(range(len(segments)))
    for s in segments:
        assert 0.0 <= s.start_s <= s.end_s <= duration_s + 1e-3, s
        assert s.text.strip(), s
    starts = [s.start_s for s in segments]
    assert starts == sorted(starts)
    for speaker in {s.speaker for s in segments}:
        own = [s for s in segments if s.speaker == speaker]
        for prev, cur in zip(own, own[1:]):
            assert prev.end_s <= cur.start_s + 1e-3, (prev, cur)


@pytest.mark.parametrize("name", CLIPS)
def test_model_asr_clip_cer_within_bound(transcribe, name):
    e, n = cer(REFS[name], transcribe(name).text)
    assert e / n <= CLIP_MAX_CER[name]


@pytest.mark.parametrize("names,max_cer", [(CLIPS, CORPUS_MAX_CER), (("call_joined.wav",), JOINED_MAX_CER)])
def test_model_asr_corpus_cer_within_bound(transcribe, names, max_cer):
    edits = chars = 0
    for name in names:
        e, n = cer(REFS[name], transcribe(name).text)
        edits, chars = edits + e, chars + n
    print(f"CER over {len(names)} file(s): {edits}/{chars} = {edits / chars:.3f} (bound {max_cer})")
    assert edits / chars <= max_cer


def _fuzzy_count(sentence: str, text: str, max_rate: float = 0.45) -> int:
    """Non-overlapping places in `text` that read as `sentence` with at most `max_rate` character errors."""
    ref, hyp = normalize_for_cer(sentence), normalize_for_cer(text)
    count = i = 0
    while i < len(hyp):
        best = min(
            ((edit_distance(ref, hyp[i : i + n]), n) for n in range(len(ref) - 2, len(ref) + 3)),
            default=(len(ref), 1),
        )
        if best[0] <= max_rate * len(ref):
            count, i = count + 1, i + best[1]
        else:
            i += 1
    return count


def test_fuzzy_count_finds_each_garbled_turn():
    assert _fuzzy_count("甚至出现交易几乎停滞的情况", "甚至出现交易几乎停治的情况。国州市佛地产中纪协会分析。甚至出现交易几乎亢支的情况") == 2
    assert _fuzzy_count("广州市房地产中介协会分析", "甚至出现交易几乎停治的情况。") == 0


def test_model_asr_joined_call_covers_every_turn(engine):
    """Regression: faster-whisper sometimes ends a window after one sentence and skips the rest of it; the
    engine must decode skipped speech again so that all six turns of the call (each clip three times) are there.
    Checked on the text, not the timestamps: under temperature fallback Whisper can place a turn a second or
    two early (seen in CI: the 5.1 s turn came back starting at 3.5 s)."""
    audio = load_audio(SAMPLES / "call_joined.wav").mono()
    for _ in range(3):  # the skip is random; three tries make a regression very likely to show
        text = "".join(s.text for s in engine.transcribe(audio))
        for clip in CLIPS:
            assert _fuzzy_count(REFS[clip], text) >= 3, (clip, text)


@pytest.mark.parametrize("name", CLIPS + ("call_joined.wav",))
def test_model_asr_output_is_simplified(transcribe, name):
    text = transcribe(name).text
    assert text
    assert traditional_chars(text) == 0, text


@pytest.mark.parametrize("name", CLIPS + ("call_joined.wav",))
def test_model_asr_timestamps_monotonic_within_duration(transcribe, name):
    transcript = transcribe(name)
    assert transcript.segments
    _assert_valid_timestamps(transcript.segments, transcript.duration_s)
    for s in transcript.segments:
        for w in s.words:
            assert 0.0 <= w.start_s <= w.end_s <= transcript.duration_s + 1e-3, w


def _noise(kind: str, seconds: float, rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(20240611)
    n = int(seconds * rate)
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":  # 1/f power: white noise shaped by 1/sqrt(f) in the spectrum
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1.0 / rate)
        spectrum[1:] /= np.sqrt(f[1:])
        spectrum[0] = 0.0
        x = np.fft.irfft(spectrum, n)
    elif kind == "brown":  # 1/f^2 power: integrated white noise
        x = np.cumsum(rng.standard_normal(n))
        x -= np.linspace(x[0], x[-1], n)  # no drift
    elif kind == "hum":  # 50 Hz mains hum with harmonics under a bed of noise
        t = np.arange(n) / rate
        x = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 6)) + 0.3 * rng.standard_normal(n)
    else:
        raise ValueError(kind)
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)  # RMS 0.1 (-20 dBFS)


@pytest.mark.parametrize("kind", ["silence", "white", "pink", "brown", "hum"])
def test_model_asr_no_speech_gives_no_segments(engine, tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    sf.write(path, _noise(kind, 6.0), 16000, subtype="PCM_16")
    result = CallPipeline(engine=engine).process(path)
    assert result.transcript.segments == ()
    assert result.transcript.text == ""
    assert result.duration_s == pytest.approx(6.0, abs=0.01)


@pytest.mark.parametrize("name", FORMATS)
def test_model_asr_formats_transcribe_close_to_reference(transcribe, name):
    transcript = transcribe(name)
    e, n = cer(REFS[name], transcript.text)
    assert e / n <= FORMAT_MAX_CER
    assert traditional_chars(transcript.text) == 0
    assert transcript.duration_s == pytest.approx(4.204, abs=0.05)
    _assert_valid_timestamps(transcript.segments, transcript.duration_s)


@pytest.mark.parametrize("speakers", [("operator", "caller")])
def test_model_asr_stereo_channels_are_speakers_in_time_order(stereo_call, speakers):
    segments = stereo_call.segments
    _assert_valid_timestamps(segments, stereo_call.duration_s)
    assert {s.speaker for s in segments} == set(speakers)
    turns = [s.speaker for i, s in enumerate(segments) if i == 0 or segments[i - 1].speaker != s.speaker]
    assert turns == [who for who, _ in _make_samples().CALL_TURNS]


@pytest.mark.parametrize("tolerance_s", [0.3])
def test_model_asr_stereo_segments_inside_own_turns(stereo_call, tolerance_s):
    module = _make_samples()
    clips = {name: module.read_wav(SAMPLES / name) for name in module.CLIPS}
    _, turns = module.build_call(clips)
    for s in stereo_call.segments:
        windows = [(a, b) for who, a, b in turns if who == s.speaker]
        assert any(a - tolerance_s <= s.start_s and s.end_s <= b + tolerance_s for a, b in windows), (s, windows)


@pytest.mark.parametrize("speaker,other", [("operator", "caller"), ("caller", "operator")])
def test_model_asr_stereo_text_on_the_right_side(stereo_call, speaker, other):
    text = _side_text(stereo_call, speaker)
    e, n = cer(_side_reference(speaker), text)
    print(f"{speaker}: CER {e}/{n} = {e / n:.3f}  {text}")
    assert e / n <= SIDE_MAX_CER
    e, n = cer(_side_reference(other), text)
    print(f"{speaker} vs {other}'s reference: CER {e}/{n} = {e / n:.3f}")
    assert e / n >= OTHER_SIDE_MIN_CER


@pytest.mark.parametrize("name,channels", [("BAC009S0764W0121.wav", ("operator", "caller"))])
def test_model_asr_channel_count_mismatch_names_file(engine, name, channels):
    pipeline = CallPipeline(PipelineConfig(asr=AsrOptions(channels=channels)), engine=engine)
    with pytest.raises(AudioDecodeError, match=rf"{name}.*has 1 channel\(s\) but --channels operator,caller names 2"):
        pipeline.transcribe(SAMPLES / name)
