"""After-call drafting: a stored recording (a call beyond the live limit, or an upload) → a draft ticket.

One background worker drafts the recordings in the order they came, each through the batch path
(`CallPipeline.process`, as `hotline transcribe` runs a file: VAD, beam search, the fallback ladder) on a
`ScheduledEngine`: the recording is cut at quiet points into pieces of at most PIECE_S (one Whisper window), and
each piece is one AFTER_CALL job of the scheduler. So a recording never holds a live decode up for more than one
piece, and it is drafted in a fraction of its length (a streamed replay decodes the same audio many times over).
A recording that does not decode gives a failed ticket whose error names the file.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from asr.audio import SAMPLE_RATE_HZ, quiet_cut
from asr.streaming import StreamingASR, WordBackend
from pipeline.base.errors import AudioDecodeError
from pipeline.base.types import Segment
from pipeline.call import CallPipeline
from pipeline.output import result_to_dict
from pipeline.store import StoredTicket, TicketStore

from .scheduler import AFTER_CALL, DecodeScheduler, SchedulerClosed

logger = logging.getLogger(__name__)

__all__ = ["AfterCallDrafter", "DraftJob", "Recogniser", "ScheduledEngine", "quiet_pieces_of"]

Recogniser = Callable[[WordBackend], StreamingASR]  # a streaming recogniser on a scheduler backend
PIECE_S = 28.0  # the longest piece of a recording decoded as one job: inside one 30 s Whisper window
PIECE_SEARCH_S = 8.0  # a longer stretch is cut at the quietest half second of the last this-many seconds of a piece


def quiet_pieces_of(samples: np.ndarray, piece_s: float = PIECE_S, search_s: float = PIECE_SEARCH_S) -> Iterator[tuple[int, np.ndarray]]:
    """(first sample, samples) pieces of at most `piece_s` that cover `samples` in order, each cut at the quietest
    point of its last `search_s` (`asr.audio.quiet_cut`), so no word is cut in two where a pause is near."""
    limit = int(piece_s * SAMPLE_RATE_HZ)
    start = 0
    while start < len(samples):
        rest = samples[start : start + limit]
        cut = len(rest) if start + limit >= len(samples) else max(1, quiet_cut(rest, search_s))
        yield start, rest[:cut]
        start += cut


class ScheduledEngine:
    """The process's engine as a batch engine for one recording, decoding on the scheduler: `transcribe` gives what
    `WhisperEngine.transcribe` gives, but each piece of the audio (`quiet_pieces_of`) is decoded as one job of
    `session` at `priority`, between the live calls' decodes.

    Args:
        engine: the process's WhisperEngine (anything with `transcribe(samples, speaker, offset_s)` and `info`).
        scheduler: the decode scheduler.
        session: the name the jobs are queued under.
        priority: AFTER_CALL by default.
    """

    def __init__(self, engine, scheduler: DecodeScheduler, session: str, priority: int = AFTER_CALL):
        self.engine = engine
        self.scheduler = scheduler
        self.session = session
        self.priority = priority
        self.info = getattr(engine, "info", None)

    def transcribe(self, samples: np.ndarray, speaker: Optional[str] = None, offset_s: float = 0.0) -> Iterator[Segment]:
        for start, piece in quiet_pieces_of(samples):
            at_s = offset_s + start / SAMPLE_RATE_HZ
            yield from self.scheduler.call(self.session, self.priority,
                                           lambda piece=piece, at_s=at_s: list(self.engine.transcribe(piece, speaker, at_s)))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DraftJob:
    """One recording to draft into ticket `ticket_id`.

    Attributes:
        path: the stored recording.
        name: how the recording is named in the ticket and in errors (an upload's own file name).
        samples: the audio's length when the server recorded it (a call): 0 gives an empty draft without
            decoding; None (an upload) means unknown.
    """

    ticket_id: int
    path: Path
    name: str
    samples: Optional[int] = None


class AfterCallDrafter:
    """Drafts recordings one at a time in a background thread (`submit`), or in the caller's thread (`draft`)."""

    def __init__(self, pipeline: CallPipeline, store: TicketStore, scheduler: DecodeScheduler, recogniser: Recogniser):
        self.pipeline = pipeline
        self.store = store
        self.scheduler = scheduler
        self.recogniser = recogniser
        self._jobs: queue.Queue[Optional[DraftJob]] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0  # submitted and not yet done (the one being drafted included)
        self._thread: Optional[threading.Thread] = None
        self._stopping = False

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def start(self) -> "AfterCallDrafter":
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="hotline-drafting", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Take no further job; the one being drafted goes on (until the scheduler is closed)."""
        self._stopping = True
        self._jobs.put(None)

    def join(self, timeout_s: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def submit(self, job: DraftJob) -> None:
        """Queue `job`; its ticket stays "processing" until it is drafted (or failed)."""
        with self._lock:
            self._pending += 1
        self._jobs.put(job)
        logger.info("ticket %d: queued %s for drafting (%d in the queue)", job.ticket_id, job.name, self.pending)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stopping:
                return
            try:
                self.draft(job)
            except Exception:  # never leave the worker: the next recording must still be drafted
                logger.exception("ticket %d: drafting %s failed", job.ticket_id, job.name)
            finally:
                with self._lock:
                    self._pending -= 1

    def draft(self, job: DraftJob) -> Optional[StoredTicket]:
        """Draft one recording now, in this thread. Returns the stored ticket, or None when the server is
        shutting down (the ticket stays "processing" with its recording, to be drafted at the next start)."""
        if job.samples == 0:  # a call that ended before any audio came: an empty transcript and ticket
            session = self.pipeline.session(audio=job.name, ticket_every_s=0, recogniser=self._recogniser(job))
            return self.store.save_draft(job.ticket_id, result_to_dict(session.finish()))
        engine = ScheduledEngine(self.pipeline.engine, self.scheduler, f"draft-{job.ticket_id}")
        batch = CallPipeline(self.pipeline.config, engine=engine, builder=self.pipeline.builder)
        try:
            result = batch.process(job.path)
        except AudioDecodeError as e:
            message = str(AudioDecodeError(job.name, e.reason))
            logger.warning("ticket %d: %s", job.ticket_id, message)
            return self.store.fail(job.ticket_id, message)
        except SchedulerClosed:
            logger.warning("ticket %d: server stopping; %s will be drafted at the next start", job.ticket_id, job.name)
            return None
        except Exception as e:
            logger.exception("ticket %d: drafting %s failed", job.ticket_id, job.name)
            return self.store.fail(job.ticket_id, f"drafting {job.name} failed: {e}")
        stored = self.store.save_draft(job.ticket_id, result_to_dict(result))
        logger.info("ticket %d: drafted from %s (%.1f s of audio)", job.ticket_id, job.name, result.duration_s)
        return stored

    def _recogniser(self, job: DraftJob) -> Callable[[], StreamingASR]:
        return lambda: self.recogniser(self.scheduler.backend(f"draft-{job.ticket_id}", AFTER_CALL))
