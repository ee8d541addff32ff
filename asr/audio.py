"""Audio loading: any container/codec FFmpeg (PyAV) reads — wav, flac, mp3, ogg, m4a, AMR … — at any
sample rate, mono or multichannel, decoded to 16 kHz float32 per channel.

Every failure is an AudioDecodeError naming the file and the reason in one line. A file that decodes to
markedly less audio than its header promises is reported as truncated rather than passed off as complete.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np

from pipeline.base.errors import AudioDecodeError

logger = logging.getLogger(__name__)

__all__ = ["AUDIO_EXTENSIONS", "DecodedAudio", "find_audio_files", "load_audio", "load_speakers", "SAMPLE_RATE_HZ"]

SAMPLE_RATE_HZ = 16000
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".amr", ".awb", ".wma", ".webm", ".mp4"})
# Decoded audio shorter than this share of the duration the header declares counts as truncated.
_TRUNCATION_RATIO = 0.95


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


def load_audio(path: Union[str, Path], keep_channels: bool = False) -> DecodedAudio:
    """Decode `path` to 16 kHz float32.

    Args:
        path: an audio file in any format FFmpeg reads.
        keep_channels: return each channel separately (e.g. operator and caller of a stereo recording);
            otherwise the channels are mixed to one.

    Raises:
        AudioDecodeError: the file is missing, empty, not audio, corrupt, truncated or has no samples.
    """
    import av

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

    try:
        with av.open(name, metadata_errors="ignore") as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioDecodeError(name, "no audio stream in file")
            stream = streams[0]
            n_in = stream.codec_context.channels or 1
            layout = "mono" if not keep_channels or n_in == 1 else ("stereo" if n_in == 2 else None)
            resampler = av.AudioResampler(format="fltp", layout=layout or stream.codec_context.layout, rate=SAMPLE_RATE_HZ)
            pieces: list[np.ndarray] = []
            for frame in _decode(container, stream, name):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray())
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray())
            source_rate = stream.codec_context.sample_rate or 0
            codec = stream.codec_context.name
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise AudioDecodeError(name, f"not a readable audio file ({_reason(e)})") from None

    if not pieces:
        raise AudioDecodeError(name, "contains no audio samples (zero length)")
    data = np.concatenate(pieces, axis=1).astype(np.float32, copy=False)
    if data.shape[1] == 0:
        raise AudioDecodeError(name, "contains no audio samples (zero length)")
    wav = _wav_missing_bytes(path)
    if wav is not None and wav[1] < _TRUNCATION_RATIO * wav[0]:
        raise AudioDecodeError(
            name, f"truncated: header declares {wav[0]} bytes of audio but only {max(wav[1], 0)} are present"
        )
    if not np.all(np.isfinite(data)):
        raise AudioDecodeError(name, "decoded samples contain NaN or infinity")
    channels = tuple(np.ascontiguousarray(row) for row in data)
    return DecodedAudio(name, channels, source_rate, codec)


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


def _decode(container, stream, name: str) -> Iterator:
    import av

    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.error.EOFError:
        return
    except av.error.FFmpegError as e:
        raise AudioDecodeError(name, f"corrupt audio data ({_reason(e)})") from None


def load_speakers(
    path: Union[str, Path], labels: Optional[tuple[str, ...]]
) -> tuple[DecodedAudio, list[tuple[np.ndarray, Optional[str]]]]:
    """Decode `path` and pair its audio with speakers: one mixed channel unlabelled when `labels` is None,
    else one channel per label (a "-" label skips that channel).

    Raises:
        AudioDecodeError: as load_audio, or the file's channel count differs from the number of labels.
    """
    audio = load_audio(path, keep_channels=labels is not None)
    if labels is None:
        return audio, [(audio.channels[0], None)]
    if audio.num_channels != len(labels):
        raise AudioDecodeError(path, f"has {audio.num_channels} channel(s) but --channels {','.join(labels)} names {len(labels)}")
    return audio, [(ch, label) for ch, label in zip(audio.channels, labels) if label != "-"]


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
