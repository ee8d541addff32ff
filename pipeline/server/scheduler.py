"""One decode worker for the whole process: every session's Whisper decodes go through it, fairly.

A live call's `OnlineWhisper` (and an after-call drafting session's) is built on `scheduler.backend(name,
priority)`, a WordBackend proxy: its `transcribe_words` puts a job in the scheduler's queue and blocks the
calling thread (the call's own worker thread, never the event loop) until the decode worker has run it on the
one engine. The worker picks jobs in this order:

- by priority: live calls (`LIVE`, 0) before after-call drafting (`AFTER_CALL`, 1), so a live decode waits at
  most for the one window decode that is running, never for a whole recording;
- within a priority, round robin over sessions: the sessions with a waiting job form a first-come queue, and a
  session that was just served goes to its back, so no session gets a second decode while another's job waits.

A decode that raises raises in the thread that asked for it; the worker goes on with the next job. `close()`
stops the worker after the job it is running; jobs still waiting (and any asked for later) get
`SchedulerClosed`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import numpy as np

from pipeline.base.errors import HotlineError
from pipeline.base.types import Word

logger = logging.getLogger(__name__)

__all__ = ["AFTER_CALL", "LIVE", "DecodeScheduler", "SchedulerClosed", "SchedulerStats", "SessionBackend"]

LIVE = 0
AFTER_CALL = 1
_KEEP_STATS = 1000  # sessions whose counters are kept (the oldest are dropped), and served names in `order`


class SchedulerClosed(HotlineError, RuntimeError):
    """The decode scheduler was shut down (the server is stopping)."""


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """A snapshot of the scheduler's counters.

    Attributes:
        served: decodes run per session name (the most recent sessions).
        wait_max_s: the longest a job of each session waited in the queue before its decode started.
        wait_total_s: the summed waits per session.
        order: session names in the order their decodes ran (the most recent ones).
        waiting: jobs in the queue now.
        running: the session whose decode runs now, if any.
    """

    served: Mapping[str, int]
    wait_max_s: Mapping[str, float]
    wait_total_s: Mapping[str, float]
    order: tuple[str, ...]
    waiting: int
    running: Optional[str]


class _Job:
    __slots__ = ("session", "samples", "final", "beam_size", "queued_s", "done", "result", "error")

    def __init__(self, session: str, samples: np.ndarray, final: bool, beam_size: Optional[int], queued_s: float):
        self.session = session
        self.samples = samples
        self.final = final
        self.beam_size = beam_size
        self.queued_s = queued_s
        self.done = threading.Event()
        self.result: Optional[list[Word]] = None
        self.error: Optional[BaseException] = None


class SessionBackend:
    """What one session decodes on (a WordBackend): each call is a job for the scheduler's one worker."""

    def __init__(self, scheduler: "DecodeScheduler", name: str, priority: int):
        self.scheduler = scheduler
        self.name = name
        self.priority = priority

    def transcribe_words(self, samples: np.ndarray, final: bool = False, beam_size: Optional[int] = None) -> list[Word]:
        return self.scheduler.run(self.name, self.priority, samples, final, beam_size)

    def __repr__(self) -> str:
        return f"SessionBackend({self.name!r}, priority={self.priority})"


class DecodeScheduler:
    """Runs every session's decodes on `engine` (a WordBackend: `transcribe_words(samples, final, beam_size)`)
    in one worker thread, live before after-call, round robin within a priority (module docstring).

    Args:
        engine: the process's one engine.
        clock: monotonic seconds (for the wait counters).
    """

    def __init__(self, engine, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self._clock = clock
        self._cv = threading.Condition()
        self._ready: dict[int, deque[str]] = {}  # priority -> sessions with a waiting job, first come first served
        self._jobs: dict[str, deque[_Job]] = {}  # session -> its waiting jobs, in order
        self._priority: dict[str, int] = {}  # session -> priority of its waiting jobs
        self._served: OrderedDict[str, int] = OrderedDict()
        self._wait_max: dict[str, float] = {}
        self._wait_total: dict[str, float] = {}
        self._order: deque[str] = deque(maxlen=_KEEP_STATS)
        self._running: Optional[str] = None
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "DecodeScheduler":
        """Start the worker thread (once; later calls do nothing)."""
        with self._cv:
            if self._closed:
                raise SchedulerClosed("the decode scheduler was closed and cannot be started again")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="hotline-decode", daemon=True)
                self._thread.start()
        return self

    def close(self, timeout_s: Optional[float] = None) -> None:
        """Stop the worker after its current decode; waiting jobs fail with SchedulerClosed in their threads."""
        with self._cv:
            self._closed = True
            dropped = [job for jobs in self._jobs.values() for job in jobs]
            self._jobs.clear()
            self._ready.clear()
            self._priority.clear()
            self._cv.notify_all()
        for job in dropped:
            job.error = SchedulerClosed("the server is shutting down; the decode was not run")
            job.done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "DecodeScheduler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- sessions -------------------------------------------------------------------------------
    def backend(self, name: str, priority: int = LIVE) -> SessionBackend:
        """A WordBackend for one session. `name` identifies it for fairness and in the counters (one name per
        session); `priority` is LIVE (0) or AFTER_CALL (1); lower runs first."""
        if not isinstance(priority, int) or priority < 0:
            raise ValueError(f"priority must be an integer >= 0 (LIVE=0, AFTER_CALL=1), got {priority!r}")
        return SessionBackend(self, name, priority)

    def run(
        self, session: str, priority: int, samples: np.ndarray, final: bool = False, beam_size: Optional[int] = None
    ) -> list[Word]:
        """Queue one decode and block until it has run; its exception is raised here, in the caller's thread."""
        job = _Job(session, samples, final, beam_size, self._clock())
        with self._cv:
            if self._closed:
                raise SchedulerClosed("the server is shutting down; no more decodes are run")
            if self._thread is None:
                raise SchedulerClosed("the decode scheduler was not started (DecodeScheduler.start)")
            queued = self._jobs.setdefault(session, deque())
            if not queued:
                self._ready.setdefault(priority, deque()).append(session)
                self._priority[session] = priority
            queued.append(job)
            self._cv.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result if job.result is not None else []

    # --- the worker -----------------------------------------------------------------------------
    def _next(self) -> Optional[_Job]:
        """The next job by priority, then round robin (called with the lock held)."""
        for priority in sorted(self._ready):
            sessions = self._ready[priority]
            if not sessions:
                continue
            session = sessions.popleft()
            jobs = self._jobs[session]
            job = jobs.popleft()
            if jobs:
                sessions.append(session)  # its next job waits behind every other session's
            else:
                del self._jobs[session]
                del self._priority[session]
            return job
        return None

    def _count(self, job: _Job, started_s: float) -> None:
        waited = started_s - job.queued_s
        self._served[job.session] = self._served.get(job.session, 0) + 1
        self._served.move_to_end(job.session)
        self._wait_max[job.session] = max(self._wait_max.get(job.session, 0.0), waited)
        self._wait_total[job.session] = self._wait_total.get(job.session, 0.0) + waited
        self._order.append(job.session)
        while len(self._served) > _KEEP_STATS:
            old, _ = self._served.popitem(last=False)
            self._wait_max.pop(old, None)
            self._wait_total.pop(old, None)

    def _work(self) -> None:
        while True:
            with self._cv:
                job = self._next()
                while job is None and not self._closed:
                    self._cv.wait()
                    job = self._next()
                if job is None:
                    return
                self._running = job.session
                self._count(job, self._clock())
            try:
                job.result = list(self.engine.transcribe_words(job.samples, final=job.final, beam_size=job.beam_size))
            except BaseException as e:  # raised again in the session's thread, which knows what to do with it
                job.error = e
            finally:
                with self._cv:
                    self._running = None
                job.done.set()

    # --- counters -------------------------------------------------------------------------------
    def stats(self) -> SchedulerStats:
        with self._cv:
            waiting = sum(len(jobs) for jobs in self._jobs.values())
            served, wait_max, wait_total = dict(self._served), dict(self._wait_max), dict(self._wait_total)
            return SchedulerStats(served, wait_max, wait_total, tuple(self._order), waiting, self._running)
