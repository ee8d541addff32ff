"""Audio loading: any container/codec FFmpeg (PyAV) reads — wav, flac, mp3, ogg, m4a, AMR … — at any
sample rate, mono or multichannel, decoded to 16 kHz float32 per channel.

A recording is decoded in bounded blocks (`decode_blocks`, at most `BLOCK_S` seconds per channel at a time),
so a two-hour file needs no more memory than a five-minute one; `load_audio` joins the blocks for callers
that want the whole file (short calls, replay). Before anything is decoded the header is checked
(`probe_audio`): an implausible sample rate, a duration the file is far too small to hold, or a WAV data
chunk longer than the file are errors, not gigabytes of upsampled noise.

Every failure is an AudioDecodeError naming the file and the reason in one line. A file that decodes to
markedly less audio than its header promises is reported as truncated rather than passed off as complete.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from pipeline.base.errors import AudioDecodeError

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO_EXTENSIONS", "AudioBlock", "AudioInfo", "BLOCK_S", "DecodedAudio", "SAMPLE_RATE_HZ", "decode_blocks",
    "find_audio_files", "load_audio", "load_speakers", "probe_audio", "quiet_cut", "quiet_pieces", "speaker_channels",
]  # fmt: skip

SAMPLE_RATE_HZ = 16000
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".amr", ".awb", ".wma", ".webm", ".mp4"})
# Decoded audio shorter than this share of the duration the header declares counts as truncated.
_TRUNCATION_RATIO = 0.95
# At most this much audio per channel is decoded (and transcribed) at a time. faster-whisper's VAD and features
# of a block cost about 1.2 MB per second of it, freed after the block but partly kept by the allocator, so the
# peak rises over the first blocks and then stays. Measured with Whisper base on 15 min of speech (peak RSS
# after each block): 2-min blocks 821, 859, 864, 887, 898 MB, then 898 to the end; 5-min blocks 974, 1136,
# 1175 MB. A cut every 2 minutes at a quiet point cost no accuracy (4.4 min of long-form eval audio: 47
# character errors in 1-min blocks, 50 whole).
BLOCK_S = 120.0
# A block that more audio follows is cut at the quietest QUIET_WINDOW_S of its last QUIET_SEARCH_S (no word
# is cut in two); the rest is carried into the next block.
QUIET_SEARCH_S = 30.0
QUIET_WINDOW_S = 0.5
# Source sample rates outside this range are a damaged header (a WAV saying 8 Hz would be 140 minutes of
# "audio" from 134 KB); telephone audio is 8 kHz, studio audio up to 384 kHz.
MIN_SOURCE_RATE_HZ = 4000
MAX_SOURCE_RATE_HZ = 384000
# No codec stores a second of audio in fewer bytes than this (AMR-NB at 4.75 kbit/s needs 594); a header that
# declares more seconds than the file can hold at this rate lies.
MIN_BYTES_PER_S = 50
# Containers whose declared duration is stated by the file (FLAC STREAMINFO, the MP4 moov, the Matroska
# Segment Info), not estimated by FFmpeg from the bit rate (AMR, ADTS AAC, ASF, MP3 without a Xing/Info/VBRI
# header) or read from the last page that is there (Ogg): decoding less than that is a truncation.
_STATED_DURATION_FORMATS = frozenset({"flac", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What a file's header declares, checked before anything is decoded (`probe_audio`)."""

    path: str
    source_rate_hz: int  # 0 when the container leaves it to the decoder (then each frame is checked)
    num_channels: int
    codec: str
    declared_s: Optional[float]  # the duration the container declares, estimate or not; None when it declares none
    declared_exact: bool  # declared_s is stated by the file, so decoding markedly less means it is truncated


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """One block of a recording (`decode_blocks`): 16 kHz float32, one array per channel, all the same length."""

    start_s: float
    channels: tuple[np.ndarray, ...]
    last: bool  # no audio follows this block

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE_HZ


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Decoded audio: one float32 16 kHz array per channel, all the same length."""

    path: str
    channels: tuple[np.ndarray, ...]
    source_rate_hz: int
    codec: str

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE_HZ if self.channels else 0.0

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    def mono(self) -> np.ndarray:
        if len(self.channels) == 1:
            return self.channels[0]
        return np.mean(np.stack(self.channels), axis=0, dtype=np.float32)


def _reason(e: BaseException) -> str:
    """A one-line reason from an FFmpeg/OS error."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    text = text.splitlines()[0]
    fname = getattr(e, "filename", None)
    if fname and isinstance(fname, str):
        text = text.replace(f": '{fname}'", "").replace(fname, "").strip(" :")
    return text


def _check_file(path: Union[str, Path]) -> tuple[str, int]:
    """(name, size in bytes) of a regular, non-empty file."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise AudioDecodeError(name, "no such file")
    if path.is_dir():
        raise AudioDecodeError(name, "is a directory, not an audio file")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise AudioDecodeError(name, _reason(e)) from None
    if size == 0:
        raise AudioDecodeError(name, "empty file (0 bytes)")
    return name, size


def _check_rate(name: str, rate_hz: int) -> None:
    if not MIN_SOURCE_RATE_HZ <= rate_hz <= MAX_SOURCE_RATE_HZ:
        accepted = f"{MIN_SOURCE_RATE_HZ}-{MAX_SOURCE_RATE_HZ} Hz"
        raise AudioDecodeError(name, f"sample rate {rate_hz} Hz is not plausible (accepted {accepted}): damaged header")


def _check_header(container, name: str, size: int) -> AudioInfo:
    """The first audio stream's header, checked: rate, declared duration against the file size, WAV data size."""
    streams = [s for s in container.streams if s.type == "audio"]
    if not streams:
        raise AudioDecodeError(name, "no audio stream in file")
    stream = streams[0]
    rate = stream.codec_context.sample_rate or 0
    if rate:
        _check_rate(name, rate)
    wav = _wav_missing_bytes(Path(name))
    if wav is not None and wav[1] < _TRUNCATION_RATIO * wav[0]:
        raise AudioDecodeError(name, f"truncated: header declares {wav[0]} bytes of audio but only {max(wav[1], 0)} are present")
    declared = None
    if stream.duration and stream.time_base:
        declared = float(stream.duration * stream.time_base)
    elif container.duration:
        declared = container.duration / 1_000_000  # AV_TIME_BASE
    if declared is not None and declared * MIN_BYTES_PER_S > size:
        raise AudioDecodeError(name, f"header declares {declared:.0f} s of audio in a file of {size} bytes "
                                     f"(under {MIN_BYTES_PER_S} bytes a second): damaged header")  # fmt: skip
    fmt = container.format.name
    exact = declared is not None and (fmt in _STATED_DURATION_FORMATS or (fmt == "mp3" and _mp3_states_frames(Path(name))))
    return AudioInfo(name, rate, stream.codec_context.channels or 1, stream.codec_context.name, declared, exact)


def probe_audio(path: Union[str, Path]) -> AudioInfo:
    """Open `path` and check its header without decoding any audio.

    Raises:
        AudioDecodeError: the file is missing, empty, not audio, has an implausible sample rate, declares
            more audio than it could hold, or is a WAV whose data chunk is cut short.
    """
    import av

    name, size = _check_file(path)
    try:
        with av.open(name, metadata_errors="ignore") as container:
            return _check_header(container, name, size)
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise AudioDecodeError(name, f"not a readable audio file ({_reason(e)})") from None


def decode_blocks(path: Union[str, Path], keep_channels: bool = False, block_s: Optional[float] = None) -> Iterator[AudioBlock]:
    """Decode `path` to 16 kHz float32, `block_s` seconds per channel at a time (a generator: the file is
    decoded while you iterate, and never held whole).

    Every block but the last holds exactly `block_s` seconds and has `last` False. The header is checked
    before anything is decoded (`probe_audio`), each block for NaN/infinity before it is yielded, and before
    the last block is yielded the whole: no samples at all, or markedly less than a container that states its
    duration declares, is an error, so partial audio never arrives as if it were the whole file.

    Args:
        path: an audio file in any format FFmpeg reads.
        keep_channels: yield each channel separately (e.g. operator and caller of a stereo recording);
            otherwise the channels are mixed to one.
        block_s: the block length in seconds (default `BLOCK_S`).

    Raises:
        AudioDecodeError: as probe_audio, or the audio is corrupt, truncated, has no samples or is not finite.
    """
    import av

    name, size = _check_file(path)
    block_s = BLOCK_S if block_s is None else block_s
    block_n = int(block_s * SAMPLE_RATE_HZ)
    if block_n <= 0:
        raise ValueError(f"block_s must be positive, got {block_s}")
    done = 0  # samples per channel yielded so far
    try:
        with av.open(name, metadata_errors="ignore") as container:
            info = _check_header(container, name, size)
            stream = next(s for s in container.streams if s.type == "audio")
            n_in = info.num_channels
            layout = "mono" if not keep_channels or n_in == 1 else ("stereo" if n_in == 2 else stream.codec_context.layout)
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE_HZ)
            pending: list[np.ndarray] = []
            n_pending = 0
            for data in _resampled(container, stream, resampler, name):
                pending.append(data)
                n_pending += data.shape[1]
                while n_pending > block_n:  # strictly more: the block yielded here is known not to be the last
                    joined = np.concatenate(pending, axis=1)
                    pending, n_pending = [joined[:, block_n:].copy()], n_pending - block_n
                    yield _block(name, joined[:, :block_n], done, last=False)
                    done += block_n
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise AudioDecodeError(name, f"not a readable audio file ({_reason(e)})") from None
    total = done + n_pending
    if total == 0:
        raise AudioDecodeError(name, "contains no audio samples (zero length)")
    decoded_s = total / SAMPLE_RATE_HZ
    if info.declared_exact and decoded_s < _TRUNCATION_RATIO * info.declared_s:
        raise AudioDecodeError(name, f"truncated: container declares {info.declared_s:.2f} s but only {decoded_s:.2f} s decode")
    yield _block(name, np.concatenate(pending, axis=1), done, last=True)


def _block(name: str, data: np.ndarray, start_n: int, last: bool) -> AudioBlock:
    if not np.all(np.isfinite(data)):
        raise AudioDecodeError(name, "decoded samples contain NaN or infinity")
    return AudioBlock(start_n / SAMPLE_RATE_HZ, tuple(np.ascontiguousarray(row, dtype=np.float32) for row in data), last)


def _resampled(container, stream, resampler, name: str) -> Iterator[np.ndarray]:
    """The stream's frames resampled to 16 kHz, as (channels, samples) arrays; each frame's rate is checked."""
    import av

    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                _check_rate(name, frame.sample_rate)
                for out in resampler.resample(frame):
                    yield out.to_ndarray()
    except av.error.EOFError:
        pass
    except av.error.FFmpegError as e:
        raise AudioDecodeError(name, f"corrupt audio data ({_reason(e)})") from None
    for out in resampler.resample(None):
        yield out.to_ndarray()


def load_audio(path: Union[str, Path], keep_channels: bool = False) -> DecodedAudio:
    """Decode the whole of `path` to 16 kHz float32 (the blocks of `decode_blocks`, joined).

    Args:
        path: an audio file in any format FFmpeg reads.
        keep_channels: return each channel separately (e.g. operator and caller of a stereo recording);
            otherwise the channels are mixed to one.

    Raises:
        AudioDecodeError: as decode_blocks.
    """
    info = probe_audio(path)
    blocks = [b.channels for b in decode_blocks(path, keep_channels)]
    channels = tuple(np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in zip(*blocks))
    return DecodedAudio(info.path, channels, info.source_rate_hz, info.codec)


def _wav_missing_bytes(path: Path) -> Optional[tuple[int, int]]:
    """For a RIFF/WAVE file: (bytes its data chunk declares, bytes actually present), else None.

    FFmpeg silently decodes what is there when a WAV is cut short, so the header is checked here.
    Streaming writers put 0 or 0xFFFFFFFF in the size field; those are not checked.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = path.stat().st_size
            while True:
                hdr = f.read(8)
                if len(hdr) < 8:
                    return None
                cid, clen = hdr[:4], int.from_bytes(hdr[4:], "little")
                if cid == b"data":
                    if clen in (0, 0xFFFFFFFF):
                        return None
                    return clen, size - f.tell()
                f.seek(clen + (clen & 1), os.SEEK_CUR)
    except OSError:
        return None


def _mp3_states_frames(path: Path) -> bool:
    """Whether an MP3's first frame carries a Xing/Info header with a frame count, or a VBRI header: then
    FFmpeg's duration comes from the file; without one it is an estimate from the first frame's bit rate."""
    try:
        with open(path, "rb") as f:
            head = f.read(10)
            start = 0
            if head[:3] == b"ID3" and len(head) == 10:  # skip an ID3v2 tag (syncsafe size, optional footer)
                start = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10])) + (10 if head[5] & 0x10 else 0)
            f.seek(start)
            buf = f.read(4096)
    except OSError:
        return False
    sync = next((i for i in range(len(buf) - 1) if buf[i] == 0xFF and buf[i + 1] & 0xE0 == 0xE0), None)
    if sync is None:
        return False
    frame = buf[sync : sync + 64]
    for offset in (13, 21, 36):  # after the side information: MPEG-2 mono, MPEG-1 mono / MPEG-2 stereo, MPEG-1 stereo
        if frame[offset : offset + 4] in (b"Xing", b"Info"):
            flags = frame[offset + 4 : offset + 8]
            return len(flags) == 4 and flags[3] & 0x01 == 1  # the frame count is present
    return frame[36:40] == b"VBRI"


def quiet_cut(samples: np.ndarray, search_s: Optional[float] = None, window_s: Optional[float] = None) -> int:
    """Where to cut `samples` so that no word is cut in two: the middle of the `window_s` (default
    `QUIET_WINDOW_S`) with the least energy within the last `search_s` (default `QUIET_SEARCH_S`); the whole
    length when there is less than one window."""
    search_s = QUIET_SEARCH_S if search_s is None else search_s
    window_s = QUIET_WINDOW_S if window_s is None else window_s
    hop = SAMPLE_RATE_HZ // 100  # 10 ms
    k = max(1, int(window_s * SAMPLE_RATE_HZ) // hop)  # hops per window
    start = max(0, len(samples) - int(search_s * SAMPLE_RATE_HZ))
    n_hops = (len(samples) - start) // hop
    if n_hops < k:
        return len(samples)
    tail = samples[start : start + n_hops * hop].reshape(n_hops, hop)
    energy = np.concatenate(([0.0], np.cumsum(np.einsum("ij,ij->i", tail, tail), dtype=np.float64)))
    best = int(np.argmin(energy[k:] - energy[:-k]))
    return start + best * hop + k * hop // 2


def quiet_pieces(blocks: Iterable[AudioBlock], channels: Sequence[int] = (0,)) -> Iterator[tuple[int, float, np.ndarray]]:
    """Pieces to transcribe one at a time, from `decode_blocks`: (channel, start_s, samples) for each of
    `channels` per block. A block that more audio follows is cut at a quiet point near its end (`quiet_cut`,
    for each channel on its own) and the rest is carried into that channel's next piece; the last block is
    not cut. A piece is at most one block plus `QUIET_SEARCH_S` long."""
    carry = {ch: (0, np.zeros(0, np.float32)) for ch in channels}
    for block in blocks:
        for ch in channels:
            start_n, head = carry[ch]
            samples = np.concatenate((head, block.channels[ch])) if len(head) else block.channels[ch]
            cut = len(samples) if block.last else quiet_cut(samples)
            carry[ch] = (start_n + cut, samples[cut:].copy())
            yield ch, start_n / SAMPLE_RATE_HZ, samples[:cut]


def speaker_channels(
    path: Union[str, Path], num_channels: int, labels: Optional[Sequence[str]]
) -> list[tuple[int, Optional[str]]]:
    """(channel index, speaker) to transcribe: the one mixed channel unlabelled when `labels` is None, else one
    channel per label ("-" skips that channel).

    Raises:
        AudioDecodeError: the file's channel count differs from the number of labels.
    """
    if labels is None:
        return [(0, None)]
    if num_channels != len(labels):
        raise AudioDecodeError(path, f"has {num_channels} channel(s) but --channels {','.join(labels)} names {len(labels)}")
    return [(i, label) for i, label in enumerate(labels) if label != "-"]


def load_speakers(
    path: Union[str, Path], labels: Optional[tuple[str, ...]]
) -> tuple[DecodedAudio, list[tuple[np.ndarray, Optional[str]]]]:
    """Decode the whole of `path` and pair its audio with speakers (see `speaker_channels`).

    Raises:
        AudioDecodeError: as load_audio, or the file's channel count differs from the number of labels
            (checked before anything is decoded).
    """
    jobs = speaker_channels(path, probe_audio(path).num_channels, labels)
    audio = load_audio(path, keep_channels=labels is not None)
    return audio, [(audio.channels[i], label) for i, label in jobs]


def find_audio_files(paths: list[Union[str, Path]]) -> Iterator[tuple[Path, Path]]:
    """Expand files and folders (recursively, sorted) into (file, root) pairs; outputs mirror each file's
    place under its root, and a folder's root is its parent, so outputs keep the folder's name.

    A file given by name is yielded whatever its extension (it is the user's explicit choice; decoding
    will say if it is not audio); inside folders only known audio extensions are picked up.
    A missing path is yielded too, so the caller reports it with the other failures.
    """
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for fn in sorted(filenames):
                    f = Path(dirpath) / fn
                    if f.suffix.lower() in AUDIO_EXTENSIONS:
                        yield f, p.parent
        else:
            yield p, p.parent
