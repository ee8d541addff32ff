"""Live calls: a streaming session any transport can drive, the one loop that feeds it, and its sources.

`CallSession` owns one streaming recogniser per speaker (operator/caller), assembles committed words
into segments, keeps the draft ticket up to date and records each word's latency. It knows nothing of
where audio comes from. `run_session` is the one feeding loop: each batch a source yields is everything
that has arrived since the previous one (a headset capture: `capture_batches`; a recording on a clock:
`Replay`; later a browser websocket), and the session steps once per batch, so a decode slower than the
audio never leaves a backlog behind it. Build sessions with `pipeline.call.CallPipeline.session`.
"""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from asr.audio import SAMPLE_RATE_HZ, load_speakers
from asr.hygiene import clean_text
from asr.streaming import OnlineWhisper, StreamingASR, StreamingOptions, StreamUpdate

from .base.errors import HotlineError
from .ticket import TicketBuilder
from .base.types import AudioChunk, CallResult, Segment, TicketDraft, Transcript, Word

logger = logging.getLogger(__name__)

__all__ = ["CallOutcome", "CallSession", "LatencyStats", "Replay", "SessionUpdate", "TimedWord", "capture_batches", "run_session"]

Batch = list[tuple[AudioChunk, float]]  # chunks with the wall time their last sample became available


@dataclass(frozen=True, slots=True)
class TimedWord:
    """A committed word with when it was spoken, fed and shown."""

    word: Word
    speaker: Optional[str]
    fed_wall_s: float  # wall time the word's last sample was fed
    committed_wall_s: float  # wall time it was committed (shown)

    @property
    def lag_s(self) -> float:
        return self.committed_wall_s - self.fed_wall_s


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    committed: tuple[TimedWord, ...]
    tails: tuple[tuple[Optional[str], tuple[Word, ...]], ...]  # (speaker, unstable words) per speaker
    segments_closed: int
    ticket: Optional[TicketDraft]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    words: int
    lag_p50_s: float
    lag_p95_s: float
    lag_max_s: float

    @classmethod
    def of(cls, words: Sequence[TimedWord]) -> "LatencyStats":
        if not words:
            return cls(0, float("nan"), float("nan"), float("nan"))
        lags = np.array([w.lag_s for w in words])
        return cls(len(words), float(np.percentile(lags, 50)), float(np.percentile(lags, 95)), float(lags.max()))


class _Speaker:
    def __init__(self, label: Optional[str], asr: OnlineWhisper):
        self.label = label
        self.asr = asr
        self.open_words: list[Word] = []
        self.tail: tuple[Word, ...] = ()
        self.fed_ends: list[float] = []  # stream time of each fed chunk's end …
        self.fed_walls: list[float] = []  # … and the wall time it was fed

    def fed_wall(self, t_s: float) -> float:
        i = bisect.bisect_left(self.fed_ends, t_s - 1e-6)
        return self.fed_walls[min(i, len(self.fed_walls) - 1)] if self.fed_walls else 0.0


class CallSession:
    """One call. Built per call by `CallPipeline.session` around the process-wide engine and ticket builder.

    Args:
        engine: a WordBackend (WhisperEngine) shared by every session.
        builder: the TicketBuilder shared by every session.
        speakers: one label per audio channel fed (None for an unlabelled mono call).
        options: streaming options.
        ticket_every_s: redraft the ticket at most this often while the call runs (0: only at the end).
        clock: wall clock (monotonic seconds); tests pass a fake.
        recogniser: factory for the per-speaker StreamingASR (default OnlineWhisper).
        audio, model, options_record: what the final CallResult records (see CallPipeline.run_options).
    """

    def __init__(
        self,
        engine,
        builder: TicketBuilder,
        speakers: Sequence[Optional[str]] = (None,),
        options: Optional[StreamingOptions] = None,
        ticket_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        recogniser: Optional[Callable[[], StreamingASR]] = None,
        audio: Optional[str] = None,
        model: Optional[str] = None,
        options_record: tuple[tuple[str, object], ...] = (),
    ):
        options = options or StreamingOptions()
        make = recogniser or (lambda: OnlineWhisper(engine, options))
        self._speakers = {label: _Speaker(label, make()) for label in speakers}
        self._builder = builder
        self.clock = clock
        self._ticket_every_s = ticket_every_s
        self._last_ticket_wall = -1e9
        self._segments: list[Segment] = []
        self.words: list[TimedWord] = []
        self.ticket: Optional[TicketDraft] = None
        self.audio = audio
        self.model = model
        self.options_record = options_record
        self.last_fed_wall_s: Optional[float] = None

    @property
    def speakers(self) -> tuple[Optional[str], ...]:
        return tuple(self._speakers)

    @property
    def stream_end_s(self) -> float:
        return max(s.asr.stream_end_s for s in self._speakers.values())

    def feed(self, chunk: AudioChunk, fed_wall_s: Optional[float] = None) -> None:
        """Give the session audio of one speaker (16 kHz mono); `fed_wall_s` defaults to now."""
        if chunk.sample_rate_hz != SAMPLE_RATE_HZ:
            raise ValueError(f"chunks must be {SAMPLE_RATE_HZ} Hz, got {chunk.sample_rate_hz}")
        try:
            sp = self._speakers[chunk.speaker]
        except KeyError:
            raise ValueError(f"unknown speaker {chunk.speaker!r}; this session has {list(self._speakers)}") from None
        wall = self.clock() if fed_wall_s is None else fed_wall_s
        sp.asr.insert_audio_chunk(chunk.samples)
        sp.fed_ends.append(sp.asr.stream_end_s)
        sp.fed_walls.append(wall)
        self.last_fed_wall_s = wall

    def _take(self, sp: _Speaker, update: StreamUpdate) -> tuple[list[TimedWord], int]:
        now = self.clock()
        timed = [TimedWord(w, sp.label, sp.fed_wall(w.end_s), now) for w in update.committed]
        sp.open_words.extend(update.committed)
        sp.tail = update.tail
        closed = 0
        if update.endpoint and sp.open_words:
            closed = self._close(sp)
        return timed, closed

    def _close(self, sp: _Speaker) -> int:
        words, sp.open_words = sp.open_words, []
        text = clean_text("".join(w.text for w in words))
        if not text:
            return 0
        self._segments.append(Segment(len(self._segments), words[0].start_s, words[-1].end_s, text, sp.label, tuple(words)))
        return 1

    def step(self) -> SessionUpdate:
        """Run recognition on what was fed; redraft the ticket when something new was committed."""
        committed: list[TimedWord] = []
        closed = 0
        for sp in self._speakers.values():
            timed, n = self._take(sp, sp.asr.process_iter())
            committed += timed
            closed += n
        self.words += committed
        ticket = None
        if committed and self._ticket_every_s and self.clock() - self._last_ticket_wall >= self._ticket_every_s:
            ticket = self.ticket = self._builder.build(self.transcript())
            self._last_ticket_wall = self.clock()
        return SessionUpdate(tuple(committed), self.tails(), closed, ticket)

    def transcript(self) -> Transcript:
        """Closed segments plus each speaker's open words, ordered by time."""
        segments = list(self._segments)
        for sp in self._speakers.values():
            if sp.open_words:
                text = clean_text("".join(w.text for w in sp.open_words), final=False)
                if text:
                    segments.append(Segment(-1, sp.open_words[0].start_s, sp.open_words[-1].end_s, text, sp.label, tuple(sp.open_words)))
        segments.sort(key=lambda s: (s.start_s, s.end_s))
        numbered = tuple(Segment(i, s.start_s, s.end_s, s.text, s.speaker, s.words) for i, s in enumerate(segments))
        return Transcript(numbered, self.stream_end_s, audio=self.audio, model=self.model)

    def finish(self) -> CallResult:
        """End of call: commit everything left, close every segment, draft the final ticket."""
        committed: list[TimedWord] = []
        for sp in self._speakers.values():
            timed, _ = self._take(sp, sp.asr.finish())
            committed += timed
            if sp.open_words:
                self._close(sp)
            sp.tail = ()
        self.words += committed
        transcript = self.transcript()
        self.ticket = self._builder.build(transcript)
        return CallResult(self.audio, transcript.duration_s, self.model, transcript, self.ticket, self.options_record)

    def tails(self) -> tuple[tuple[Optional[str], tuple[Word, ...]], ...]:
        """Each speaker's current unstable words (shown, not yet committed)."""
        return tuple((sp.label, sp.tail) for sp in self._speakers.values())

    def latency(self) -> LatencyStats:
        return LatencyStats.of(self.words)

    def silent_for_s(self) -> float:
        """Stream time since the last committed word of any speaker (for hang-up detection)."""
        last = max((w.word.end_s for w in self.words), default=0.0)
        return self.stream_end_s - last


class Replay:
    """A recording fed as if it were live (`hotline replay`, benchmarks): its channels, their speakers, its end."""

    def __init__(self, channels: Sequence[np.ndarray], speakers: Sequence[Optional[str]]):
        if len(channels) != len(speakers) or not channels:
            raise ValueError(f"one speaker label per channel: {len(channels)} channels, {len(speakers)} labels")
        self.channels = tuple(channels)
        self.speakers = tuple(speakers)

    @classmethod
    def load(cls, path, channels: Optional[Sequence[str]] = None) -> "Replay":
        """Decode `path` (AudioDecodeError names the file) into one channel per speaker, as batch does."""
        _, jobs = load_speakers(path, channels)
        return cls([c for c, _ in jobs], [label for _, label in jobs])

    @property
    def end_s(self) -> float:
        return min(len(c) for c in self.channels) / SAMPLE_RATE_HZ

    def batches(
        self,
        speed: float = 1.0,
        chunk_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[Batch]:
        """Yields the chunks that are due by now, on a clock: everything that has "arrived" since the last batch.

        At speed 1 a chunk of `chunk_s` is due when its last sample would have been spoken; speed 2 is twice as
        fast; speed 0 yields one chunk per batch as fast as the consumer takes them. Each chunk comes with the
        wall time it became due (its "fed" time, for latency), as a capture's blocks do: a batch that gathered
        several chunks while the consumer was busy keeps each chunk's own time, so the words early in it are not
        counted from when the last of it was due (that read the lag about 0.6 s short).
        """
        if not speed >= 0:
            raise ValueError(f"speed must be a number >= 0, got {speed}")
        n = min(len(c) for c in self.channels)
        step = max(1, int(chunk_s * SAMPLE_RATE_HZ))
        t0 = clock()
        pos = 0
        while pos < n:
            if speed == 0:
                end = min(n, pos + step)
            else:
                due = int((clock() - t0) * speed * SAMPLE_RATE_HZ) // step * step
                if due <= pos:
                    sleep(max(0.0, t0 + (pos + step) / SAMPLE_RATE_HZ / speed - clock()))
                    continue
                end = min(n, due)
            batch: Batch = []
            for a in range(pos, end, step):
                b = min(end, a + step)
                fed = clock() if speed == 0 else t0 + b / SAMPLE_RATE_HZ / speed
                batch += [(AudioChunk(ch[a:b], SAMPLE_RATE_HZ, a / SAMPLE_RATE_HZ, label), fed) for ch, label in zip(self.channels, self.speakers)]
            yield batch
            pos = end


def capture_batches(capture, timeout_s: float = 5.0) -> Iterator[Batch]:
    """Feed a live capture (asr.capture.Capture): each batch is every chunk captured since the last one, each
    with the wall time its last sample arrived: start of capture + its audio time, or the moment the batch was
    in hand if that is earlier (the audio clock is anchored on the first block, which a device can deliver a
    block late; on a PulseAudio monitor that put every later chunk 65-80 ms in the future, so lags read short
    and "ticket ready" could be negative). On Ctrl-C the capture is stopped and what is still queued is fed
    before the interrupt goes on; a device failure arrives as CaptureError after the audio before it."""

    def timed(chunks) -> Batch:
        now = time.monotonic()
        return [(c, min(capture.started_s + c.start_s + c.duration_s, now)) for c in chunks]

    try:
        for chunks in capture.batches(timeout_s=timeout_s):
            yield timed(chunks)
    except KeyboardInterrupt:
        capture.stop()
        for chunks in capture.batches(timeout_s=timeout_s):
            yield timed(chunks)
        raise


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How a live call ended. `error` is None when it ended normally (end of audio, hang-up silence, Ctrl-C);
    otherwise it is the failure (a device lost mid-call) and `result` holds everything before it."""

    result: CallResult
    reason: str  # "end of audio", "hang-up silence", "interrupted", or the error's message
    error: Optional[HotlineError]
    ticket_ready_s: float  # wall time from the last sample fed to the final ticket
    latency: LatencyStats

    @property
    def ok(self) -> bool:
        return self.error is None


def run_session(
    session: CallSession,
    batches: Iterable[Batch],
    on_update: Optional[Callable[[SessionUpdate], None]] = None,
    hangup_silence_s: float = 0.0,
    end_s: Optional[float] = None,
) -> CallOutcome:
    """The one feeding loop: drive `session` from `batches` until they end, the caller hangs up (silence),
    a source fails, or Ctrl-C. Each batch is fed whole, then the session steps once.

    `end_s`: where the audio ends (stream seconds), when that is known in advance (a replayed recording). The
    batch that reaches it goes straight to `finish()`, which decodes what is left once, instead of a step's
    decode and then finish's: the ticket is ready sooner after the last sample.

    Whatever ends the call, everything committed is kept and finished.
    """
    reason, error = "end of audio", None
    try:
        for batch in batches:
            for chunk, fed in batch:
                session.feed(chunk, fed)
            if end_s is not None and session.stream_end_s >= end_s - 1e-6:
                break
            update = session.step()
            if on_update:
                on_update(update)
            if hangup_silence_s and session.words and session.silent_for_s() >= hangup_silence_s:
                reason = "hang-up silence"
                break
    except KeyboardInterrupt:
        reason = "interrupted"
    except HotlineError as e:  # e.g. a device that fails mid-call: keep and finish what we have
        reason, error = str(e), e
        logger.warning("call ended early: %s", e)
    result = session.finish()
    fed = session.last_fed_wall_s
    ready_s = session.clock() - fed if fed is not None else float("nan")
    return CallOutcome(result, reason, error, ready_s, session.latency())
