"""After-call drafting: a stored recording (a call beyond the live limit, or an upload) → a draft ticket.

One background worker drafts the recordings in the order they came. Each is replayed at speed 0 through a
`CallSession` whose recogniser decodes on the scheduler with priority AFTER_CALL, through the same loop as a
live call (`pipeline.live.run_session`), so a live decode waits at most for one window decode of a recording,
never for the whole file. A recording that does not decode gives a failed ticket whose error names the file.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from asr.streaming import StreamingASR, WordBackend
from pipeline.base.errors import AudioDecodeError
from pipeline.call import CallPipeline
from pipeline.live import Replay, run_session
from pipeline.output import result_to_dict
from pipeline.store import StoredTicket, TicketStore

from .scheduler import AFTER_CALL, DecodeScheduler, SchedulerClosed

logger = logging.getLogger(__name__)

__all__ = ["AfterCallDrafter", "DraftJob", "Recogniser"]

Recogniser = Callable[[WordBackend], StreamingASR]  # a streaming recogniser on a scheduler backend


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
        try:
            replay = Replay.load(job.path, self.pipeline.config.asr.channels)
        except AudioDecodeError as e:
            message = str(AudioDecodeError(job.name, e.reason))
            logger.warning("ticket %d: %s", job.ticket_id, message)
            return self.store.fail(job.ticket_id, message)
        session = self.pipeline.session(replay.speakers, audio=job.name, ticket_every_s=0, recogniser=self._recogniser(job))
        try:
            outcome = run_session(session, replay.batches(speed=0), end_s=replay.end_s)
        except SchedulerClosed:
            logger.warning("ticket %d: server stopping; %s will be drafted at the next start", job.ticket_id, job.name)
            return None
        except Exception as e:
            logger.exception("ticket %d: drafting %s failed", job.ticket_id, job.name)
            return self.store.fail(job.ticket_id, f"drafting {job.name} failed: {e}")
        if isinstance(outcome.error, SchedulerClosed):
            logger.warning("ticket %d: server stopping; %s will be drafted at the next start", job.ticket_id, job.name)
            return None
        stored = self.store.save_draft(job.ticket_id, result_to_dict(outcome.result))
        logger.info("ticket %d: drafted from %s (%.1f s of audio)", job.ticket_id, job.name, replay.end_s)
        return stored

    def _recogniser(self, job: DraftJob) -> Callable[[], StreamingASR]:
        return lambda: self.recogniser(self.scheduler.backend(f"draft-{job.ticket_id}", AFTER_CALL))
