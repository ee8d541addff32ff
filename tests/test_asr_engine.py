"""WhisperEngine.transcribe's own logic (hygiene, the loop filter, the re-decode of skipped speech) over a
scripted faster-whisper model: no weights loaded."""

from collections import namedtuple

import numpy as np
import pytest

from asr.engine import WhisperEngine
from pipeline.base.config import AsrOptions
from pipeline.base.vocab import hotwords

SR = 16000
FwSegment = namedtuple("FwSegment", "start end text words avg_logprob no_speech_prob")


class ScriptModel:
    """faster_whisper.WhisperModel.transcribe, scripted: one list of (start, end, text) per call, times
    relative to the audio it is given."""

    def __init__(self, *decodes):
        self.decodes = list(decodes)
        self.calls: list[float] = []  # seconds of audio each call got
        self.kwargs: list[dict] = []

    def transcribe(self, audio, **kwargs):
        self.calls.append(len(audio) / SR)
        self.kwargs.append(kwargs)
        script = self.decodes.pop(0) if self.decodes else []
        return iter(FwSegment(a, b, t, None, -0.2, 0.01) for a, b, t in script), None


def _engine(model, speech, options=None):
    return WhisperEngine(options, model=model, vad=lambda samples: speech)  # no weights: the scripted model stands in


LOOP = [(0.0, 2.0, "广州市房地产中介协会分析"), (2.0, 4.0, "环境协会卫生"), (4.0, 6.0, "环境协会卫生"), (6.0, 8.0, "环境协会卫生"), (8.0, 10.0, "环境协会卫生")]


@pytest.mark.parametrize("decodes,expected", [
    # a loop over four turns: two are kept, the audio under the rest is decoded again
    ((LOOP, [(0.2, 2.2, "甚至出现交易几乎停滞的情况")], [(0.2, 2.0, "广州市房地产中介协会分析")]),
     ["广州市房地产中介协会分析。", "环境协会卫生。", "环境协会卫生。", "甚至出现交易几乎停滞的情况。", "广州市房地产中介协会分析。"]),
    # the same words twice in a row is speech ("喂？" "喂？"), not a loop
    (([(0.0, 1.0, "喂？"), (1.0, 2.0, "喂？"), (2.0, 4.0, "你好")],), ["喂？", "喂？", "你好。"]),
])
def test_asr_engine_decoding_loop_is_dropped_and_its_speech_decoded_again(decodes, expected):
    model = ScriptModel(*decodes)
    speech = [(a, b) for a, b, _ in decodes[0]]
    segments = list(_engine(model, speech).transcribe(np.zeros(10 * SR, np.float32)))
    assert [s.text for s in segments] == expected
    if len(decodes) > 1:
        # the whole call, then each looped turn's speech (padded by 0.2 s), placed where that audio is
        assert model.calls == [10.0, pytest.approx(2.4), pytest.approx(2.2)]
        assert [round(s.start_s, 1) for s in segments[3:]] == [6.0, 8.0]
    else:
        assert model.calls == [10.0]


@pytest.mark.parametrize("options,hotwords", [(AsrOptions(), None), (AsrOptions(initial_prompt="市民热线", hotwords=True), "、".join(hotwords()))])
def test_asr_engine_streaming_decodes_get_the_batch_prompt_and_hotwords(options, hotwords):
    """--prompt and --hotwords reach every decode, streamed (transcribe_words) as well as batch (transcribe)."""
    model = ScriptModel([(0.0, 1.0, "你好")], [(0.0, 1.0, "你好")])
    engine = _engine(model, [(0.0, 1.0)], options)
    list(engine.transcribe(np.zeros(SR, np.float32)))
    engine.transcribe_words(np.zeros(SR, np.float32))
    for kwargs in model.kwargs:
        assert kwargs["initial_prompt"] == (options.initial_prompt or None)
        assert kwargs["hotwords"] == hotwords


@pytest.mark.parametrize("streaming,final,expected", [
    (False, False, dict(beam_size=5, best_of=5, temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0], condition_on_previous_text=True,
                        word_timestamps=True, vad_filter=True, vad_parameters={"min_silence_duration_ms": 2000})),
    (True, False, dict(beam_size=5, best_of=1, temperature=0.0, condition_on_previous_text=False, word_timestamps=True,
                       vad_filter=False, vad_parameters=None)),
    (True, True, dict(beam_size=5, best_of=1, temperature=[0.0, 0.2, 0.4, 0.6], condition_on_previous_text=False,
                      word_timestamps=True, vad_filter=False, vad_parameters=None)),
])  # fmt: skip
def test_asr_engine_decode_options_one_object_for_batch_and_streaming(streaming, final, expected):
    """Batch and streaming decodes are built by one function: what differs is the mode, what is shared is shared."""
    engine = _engine(ScriptModel(), [], AsrOptions(initial_prompt="市民热线"))
    kwargs = engine.decode_options(streaming=streaming, final=final).kwargs()
    shared = dict(language="zh", initial_prompt="市民热线", hotwords=None, compression_ratio_threshold=3.0)
    assert kwargs == {**shared, **expected}


@pytest.mark.parametrize("final,beam", [(False, 1), (True, 3)])
def test_asr_engine_streaming_decode_gets_its_own_beam_and_temperatures(final, beam):
    model = ScriptModel([(0.0, 1.0, "你好")])
    _engine(model, []).transcribe_words(np.zeros(SR, np.float32), final=final, beam_size=beam)
    assert model.kwargs[0]["beam_size"] == beam
    assert model.kwargs[0]["temperature"] == ([0.0, 0.2, 0.4, 0.6] if final else 0.0)


def test_asr_engine_gives_freed_memory_back_after_each_decode(monkeypatch):
    """Each streaming decode, and each batch transcription (also one stopped early), ends with malloc_trim:
    without it a 30-minute replay grew ~120 MB after its first minute (bench/memory.py)."""
    import asr.engine

    trims: list[int] = []
    monkeypatch.setattr(asr.engine, "_MALLOC_TRIM", lambda pad: trims.append(pad) or 1)
    engine = _engine(ScriptModel([(0.0, 1.0, "你好")], [(0.0, 1.0, "你好")], [(0.0, 1.0, "路灯坏了")]), [(0.0, 1.0)])
    engine.transcribe_words(np.zeros(SR, np.float32))
    assert trims == [0]
    assert [s.text for s in engine.transcribe(np.zeros(SR, np.float32))] == ["你好。"]
    assert trims == [0, 0]
    stopped = engine.transcribe(np.zeros(SR, np.float32))
    next(stopped)
    stopped.close()
    assert trims == [0, 0, 0]


def test_asr_engine_malloc_trim_is_found_on_glibc():
    import platform

    import asr.engine

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    assert asr.engine._MALLOC_TRIM is not None
    asr.engine.release_freed_memory()


@pytest.mark.parametrize("workers,cpu_threads,cores,expected_threads", [
    (0, 0, 4, 0),  # automatic: one decode at a time, CTranslate2's own thread count
    (1, 0, 4, 0),
    (2, 0, 4, 2),  # two replicas share the four cores
    (2, 0, 2, 1),
    (3, 0, 2, 1),  # never below one thread
    (2, 3, 2, 3),  # threads set by hand are kept
])
def test_asr_engine_workers_load_that_many_replicas_on_a_share_of_the_cores(monkeypatch, tmp_path, workers, cpu_threads, cores, expected_threads):
    import asr.engine as engine_module

    loaded = {}

    class FakeFasterWhisper:
        class WhisperModel:
            def __init__(self, path, **kwargs):
                loaded.update(kwargs, path=path)

    monkeypatch.setattr(engine_module, "_load_faster_whisper", lambda: FakeFasterWhisper)
    monkeypatch.setattr(engine_module.os, "cpu_count", lambda: cores)
    engine = WhisperEngine(AsrOptions(device="cpu", workers=workers, cpu_threads=cpu_threads), model_path=tmp_path)
    assert loaded["num_workers"] == engine.workers == max(1, workers)
    assert loaded["cpu_threads"] == engine.info.cpu_threads == expected_threads


@pytest.mark.parametrize("workers", [-1, 65, 1.0, "2"])
def test_asr_engine_bad_worker_count_names_the_field(workers):
    from pipeline.base.errors import ConfigError

    with pytest.raises(ConfigError, match="workers"):
        AsrOptions(workers=workers)
