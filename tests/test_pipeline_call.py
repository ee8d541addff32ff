"""The one call object (`pipeline.call.CallPipeline`): a recording, a text and a live session from one object
around one engine, recording the same options; how a live call's outcome is reported; batch totals."""

import numpy as np
import pytest

from pipeline.base.config import AsrOptions, PipelineConfig, StreamingOptions
from pipeline.base.errors import CaptureError
from pipeline.base.types import AudioChunk, Word
from pipeline.batch import BatchTotals, FileOutcome
from pipeline.call import CallPipeline
from pipeline.live import Replay, run_session
from asr.streaming import StreamingASR, StreamUpdate

SR = 16000


class OneWordASR:
    """StreamingASR committing one word per step."""

    def __init__(self):
        self.samples = 0

    @property
    def stream_end_s(self) -> float:
        return self.samples / SR

    def insert_audio_chunk(self, samples):
        self.samples += len(samples)

    def process_iter(self):
        t = self.stream_end_s
        return StreamUpdate((Word(t - 0.1, t, "好"),))

    def finish(self):
        return StreamUpdate((), (), True)

    def reset(self):
        self.samples = 0


@pytest.mark.parametrize("protocol", [StreamingASR])
def test_pipeline_call_scripted_recogniser_is_a_streaming_asr(protocol):
    assert {"stream_end_s", "insert_audio_chunk", "process_iter", "finish", "reset"} <= set(dir(protocol))
    assert all(hasattr(OneWordASR(), name) for name in ("stream_end_s", "insert_audio_chunk", "process_iter", "finish", "reset"))


@pytest.mark.parametrize("channels", [None, ("operator", "caller")])
def test_pipeline_call_batch_and_live_record_the_same_options(ticket_builder, fake_engine, channels, tmp_path):
    config = PipelineConfig(asr=AsrOptions(channels=channels, beam_size=4), streaming=StreamingOptions(beam_size=2))
    pipe = CallPipeline(config, engine=fake_engine, builder=ticket_builder)
    batch = dict(pipe.run_options(streaming=False))
    speakers = channels or (None,)
    session = pipe.session(speakers, recogniser=OneWordASR)
    live = dict(run_session(session, Replay([np.zeros(SR, np.float32)] * len(speakers), speakers).batches(speed=0)).result.options)
    assert batch.keys() == live.keys() == {"language", "beam_size", "vad", "channels", "streaming"}
    assert (batch["beam_size"], live["beam_size"]) == (4, 2)  # the beam of the decode that writes the text
    assert (batch["streaming"], live["streaming"]) == (False, True)
    assert batch["channels"] == live["channels"] == channels


@pytest.mark.parametrize("text", ["我住在浦东新区张杨路500号，小区门口路灯坏了。"])
def test_pipeline_call_text_never_loads_the_engine(ticket_builder, text):
    pipe = CallPipeline(builder=ticket_builder)
    result = pipe.process_text(text)
    assert pipe._engine is None and result.model is None and result.options == ()
    assert result.transcript.text.startswith("我住在")


@pytest.mark.parametrize("speakers", [(None,), ("operator", "caller")])
def test_pipeline_call_sessions_share_the_engine_and_builder(ticket_builder, fake_engine, speakers):
    pipe = CallPipeline(engine=fake_engine, builder=ticket_builder)
    a, b = pipe.session(speakers), pipe.session(speakers)
    assert a is not b and a.speakers == b.speakers == speakers
    recognisers = [sp.asr for s in (a, b) for sp in s._speakers.values()]
    assert len({id(r) for r in recognisers}) == len(recognisers)  # one recogniser per speaker per call …
    assert {id(r.backend) for r in recognisers} == {id(fake_engine)}  # … all on the one engine
    assert a._builder is b._builder is ticket_builder


def _failing_source(seconds_before: float):
    yield [(AudioChunk(np.zeros(int(seconds_before * SR), np.float32), SR, 0.0, None), 0.0)]
    raise CaptureError("USB Headset", "the input stream stopped by itself")


@pytest.mark.parametrize("seconds", [1.0])
def test_pipeline_call_device_failure_is_an_outcome_not_an_exception(ticket_builder, seconds):
    """A device lost mid-call ends the call with `ok` False and the error kept; what was said before is finished."""
    session = CallPipeline(builder=ticket_builder).session(recogniser=OneWordASR, ticket_every_s=0)
    outcome = run_session(session, _failing_source(seconds))
    assert not outcome.ok and isinstance(outcome.error, CaptureError)
    assert "USB Headset" in outcome.reason
    assert outcome.result.transcript.text.startswith("好") and outcome.latency.words == 1


@pytest.mark.parametrize("speed", [float("nan"), -1.0])
def test_pipeline_call_replay_refuses_a_bad_speed(speed):
    with pytest.raises(ValueError, match="speed"):
        next(Replay([np.zeros(SR, np.float32)], [None]).batches(speed=speed))


@pytest.mark.parametrize("outcomes,expected", [
    ([FileOutcome("a", "ok", 60.0), FileOutcome("b", "failed"), FileOutcome("c", "skipped"), FileOutcome("d", "ok", 30.0)],
     (4, 2, 1, 1, 90.0, 0.5)),
    ([FileOutcome("a", "failed")], (1, 0, 0, 1, 0.0, None)),
])  # fmt: skip
def test_pipeline_call_batch_totals(outcomes, expected):
    totals = BatchTotals()
    for o in outcomes:
        totals.add(o)
    totals.wall_s = 45.0
    assert (totals.files, totals.ok, totals.skipped, totals.failed, totals.audio_s, totals.rtf) == expected
