"""Rebuild the derived audio samples from the two AISHELL-1 clips in this folder.

    python audio_samples/make_samples.py            # rewrites the derived files and references.tsv here
    python audio_samples/make_samples.py OUT_DIR    # writes them to OUT_DIR instead (the sources stay here)

Needs only numpy and PyAV (`av`, a core dependency of the project). The output is deterministic: the
WAV files are written byte for byte by this script; the compressed ones are encoded with FFmpeg's
bit-exact flags, so the same PyAV/FFmpeg build gives the same bytes (another build may differ slightly).

Derived files (see ATTRIBUTION.md for the source clips and their licence):
    call_stereo.wav              16 kHz stereo "call", 14.37 s: left = operator, right = caller; 0.3 s lead-in,
                                 turns taken in order with 0.5 s gaps, 0.3 s at the end; the channel not
                                 speaking is digital silence (zeros). Turns (start-end, seconds):
                                     operator  aishell-BAC009S0724W0121   0.30- 4.58
                                     caller    BAC009S0764W0121           5.08- 9.28
                                     operator  aishell-BAC009S0724W0121   9.78-14.07
    call_joined.wav              the two clips alternated three times (0764, 0724, 0764, 0724, 0764, 0724)
                                 and joined with 0.8 s of silence, mono 16 kHz, 29.45 s.
    BAC009S0764W0121_8k.wav      telephone band (300-3400 Hz), 8 kHz mono 16-bit PCM.
    BAC009S0764W0121.amr         AMR-NB, 8 kHz, 12.2 kbit/s (from the telephone-band signal).
    BAC009S0764W0121.mp3         MP3 (LAME), 16 kHz mono, 32 kbit/s.
    BAC009S0764W0121.flac        FLAC, 16 kHz mono.
    BAC009S0764W0121.ogg         Opus in Ogg, 16 kHz mono, 24 kbit/s.
    BAC009S0764W0121.m4a         AAC-LC in MP4, 16 kHz mono, 32 kbit/s.
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE_HZ = 16000
TEL_RATE_HZ = 8000

# The source clips (AISHELL-1, copied unchanged from the upstream repositories) and their corpus reference
# transcripts. Only these may be shipped: every other file in this folder is derived from them.
CLIPS = {
    "BAC009S0764W0121.wav": "甚至出现交易几乎停滞的情况",
    "aishell-BAC009S0724W0121.wav": "广州市房地产中介协会分析",
}
FORMAT_SOURCE = "BAC009S0764W0121.wav"  # the clip rendered in every codec
AUDIO_SUFFIXES = (".wav", ".amr", ".mp3", ".flac", ".ogg", ".m4a")

# The stereo call: (speaker, clip) turns in time order. Channel 0 (left) = operator, 1 (right) = caller.
CALL_SPEAKERS = ("operator", "caller")
CALL_TURNS = (
    ("operator", "aishell-BAC009S0724W0121.wav"),
    ("caller", "BAC009S0764W0121.wav"),
    ("operator", "aishell-BAC009S0724W0121.wav"),
)
CALL_GAP_S = 0.5
# call_joined.wav: the clips in this order, 0.8 s of silence between them (about 29.5 s in all).
JOIN_ORDER = ("BAC009S0764W0121.wav", "aishell-BAC009S0724W0121.wav") * 3
JOIN_GAP_S = 0.8


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit PCM mono WAV at 16 kHz → int16 samples."""
    with wave.open(str(path), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, RATE_HZ):
            raise ValueError(
                f"{path}: expected 16-bit mono {RATE_HZ} Hz PCM, got {w.getsampwidth() * 8}-bit, "
                f"{w.getnchannels()} channel(s), {w.getframerate()} Hz"
            )
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def write_wav(path: Path, samples: np.ndarray, rate_hz: int) -> None:
    """int16 samples, shape (n,) or (n, channels) → 16-bit PCM WAV."""
    samples = np.asarray(samples, dtype="<i2")
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(np.ascontiguousarray(samples).tobytes())


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * RATE_HZ)), dtype=np.int16)


def telephone_band(samples: np.ndarray) -> np.ndarray:
    """16 kHz int16 → 8 kHz int16 limited to the telephone band (300-3400 Hz): FFT band-pass, then keep
    every second sample (nothing is left above 4 kHz, so no aliasing)."""
    x = samples.astype(np.float64)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), d=1.0 / RATE_HZ)
    # raised-cosine edges 100 Hz wide, so the band-pass does not ring
    gain = np.clip((freqs - 250.0) / 100.0, 0.0, 1.0) * np.clip((3450.0 - freqs) / 100.0, 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    y = np.fft.irfft(spectrum * gain, n=len(x))[::2]
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def encode(path: Path, samples: np.ndarray, rate_hz: int, codec: str, container_format: str, bit_rate: int = 0) -> None:
    """Encode int16 mono samples with FFmpeg (PyAV), bit-exact (no random stream serials, no version tags)."""
    import av

    sample_format = {"libopencore_amrnb": "s16", "flac": "s16", "libopus": "s16", "libmp3lame": "s16p", "aac": "fltp"}[codec]
    with av.open(str(path), "w", format=container_format, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=rate_hz, options={"flags": "+bitexact"})
        stream.layout = "mono"
        stream.format = sample_format
        if bit_rate:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = rate_hz
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def build_call(clips: dict[str, np.ndarray]) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """The stereo call and its turns as (speaker, start_s, end_s)."""
    lead = silence(0.3)
    tracks = {s: [lead] for s in CALL_SPEAKERS}
    turns, t = [], len(lead) / RATE_HZ
    for i, (speaker, clip) in enumerate(CALL_TURNS):
        audio = clips[clip]
        gap = silence(CALL_GAP_S) if i < len(CALL_TURNS) - 1 else silence(0.3)
        for s in CALL_SPEAKERS:
            tracks[s].append(audio if s == speaker else np.zeros_like(audio))
            tracks[s].append(gap)
        turns.append((speaker, t, t + len(audio) / RATE_HZ))
        t += (len(audio) + len(gap)) / RATE_HZ
    stereo = np.stack([np.concatenate(tracks[s]) for s in CALL_SPEAKERS], axis=1)
    return stereo, turns


def build_joined(clips: dict[str, np.ndarray]) -> np.ndarray:
    parts = []
    for i, name in enumerate(JOIN_ORDER):
        if i:
            parts.append(silence(JOIN_GAP_S))
        parts.append(clips[name])
    return np.concatenate(parts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", type=Path, default=HERE, help="where to write (default: this folder)")
    out = ap.parse_args(argv).out_dir
    out.mkdir(parents=True, exist_ok=True)
    clips = {name: read_wav(HERE / name) for name in CLIPS}
    refs = dict(CLIPS)

    stereo, turns = build_call(clips)
    write_wav(out / "call_stereo.wav", stereo, RATE_HZ)
    refs["call_stereo.wav"] = "".join(CLIPS[clip] for _, clip in CALL_TURNS)
    for speaker, start, end in turns:
        print(f"call_stereo.wav  {speaker:<8} {start:6.2f}-{end:6.2f} s")

    joined = build_joined(clips)
    write_wav(out / "call_joined.wav", joined, RATE_HZ)
    refs["call_joined.wav"] = "".join(CLIPS[name] for name in JOIN_ORDER)
    print(f"call_joined.wav  {len(joined) / RATE_HZ:.2f} s")

    stem = Path(FORMAT_SOURCE).stem
    source = clips[FORMAT_SOURCE]
    narrow = telephone_band(source)
    write_wav(out / f"{stem}_8k.wav", narrow, TEL_RATE_HZ)
    encode(out / f"{stem}.amr", narrow, TEL_RATE_HZ, "libopencore_amrnb", "amr", 12200)
    encode(out / f"{stem}.mp3", source, RATE_HZ, "libmp3lame", "mp3", 32000)
    encode(out / f"{stem}.flac", source, RATE_HZ, "flac", "flac")
    encode(out / f"{stem}.ogg", source, RATE_HZ, "libopus", "ogg", 24000)
    encode(out / f"{stem}.m4a", source, RATE_HZ, "aac", "ipod", 32000)
    for suffix in ("_8k.wav", ".amr", ".mp3", ".flac", ".ogg", ".m4a"):
        refs[stem + suffix] = CLIPS[FORMAT_SOURCE]

    lines = ["file\treference\n"] + [f"{name}\t{text}\n" for name, text in sorted(refs.items())]
    (out / "references.tsv").write_text("".join(lines), encoding="utf-8")
    if out.resolve() == HERE:
        stale = sorted(p.name for p in HERE.glob("*.*") if p.suffix in AUDIO_SUFFIXES and p.name not in refs)
        if stale:
            print(f"not made by this script, delete them: {', '.join(stale)}")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{len(refs)} samples, {total / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
