"""WhisperEngine.transcribe's own logic (hygiene, the loop filter, the re-decode of skipped speech) over a
scripted faster-whisper model: no weights loaded."""

from collections import namedtuple

import numpy as np
import pytest

from asr.engine import WhisperEngine
from pipeline.base.config import AsrOptions

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


def _engine(model, speech, options=None, hotwords=None):
    engine = WhisperEngine.__new__(WhisperEngine)  # no weights: the scripted model stands in
    engine.options = options or AsrOptions()
    engine._hotwords = hotwords
    engine._model = model
    engine._speech_regions = lambda samples: speech
    return engine


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


@pytest.mark.parametrize("options,hotwords", [(AsrOptions(), None), (AsrOptions(initial_prompt="市民热线", hotwords=True), "12345、热线")])
def test_asr_engine_streaming_decodes_get_the_batch_prompt_and_hotwords(options, hotwords):
    """--prompt and --hotwords reach every decode, streamed (transcribe_words) as well as batch (transcribe)."""
    model = ScriptModel([(0.0, 1.0, "你好")], [(0.0, 1.0, "你好")])
    engine = _engine(model, [(0.0, 1.0)], options, hotwords)
    list(engine.transcribe(np.zeros(SR, np.float32)))
    engine.transcribe_words(np.zeros(SR, np.float32))
    for kwargs in model.kwargs:
        assert kwargs["initial_prompt"] == (options.initial_prompt or None)
        assert kwargs["hotwords"] == hotwords
