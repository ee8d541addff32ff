"""The Whisper engine: one faster-whisper model per process, shared by every session and file.

faster-whisper is imported here, inside the adapter, so the rest of the package imports without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

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

__all__ = ["EngineInfo", "WhisperEngine"]

MAX_PASSES = 3  # the first decode plus passes over speech it skipped (see WhisperEngine._skipped_speech)
MAX_REPEATS = 2  # consecutive segments with the same text kept before the rest count as a decoding loop
# faster-whisper resamples a window at higher temperatures when its text compresses better than 2.4 (a loop).
# A call that says the same sentences again (call_joined.wav: 2.47) tripped it: every temperature "failed" and a
# random sample came back, sometimes with half a turn missing. Real loops compress far better than that, and
# hygiene (cut_repetitions) and the engine's loop filter cut what gets through.
COMPRESSION_RATIO_THRESHOLD = 3.0


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What actually runs: echoed into every result."""

    model: str
    model_path: str
    device: str
    compute_type: str
    cpu_threads: int


def _pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # no CUDA runtime at all
        return "cpu"


def _load_faster_whisper():
    return require("faster_whisper", "asr", "speech recognition")


class WhisperEngine:
    """faster-whisper with the product's settings: language zh, VAD, word timestamps, domain prompt, hygiene.

    Build one per process and pass it to every session (loading takes a second and ~150 MB for base).
    """

    def __init__(self, options: Optional[AsrOptions] = None, model_path: Optional[Path] = None):
        self.options = options or AsrOptions()
        fw = _load_faster_whisper()
        path = Path(model_path) if model_path is not None else resolve_whisper(self.options.model, self.options.model_dir)
        device = _pick_device(self.options.device)
        compute_type = self.options.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        try:
            self._model = fw.WhisperModel(str(path), device=device, compute_type=compute_type, cpu_threads=self.options.cpu_threads)
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"cannot load Whisper model from {str(path)!r} on {device}/{compute_type}: {e}") from e
        self.info = EngineInfo(self.options.model, str(path), device, compute_type, self.options.cpu_threads)
        self._hotwords = "、".join(domain_hotwords()) if self.options.hotwords else None
        logger.info("Whisper model %s loaded from %s (%s, %s)", self.options.model, path, device, compute_type)

    @property
    def model(self):
        """The underlying faster_whisper.WhisperModel (for benchmarks and advanced use)."""
        return self._model

    def transcribe_kwargs(self) -> dict:
        """The decoding settings passed to faster-whisper (shown by benchmarks to compare like with like)."""
        o = self.options
        return dict(
            language=o.language,
            beam_size=o.beam_size,
            vad_filter=o.vad,
            vad_parameters={"min_silence_duration_ms": o.vad_min_silence_ms} if o.vad else None,
            word_timestamps=o.word_timestamps,
            initial_prompt=o.initial_prompt or None,
            hotwords=self._hotwords,
            condition_on_previous_text=True,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
        )

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
        n = 0
        covered: list[tuple[float, float]] = []
        passes = [(0.0, len(samples) / SAMPLE_RATE_HZ)]
        for _ in range(MAX_PASSES):
            for begin_s, end_s in passes:
                chunk = samples[int(begin_s * SAMPLE_RATE_HZ) : int(end_s * SAMPLE_RATE_HZ)]
                segments, _info = self._model.transcribe(chunk, **self.transcribe_kwargs())
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

    @staticmethod
    def _speech_regions(samples: np.ndarray) -> list[tuple[float, float]]:
        """Silero VAD speech regions (seconds) of the whole recording."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        return [(c["start"] / SAMPLE_RATE_HZ, c["end"] / SAMPLE_RATE_HZ) for c in get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=500))]

    def _skipped_speech(self, samples: np.ndarray, covered: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Speech regions of a second or more that no decoded segment overlaps.

        faster-whisper can end a 30 s window early (a temperature-fallback sample that stops after one
        sentence, then a seek past the window) and silently skip what was said there. Partial output must
        not pass for the whole call, so those regions are decoded again (streaming order is then not time
        order; callers sort segments by time).
        """
        skipped = []
        for a, b in self._speech_regions(samples):
            overlap = sum(max(0.0, min(b, e) - max(a, s)) for s, e in covered)
            if b - a >= 1.0 and overlap < 0.3 * (b - a):
                skipped.append((max(0.0, a - 0.2), min(len(samples) / SAMPLE_RATE_HZ, b + 0.2)))
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
        if duration_s < 0.1:
            return []
        o = self.options
        segments, _ = self._model.transcribe(
            samples.astype(np.float32, copy=False),
            language=o.language,
            beam_size=beam_size or o.beam_size,
            vad_filter=False,
            word_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=o.initial_prompt or None,
            hotwords=self._hotwords,
            temperature=(0.0, 0.2, 0.4, 0.6) if final else 0.0,
            best_of=1,  # one sample per fallback temperature, not five: a live call cannot wait for five
        )
        words: list[Word] = []
        for seg in segments:
            if is_hallucination(seg.text):
                continue
            for w in seg.words or ():
                text = clean_word(w.word)
                if text:
                    words.append(Word(max(w.start, 0.0), min(max(w.end, w.start), duration_s), text, w.probability))
        return words

    @property
    def sample_rate_hz(self) -> int:
        return SAMPLE_RATE_HZ
