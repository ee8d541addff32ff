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


# --- header sanity, container truncation, decoding in blocks ----------------------------------------------------


def _wav_header_only(path, rate_hz: int, data_bytes: int = 134_000, declared_bytes=None, channels: int = 1):
    """A 16-bit PCM WAV whose header says `rate_hz` (and `declared_bytes` of data), followed by `data_bytes` of silence."""
    import struct

    declared = data_bytes if declared_bytes is None else declared_bytes
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate_hz, rate_hz * 2 * channels, 2 * channels, 16)
    riff = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + fmt
    path.write_bytes(riff + b"data" + struct.pack("<I", declared) + bytes(data_bytes))
    return path


def _encode(path, samples: np.ndarray, container: str, codec: str, sample_format: str, options=None, codec_options=None):
    """Encode float mono 16 kHz `samples` with PyAV/FFmpeg (as audio_samples/make_samples.py does)."""
    import av

    with av.open(str(path), "w", format=container, options=options or {}) as out:
        stream = out.add_stream(codec, rate=16000, options=codec_options or {})
        stream.layout, stream.format = "mono", sample_format
        frame = av.AudioFrame.from_ndarray((samples * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def _no_decoding(monkeypatch):
    import asr.audio

    refuse = lambda *a: pytest.fail("decoded audio of a file its header rules out")  # noqa: E731
    monkeypatch.setattr(asr.audio, "_resampled", refuse, raising=False)


@pytest.mark.parametrize("rate_hz", [8, 1, 3999, 1_000_000])
def test_audio_implausible_header_rate_is_an_error_before_decoding(tmp_path, monkeypatch, rate_hz):
    """Regression: a 134 KB WAV whose header says 8 Hz decoded to 140 minutes of audio (2.7 GB RSS; at 1 Hz a
    MemoryError)."""
    path = _wav_header_only(tmp_path / f"lie_{rate_hz}hz.wav", rate_hz)
    _no_decoding(monkeypatch)
    reason = rf"lie_{rate_hz}hz\.wav'.*sample rate {rate_hz} Hz is not plausible \(accepted 4000-384000 Hz\)"
    with pytest.raises(AudioDecodeError, match=reason):
        load_audio(path)


@pytest.mark.parametrize("rate_hz", [4000, 8000, 384000])
def test_audio_plausible_rates_decode(tmp_path, rate_hz):
    path = _wav_header_only(tmp_path / "ok.wav", rate_hz, data_bytes=rate_hz * 2)  # one second
    assert load_audio(path).duration_s == pytest.approx(1.0, abs=0.01)


def _flac_claiming(path, total_samples: int):
    """A real 2 s FLAC whose STREAMINFO says it holds `total_samples` (36 bits after rate, channels, bits)."""
    sf.write(path, _tone(2.0, 16000), 16000, format="FLAC")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    bits = int.from_bytes(data[18:26], "big")
    data[18:26] = ((bits & ~((1 << 36) - 1)) | total_samples).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["flac_2e36_samples", "wav_data_2gb"])
def test_audio_header_declaring_more_than_the_file_holds_is_an_error_before_decoding(tmp_path, monkeypatch, kind):
    if kind == "flac_2e36_samples":
        path = _flac_claiming(tmp_path / f"{kind}.flac", (1 << 36) - 1)
        reason = r"header declares 4294967 s of audio in a file of \d+ bytes"
    else:
        path = _wav_header_only(tmp_path / f"{kind}.wav", 16000, declared_bytes=0x7FFFFFF0)
        reason = "truncated: header declares 2147483632 bytes"
    _no_decoding(monkeypatch)
    with pytest.raises(AudioDecodeError, match=reason) as info:
        load_audio(path)
    assert info.value.path == str(path)


_TRUNCATABLE = {  # name: (container, codec, sample format, muxer options, codec options)
    "lame.mp3": ("mp3", "libmp3lame", "s16p", {}, {}),  # LAME writes a Xing/Info header with the frame count
    "flac.mka": ("matroska", "flac", "s16", {}, {}),
    "opus.webm": ("webm", "libopus", "s16", {}, {}),
}


@pytest.mark.parametrize("name", sorted(_TRUNCATABLE))
def test_audio_container_declaring_more_than_decodes_is_truncated(tmp_path, name):
    """Regression: an MP3 with half its frames cut off was transcribed as a complete 2 s call although its
    header says 4.2 s."""
    whole = _encode(tmp_path / f"whole_{name}", _tone(4.2, 16000), *_TRUNCATABLE[name])
    assert load_audio(whole).duration_s == pytest.approx(4.2, abs=0.05)
    cut = tmp_path / f"cut_{name}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    reason = rf"cut_{name}'.*truncated: container declares 4\.2\d s but only [12]\.\d\d s decode"
    with pytest.raises(AudioDecodeError, match=reason):
        load_audio(cut)


@pytest.mark.parametrize("cut", [1.0, 0.5])
def test_audio_estimated_duration_is_not_checked(tmp_path, cut):
    """A VBR MP3 without a Xing header: FFmpeg estimates its duration from the first frame's bit rate (silence,
    so low: 17.4 s for 6.1 s of audio). Whole or cut, it is not called truncated on an estimate."""
    rng = np.random.default_rng(0)
    audio = np.concatenate([np.zeros(2 * 16000), 0.3 * rng.standard_normal(4 * 16000)]).astype(np.float32)
    vbr = {"flags": "+qscale", "global_quality": "236"}  # LAME -V 2
    path = _encode(tmp_path / "vbr.mp3", audio, "mp3", "libmp3lame", "s16p", {"write_xing": "0"}, vbr)
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * cut)])
    from asr.audio import probe_audio

    info = probe_audio(path)
    assert not info.declared_exact
    assert load_audio(path).duration_s < info.declared_s * 0.95


@pytest.mark.parametrize("seconds,block_s", [(7.3, 2.0), (4.0, 2.0), (1.0, 2.0)])
def test_audio_decode_blocks_yields_bounded_blocks_that_join_to_the_whole(tmp_path, seconds, block_s):
    from asr.audio import decode_blocks

    path = tmp_path / "call.wav"
    sf.write(path, np.stack([_tone(seconds, 8000, 300), _tone(seconds, 8000, 700)], axis=1), 8000)
    blocks = list(decode_blocks(path, keep_channels=True, block_s=block_s))
    n = int(block_s * 16000)
    assert [len(b.channels[0]) for b in blocks[:-1]] == [n] * (len(blocks) - 1) and 0 < len(blocks[-1].channels[0]) <= n
    assert [b.last for b in blocks] == [False] * (len(blocks) - 1) + [True]
    assert [b.start_s for b in blocks] == [i * block_s for i in range(len(blocks))]
    whole = load_audio(path, keep_channels=True)
    for ch in (0, 1):
        assert np.array_equal(np.concatenate([b.channels[ch] for b in blocks]), whole.channels[ch])


@pytest.mark.parametrize("bad_at_s", [5.0])
def test_audio_nan_in_a_later_block_is_an_error(tmp_path, bad_at_s):
    from asr.audio import decode_blocks

    samples = _tone(7.0, 16000)
    samples[int(bad_at_s * 16000)] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    blocks = decode_blocks(path, block_s=2.0)
    assert next(blocks).start_s == 0.0
    with pytest.raises(AudioDecodeError, match=r"nan\.wav'.*NaN or infinity"):
        list(blocks)


def _speech_with_pauses(seconds: float, pauses: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    """Noise ("speech") everywhere except the (start_s, end_s) pauses, which hold faint noise."""
    rng = np.random.default_rng(seed)
    x = (0.3 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    for a, b in pauses:
        x[int(a * 16000) : int(b * 16000)] *= 0.01
    return x


@pytest.mark.parametrize("pause", [(12.0, 12.7), (38.5, 39.1)])
def test_audio_quiet_cut_falls_in_the_pause_near_the_end(pause):
    from asr.audio import quiet_cut

    x = _speech_with_pauses(40.0, [(2.0, 3.0), pause])  # the pause at 2 s is outside the last 30 s
    cut = quiet_cut(x, search_s=30.0, window_s=0.5)
    assert pause[0] * 16000 < cut < pause[1] * 16000
    assert quiet_cut(x[:4000]) == 4000  # shorter than one window: not cut


@pytest.mark.parametrize("block_s", [10.0])
def test_audio_quiet_pieces_tile_each_channel_and_cut_in_its_pauses(block_s):
    from asr.audio import AudioBlock, quiet_pieces

    left_pauses, right_pauses = [(8.0, 8.8), (17.2, 17.9), (29.0, 29.6)], [(6.5, 7.2), (19.1, 19.8), (28.0, 28.6)]
    left, right = _speech_with_pauses(33.0, left_pauses, seed=1), _speech_with_pauses(33.0, right_pauses, seed=2)
    n = int(block_s * 16000)
    blocks = [AudioBlock(i * block_s, (left[i * n : (i + 1) * n], right[i * n : (i + 1) * n]), (i + 1) * n >= len(left))
              for i in range(4)]  # fmt: skip
    pieces = list(quiet_pieces(blocks, (0, 1)))
    for ch, signal, pauses in ((0, left, left_pauses), (1, right, right_pauses)):
        mine = [(start, samples) for c, start, samples in pieces if c == ch]
        assert np.array_equal(np.concatenate([s for _, s in mine]), signal)  # nothing lost, nothing twice
        ends = [start + len(s) / 16000 for start, s in mine]
        assert [start for start, _ in mine] == [0.0, *ends[:-1]]
        assert all(any(a < e < b for a, b in pauses) for e in ends[:-1])  # every cut in one of that channel's pauses
        assert max(len(s) for _, s in mine) <= (block_s + 30.0) * 16000
