"""DecodeScheduler: decode workers, live before after-call, round robin within a priority, several workers
decoding at once with one always left for live calls, errors in the caller's thread, a clean shutdown. The fake
engine's decodes wait on events the test controls."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pipeline.base.types import Word
from pipeline.server import AFTER_CALL, LIVE, DecodeScheduler, SchedulerClosed

TIMEOUT_S = 10.0


class GateEngine:
    """Each decode returns one word naming the job (its samples' first value) after `gate` opens; a job whose
    first sample is negative raises. `hold` is called inside every decode (tests pass a wait condition)."""

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.hold = None
        self.threads: set[str] = set()

    def transcribe_words(self, samples, final=False, beam_size=None):
        self.threads.add(threading.current_thread().name)
        self.started.set()
        assert self.gate.wait(TIMEOUT_S)
        if self.hold is not None:
            self.hold()
        if samples[0] < 0:
            raise ValueError(f"bad audio {samples[0]:g}")
        return [Word(0.0, 1.0, f"w{samples[0]:g}")]


def job(value: float) -> np.ndarray:
    return np.full(160, value, np.float32)


def wait_until(cond, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def in_thread(fn, *args) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        try:
            out["result"] = fn(*args)
        except BaseException as e:
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


@pytest.mark.parametrize("n_after", [2])
def test_server_scheduler_runs_live_before_after_call(n_after):
    engine = GateEngine()
    with DecodeScheduler(engine) as scheduler:
        engine.gate.clear()
        first, _ = in_thread(scheduler.backend("live-a", LIVE).transcribe_words, job(1))
        assert engine.started.wait(TIMEOUT_S)  # the worker is busy with live-a's decode
        after = [in_thread(scheduler.backend(f"draft-{i}", AFTER_CALL).transcribe_words, job(10 + i)) for i in range(n_after)]
        wait_until(lambda: scheduler.stats().waiting == n_after, "the after-call jobs to queue")
        live, out = in_thread(scheduler.backend("live-b", LIVE).transcribe_words, job(2))
        wait_until(lambda: scheduler.stats().waiting == n_after + 1, "the live job to queue")
        engine.gate.set()
        for t, _ in [(first, None), (live, out), *after]:
            t.join(TIMEOUT_S)
        assert out["result"][0].text == "w2"
        order = scheduler.stats().order
    assert order == ("live-a", "live-b", *(f"draft-{i}" for i in range(n_after)))  # the live job jumped the queue


@pytest.mark.parametrize("jobs_each", [6])
def test_server_scheduler_alternates_between_busy_sessions(jobs_each):
    """Two live sessions that always have a job ready: neither gets a second decode while the other waits."""
    engine = GateEngine()
    total = 2 * jobs_each
    served = []

    with DecodeScheduler(engine) as scheduler:

        def other_is_waiting():  # a decode ends only once the other session's next job has queued
            served.append(1)
            if len(served) < total:
                wait_until(lambda: scheduler.stats().waiting >= 1, "the other session's job")

        engine.hold = other_is_waiting

        def session(name, value):
            backend = scheduler.backend(name, LIVE)
            return [backend.transcribe_words(job(value))[0].text for _ in range(jobs_each)]

        a, out_a = in_thread(session, "a", 1)
        b, out_b = in_thread(session, "b", 2)
        a.join(TIMEOUT_S)
        b.join(TIMEOUT_S)
        stats = scheduler.stats()
    assert out_a["result"] == ["w1"] * jobs_each and out_b["result"] == ["w2"] * jobs_each
    assert stats.served == {"a": jobs_each, "b": jobs_each}
    assert all(x != y for x, y in zip(stats.order, stats.order[1:])), stats.order
    assert engine.threads == {"hotline-decode"}  # every decode ran on the one worker thread


@pytest.mark.parametrize("queued_each", [3])
def test_server_scheduler_round_robin_over_sessions_with_several_jobs_queued(queued_each):
    """Sessions with several jobs waiting each (e.g. two speakers' recognisers of one call) still take turns:
    a session that was just served waits behind every other session that has a job."""
    engine = GateEngine()
    with DecodeScheduler(engine) as scheduler:
        engine.gate.clear()
        warm, _ = in_thread(scheduler.backend("warm", LIVE).transcribe_words, job(0))
        assert engine.started.wait(TIMEOUT_S)
        threads = []
        for name, value in (("a", 1), ("b", 2)):
            for _ in range(queued_each):
                threads.append(in_thread(scheduler.backend(name, LIVE).transcribe_words, job(value)))
                wait_until(lambda: scheduler.stats().waiting == len(threads), "the job to queue")
        engine.gate.set()
        for t, _ in [(warm, None), *threads]:
            t.join(TIMEOUT_S)
        order = scheduler.stats().order
    assert order == ("warm", *("a", "b") * queued_each)


@pytest.mark.parametrize("bad", [-1.0])
def test_server_scheduler_failing_decode_raises_in_its_callers_thread_only(bad):
    engine = GateEngine()
    with DecodeScheduler(engine) as scheduler:
        failing, out_bad = in_thread(scheduler.backend("bad", LIVE).transcribe_words, job(bad))
        failing.join(TIMEOUT_S)
        good, out_good = in_thread(scheduler.backend("good", LIVE).transcribe_words, job(3))
        good.join(TIMEOUT_S)
        assert scheduler.alive
    assert isinstance(out_bad["error"], ValueError) and "bad audio -1" in str(out_bad["error"])
    assert out_good == {"result": [Word(0.0, 1.0, "w3")]}


@pytest.mark.parametrize("waiting", [2])
def test_server_scheduler_close_stops_the_worker_and_fails_waiting_jobs(waiting):
    engine = GateEngine()
    scheduler = DecodeScheduler(engine).start()
    engine.gate.clear()
    running, out_running = in_thread(scheduler.backend("first", LIVE).transcribe_words, job(1))
    assert engine.started.wait(TIMEOUT_S)
    queued = [in_thread(scheduler.backend(f"s{i}", LIVE).transcribe_words, job(2)) for i in range(waiting)]
    wait_until(lambda: scheduler.stats().waiting == waiting, "the jobs to queue")
    closer, _ = in_thread(scheduler.close, TIMEOUT_S)
    for t, _ in queued:
        t.join(TIMEOUT_S)
    assert all(isinstance(out["error"], SchedulerClosed) for _, out in queued)
    assert scheduler.alive  # still finishing the decode it had started
    engine.gate.set()
    closer.join(TIMEOUT_S)
    running.join(TIMEOUT_S)
    assert not scheduler.alive
    assert out_running["result"][0].text == "w1"  # the decode under way was finished, not dropped
    with pytest.raises(SchedulerClosed, match="shutting down"):
        scheduler.backend("late", LIVE).transcribe_words(job(1))


@pytest.mark.parametrize("priority", [-1, "0"])
def test_server_scheduler_refuses_a_bad_priority(priority):
    with pytest.raises(ValueError, match="priority"):
        DecodeScheduler(GateEngine()).backend("x", priority)


@pytest.mark.parametrize("workers", [2])
def test_server_scheduler_workers_decode_sessions_at_the_same_time(workers):
    """With two workers two sessions' decodes run at once, on two threads: neither waits for the other's."""
    engine = GateEngine()
    both_in = threading.Barrier(workers, timeout=TIMEOUT_S)
    engine.hold = both_in.wait  # a decode ends only once the other session's decode has started too
    with DecodeScheduler(engine, workers=workers) as scheduler:
        calls = [in_thread(scheduler.backend(f"live-{i}", LIVE).transcribe_words, job(i)) for i in range(workers)]
        for t, _ in calls:
            t.join(TIMEOUT_S)
        stats = scheduler.stats()
    assert [out["result"][0].text for _, out in calls] == [f"w{i}" for i in range(workers)]
    assert engine.threads == {f"hotline-decode-{i}" for i in range(workers)}
    assert stats.served == {f"live-{i}": 1 for i in range(workers)} and stats.running == ()


@pytest.mark.parametrize("workers", [2, 3])
def test_server_scheduler_after_call_jobs_leave_a_worker_free_for_live(workers):
    """After-call drafting takes at most all workers but one; a live decode that arrives starts at once on the
    one left, while the drafting sessions wait."""
    engine = GateEngine()
    with DecodeScheduler(engine, workers=workers) as scheduler:
        engine.gate.clear()
        after = [in_thread(scheduler.backend(f"draft-{i}", AFTER_CALL).transcribe_words, job(10 + i)) for i in range(workers)]
        wait_until(lambda: len(scheduler.stats().running) == workers - 1 and scheduler.stats().waiting == 1, "the drafting jobs")
        live, out = in_thread(scheduler.backend("live", LIVE).transcribe_words, job(1))
        wait_until(lambda: "live" in scheduler.stats().running, "the live decode to start")
        assert scheduler.stats().waiting == 1  # the last drafting job still waits: no worker is free
        engine.gate.set()
        for t, _ in [(live, out), *after]:
            t.join(TIMEOUT_S)
        stats = scheduler.stats()
    assert out["result"][0].text == "w1"
    assert stats.served == {"live": 1, **{f"draft-{i}": 1 for i in range(workers)}}


def test_server_scheduler_takes_its_workers_from_the_engine():
    engine = GateEngine()
    engine.workers = 3
    assert DecodeScheduler(engine).workers == 3
    assert DecodeScheduler(GateEngine()).workers == 1  # an engine that says nothing runs one decode at a time


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_server_scheduler_refuses_a_bad_worker_count(workers):
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        DecodeScheduler(GateEngine(), workers=workers)


@pytest.mark.parametrize("seconds,expected", [(0.0, []), (10.0, [10.0]), (28.0, [28.0]), (60.0, None)])
def test_server_quiet_pieces_cover_the_audio_within_the_limit(seconds, expected):
    from pipeline.server.drafting import PIECE_S, quiet_pieces_of

    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)
    pieces = list(quiet_pieces_of(samples))
    starts = [start for start, _ in pieces]
    lengths = [len(p) / 16000 for _, p in pieces]
    assert starts == [sum(len(p) for _, p in pieces[:i]) for i in range(len(pieces))]  # in order, no gap, no overlap
    assert sum(len(p) for _, p in pieces) == len(samples) and all(0 < n <= PIECE_S for n in lengths)
    if expected is not None:
        assert lengths == expected


@pytest.mark.parametrize("pause_at_s", [23.0, 26.5])
def test_server_quiet_pieces_are_cut_in_a_pause(pause_at_s):
    from pipeline.server.drafting import quiet_pieces_of

    samples = np.full(40 * 16000, 0.3, np.float32)
    samples[int(pause_at_s * 16000) : int((pause_at_s + 0.6) * 16000)] = 0.0
    (_, first), (start, _) = list(quiet_pieces_of(samples))
    assert pause_at_s <= len(first) / 16000 <= pause_at_s + 0.6 and start == len(first)


def test_server_scheduled_engine_decodes_each_piece_as_one_after_call_job():
    """The batch engine on the scheduler: one AFTER_CALL job per piece, segments placed in recording time."""
    from pipeline.base.types import Segment
    from pipeline.server.drafting import ScheduledEngine

    class PieceEngine:
        info = "the engine's info"

        def __init__(self):
            self.offsets = []

        def transcribe(self, samples, speaker=None, offset_s=0.0):
            self.offsets.append(offset_s)
            yield Segment(0, offset_s, offset_s + len(samples) / 16000, f"{len(samples) / 16000:.0f}", speaker)

    engine = PieceEngine()
    with DecodeScheduler(GateEngine()) as scheduler:
        scheduled = ScheduledEngine(engine, scheduler, "draft-7")
        samples = np.full(50 * 16000, 0.3, np.float32)
        samples[27 * 16000 : 28 * 16000] = 0.0  # a pause: the first piece ends in it
        segments = list(scheduled.transcribe(samples, speaker="caller", offset_s=100.0))
        stats = scheduler.stats()
    assert scheduled.info == "the engine's info"
    assert [(s.start_s, s.text, s.speaker) for s in segments] == [(100.0, "27", "caller"), (127.25, "23", "caller")]
    assert stats.served == {"draft-7": 2} and stats.order == ("draft-7", "draft-7")


@pytest.mark.parametrize("priority", [-1, True])
def test_server_scheduler_call_refuses_a_bad_priority(priority):
    with DecodeScheduler(GateEngine()) as scheduler:
        with pytest.raises(ValueError, match="priority"):
            scheduler.call("x", priority, lambda: None)
