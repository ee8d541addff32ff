"""summarize.structured.v1 (the default summary) and its speech helpers in summarize.spoken."""

from __future__ import annotations

import re

import pytest

import summarize
from pipeline.base.config import DEFAULT_STAGES
from pipeline.base.errors import ConfigError
from pipeline.base.numerals import cn_to_int
from pipeline.base.privacy import pii_spans
from pipeline.base.registry import Registry
from pipeline.base.types import Evidence, LocationField, TextDoc, TicketField
from pipeline.ticket import text_transcript
from summarize.spoken import CONFUSIONS, REGISTER, correct_terms, digits, keep_tokens, written
from summarize.structured import FRAMES

pytest.importorskip("jieba")

from pipeline.base.segmenter import shared_segmenter  # noqa: E402

DEFAULTS = {"what_chars": 34, "request_chars": 12, "default_request": "核实处理", "frame_by_type": True,
            "correct_asr": True, "mask_pii": True}  # fmt: skip


def _registry() -> Registry:
    registry = Registry()
    summarize.register(registry)
    return registry


@pytest.fixture(scope="module")
def stage():
    return _registry().build("summarize.structured.v1")


def _doc(text: str, tokens: bool = True) -> TextDoc:
    transcript = text_transcript(text)
    seg = shared_segmenter()
    return TextDoc(transcript, tuple(seg.tokenize(s) if tokens else () for s in transcript.segments))


CONSULT, SUGGEST = TicketField("咨询", 0.9), TicketField("建议", 0.9)


@pytest.mark.parametrize("name", ["summarize.structured.v1"])
def test_summarize_structured_is_the_default(name):
    assert DEFAULT_STAGES["summary"] == name
    assert dict(_registry().get(name).default_config) == DEFAULTS


@pytest.mark.parametrize(
    "text,fields,summary",
    [
        ("喂，你好，我想反映一下，我们楼下那个饭店啊油烟太大了，每天晚上都熏得不行，希望你们赶紧管一管，谢谢。", {},
         "来电人反映：楼下饭店油烟太大，每天晚上熏得不行，诉求：尽快处理。"),
        ("嗯，那个，我们小区九栋八零二在搞群租，隔了好多间，希望相关部门查一下。", {},
         "来电人反映：小区9栋802在群租，隔间，诉求：调查处理。"),
        ("路边一棵树倒了，挡住了路。", {}, "来电人反映：路边一棵树倒，挡住路，诉求：核实处理。"),
        ("请问一下办理居住证需要什么材料？", {"request_type": CONSULT}, "来电人咨询：办理居住证需要什么材料。"),
        ("我建议在路口装个红绿灯。", {"request_type": SUGGEST}, "来电人建议：在路口装个红绿灯。"),
        ("小区门口路灯坏了，到现在都没有人来修，希望尽快修。", {}, "来电人反映：小区门口路灯坏，至今无人来修，诉求：尽快修。"),
    ],
)  # fmt: skip
def test_summarize_structured_golden(stage, text, fields, summary):
    assert stage(_doc(text), fields).value == summary
    assert stage(_doc(text, tokens=False), fields).value == summary  # without the doc's tokens: the shared segmenter


@pytest.mark.parametrize(
    "text,summary",
    [
        ("我们小区门口一直没有公交站，出行很不方便，希望在小区门口设一个公交站。也希望领导考虑一下我们老百姓。",
         "来电人反映：小区门口无公交站，出行不方便，诉求：在小区门口设一个公交站。"),
        ("楼下的垃圾站天天发臭，希望把垃圾站搬走。也请领导给我们做主。", "来电人反映：楼下垃圾站天天发臭，诉求：把垃圾站搬走。"),
        ("楼下的垃圾站天天发臭，请领导给我们做主。", "来电人反映：楼下垃圾站天天发臭，诉求：做主。"),  # the only one said
        # 考虑 or 研究 with an action is concrete: the last request stays
        ("路口的红绿灯坏了，希望尽快修好。另外希望考虑在路口加装一个摄像头。", "来电人反映：路口红绿灯坏，诉求：考虑在路口加装一个摄像头。"),
        ("小区停车太乱了，希望相关部门研究出台停车管理办法。也希望领导重视一下。", "来电人反映：小区停车太乱，诉求：研究出台停车管理办法。"),
    ],
)  # fmt: skip
def test_summarize_structured_prefers_a_concrete_request_to_a_later_vague_one(stage, text, summary):
    assert stage(_doc(text), {}).value == summary


@pytest.mark.parametrize(
    "text,location,summary",
    [
        ("小区门口路灯坏了，希望尽快修。", LocationField("浦东新区 张杨路500号", 0.8, ()),
         "来电人反映：小区门口路灯坏，诉求：尽快修。"),  # not said: no place is added
        ("张杨路五百号，小区门口路灯坏了，希望尽快修。", LocationField("张杨路500号", 0.8, (Evidence(0, 0, 6, "张杨路五百号"),)),
         "来电人反映：张杨路500号，小区门口路灯坏，诉求：尽快修。"),
        ("小区门口路灯坏了，在张杨路，希望尽快修。", LocationField("张杨路", 0.8, (Evidence(0, 10, 13, "张杨路"),)),
         "来电人反映：小区门口路灯坏，在张杨路，诉求：尽快修。"),  # said in <what>: not put in front again
    ],
)  # fmt: skip
def test_summarize_structured_where_is_the_callers_words(stage, text, location, summary):
    assert stage(_doc(text), {"location": location}).value == summary


@pytest.mark.parametrize(
    "text,request_type,summary",
    [
        ("我想问一下，公积金提取要带什么材料啊？", None, "来电人反映：公积金提取要带什么材料，诉求：核实处理。"),
        ("我建议在路口装个红绿灯。", SUGGEST, "来电人反映：相关问题，诉求：在路口装个红绿灯。"),
    ],
)
def test_summarize_structured_frame_by_type_off(text, request_type, summary):
    stage = _registry().build("summarize.structured.v1", {"frame_by_type": False})
    fields = {"request_type": request_type} if request_type else {}
    assert stage(_doc(text), fields).value == summary


@pytest.mark.parametrize(
    "text,confidence",
    [("路边一棵树倒了，挡住了路。", 0.6), ("路边一棵树倒了，挡住了路，麻烦你们尽快处理。", 0.9)],
)
def test_summarize_structured_confidence_says_whether_the_request_was_said(stage, text, confidence):
    assert stage(_doc(text), {}).confidence == confidence


@pytest.mark.parametrize("default", ["请相关部门核实处理"])
def test_summarize_structured_default_request_option(default):
    stage = _registry().build("summarize.structured.v1", {"default_request": default})
    assert stage(_doc("路边一棵树倒了。"), {}).value == f"来电人反映：路边一棵树倒，诉求：{default}。"


@pytest.mark.parametrize(
    "text,summary",
    [
        ("我们这里下雨就几水，路上几水很深，麻烦你们派人来处理一下。", "来电人反映：下雨积水，路上积水深，诉求：派人来处理。"),
        ("我家这几水管坏了，麻烦你们派人来修。", "来电人反映：我家几水管坏，诉求：派人来修。"),  # 这/几/水管: not sure
    ],
)  # fmt: skip
def test_summarize_structured_corrects_only_sure_errors(stage, text, summary):
    assert stage(_doc(text), {}).value == summary


@pytest.mark.parametrize("text", ["我们这里下雨就几水，麻烦你们派人来处理一下。"])
def test_summarize_structured_correct_asr_off_keeps_the_callers_words(text):
    stage = _registry().build("summarize.structured.v1", {"correct_asr": False})
    assert "几水" in stage(_doc(text), {}).value


@pytest.mark.parametrize(
    "text,cuts,protected,corrected",
    [
        ("下雨就几水", [0, 2, 3, 5], [], "下雨就积水"),
        ("这几水管", [0, 1, 2, 4], [], "这几水管"),  # 几水 would end inside 水管
        ("几水村积水", [0, 3, 5], [(0, 3)], "几水村积水"),  # a place the location stage found
        ("楼道早音大", [0, 2, 4, 5], [], "楼道噪音大"),
    ],
)
def test_summarize_spoken_correct_terms(text, cuts, protected, corrected):
    assert correct_terms(text, cuts, protected)[0] == corrected


@pytest.mark.parametrize("term,heard", [(t, h) for t, forms in CONFUSIONS.items() for h in forms])
def test_summarize_spoken_confusions_are_not_words(term, heard):
    """A heard form must not be a word of its own in jieba's dictionary (else replacing it would not be sure: 燥音 is
    one) and has the term's length."""
    jieba = pytest.importorskip("jieba")
    assert len(heard) == len(term) and heard != term
    assert not jieba.get_FREQ(heard)


@pytest.mark.parametrize(
    "said,written_as",
    [
        ("九栋八零二", "9栋802"), ("一个星期", "一个星期"), ("三年前", "三年前"), ("十八万五", "十八万五"), ("十八万", "18万"),
        ("两千四", "2400"), ("七十米", "70米"), ("一下", "一下"), ("万一", "万一"), ("二零一九年九月二十三号", "2019年9月23号"),
        ("幺三八****五六七八", "幺三八****五六七八"), ("零二户型", "02户型"), ("五月", "5月"),
    ],
)  # fmt: skip
def test_summarize_spoken_digits(said, written_as):
    assert digits(said) == written_as


@pytest.mark.parametrize(
    "words,out",
    [(["到", "现在", "没有", "人", "管"], ["至今", "无", "人", "管"]), (["跟", "物业", "讲"], ["与", "物业", "讲"])],
)
def test_summarize_spoken_written(words, out):
    assert written(words) == out


@pytest.mark.parametrize(
    "tokens,protected,kept",
    [
        ([("喂", 0, 1), ("那个", 1, 3), ("路灯", 3, 5), ("坏", 5, 6), ("了", 6, 7)], [], ["路灯", "坏"]),
        ([("好", 0, 1), ("地方", 1, 3)], [(0, 3)], ["好", "地方"]),  # inside a place: kept
        ([("没", 0, 1), ("人", 1, 2), ("管", 2, 3), ("，", 3, 4)], [], ["没", "人", "管"]),
    ],
)
def test_summarize_spoken_keep_tokens(tokens, protected, kept):
    assert [w for w, _, _ in keep_tokens(tokens, protected)] == kept


@pytest.mark.parametrize(
    "text,masked,raw",
    [
        ("楼上装修太吵了，我电话13812345678，希望尽快处理。", "138****5678", "13812345678"),
        ("楼上装修太吵了，我身份证310101199001011234，希望尽快处理。", "310***********1234", "199001011234"),
        ("路灯坏了，电话幺三八，一二三四，五六七八，希望尽快修。", None, "一二三四"),
    ],
)  # fmt: skip
def test_summarize_structured_masks_numbers(text, masked, raw):
    # every clause is used (position rule, a large budget), so the number's clause is in the summary
    stage = build_structured_summary(what_chars=60, selector="position")
    doc = _doc(text)
    field = stage(doc, {})
    shown = field.value + "".join(ev.text for ev in field.evidence)
    assert raw not in shown
    if masked:
        assert masked in field.value
    for ev in field.evidence:
        seg = doc.segments[ev.segment_id].text
        assert seg[ev.start_char : ev.end_char] == ev.text
        assert not any(a < ev.end_char and ev.start_char < b for a, b in pii_spans(seg))


@pytest.mark.parametrize("text", ["", "那个，你好。谢谢。", "Hello, my street light is broken.", "12345 !!!"])
def test_summarize_structured_nothing_to_summarise(stage, text):
    assert stage(_doc(text), {}).value is None


@pytest.mark.parametrize(
    "config,field",
    [({"what_chars": 5}, "what_chars"), ({"request_chars": 2}, "request_chars"), ({"what_chars": True}, "what_chars")],
)
def test_summarize_structured_bad_config(config, field):
    with pytest.raises(ConfigError, match=f"summarize.structured.v1.{field}"):
        _registry().build("summarize.structured.v1", config)


@pytest.mark.parametrize("default", ["", "  "])
def test_summarize_structured_bad_default_request(default):
    with pytest.raises(ValueError, match="default_request"):
        _registry().build("summarize.structured.v1", {"default_request": default})


# --- faithfulness, on generated calls --------------------------------------------------------------------------
_POOL = [
    "喂", "你好", "那个", "就是", "我们小区", "九栋", "八零二", "三年前", "二十六", "两千四", "七十米", "十八万", "一九年",
    "九月二十三号", "路灯坏了", "几水", "这几水管", "噪音太大", "希望", "尽快处理", "麻烦你们", "查一下", "张杨路", "500号",
    "电话13812345678", "幺三八一二三四五六七八", "没有人管", "到现在", "跟物业讲", "，", "。", "？", "啊", "一个", "请问",
]  # fmt: skip
_NUMERAL = re.compile(r"[0-9零〇一二两三四五六七八九十百千万幺]+")


def _said_values(text: str) -> set[int]:
    values = set()
    for m in _NUMERAL.finditer(text):
        run = m.group()
        for a in range(len(run)):
            for b in range(a + 1, len(run) + 1):
                value = cn_to_int(run[a:b])
                if value is not None:
                    values.add(value)
    return values


def _allowed_chars(text: str) -> set[str]:
    extra = "".join(FRAMES.values()) + "来电人反映诉求相关问题核实处理" + "".join(REGISTER.values()) + "".join(CONFUSIONS)
    extra += "尽快调查处理实地查看答复协助解决做主督促"  # the operator's words for a request (structured._PLAIN)
    return set(text) | set(extra) | set("0123456789*：，。")


@pytest.mark.parametrize("seed", range(3))
def test_summarize_structured_says_only_what_was_said(stage, seed):
    """Property on generated calls: every number in the summary is a number the caller said (digits or Chinese),
    and every character is the caller's or the frame's (no place, party or number is made up)."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @hypothesis.given(st.lists(st.sampled_from(_POOL), min_size=1, max_size=25), st.sampled_from([None, "咨询", "建议", "投诉"]))
    def check(pieces, kind):
        text = "".join(pieces) + "".join(_POOL[seed : seed + 1])
        fields = {"request_type": TicketField(kind, 0.9)} if kind else {}
        value = stage(_doc(text), fields).value
        if value is None:
            return
        said = _said_values(text)
        for m in re.finditer(r"(?<![\d*])\d+(?![\d*])", value):
            assert int(m.group()) in said, (text, value)
        assert set(value) <= _allowed_chars(text), (text, value, set(value) - _allowed_chars(text))

    check()


@pytest.mark.parametrize(
    "summary,transcript,missing",
    [
        ("来电人反映：A1区鑫苑楼盘质量差，诉求：处理。", "我要投诉A1区那个鑫苑的楼盘", []),
        ("来电人反映：浦东新区金桥镇油烟机炸了，诉求：处理。", "我在金桥店买的油烟机炸了", ["浦东新区", "金桥镇"]),
        ("来电人反映：小区9栋802群租，诉求：查处。", "我们小区九栋八零二在搞群租", []),
        ("来电人反映：小区9栋803群租，诉求：查处。", "我们小区九栋八零二在搞群租", ["⟨803⟩"]),
    ],
)  # fmt: skip
def test_summarize_bench_faithfulness_checker(summary, transcript, missing):
    from summarize.faithful import unsupported_facts

    assert unsupported_facts(summary, transcript) == missing


# --- the learned clause selector (summarize.selector, trained by summarize/train.py) ---

import hashlib  # noqa: E402
import json  # noqa: E402
from importlib import resources  # noqa: E402

import numpy as np  # noqa: E402

from summarize.selector import (  # noqa: E402
    FEATURES, LEXICAL_BUCKETS, MODEL_FILE, Candidate, Selector, load_selector, model_sha256, read_selector,
)
from summarize.structured import build_structured_summary  # noqa: E402


def _shipped(name: str):
    return resources.files("summarize") / "data" / name


def test_selector_shipped_weights_are_what_the_training_wrote():
    card = json.loads(_shipped(MODEL_FILE.replace(".npz", ".json")).read_text(encoding="utf-8"))
    data = _shipped(MODEL_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"] == model_sha256()
    assert len(data) < 200_000  # a small numbers-only file
    sel = load_selector()
    assert sel.features == FEATURES and card["features"] == len(FEATURES)
    assert sel.weights.shape == sel.mean.shape == sel.scale.shape == (len(FEATURES),)
    assert sel.lexical is not None and sel.lexical.shape == (LEXICAL_BUCKETS,) == (card["lexical_buckets"],)
    assert np.isfinite(sel.weights).all() and np.isfinite(sel.lexical).all()
    assert (sel.threshold, sel.what_chars) == (card["threshold"], card["what_chars"])
    assert (sel.drop_below, len(sel.dropped)) == (card["drop_below"], card["dropped_words"])
    assert card["cv"]["rouge_l"] == max(card["cv_by_drop_below"].values())  # the shipped drop_below is the best by CV
    assert "一直" in sel.dropped and not {"材料", "下雨", "去年", "需要"} & set(sel.dropped)  # function words only
    assert sel.what_chars == DEFAULTS["what_chars"]  # the stage's default budget is the one the selector was tuned with
    with np.load(str(_shipped(MODEL_FILE)), allow_pickle=False) as z:  # numbers and the feature names only
        assert {z[k].dtype.kind for k in z.files} <= {"f", "i", "U"}


def _cand(text: str, sentence: int) -> Candidate:
    return Candidate(text, text, sentence, True, False, False, "content")


def test_selector_prefers_a_problem_clause_over_a_greeting():
    sel = load_selector()
    greeting, problem = _cand("打扰你一下跟你说个事", 0), _cand("小区门口路灯坏了好几天", 1)
    scores = sel.scores(sel.features_of([greeting, problem], False))
    assert scores[1] > scores[0]
    # with room for one clause, the problem is the one kept, even said second
    assert sel.choose([greeting.text, problem.text], list(scores), 12) == [1]


def test_selector_choose_keeps_the_callers_order_and_skips_repeats():
    sel = Selector(np.zeros(len(FEATURES)), 0.0, np.zeros(len(FEATURES)), np.ones(len(FEATURES)), threshold=0.0)
    texts = ["路灯坏", "楼下路灯坏", "没人修", "很危险"]
    assert sel.choose(texts, [1.0, 2.0, 0.5, -1.0], 20) == [1, 2]  # 路灯坏 is inside 楼下路灯坏; 很危险 below 0
    assert sel.choose(texts, [-3.0, -2.0, -4.0, -5.0], 20) == [1]  # the best is always kept
    assert sel.choose(["一二三四五六七八九十"], [0.0], 5) == [0]  # alone and too long: kept (cut later)


def test_selector_file_round_trip_and_feature_check(tmp_path):
    sel = load_selector()
    path = sel.save(tmp_path / "sel.npz")
    again = read_selector(path)
    assert np.array_equal(again.weights, sel.weights) and again.threshold == sel.threshold
    assert again.what_chars == sel.what_chars and np.array_equal(again.lexical, sel.lexical)
    assert again.dropped == sel.dropped and again.drop_below == sel.drop_below
    with pytest.raises(ValueError):
        Selector(np.zeros(3), 0.0, np.zeros(3), np.ones(3), 0.0)


@pytest.mark.parametrize(
    "text,selector,summary",
    [
        ("你好，我们家是去年搬过来的，小区里面的垃圾好几天没人清理了，臭得不行，麻烦你们处理一下。", "learned",
         "来电人反映：小区垃圾几天无人清理，诉求：处理。"),
        ("你好，我们家是去年搬过来的，小区里面的垃圾好几天没人清理了，臭得不行，麻烦你们处理一下。", "position",
         "来电人反映：去年搬过来，臭得不行，诉求：处理。"),  # the earliest clauses that fit
    ],
)  # fmt: skip
def test_summarize_structured_learned_selector_picks_the_matter(text, selector, summary):
    stage = build_structured_summary(what_chars=12, selector=selector)
    assert stage(_doc(text), {}).value == summary


def test_summarize_structured_selector_option_is_checked():
    with pytest.raises(ValueError):
        build_structured_summary(selector="best")


def test_summarize_train_labels_and_rouge():
    train = pytest.importorskip("summarize.train")
    assert train.rouge_l("来电人反映：路灯坏了，诉求：处理。", "来电人反映：路灯坏了，诉求：处理。") == 1.0
    assert train.rouge_l("来电人反映：甲乙", "来电人反映：丙丁") == 0.0
    y = train.oracle_labels(["我是老王", "楼下路灯坏了", "晚上很黑"], "来电人反映：楼下路灯坏了，晚上很黑，诉求：尽快修复。")
    assert y.tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "words,drop,kept",
    [
        (["小区", "现在", "路灯", "坏"], {"现在"}, ["小区", "路灯", "坏"]),
        (["到", "现在", "无人", "修"], {"现在"}, ["到", "现在", "无人", "修"]),  # 到现在 is written 至今, not cut to 到
        (["业主", "跟", "物业"], {"跟"}, ["业主", "跟", "物业"]),  # 跟 is written 与
        (["路灯", "没有", "修"], {"没有"}, ["路灯", "没有", "修"]),  # a negation never goes
        (["等", "了", "3", "天"], {"3", "等"}, ["3", "天"]),  # a number never goes; 了 is a filler
        (["一直", "坏", "一年"], {"一直", "一年"}, ["坏", "一年"]),  # 一 before a unit is a number
        (["张杨路", "一直", "堵"], {"张杨路", "一直"}, ["张杨路", "堵"]),  # a place (protected span) never goes
    ],
)
def test_summarize_spoken_keep_tokens_drops_listed_words(words, drop, kept):
    tokens, pos = [], 0
    for w in words:
        tokens.append((w, pos, pos + len(w)))
        pos += len(w)
    protected = [(0, 3)] if words[0] == "张杨路" else []
    assert [w for w, _, _ in keep_tokens(tokens, protected, frozenset(drop))] == kept


def test_summarize_structured_drop_words_come_from_the_selector():
    text = "我们小区门口的路灯现在一直都是坏的，晚上很黑。"
    plain = Selector(**{**_fields_of(load_selector()), "dropped": ()})
    dropping = Selector(**{**_fields_of(load_selector()), "dropped": ("一直",)})
    a = build_structured_summary(selector_model=plain)(_doc(text), {}).value
    b = build_structured_summary(selector_model=dropping)(_doc(text), {}).value
    assert "一直" in a and b == a.replace("一直", "")


def _fields_of(sel: Selector) -> dict:
    import dataclasses

    return {f.name: getattr(sel, f.name) for f in dataclasses.fields(sel)}
