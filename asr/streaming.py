"""Streaming recognition: one protocol, a pure commit policy, and a VAD-endpointed Whisper processor.

Protocol (the shape of whisper_streaming's OnlineASRProcessor):

    asr.insert_audio_chunk(samples)   # 16 kHz mono float32, any length
    update = asr.process_iter()       # newly committed words + the current unstable tail
    update = asr.finish()             # end of stream: everything left is committed
    asr.stream_end_s                  # stream time (seconds) of the end of the audio inserted so far
    asr.reset()

`OnlineWhisper` decodes only the current utterance. Silero VAD finds where speech ends: after
`endpoint_silence_s` of silence the utterance is decoded one last time and committed whole. While the
caller keeps talking, LocalAgreement-2 commits the words two consecutive decodes agree on, so no word
waits for a pause. Committed audio is cut from the buffer, so memory and decode cost stay flat however
long the call is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from pipeline.base.config import StreamingOptions
from pipeline.base.types import Word

logger = logging.getLogger(__name__)

__all__ = ["LocalAgreement", "OnlineWhisper", "StreamUpdate", "StreamingASR", "StreamingOptions", "WordBackend", "should_decode"]

SAMPLE_RATE_HZ = 16000
WINDOW_S = 28.0  # context + buffer decoded at once: inside Whisper's 30 s window
FINISH_CONTEXT_S = 5.0  # most context for the decode at hang-up, when the operator waits for the ticket
MIN_DECODE_S = 0.3  # a buffer shorter than this holds no word worth a decode while the call goes on
MIN_VAD_S = 0.1  # at hang-up, a buffer shorter than this is not even checked for speech
SILENCE_KEEP_S = 0.3  # after a silent step, this much of the buffer's end is kept: speech may start in it
ENDPOINT_PAD_S = 0.2  # audio kept after a VAD speech end (Silero ends speech a little early)
FORCE_BEHIND_S = 3.0  # in a long utterance, words ending this far behind the stream are committed without agreement
VAD_PAD_MS = 100  # Silero speech padding for endpointing
TIME_EPS_S = 0.05  # word times closer than this count as the same instant
REREAD_SLACK_S = 0.5  # a new word may start this much before the committed end (Whisper times it early)


@dataclass(frozen=True, slots=True)
class StreamUpdate:
    """What one step produced. Times are stream times (seconds since the stream began)."""

    committed: tuple[Word, ...] = ()
    tail: tuple[Word, ...] = ()
    endpoint: bool = False  # an utterance ended with this update


class StreamingASR(Protocol):
    """What a live session drives, per speaker (see the module docstring)."""

    @property
    def stream_end_s(self) -> float: ...

    def insert_audio_chunk(self, samples: np.ndarray) -> None: ...

    def process_iter(self) -> StreamUpdate: ...

    def finish(self) -> StreamUpdate: ...

    def reset(self) -> None: ...


class WordBackend(Protocol):
    """What a streaming processor needs from an ASR engine (WhisperEngine implements it)."""

    def transcribe_words(self, samples: np.ndarray, final: bool = False, beam_size: Optional[int] = None) -> list[Word]: ...


def _key(word: Word) -> str:
    return "".join(ch for ch in word.text if ch.isalnum()).lower()


class LocalAgreement:
    """LocalAgreement-2 commit policy. Pure: no audio, no model, no clock.

    Each hypothesis is the decode of a whole window (context audio plus buffer), so it starts by
    re-reading the words already committed from that window. Those are found by aligning the
    hypothesis's characters with the committed ones (edit distance, so a re-read that differs slightly
    is still recognised). Times alone cannot tell them apart: the first word after a pause is often
    timed from inside the pause, before the last committed word ends, and a filter by time dropped it.
    Only the words after the re-read are new. Of the new words, the longest prefix on which two
    consecutive hypotheses agree is committed. A committed word is never emitted again, and `flush`
    commits what is left at the end of an utterance.
    """

    def __init__(self) -> None:
        self.committed_until_s = 0.0
        self._recent: list[Word] = []  # committed words that may still be inside a decoded window
        self._previous: list[Word] = []

    def forget(self, before_s: float) -> None:
        """Drop committed words that end before stream time `before_s` (no window reaches them any more)."""
        self._recent = [w for w in self._recent if w.end_s > before_s]

    def _fresh(self, words: list[Word], window_start_s: float) -> list[Word]:
        """The words of a whole-window hypothesis that come after the committed ones."""
        done = "".join(_key(w) for w in self._recent if w.end_s > window_start_s + TIME_EPS_S)
        if not done:
            return [w for w in words if w.end_s > self.committed_until_s + TIME_EPS_S]
        keys = [_key(w) for w in words]
        text = "".join(keys)
        # row[j] = edit distance between all committed characters and text[:j]
        prev = list(range(len(text) + 1))
        for i, c in enumerate(done, 1):
            row = [i] + [0] * len(text)
            for j, t in enumerate(text, 1):
                row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (c != t))
            prev = row
        best_k, best_cost, pos = 0, prev[0], 0
        for k, key in enumerate(keys, 1):
            pos += len(key)
            if prev[pos] <= best_cost:
                best_k, best_cost = k, prev[pos]
        # a word that starts after every committed word ended is no re-read, whatever the text says
        # (a decode that skipped the re-read would otherwise lose as many new characters as were committed)
        best_k = min(best_k, next((i for i, w in enumerate(words) if w.start_s >= self.committed_until_s), len(words)))
        return [w for w in words[best_k:] if w.end_s > self.committed_until_s - REREAD_SLACK_S]

    def _commit(self, words: list[Word]) -> tuple[Word, ...]:
        if words:
            self.committed_until_s = max(self.committed_until_s, words[-1].end_s)
            self._recent.extend(words)
        return tuple(words)

    def update(self, hypothesis: list[Word], window_start_s: float = 0.0) -> tuple[tuple[Word, ...], tuple[Word, ...]]:
        """Returns (newly committed words, unstable tail). `window_start_s`: stream time the decoded window began."""
        current = self._fresh(hypothesis, window_start_s)
        n = 0
        while n < min(len(current), len(self._previous)) and _key(current[n]) == _key(self._previous[n]):
            n += 1
        committed = self._commit(current[:n])
        self._previous = current[n:]
        return committed, tuple(self._previous)

    def force(self, tail: list[Word], until_s: float) -> tuple[Word, ...]:
        """Commit the leading words of the pending `tail` that end by `until_s`, without agreement."""
        n = 0
        while n < len(tail) and tail[n].end_s <= until_s:
            n += 1
        self._previous = list(tail[n:])
        return self._commit(list(tail[:n]))

    def flush(self, final: Optional[list[Word]] = None, window_start_s: float = 0.0) -> tuple[Word, ...]:
        """End of utterance or stream: commit `final` (a last whole-window hypothesis) or else the pending tail."""
        words = self._fresh(final, window_start_s) if final is not None else self._previous
        self._previous = []
        return self._commit(words)


def should_decode(new_audio_s: float, buffer_s: float, min_step_s: float) -> bool:
    """Decode when enough new audio arrived since the last decode and there is something to decode."""
    return buffer_s >= MIN_DECODE_S and new_audio_s >= min_step_s


class OnlineWhisper:
    """StreamingASR on a WordBackend with Silero VAD endpointing and LocalAgreement-2 (see module docstring)."""

    def __init__(self, backend: WordBackend, options: Optional[StreamingOptions] = None, vad=None):
        self.backend = backend
        self.options = options or StreamingOptions()
        self._vad = vad  # callable(audio) -> list of (start_s, end_s); Silero by default
        self.reset()

    def reset(self) -> None:
        self._buffer = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(0, dtype=np.float32)  # audio just before the buffer (see context_s)
        self._buffer_start_s = 0.0  # stream time of self._buffer[0]
        self._since_decode = 0  # samples inserted since the last decode (an integer: ten 0.1 s chunks make exactly 1 s)
        self._heard_until_s = 0.0  # stream time up to which the last decode heard the audio
        self.window_start_s = 0.0  # stream time where the latest decode's window starts
        self._agreement = LocalAgreement()

    # --- audio in -------------------------------------------------------------------------------
    def insert_audio_chunk(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"audio chunk must be mono (1-D), got shape {samples.shape}")
        self._buffer = np.concatenate([self._buffer, samples])
        self._since_decode += len(samples)

    @property
    def buffer_s(self) -> float:
        return len(self._buffer) / SAMPLE_RATE_HZ

    @property
    def stream_end_s(self) -> float:
        return self._buffer_start_s + self.buffer_s

    # --- helpers --------------------------------------------------------------------------------
    def _speech(self) -> list[tuple[float, float]]:
        if self._vad is not None:
            return list(self._vad(self._buffer))
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        # regions split at half the endpoint silence, so a pause that ends an utterance is always a gap between two
        opts = VadOptions(threshold=self.options.vad_threshold, min_silence_duration_ms=int(self.options.endpoint_silence_s * 500),
                          speech_pad_ms=VAD_PAD_MS)  # fmt: skip
        return [(c["start"] / SAMPLE_RATE_HZ, c["end"] / SAMPLE_RATE_HZ) for c in get_speech_timestamps(self._buffer, opts)]

    def _trim_to(self, t_s: float) -> None:
        """Drop buffered audio before stream time `t_s`."""
        cut = int(round((t_s - self._buffer_start_s) * SAMPLE_RATE_HZ))
        cut = max(0, min(cut, len(self._buffer)))
        keep = int(max(self.options.context_s, self.options.partial_context_s) * SAMPLE_RATE_HZ)
        if keep:
            self._context = np.concatenate([self._context, self._buffer[:cut]])[-keep:]
        self._buffer = self._buffer[cut:]
        self._buffer_start_s += cut / SAMPLE_RATE_HZ
        self._agreement.forget(self._buffer_start_s - len(self._context) / SAMPLE_RATE_HZ)

    def _decode(
        self, context_s: float, until_s: Optional[float] = None, final: bool = False, beam_size: Optional[int] = None
    ) -> tuple[list[Word], float]:
        """Decode the buffer (up to `until_s`) after up to `context_s` of committed audio. Returns the words in
        stream time and the stream time the decoded window starts at (for the commit policy)."""
        audio = self._buffer if until_s is None else self._buffer[: int((until_s - self._buffer_start_s) * SAMPLE_RATE_HZ)]
        self._heard_until_s = self._buffer_start_s + len(audio) / SAMPLE_RATE_HZ
        # context and buffer share one 30 s window; a second window would double the cost
        room = max(0, min(int(WINDOW_S * SAMPLE_RATE_HZ) - len(audio), int(context_s * SAMPLE_RATE_HZ)))
        context = self._context[max(0, len(self._context) - room) :]
        window_start_s = self._buffer_start_s - len(context) / SAMPLE_RATE_HZ
        self.window_start_s = window_start_s  # observable by a backend during its decode (tests); not read here
        words = self.backend.transcribe_words(
            np.concatenate([context, audio]) if len(context) else audio,
            final=final,
            beam_size=beam_size or (self.options.beam_size if final else self.options.partial_beam_size),
        )
        # the words heard in the context audio were committed before: the commit policy recognises their re-read
        return [w.with_offset(window_start_s) for w in words], window_start_s

    # --- steps ----------------------------------------------------------------------------------
    def process_iter(self) -> StreamUpdate:
        if not should_decode(self._since_decode / SAMPLE_RATE_HZ, self.buffer_s, self.options.min_step_s):
            return StreamUpdate()
        self._since_decode = 0
        speech = self._speech()
        if not speech:  # silence: keep only a short tail in case speech starts at its very end
            pending = self._agreement.flush()
            self._trim_to(max(self._buffer_start_s, self.stream_end_s - SILENCE_KEEP_S))
            return StreamUpdate(pending, (), bool(pending))
        # The buffer is never cut at a VAD speech start: Silero, started cold on the buffer, often misses
        # the first half second of speech there. It is cut only at an endpoint, after long silence, or
        # behind committed words when it grows past max_buffer_s.
        # An utterance is over when a silence of endpoint_silence_s follows it: at the end of the buffer,
        # or between two speech regions (the caller paused and went on before the next decode).
        ends = [self._buffer_start_s + b for _, b in speech]
        starts = [self._buffer_start_s + a for a, _ in speech[1:]] + [self.stream_end_s]
        gap_ends = [e for e, nxt in zip(ends, starts) if nxt - e >= self.options.endpoint_silence_s]
        if gap_ends:
            # decode the finished utterance(s) once more, commit the rest of them, drop their audio
            end_s = min(self.stream_end_s, gap_ends[-1] + ENDPOINT_PAD_S)
            committed = self._agreement.flush(*self._decode(self.options.context_s, end_s, final=True))
            self._trim_to(end_s)
            return StreamUpdate(committed, (), True)
        committed, tail = self._agreement.update(*self._decode(self.options.partial_context_s))
        if self.buffer_s > self.options.max_buffer_s:
            # a long utterance: commit what is old enough without agreement, and cut the buffer there
            forced = self._agreement.force(list(tail), self.stream_end_s - FORCE_BEHIND_S)
            committed += forced
            tail = tail[len(forced) :]
            self._trim_to(max(self._buffer_start_s, self._agreement.committed_until_s))
        return StreamUpdate(committed, tail, False)

    def finish(self) -> StreamUpdate:
        """Commit everything left: a last decode of the last utterance, with the partial (fast) beam and at most
        FINISH_CONTEXT_S of context, because the operator is waiting for the ticket (each second of context
        is re-read, at about 30 ms). When the last decode already heard all the speech there is (only
        silence came after it), its unstable tail is committed as it stands instead: the same decode of the
        same speech, without the wait."""
        speech = self._speech() if self.buffer_s >= MIN_VAD_S else []
        if speech and self._buffer_start_s + speech[-1][1] + ENDPOINT_PAD_S > self._heard_until_s:
            context_s = min(self.options.partial_context_s, FINISH_CONTEXT_S)
            committed = self._agreement.flush(*self._decode(context_s, final=True, beam_size=self.options.partial_beam_size))
        else:
            committed = self._agreement.flush()
        self._trim_to(self.stream_end_s)
        return StreamUpdate(committed, (), True)
