import numpy as np
import pytest
import soundfile as sf

from asr.audio import AUDIO_EXTENSIONS, find_audio_files, load_audio
from pipeline.base.errors import AudioDecodeError


def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("rate,fmt", [(8000, "wav"), (16000, "wav"), (44100, "flac"), (48000, "ogg")])
def test_audio_load_any_rate_to_16k(tmp_path, rate, fmt):
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, _tone(2.0, rate), rate)
    audio = load_audio(path)
    assert audio.num_channels == 1
    assert audio.source_rate_hz == rate
    assert audio.duration_s == pytest.approx(2.0, abs=0.03)
    assert audio.channels[0].dtype == np.float32


@pytest.mark.parametrize("keep", [True, False])
def test_audio_stereo_channels_kept_or_mixed(tmp_path, keep):
    left, right = _tone(1.0, 16000, 300), np.zeros(16000, np.float32)
    path = tmp_path / "call.wav"
    sf.write(path, np.stack([left, right], axis=1), 16000)
    audio = load_audio(path, keep_channels=keep)
    if keep:
        assert audio.num_channels == 2
        assert np.abs(audio.channels[0]).max() > 0.2
        assert np.abs(audio.channels[1]).max() < 1e-3
    else:
        assert audio.num_channels == 1
        assert np.abs(audio.mono()).max() == pytest.approx(0.3 / np.sqrt(2), abs=0.02)  # FFmpeg downmix gain


def _write_bad(tmp_path, kind):
    good = tmp_path / "good.wav"
    sf.write(good, _tone(2.0, 16000), 16000, subtype="PCM_16")
    p = tmp_path / f"{kind}.wav"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(good.read_bytes()[: 30000])
    elif kind == "header_only":
        p.write_bytes(good.read_bytes()[:30])
    elif kind == "text":
        p.write_text("this is not audio\n")
    elif kind == "zero_length":
        sf.write(p, np.zeros(0, np.float32), 16000)
    elif kind == "missing":
        pass
    return p


@pytest.mark.parametrize(
    "kind,reason",
    [
        ("empty", "empty file"),
        ("truncated", "truncated"),
        ("header_only", "not a readable audio file"),
        ("text", "not a readable audio file"),
        ("zero_length", "no audio samples"),
        ("missing", "no such file"),
    ],
)
def test_audio_bad_input_names_file_and_reason(tmp_path, kind, reason):
    path = _write_bad(tmp_path, kind)
    with pytest.raises(AudioDecodeError, match=reason) as info:
        load_audio(path)
    assert info.value.path == str(path)
    assert f"{kind}.wav" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["folder"])
def test_audio_directory_is_not_audio(tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(AudioDecodeError, match="is a directory"):
        load_audio(tmp_path / name)


@pytest.mark.parametrize("layout", ["nested"])
def test_audio_find_files_recursive_sorted(tmp_path, layout):
    root = tmp_path / "calls"
    (root / "b").mkdir(parents=True)
    (root / "a").mkdir()
    for rel in ["b/2.wav", "a/1.mp3", "a/notes.txt", "a/0.AMR"]:
        (root / rel).write_bytes(b"x")
    found = [(f.relative_to(tmp_path).as_posix(), r) for f, r in find_audio_files([root])]
    assert [f for f, _ in found] == ["calls/a/0.AMR", "calls/a/1.mp3", "calls/b/2.wav"]
    assert all(r == tmp_path for _, r in found)
    explicit = list(find_audio_files([root / "a" / "notes.txt"]))
    assert explicit == [(root / "a" / "notes.txt", root / "a")]
    assert ".amr" in AUDIO_EXTENSIONS


@pytest.mark.parametrize(
    "labels,expected",
    [(None, [None]), (("operator", "caller"), ["operator", "caller"]), (("-", "caller"), ["caller"])],
)
def test_audio_load_speakers_pairs_channels_with_labels(tmp_path, labels, expected):
    from asr.audio import load_speakers

    path = tmp_path / "call.wav"
    sf.write(path, np.stack([_tone(1.0, 16000, 300), _tone(1.0, 16000, 600)], axis=1), 16000)
    _, jobs = load_speakers(path, labels)
    assert [label for _, label in jobs] == expected


@pytest.mark.parametrize("labels", [("operator", "caller", "supervisor")])
def test_audio_load_speakers_channel_count_mismatch_names_file(tmp_path, labels):
    from asr.audio import load_speakers

    path = tmp_path / "mono.wav"
    sf.write(path, _tone(1.0, 16000), 16000)
    with pytest.raises(AudioDecodeError, match=r"mono\.wav.*1 channel\(s\) but --channels operator,caller,supervisor"):
        load_speakers(path, labels)
