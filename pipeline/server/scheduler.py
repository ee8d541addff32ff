"""The decode workers of the whole process: every session's Whisper decodes go through them, fairly.

A live call's `OnlineWhisper` (and an after-call drafting session's) is built on `scheduler.backend(name,
priority)`, a WordBackend proxy: its `transcribe_words` puts a job in the scheduler's queue and blocks the
calling thread (the call's own worker thread, never the event loop) until a decode worker has run it on the
one engine. There are as many workers as the engine runs decodes at once (`WhisperEngine.workers`: CTranslate2
replicas sharing the model's weights, one thread each on 2 cores); each free worker takes the next job in this
order:

- by priority: live calls (`LIVE`, 0) before after-call drafting (`AFTER_CALL`, 1), so a live decode waits at
  most for one window decode, never for a whole recording; with several workers, after-call jobs never occupy
  more than all but one of them, so a live call's decode always finds a worker free of drafting;
- within a priority, round robin over sessions: the sessions with a waiting job form a first-come queue, and a
  session that was just served goes to its back, so no session gets a second decode while another's job waits.

Why several workers rather than one with every thread: on 2 cores a Whisper base window decode runs only ~1.15×
faster on two threads than on one, while two one-thread decodes side by side get through ~1.57× the work of one
decode at a time (bench/decode_workers.py, README "Operator console"). So one live call loses a little and two live calls stop
queueing behind each other.

A decode that raises raises in the thread that asked for it; the worker goes on with the next job. `close()`
stops the workers after the jobs they are running; jobs still waiting (and any asked for later) get
`SchedulerClosed`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, TypeVar

import numpy as np

from pipeline.base.errors import HotlineError
from pipeline.base.types import Word

logger = logging.getLogger(__name__)

__all__ = ["AFTER_CALL", "LIVE", "DecodeScheduler", "SchedulerClosed", "SchedulerStats", "SessionBackend"]

T = TypeVar("T")
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
        order: session names in the order their decodes started (the most recent ones).
        waiting: jobs in the queue now.
        running: the sessions whose decodes run now, in the order they started.
    """

    served: Mapping[str, int]
    wait_max_s: Mapping[str, float]
    wait_total_s: Mapping[str, float]
    order: tuple[str, ...]
    waiting: int
    running: tuple[str, ...]


def _checked_priority(priority: object) -> int:
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise ValueError(f"priority must be an integer >= 0 (LIVE=0, AFTER_CALL=1), got {priority!r}")
    return priority


class _Job:
    __slots__ = ("session", "priority", "work", "queued_s", "done", "result", "error")

    def __init__(self, session: str, priority: int, work: Callable[[], T], queued_s: float):
        self.session = session
        self.priority = priority
        self.work = work
        self.queued_s = queued_s
        self.done = threading.Event()
        self.result: Optional[T] = None
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
    in `workers` threads, live before after-call, round robin within a priority (module docstring).

    Args:
        engine: the process's one engine; with `workers` > 1 it must run that many decodes at once.
        workers: decode threads (default: `engine.workers`, else 1).
        clock: monotonic seconds (for the wait counters).
    """

    def __init__(self, engine, workers: Optional[int] = None, clock: Callable[[], float] = time.monotonic):
        workers = getattr(engine, "workers", 1) if workers is None else workers
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        self.engine = engine
        self.workers = workers
        self._clock = clock
        self._cv = threading.Condition()
        self._ready: dict[int, deque[str]] = {}  # priority -> sessions with a waiting job, first come first served
        self._jobs: dict[str, deque[_Job]] = {}  # session -> its waiting jobs, in order
        self._served: OrderedDict[str, int] = OrderedDict()
        self._wait_max: dict[str, float] = {}
        self._wait_total: dict[str, float] = {}
        self._order: deque[str] = deque(maxlen=_KEEP_STATS)
        self._running: list[_Job] = []
        self._closed = False
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "DecodeScheduler":
        """Start the worker threads (once; later calls do nothing)."""
        with self._cv:
            if self._closed:
                raise SchedulerClosed("the decode scheduler was closed and cannot be started again")
            if not self._threads:
                for i in range(self.workers):
                    name = "hotline-decode" if self.workers == 1 else f"hotline-decode-{i}"
                    self._threads.append(threading.Thread(target=self._work, name=name, daemon=True))
                for thread in self._threads:
                    thread.start()
        return self

    def close(self, timeout_s: Optional[float] = None) -> None:
        """Stop the workers after their current decodes; waiting jobs fail with SchedulerClosed in their threads."""
        with self._cv:
            self._closed = True
            dropped = [job for jobs in self._jobs.values() for job in jobs]
            self._jobs.clear()
            self._ready.clear()
            self._cv.notify_all()
        for job in dropped:
            job.error = SchedulerClosed("the server is shutting down; the decode was not run")
            job.done.set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        """Whether any worker is still running."""
        return any(thread.is_alive() for thread in self._threads)

    def __enter__(self) -> "DecodeScheduler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- sessions -------------------------------------------------------------------------------
    def backend(self, name: str, priority: int = LIVE) -> SessionBackend:
        """A WordBackend for one session. `name` identifies it for fairness and in the counters (one name per
        session); `priority` is LIVE (0) or AFTER_CALL (1); lower runs first."""
        return SessionBackend(self, name, _checked_priority(priority))

    def run(
        self, session: str, priority: int, samples: np.ndarray, final: bool = False, beam_size: Optional[int] = None
    ) -> list[Word]:
        """Queue one window decode (`engine.transcribe_words`) and block until it has run; its exception is raised
        here, in the caller's thread."""
        return self.call(session, priority, lambda: list(self.engine.transcribe_words(samples, final=final, beam_size=beam_size)))

    def call(self, session: str, priority: int, work: Callable[[], T]) -> T:
        """Queue `work` (one decode on the engine: the after-call drafter's pieces of a recording) as a job of
        `session`, and block until a worker has run it; returns its result, or raises its exception here."""
        job = _Job(session, _checked_priority(priority), work, self._clock())
        with self._cv:
            if self._closed:
                raise SchedulerClosed("the server is shutting down; no more decodes are run")
            if not self._threads:
                raise SchedulerClosed("the decode scheduler was not started (DecodeScheduler.start)")
            queued = self._jobs.setdefault(session, deque())
            if not queued:
                self._ready.setdefault(priority, deque()).append(session)
            queued.append(job)
            self._cv.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    # --- the worker -----------------------------------------------------------------------------
    def _next(self) -> Optional[_Job]:
        """The next job by priority, then round robin (called with the lock held). After-call jobs are not
        started while they would leave no worker free for a live decode."""
        drafting = sum(job.priority > LIVE for job in self._running)
        for priority in sorted(self._ready):
            sessions = self._ready[priority]
            if not sessions or (priority > LIVE and 1 < self.workers <= drafting + 1):
                continue
            session = sessions.popleft()
            jobs = self._jobs[session]
            job = jobs.popleft()
            if jobs:
                sessions.append(session)  # its next job waits behind every other session's
            else:
                del self._jobs[session]
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
                self._running.append(job)
                self._count(job, self._clock())
            try:
                job.result = job.work()
            except BaseException as e:  # raised again in the session's thread, which knows what to do with it
                job.error = e
            finally:
                with self._cv:
                    self._running.remove(job)
                    self._cv.notify_all()  # a worker may now start an after-call job it had to leave
                job.done.set()

    # --- counters -------------------------------------------------------------------------------
    def stats(self) -> SchedulerStats:
        with self._cv:
            waiting = sum(len(jobs) for jobs in self._jobs.values())
            served, wait_max, wait_total = dict(self._served), dict(self._wait_max), dict(self._wait_total)
            running = tuple(job.session for job in self._running)
            return SchedulerStats(served, wait_max, wait_total, tuple(self._order), waiting, running)
