"""The streaming commit policy and processor, with scripted hypotheses (no model)."""

import numpy as np
import pytest

from asr.streaming import FINISH_CONTEXT_S, LocalAgreement, OnlineWhisper, StreamingOptions, should_decode
from pipeline.base.errors import ConfigError
from pipeline.base.types import Word

SR = 16000


def words(spec: str, start: float = 0.0, step: float = 0.3) -> list[Word]:
    """'a b c' -> words a, b, c at 0.3 s each from `start`."""
    return [Word(start + i * step, start + (i + 1) * step, w) for i, w in enumerate(spec.split())]


def texts(ws) -> str:
    return " ".join(w.text for w in ws)


@pytest.mark.parametrize(
    "hypotheses,committed_per_step",
    [
        (["a b", "a b c", "a b c d", "a b c d e"], ["", "a b", "c", "d"]),
        (["a x", "a b", "a b c", "a b c"], ["", "a", "b", "c"]),
        (["a", "b", "c"], ["", "", ""]),  # no two consecutive hypotheses agree: nothing committed yet
    ],
)
def test_streaming_local_agreement_commits_stable_prefix_once(hypotheses, committed_per_step):
    la = LocalAgreement()
    got = [texts(la.update(words(h))[0]) for h in hypotheses]
    assert got == committed_per_step


@pytest.mark.parametrize("final", [None, "a b c d e f"])
def test_streaming_local_agreement_never_loses_tail_at_flush(final):
    la = LocalAgreement()
    emitted = []
    for h in ["a b c", "a b c d", "a b c d e"]:
        emitted += la.update(words(h))[0]
    emitted += la.flush(words(final) if final else None)
    assert texts(emitted) == ("a b c d e f" if final else "a b c d e")
    # nothing is emitted twice, and a flush with nothing pending emits nothing
    assert la.flush() == ()


@pytest.mark.parametrize(
    "committed,hypothesis,fresh",
    [
        ("这 太 过", "这 太 过 饭 了吧", "饭 了吧"),  # exact re-read of the committed words
        ("这 太 过", "这 太 锅 分 了吧", "分 了吧"),  # re-read that differs in one character
        ("就 是 这样", "就 这样 吧", "吧"),  # re-read with a word dropped
    ],
)
def test_streaming_reread_of_committed_words_is_not_emitted_again(committed, hypothesis, fresh):
    la = LocalAgreement()
    la.update(words(committed))
    assert texts(la.update(words(committed))[0]) == committed
    assert texts(la.update(words(hypothesis))[1]) == fresh


@pytest.mark.parametrize("smear_s", [0.25, 0.6])
def test_streaming_first_word_after_a_pause_timed_into_the_pause_is_kept(smear_s):
    """Whisper often times the first word after a pause from inside the pause, even before the last committed
    word ends. It is new (the re-read of the committed words says so), and must not be dropped by its time."""
    la = LocalAgreement()
    said = words("这 位 先生")
    assert texts(la.flush(said, window_start_s=0.0)) == "这 位 先生"
    nxt = [Word(said[-1].end_s - smear_s, said[-1].end_s + 1.0, "谢谢"), Word(said[-1].end_s + 1.0, said[-1].end_s + 1.3, "你")]
    committed, tail = la.update(said + nxt, window_start_s=0.0)
    assert (texts(committed), texts(tail)) == ("", "谢谢 你")
    assert texts(la.flush(said + nxt, window_start_s=0.0)) == "谢谢 你"


@pytest.mark.parametrize("window_start", [1.0])
def test_streaming_committed_words_before_the_window_are_not_matched(window_start):
    """Only committed words inside the decoded window are looked for in its re-read: a word committed before
    the window began is not in the audio, so a new word that sounds the same is new."""
    la = LocalAgreement()
    la.flush(words("好 的"), window_start_s=0.0)  # 0.0-0.6 s, before the next window
    hyp = words("好 的 请 讲", start=1.0)
    assert texts(la.flush(hyp, window_start_s=window_start)) == "好 的 请 讲"


@pytest.mark.parametrize("committed", ["你 好 请 讲 一下"])
def test_streaming_decode_that_skips_the_reread_loses_nothing(committed):
    """A window decode can leave out the committed words it re-hears (Whisper skips the start of a window).
    Its words all start after the committed audio, so none of them is taken for a re-read."""
    la = LocalAgreement()
    done = la.flush(words(committed), window_start_s=0.0)  # 0.0-1.5 s
    new = words("路 灯 坏", start=done[-1].end_s + 0.2)
    assert texts(la.flush(new, window_start_s=0.0)) == "路 灯 坏"


@pytest.mark.parametrize("until", [0.7])
def test_streaming_force_commits_old_words(until):
    la = LocalAgreement()
    tail = la.update(words("a b c d"))[1]
    assert texts(la.force(list(tail), until)) == "a b"
    assert texts(la.flush()) == "c d"


@pytest.mark.parametrize("new,buf,step,expected", [(1.0, 2.0, 1.0, True), (0.5, 2.0, 1.0, False), (1.0, 0.1, 1.0, False)])
def test_streaming_should_decode(new, buf, step, expected):
    assert should_decode(new, buf, step) is expected


class ScriptBackend:
    """Transcribes a buffer to the scripted words that lie inside it (times relative to the buffer)."""

    def __init__(self, script: list[Word], stream):
        self.script = script
        self.stream = stream  # the OnlineWhisper, to know where its buffer starts
        self.calls = 0
        self.max_window_s = 0.0
        self.beams: set[tuple[bool, int]] = set()  # (final, beam_size) pairs seen
        self.contexts: list[tuple[bool, float]] = []  # (final, seconds of context) of each decode

    def transcribe_words(self, samples, final=False, beam_size=None):
        self.calls += 1
        self.max_window_s = max(self.max_window_s, len(samples) / SR)
        self.context_s = self.stream._buffer_start_s - self.stream.window_start_s  # of this decode
        self.contexts.append((final, round(self.context_s, 2)))
        self.beams.add((final, beam_size))
        start = self.stream.window_start_s  # the decoded window begins with context audio before the buffer
        end = start + len(samples) / SR
        return [Word(w.start_s - start, w.end_s - start, w.text) for w in self.script if w.start_s >= start - 0.01 and w.end_s <= end]


def _energy_vad(audio):
    """Speech = non-zero samples (the fake audio is 0 in silence, 0.5 in speech)."""
    active = np.abs(audio) > 0.1
    out, i = [], 0
    while i < len(active):
        if active[i]:
            j = i
            while j < len(active) and active[j]:
                j += 1
            out.append((i / SR, j / SR))
            i = j
        else:
            i += 1
    return out


def _run(script_words, speech, total_s, opts=None):
    audio = np.zeros(int(total_s * SR), np.float32)
    for a, b in speech:
        audio[int(a * SR) : int(b * SR)] = 0.5
    asr = OnlineWhisper(None, opts or StreamingOptions(), vad=_energy_vad)
    asr.backend = ScriptBackend(script_words, asr)
    out, endpoints, max_buffer = [], 0, 0.0
    for p in range(0, len(audio), SR // 10):
        asr.insert_audio_chunk(audio[p : p + SR // 10])
        u = asr.process_iter()
        out += u.committed
        endpoints += u.endpoint
        max_buffer = max(max_buffer, asr.buffer_s)
    out += asr.finish().committed
    return out, endpoints, max_buffer, asr


@pytest.mark.parametrize("gap_s", [1.5])
def test_streaming_endpoint_commits_each_utterance(gap_s):
    u1 = words("你好 我 想 反映 问题", start=0.5)
    u2 = words("路灯 坏 了", start=0.5 + 1.5 + gap_s)
    speech = [(0.5, 0.5 + 1.5), (u2[0].start_s, u2[-1].end_s)]
    out, endpoints, _, _ = _run(u1 + u2, speech, total_s=u2[-1].end_s + 2.0)
    assert texts(out) == texts(u1 + u2)
    assert endpoints >= 2


@pytest.mark.parametrize("minutes", [3])
def test_streaming_buffer_stays_bounded_over_a_long_call(minutes):
    """Talk 4 s, pause 1 s, for minutes: every word committed once, and the buffer never grows."""
    script, speech, t = [], [], 0.2
    while t + 5 < minutes * 60:
        ws = words("一 二 三 四 五 六 七 八 九 十 十一 十二 十三", start=t)
        script += ws
        speech.append((t, ws[-1].end_s))
        t = ws[-1].end_s + 1.0
    out, _, max_buffer, asr = _run(script, speech, total_s=minutes * 60)
    assert [w.text for w in out] == [w.text for w in script]
    assert max_buffer < 7.0  # one utterance (3.9 s) + its pause + the next step's audio
    assert asr.buffer_s < 1.0


@pytest.mark.parametrize("talk_s", [60])
def test_streaming_long_utterance_without_pause_is_forced_out(talk_s):
    """No pause at all: max_buffer_s bounds the buffer and nothing is lost."""
    script = words(" ".join(str(i) for i in range(int(talk_s / 0.3))), start=0.0)
    out, _, max_buffer, asr = _run(script, [(0.0, talk_s)], total_s=talk_s + 1.0, opts=StreamingOptions(max_buffer_s=8.0, context_s=25.0))
    assert [w.text for w in out] == [w.text for w in script]
    assert max_buffer <= 8.0 + 1.5
    assert 20.0 < asr.backend.max_window_s <= 28.0  # context + buffer fill one Whisper window, never two


@pytest.mark.parametrize("context_s", [20.0])
def test_streaming_decodes_get_the_whole_context(context_s):
    """After a long first utterance, a short one is decoded with all context_s seconds before it (a slicing
    bug once gave it only the last few seconds when the context was more than half the free window)."""
    u1 = words(" ".join(str(i) for i in range(80)), start=0.0)  # 24 s of talk
    u2 = words("路灯 坏 了", start=u1[-1].end_s + 1.5)
    speech = [(0.0, u1[-1].end_s), (u2[0].start_s, u2[-1].end_s)]
    out, _, _, asr = _run(u1 + u2, speech, total_s=u2[-1].end_s + 2.0, opts=StreamingOptions(context_s=context_s))
    assert texts(out) == texts(u1 + u2)
    assert asr.backend.context_s == pytest.approx(context_s, abs=0.05)


@pytest.mark.parametrize("context_s,partial_context_s", [(20.0, 12.0), (10.0, 20.0)])
def test_streaming_endpoint_and_partial_decodes_get_their_own_context(context_s, partial_context_s):
    """The decodes while an utterance goes on get partial_context_s of context, the endpoint's decode
    context_s (as much as there is: after a 24 s utterance, there is)."""
    u1 = words(" ".join(str(i) for i in range(80)), start=0.0)  # 24 s of talk
    u2 = words("你好 我 想 反映 一个 问题 我们 小区 门口 的 路灯 坏 了", start=u1[-1].end_s + 1.5)
    speech = [(0.0, u1[-1].end_s), (u2[0].start_s, u2[-1].end_s)]
    opts = StreamingOptions(context_s=context_s, partial_context_s=partial_context_s)
    out, _, _, asr = _run(u1 + u2, speech, total_s=u2[-1].end_s + 2.0, opts=opts)
    assert texts(out) == texts(u1 + u2)
    after_u1 = asr.backend.contexts[-4:]  # decodes during u2 (3.9 s: three partial) and at its endpoint
    assert [final for final, _ in after_u1] == [False, False, False, True]
    assert all(c == pytest.approx(partial_context_s, abs=0.05) for final, c in after_u1 if not final)
    assert after_u1[-1][1] == pytest.approx(context_s, abs=0.05)


def test_streaming_decode_at_hang_up_has_short_context():
    """The decode at hang-up (the operator waits for the ticket) re-reads at most FINISH_CONTEXT_S of context,
    however much context the other decodes get; nothing is lost."""
    u1 = words(" ".join(str(i) for i in range(80)), start=0.0)  # 24 s of talk
    u2 = words("路灯 坏 了", start=u1[-1].end_s + 1.5)
    speech = [(0.0, u1[-1].end_s), (u2[0].start_s, u2[-1].end_s)]
    out, _, _, asr = _run(u1 + u2, speech, total_s=u2[-1].end_s, opts=StreamingOptions(context_s=25.0))
    assert texts(out) == texts(u1 + u2)
    assert asr.backend.context_s == pytest.approx(FINISH_CONTEXT_S, abs=0.05)


def test_streaming_partial_decodes_use_the_partial_beam():
    u1 = words("你好 我 想 反映 一个 问题 我们 小区 门口 的 路灯 坏 了 很久", start=0.5)
    speech = [(u1[0].start_s, u1[-1].end_s)]
    opts = StreamingOptions(beam_size=4, partial_beam_size=2)
    out, _, _, asr = _run(u1, speech, total_s=u1[-1].end_s + 2.0, opts=opts)
    assert texts(out) == texts(u1)
    assert asr.backend.beams == {(False, 2), (True, 4)}


@pytest.mark.parametrize("context_s", [0.0, 10.0, 20.0])
def test_streaming_context_audio_is_not_emitted_again(context_s):
    """Decodes see up to context_s of earlier (committed) audio; its words must not come back."""
    u1 = words("你好 我 想 反映 问题", start=0.5)
    u2 = words("路灯 坏 了", start=3.5)
    u3 = words("请 尽快 修", start=6.5)
    speech = [(u[0].start_s, u[-1].end_s) for u in (u1, u2, u3)]
    out, _, _, _ = _run(u1 + u2 + u3, speech, total_s=10.0, opts=StreamingOptions(context_s=context_s))
    assert texts(out) == texts(u1 + u2 + u3)


@pytest.mark.parametrize("smear_s", [0.4])
def test_streaming_word_after_endpoint_timed_into_the_pause_is_committed(smear_s):
    """Regression: after an endpoint the next utterance's first word, timed from inside the pause (as Whisper's
    alignment does), was dropped as if it were a re-read of the context ("谢谢那些…" came out as "那些…")."""
    u1 = words("下次 动 点 脑 好 吗", start=0.5)
    start2 = u1[-1].end_s + 1.5
    u2 = [Word(u1[-1].end_s - smear_s, start2 + 0.6, "谢谢")] + words("那 些 不 会 过 季 的 人", start=start2 + 0.6)
    speech = [(0.5, u1[-1].end_s), (start2, u2[-1].end_s)]
    out, endpoints, _, _ = _run(u1 + u2, speech, total_s=u2[-1].end_s + 2.0)
    assert texts(out) == texts(u1 + u2)
    assert endpoints >= 2


@pytest.mark.parametrize("trailing_s,decodes_at_finish", [(0.5, 0), (0.0, 1)])
def test_streaming_finish_decodes_only_speech_not_heard_yet(trailing_s, decodes_at_finish):
    """At hang-up the operator waits for the ticket: when the last decode already heard all the speech (only
    silence after it), its tail is committed without decoding again; speech it did not hear is decoded."""
    u1 = words("你好 我 想 反映 一个 问题 路灯 坏 了", start=0.2)  # 0.2-2.9 s
    total_s = u1[-1].end_s + 0.1 + trailing_s
    audio = np.zeros(int(total_s * SR), np.float32)
    audio[int(0.2 * SR) : int(u1[-1].end_s * SR)] = 0.5
    # decodes every 0.8 s: at 3.2 s the last one has heard the speech and its 0.2 s pad (to 3.1 s) when 0.5 s follow
    asr = OnlineWhisper(None, StreamingOptions(min_step_s=0.8), vad=_energy_vad)
    asr.backend = ScriptBackend(u1, asr)
    out = []
    for p in range(0, len(audio), SR // 10):
        asr.insert_audio_chunk(audio[p : p + SR // 10])
        out += asr.process_iter().committed
    before = asr.backend.calls
    out += asr.finish().committed
    assert texts(out) == texts(u1)
    assert asr.backend.calls - before == decodes_at_finish


@pytest.mark.parametrize("field,value", [("min_step_s", 0), ("endpoint_silence_s", 9), ("beam_size", 0), ("partial_beam_size", 11), ("context_s", 30), ("partial_context_s", -1), ("max_buffer_s", True)])
def test_streaming_options_validated(field, value):
    with pytest.raises(ConfigError, match=f"streaming.{field}"):
        StreamingOptions(**{field: value})


@pytest.mark.parametrize("shape", [(2, 100)])
def test_streaming_rejects_multichannel_chunk(shape):
    asr = OnlineWhisper(None, vad=_energy_vad)
    with pytest.raises(ValueError, match="mono"):
        asr.insert_audio_chunk(np.zeros(shape, np.float32))


def test_streaming_steps_on_whole_samples_not_summed_seconds():
    """Ten 0.1 s chunks are one second: a 1 s step decodes on the tenth chunk. Summing float seconds made them
    0.9999…, so every step waited for an eleventh chunk (decodes every 1.1 s of a replay or capture)."""
    audio = np.full(SR * 3, 0.5, np.float32)
    asr = OnlineWhisper(None, StreamingOptions(min_step_s=1.0), vad=_energy_vad)
    asr.backend = ScriptBackend(words("一 二 三", start=0.2), asr)
    decoded_at = []
    for i, p in enumerate(range(0, len(audio), SR // 10), 1):
        asr.insert_audio_chunk(audio[p : p + SR // 10])
        before = asr.backend.calls
        asr.process_iter()
        if asr.backend.calls > before:
            decoded_at.append(i)
    assert decoded_at == [10, 20, 30]
