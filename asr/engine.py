"""The Whisper engine: one faster-whisper model per process, shared by every session and file.

faster-whisper is imported here, inside the adapter, so the rest of the package imports without it.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from models import resolve_whisper
from pipeline.base.config import AsrOptions
from pipeline.base.deps import require
from pipeline.base.errors import ModelError
from pipeline.base.types import Segment, Word
from pipeline.base.vocab import hotwords as domain_hotwords

from .audio import SAMPLE_RATE_HZ
from .hygiene import clean_text, clean_word, is_hallucination

logger = logging.getLogger(__name__)

__all__ = ["DecodeOptions", "EngineInfo", "WhisperEngine", "cuda_device_count", "release_freed_memory"]

MAX_PASSES = 3  # the first decode plus passes over speech it skipped (see WhisperEngine._skipped_speech)
MAX_REPEATS = 2  # consecutive segments with the same text kept before the rest count as a decoding loop
# faster-whisper resamples a window at higher temperatures when its text compresses better than 2.4 (a loop).
# A call that says the same sentences again (call_joined.wav: 2.47) tripped it: every temperature "failed" and a
# random sample came back, sometimes with half a turn missing. Real loops compress far better than that, and
# hygiene (cut_repetitions) and the engine's loop filter cut what gets through.
COMPRESSION_RATIO_THRESHOLD = 3.0
# faster-whisper's fallback ladder for a batch window, and its five samples per temperature.
BATCH_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
BATCH_BEST_OF = 5
# A streamed utterance's last decode may fall back, but only this far, with one sample per temperature:
# a live call cannot wait for five. The decodes while the caller talks are greedy at temperature 0.
FINAL_STREAM_TEMPERATURES = (0.0, 0.2, 0.4, 0.6)
MIN_STREAM_DECODE_S = 0.1  # a streaming buffer shorter than this is not worth a decode
SKIPPED_REGION_MIN_S = 1.0  # speech regions at least this long, with under SKIPPED_OVERLAP of them covered,
SKIPPED_OVERLAP = 0.3  # count as skipped by the decoder and are decoded again,
SKIPPED_PAD_S = 0.2  # with this much audio either side
SKIPPED_VAD_SILENCE_MS = 500  # VAD silence that separates the speech regions checked for skipped speech

VadFn = Callable[[np.ndarray], Sequence[tuple[float, float]]]  # 16 kHz samples -> speech regions (seconds)


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Everything one faster-whisper decode is given, batch or streaming, built in one place
    (`WhisperEngine.decode_options`), the way faster-whisper carries one TranscriptionOptions through its decoder."""

    language: str
    beam_size: int
    best_of: int
    temperature: tuple[float, ...]
    condition_on_previous_text: bool
    compression_ratio_threshold: float
    word_timestamps: bool
    vad_filter: bool
    vad_min_silence_ms: Optional[int]  # with vad_filter: silence that splits speech regions
    initial_prompt: Optional[str]
    hotwords: Optional[str]

    def kwargs(self) -> dict:
        """As keyword arguments of `faster_whisper.WhisperModel.transcribe`."""
        kw = asdict(self)
        silence = kw.pop("vad_min_silence_ms")
        kw["temperature"] = list(self.temperature) if len(self.temperature) > 1 else self.temperature[0]
        kw["vad_parameters"] = {"min_silence_duration_ms": silence} if self.vad_filter else None
        return kw


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What actually runs: echoed into every result."""

    model: str
    model_path: str
    device: str
    compute_type: str
    cpu_threads: int


def cuda_device_count() -> Optional[int]:
    """CUDA devices CTranslate2 sees: 0 without a CUDA runtime, None when CTranslate2 is not installed."""
    try:
        import ctranslate2
    except ImportError:
        return None
    try:
        return ctranslate2.get_cuda_device_count()
    except Exception:  # no CUDA runtime at all
        return 0


def _glibc_malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS, Windows)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _glibc_malloc_trim()


def release_freed_memory() -> None:
    """Give the memory freed by a decode back to the OS.

    CTranslate2 allocates its buffers through malloc, sized by each window's audio and tokens. glibc keeps what
    they free in its per-thread arenas, and over a long call the mix of sizes left the process ~120 MB bigger
    after its first minute (a 30-minute replay, bench/memory.py). Trimming after each decode keeps it flat, and
    costs less than the alternative of forcing large allocations onto mmap (measured side by side: 0.09 vs
    0.13 s of decode per second of audio). Elsewhere than glibc this does nothing.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    return "cuda" if (cuda_device_count() or 0) > 0 else "cpu"


def _load_faster_whisper():
    return require("faster_whisper", "asr", "speech recognition")


class WhisperEngine:
    """faster-whisper with the product's settings: language zh, VAD, word timestamps, hygiene.

    Build one per process and pass it to every session (loading takes a second and ~150 MB for base).

    Args:
        options: the ASR options (`AsrOptions`).
        model_path: a CTranslate2 model directory to load instead of resolving `options.model`.
        model: an already-loaded model with faster-whisper's `transcribe(audio, **kwargs)` (tests inject a
            scripted one); nothing is resolved or loaded then.
        vad: speech regions of 16 kHz audio, for finding skipped speech (default: Silero through faster-whisper).
    """

    def __init__(self, options: Optional[AsrOptions] = None, model_path: Optional[Path] = None, model=None, vad: Optional[VadFn] = None):
        self.options = options or AsrOptions()
        self._vad = vad or _silero_regions
        self._hotwords = "、".join(domain_hotwords()) if self.options.hotwords else None
        self.workers = max(1, self.options.workers)  # decodes that may run at once (DecodeScheduler's workers)
        if model is not None:
            self._model = model
            self.info = EngineInfo(self.options.model, "(injected)", "cpu", self.options.compute_type, self.options.cpu_threads)
            return
        fw = _load_faster_whisper()
        path = Path(model_path) if model_path is not None else resolve_whisper(self.options.model, self.options.model_dir)
        device = _pick_device(self.options.device)
        compute_type = self.options.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        threads = self.options.cpu_threads
        if threads == 0 and self.workers > 1 and device == "cpu":  # the cores shared out, not each replica taking all
            threads = max(1, (os.cpu_count() or 1) // self.workers)
        try:
            self._model = fw.WhisperModel(str(path), device=device, compute_type=compute_type, cpu_threads=threads,
                                          num_workers=self.workers)  # fmt: skip
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"cannot load Whisper model from {str(path)!r} on {device}/{compute_type}: {e}") from e
        self.info = EngineInfo(self.options.model, str(path), device, compute_type, threads)
        logger.info("Whisper model %s loaded from %s (%s, %s)", self.options.model, path, device, compute_type)

    @property
    def model(self):
        """The underlying faster_whisper.WhisperModel (for benchmarks and advanced use)."""
        return self._model

    def decode_options(self, streaming: bool = False, final: bool = False, beam_size: Optional[int] = None) -> DecodeOptions:
        """The settings of one decode. Batch (`streaming` False): a whole recording, VAD and faster-whisper's
        full fallback ladder, each window conditioned on the one before. Streaming: one short buffer that VAD
        already cut, no conditioning, greedy at temperature 0 unless `final` (the decode that commits an
        utterance may fall back a little). The prompt, hotwords and loop threshold are the same for both.
        `beam_size` overrides `options.beam_size`."""
        o = self.options
        common = dict(language=o.language, beam_size=beam_size or o.beam_size, initial_prompt=o.initial_prompt or None,
                      hotwords=self._hotwords, compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD)  # fmt: skip
        if not streaming:
            return DecodeOptions(**common, best_of=BATCH_BEST_OF, temperature=BATCH_TEMPERATURES, condition_on_previous_text=True,
                                 word_timestamps=o.word_timestamps, vad_filter=o.vad,
                                 vad_min_silence_ms=o.vad_min_silence_ms if o.vad else None)  # fmt: skip
        return DecodeOptions(**common, best_of=1, temperature=FINAL_STREAM_TEMPERATURES if final else (0.0,),
                             condition_on_previous_text=False, word_timestamps=True, vad_filter=False, vad_min_silence_ms=None)  # fmt: skip

    def transcribe(self, samples: np.ndarray, speaker: Optional[str] = None, offset_s: float = 0.0) -> Iterator[Segment]:
        """Transcribe 16 kHz mono float32 audio. Yields cleaned segments as they are decoded (a generator:
        the work happens while you iterate). Segment ids count from 0 within this call; segments whose
        text is empty after hygiene (silence, hallucinations) are dropped. Speech the decoder skipped is
        decoded again at the end, so segments are not always in time order.
        """
        if samples.ndim != 1:
            raise ValueError(f"samples must be mono (1-D), got shape {samples.shape}")
        if len(samples) == 0:
            return
        samples = samples.astype(np.float32, copy=False)
        try:
            yield from self._transcribe(samples, speaker, offset_s)
        finally:
            release_freed_memory()

    def _transcribe(self, samples: np.ndarray, speaker: Optional[str], offset_s: float) -> Iterator[Segment]:
        n = 0
        covered: list[tuple[float, float]] = []
        passes = [(0.0, len(samples) / SAMPLE_RATE_HZ)]
        kwargs = self.decode_options().kwargs()
        for _ in range(MAX_PASSES):
            for begin_s, end_s in passes:
                chunk = samples[int(begin_s * SAMPLE_RATE_HZ) : int(end_s * SAMPLE_RATE_HZ)]
                segments, _info = self._model.transcribe(chunk, **kwargs)
                previous, repeats = None, 0
                for seg in segments:
                    text = clean_text(seg.text)
                    repeats = repeats + 1 if text and text == previous else 0
                    previous = text
                    if repeats >= MAX_REPEATS:
                        # a decoding loop (temperature fallback can write one sentence over several turns):
                        # the segment is dropped and its audio left uncovered, so the speech there is decoded again
                        logger.debug("dropped segment %.2f-%.2f: the same text %d times in a row", seg.start, seg.end, repeats + 1)
                        continue
                    covered.append((begin_s + seg.start, begin_s + seg.end))
                    if not text:
                        logger.debug("dropped segment %.2f-%.2f (%d characters of non-speech)", seg.start, seg.end, len(seg.text))
                        continue
                    shift = begin_s + offset_s
                    words = tuple(Word(w.start + shift, w.end + shift, w.word, w.probability) for w in (seg.words or ()))
                    start = seg.start + shift
                    yield Segment(n, start, max(seg.end + shift, start), text, speaker, words, seg.avg_logprob, seg.no_speech_prob)
                    n += 1
            passes = self._skipped_speech(samples, covered) if self.options.vad else []
            if not passes:
                return
            logger.info("the decoder skipped speech at %s; decoding it again", ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in passes))

    def _skipped_speech(self, samples: np.ndarray, covered: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Speech regions of a second or more that no decoded segment overlaps.

        faster-whisper can end a 30 s window early (a temperature-fallback sample that stops after one
        sentence, then a seek past the window) and silently skip what was said there. Partial output must
        not pass for the whole call, so those regions are decoded again (streaming order is then not time
        order; callers sort segments by time).
        """
        skipped = []
        for a, b in self._vad(samples):
            overlap = sum(max(0.0, min(b, e) - max(a, s)) for s, e in covered)
            if b - a >= SKIPPED_REGION_MIN_S and overlap < SKIPPED_OVERLAP * (b - a):
                skipped.append((max(0.0, a - SKIPPED_PAD_S), min(len(samples) / SAMPLE_RATE_HZ, b + SKIPPED_PAD_S)))
        return skipped

    def transcribe_words(self, samples: np.ndarray, final: bool = False, beam_size: Optional[int] = None) -> list[Word]:
        """Decode a short buffer (streaming): words with times relative to the buffer start.

        One decoder pass over the buffer (up to 30 s). No VAD (the caller already did it), no conditioning on
        earlier windows, temperature 0 unless `final` (then faster-whisper's fallback ladder). The initial
        prompt and hotwords, when set, go with every decode, as with every batch window. Words of
        hallucinated segments are dropped; words are Simplified with Chinese punctuation.

        The encoder always sees a 30 s window (faster-whisper pads every window to 3000 mel frames, whatever
        `chunk_length` says). Shorter encoder inputs are cheaper, but they cost too much accuracy with
        Whisper base: streamed CER on the long-form eval audio (replay speed 0, 2026-11-29) was 0.080 with
        30 s windows, 0.084 at 20 s, 0.25 at 15 s and 0.18 at 5 s (README, "Live calls").
        """
        if samples.ndim != 1:
            raise ValueError(f"samples must be mono (1-D), got shape {samples.shape}")
        duration_s = len(samples) / SAMPLE_RATE_HZ
        if duration_s < MIN_STREAM_DECODE_S:
            return []
        options = self.decode_options(streaming=True, final=final, beam_size=beam_size)
        segments, _ = self._model.transcribe(samples.astype(np.float32, copy=False), **options.kwargs())
        words: list[Word] = []
        for seg in segments:
            if is_hallucination(seg.text):
                continue
            for w in seg.words or ():
                text = clean_word(w.word)
                if text:
                    words.append(Word(max(w.start, 0.0), min(max(w.end, w.start), duration_s), text, w.probability))
        release_freed_memory()
        return words


def _silero_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """Silero VAD speech regions (seconds) of a whole recording."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=SKIPPED_VAD_SILENCE_MS)
    return [(c["start"] / SAMPLE_RATE_HZ, c["end"] / SAMPLE_RATE_HZ) for c in get_speech_timestamps(samples, options)]
