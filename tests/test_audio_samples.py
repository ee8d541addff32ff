"""Fast tier: audio_samples/ has not drifted from make_samples.py, references.tsv and ATTRIBUTION.md.

Every audio file is listed in references.tsv and the other way round; ATTRIBUTION.md names every file and
attributes every source clip (AISHELL-1 only, the one corpus whose clips may be redistributed); every file
decodes to a sane duration; and make_samples.py, run into a temporary folder, rebuilds the committed WAV
files and references.tsv byte for byte. The lossy files are only compared decoded: their bytes depend on the
FFmpeg build.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import types
import wave
from pathlib import Path

import numpy as np
import pytest

from asr.audio import AUDIO_EXTENSIONS, SAMPLE_RATE_HZ, load_audio

SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
SCRIPT = SAMPLES / "make_samples.py"
SOURCE_REPOS = ("FireRedTeam/FireRedASR", "wenet-e2e/wenet")
DURATION_TOLERANCE_S = 0.05  # codec priming and frame padding (AMR and AAC add about 20 ms)


def _make_samples() -> types.ModuleType:
    """make_samples.py as a module, no bytecode written into audio_samples/."""
    module = types.ModuleType("make_samples")
    module.__file__ = str(SCRIPT)
    exec(compile(SCRIPT.read_text(encoding="utf-8"), str(SCRIPT), "exec"), module.__dict__)
    return module


def _reference_rows() -> list[tuple[str, str]]:
    with open(SAMPLES / "references.tsv", encoding="utf-8", newline="") as f:
        return [(row["file"], row["reference"]) for row in csv.DictReader(f, delimiter="\t")]


MODULE = _make_samples()
ROWS = _reference_rows()
REFS = dict(ROWS)
SOURCES = tuple(MODULE.CLIPS)
DERIVED = tuple(name for name, _ in ROWS if name not in MODULE.CLIPS)
DERIVED_WAVS = tuple(name for name in DERIVED if name.endswith(".wav"))
DERIVED_LOSSY = tuple(name for name in DERIVED if not name.endswith(".wav"))


def _audio_files() -> set[str]:
    return {p.name for p in SAMPLES.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS}


def _read_pcm(path: Path) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV → int16 samples of shape (frames, channels), rate."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, path
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()), w.getframerate()


def _expected_duration_s(name: str) -> float:
    """How long `name` should be, from its source clips and the plan in make_samples.py."""
    clips = {clip: MODULE.read_wav(SAMPLES / clip) for clip in MODULE.CLIPS}
    if name in clips:
        return len(clips[name]) / SAMPLE_RATE_HZ
    if name == "call_stereo.wav":
        return len(MODULE.build_call(clips)[0]) / SAMPLE_RATE_HZ
    if name == "call_joined.wav":
        return len(MODULE.build_joined(clips)) / SAMPLE_RATE_HZ
    stem = Path(MODULE.FORMAT_SOURCE).stem
    assert name.startswith(stem), f"{name}: no rule for its duration"
    return len(clips[MODULE.FORMAT_SOURCE]) / SAMPLE_RATE_HZ


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    """make_samples.py run as a user runs it, writing into a fresh folder."""
    out = tmp_path_factory.mktemp("samples")
    proc = subprocess.run([sys.executable, "-B", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


# drift between the folder, references.tsv and ATTRIBUTION.md ------------------------------------------------------


@pytest.mark.parametrize("tsv", ["references.tsv"])
def test_audio_samples_every_file_listed_in_references_and_back(tsv):
    names = [name for name, _ in ROWS]
    assert len(names) == len(set(names)), f"{tsv} lists a file twice"
    assert _audio_files() == set(names)
    assert all(text.strip() for _, text in ROWS), f"{tsv} has an empty reference"


@pytest.mark.parametrize("name", SOURCES)
def test_audio_samples_source_clip_attributed(name):
    """The row of ATTRIBUTION.md for a source clip names the repository, AISHELL-1 and the same reference."""
    lines = (SAMPLES / "ATTRIBUTION.md").read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.startswith(f"| `{name}`")]
    assert len(rows) == 1, f"ATTRIBUTION.md has {len(rows)} source rows for {name}"
    row = rows[0]
    assert any(repo in row for repo in SOURCE_REPOS), row
    assert "AISHELL-1" in row, row
    assert MODULE.CLIPS[name] in row and REFS[name] == MODULE.CLIPS[name], row


@pytest.mark.parametrize("name", [name for name, _ in ROWS])
def test_audio_samples_every_file_named_in_attribution(name):
    assert f"`{name}`" in (SAMPLES / "ATTRIBUTION.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("corpus", ["AISHELL-1"])
def test_audio_samples_only_redistributable_sources(corpus):
    """Every audio file is a source clip the script knows or a file the script makes from them."""
    assert SOURCES and set(SOURCES) | set(DERIVED) == _audio_files()
    assert all(name.removeprefix("aishell-").startswith("BAC009") for name in SOURCES), SOURCES  # AISHELL-1 ids


# each file decodes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [name for name, _ in ROWS])
def test_audio_samples_decode_with_sane_duration(name):
    audio = load_audio(SAMPLES / name, keep_channels=True)
    assert audio.num_channels == (2 if name == "call_stereo.wav" else 1)
    assert 1.0 <= audio.duration_s <= 60.0
    assert audio.duration_s == pytest.approx(_expected_duration_s(name), abs=DURATION_TOLERANCE_S)
    for channel in audio.channels:
        assert np.isfinite(channel).all()
        assert 0.01 < np.abs(channel).max() <= 1.0  # speech, not silence, within full scale


@pytest.mark.parametrize("name", ["BAC009S0764W0121.flac"])
def test_audio_samples_flac_is_lossless(name):
    flac = load_audio(SAMPLES / name).mono()
    wav = load_audio(SAMPLES / MODULE.FORMAT_SOURCE).mono()
    np.testing.assert_array_equal(flac, wav)


@pytest.mark.parametrize("name", ["call_stereo.wav"])
def test_audio_samples_stereo_call_channels_take_turns(name):
    """One channel speaks at a time; a channel is non-zero only inside its own speaker's turns."""
    samples, rate = _read_pcm(SAMPLES / name)
    clips = {clip: MODULE.read_wav(SAMPLES / clip) for clip in MODULE.CLIPS}
    _, turns = MODULE.build_call(clips)
    assert [who for who, _, _ in turns] == [who for who, _ in MODULE.CALL_TURNS]
    for (_, _, end), (_, start, _) in zip(turns, turns[1:]):
        assert start - end == pytest.approx(MODULE.CALL_GAP_S, abs=1e-3)
    assert not np.any((samples[:, 0] != 0) & (samples[:, 1] != 0))
    for channel, speaker in enumerate(MODULE.CALL_SPEAKERS):
        inside = np.zeros(len(samples), dtype=bool)
        for who, start, end in turns:
            if who == speaker:
                inside[int(round(start * rate)) : int(round(end * rate))] = True
        assert not np.any(samples[~inside, channel]), f"{speaker} channel not silent outside its turns"
        assert np.any(samples[inside, channel]), f"{speaker} channel silent in its turns"


# make_samples.py rebuilds what is committed -----------------------------------------------------------------------


@pytest.mark.parametrize("extra", [("references.tsv",)])
def test_audio_samples_rebuild_makes_every_derived_file(rebuilt, extra):
    assert {p.name for p in rebuilt.iterdir()} == set(DERIVED) | set(extra)


@pytest.mark.parametrize("name", DERIVED_WAVS + ("references.tsv",))
def test_audio_samples_rebuild_byte_identical(rebuilt, name):
    assert (rebuilt / name).read_bytes() == (SAMPLES / name).read_bytes(), f"{name} differs: rerun make_samples.py"


@pytest.mark.parametrize("name", DERIVED_LOSSY)
def test_audio_samples_rebuild_lossy_decodes_alike(rebuilt, name):
    new, old = load_audio(rebuilt / name), load_audio(SAMPLES / name)
    assert (new.codec, new.source_rate_hz) == (old.codec, old.source_rate_hz)
    assert new.duration_s == pytest.approx(old.duration_s, abs=DURATION_TOLERANCE_S)
