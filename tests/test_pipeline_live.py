"""CallSession and run_session over a scripted streaming recogniser (no model): how a replayed recording ends."""

import time

import numpy as np
import pytest

from asr.streaming import StreamUpdate
from pipeline.call import CallPipeline
from pipeline.base.types import AudioChunk
from pipeline.live import Replay, capture_batches, run_session
from pipeline.base.types import Word

SR = 16000


class ScriptedASR:
    """StreamingASR that commits one word per decode step; finish() commits one more."""

    def __init__(self):
        self.samples = 0
        self.steps = 0
        self.finishes = 0

    def insert_audio_chunk(self, samples):
        self.samples += len(samples)

    @property
    def stream_end_s(self) -> float:
        return self.samples / SR

    def process_iter(self) -> StreamUpdate:
        self.steps += 1
        t = self.stream_end_s
        return StreamUpdate((Word(t - 0.2, t - 0.1, f"字{self.steps}"),))

    def finish(self) -> StreamUpdate:
        self.finishes += 1
        t = self.stream_end_s
        return StreamUpdate((Word(t - 0.1, t, "完"),), (), True)

    def reset(self) -> None:
        self.samples = 0


@pytest.mark.parametrize("end_known,steps", [(True, 9), (False, 10)])
def test_pipeline_live_replay_end_goes_straight_to_finish(ticket_builder, end_known, steps):
    """When the recording's end is known, its last batch is not stepped (a decode) before finish (another)."""
    asr = ScriptedASR()
    session = CallPipeline(builder=ticket_builder).session(ticket_every_s=0, recogniser=lambda: asr)
    audio = np.zeros(SR, np.float32)  # ten 0.1 s chunks at speed 0: one batch each
    outcome = run_session(session, Replay([audio], [None]).batches(speed=0), end_s=1.0 if end_known else None)
    result = outcome.result
    assert (outcome.reason, outcome.ok) == ("end of audio", True)
    assert (asr.steps, asr.finishes) == (steps, 1)
    assert result.transcript.text.replace("。", "").endswith("完")
    assert len(session.words) == steps + 1  # every committed word kept, the finish's included


class Clock:
    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@pytest.mark.parametrize("busy_s", [1.5])
def test_pipeline_live_replay_keeps_each_chunk_due_time(busy_s):
    """A batch gathered while the consumer was busy holds each 0.1 s chunk with its own due time (as capture's
    blocks do), so lag is counted from when each word was spoken, not from when the last of the batch was due."""
    clock = Clock()
    batches = Replay([np.zeros(3 * SR, np.float32)], [None]).batches(speed=1, clock=clock.now, sleep=clock.sleep)
    first = next(batches)
    clock.t += busy_s  # a decode
    second = next(batches)
    assert len(first) == 1 and len(second) >= 14
    for chunk, fed in first + second:
        assert chunk.duration_s == pytest.approx(0.1)
        assert fed == pytest.approx(chunk.start_s + chunk.duration_s)  # speed 1, t0 = 0: due when spoken


class EarlyClockCapture:
    """A capture whose audio clock runs ahead of the wall clock (its first block came a block late)."""

    def __init__(self, ahead_s: float):
        self.started_s = time.monotonic() + ahead_s

    def batches(self, timeout_s):
        yield [AudioChunk(np.zeros(1600, np.float32), SR, 0.0, None)]

    def stop(self):
        pass


@pytest.mark.parametrize("ahead_s", [0.08])
def test_pipeline_live_capture_fed_time_never_in_the_future(ahead_s):
    before = time.monotonic()
    [(chunk, fed)] = next(capture_batches(EarlyClockCapture(ahead_s)))
    assert before <= fed <= time.monotonic()
