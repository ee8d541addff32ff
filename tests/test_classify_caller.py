"""caller.phone.v1 and caller.id.v1, the number finder they share with the masking, and masking in summaries and logs."""

from __future__ import annotations

import logging

import pytest

import classify
import summarize
from pipeline.base.registry import Registry
from pipeline.ticket import text_transcript
from pipeline.base.types import Segment, TextDoc, TicketField, Transcript
from pipeline.base.privacy import id_checksum_ok, mask_pii, mask_pii_aligned, number_kind, personal_numbers

VALID_ID = "310101199001011234"  # check character right
VALID_ID_X = "11010519491231002X"
BAD_CHECK_ID = "310101199001011235"


@pytest.fixture(scope="module")
def registry():
    registry = Registry()
    classify.register(registry)
    summarize.register(registry)
    return registry


def _doc(text: str) -> TextDoc:
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(() for _ in transcript.segments))  # the caller stages need no tokens


@pytest.mark.parametrize(
    "text,value,confidence,evidence",
    [
        ("我电话13812345678。", "13812345678", 0.95, ["13812345678"]),
        ("我手机号是138-1234-5678", "13812345678", 0.95, ["138-1234-5678"]),
        ("号码是+86 138 1234 5678", "13812345678", 0.95, ["+86 138 1234 5678"]),
        ("你打我电话幺三八一二三四五六七八", "13812345678", 0.95, ["幺三八一二三四五六七八"]),
        ("电话是一三九，洞洞一二，三四五六", "13900123456", 0.95, ["一三九，洞洞一二，三四五六"]),
        ("手机138一二三四5678", "13812345678", 0.95, ["138一二三四5678"]),
        ("手机１３８１２３４５６７８", "13812345678", 0.95, ["１３８１２３４５６７８"]),
        ("路灯坏了，13812345678，希望尽快处理", "13812345678", 0.8, ["13812345678"]),
        ("座机021-62781234", "02162781234", 0.75, ["021-62781234"]),
        ("家里电话62781234", "62781234", 0.75, ["62781234"]),
        ("我手机13812345678，不对，是13912345678", "13912345678", 0.95, ["13912345678"]),
        ("我电话13812345678，13812345678，记一下", "13812345678", 0.98, ["13812345678", "13812345678"]),
    ],
)
def test_classify_caller_phone(registry, text, value, confidence, evidence):
    field = registry.build("caller.phone.v1")(_doc(text), {})
    assert (field.value, field.confidence, [e.text for e in field.evidence]) == (value, confidence, evidence)


@pytest.mark.parametrize(
    "text,candidates",
    [
        ("今天是20240101，路灯坏了", (("20240101", 0.3),)),  # a landline shape without a phone cue: a candidate only
        ("我住301室，路灯坏了。", ()),
        ("罚款1,000,000元", ()),
        ("打了12345好几次", ()),
        ("身份证" + VALID_ID, ()),
        ("身份证31010119900101123", ()),  # an ID said one digit short is not a phone number
        ("", ()),
    ],
)
def test_classify_caller_phone_none(registry, text, candidates):
    field = registry.build("caller.phone.v1")(_doc(text), {})
    assert field.value is None and field.evidence == () and field.candidates == candidates


@pytest.mark.parametrize(
    "text,value,confidence",
    [
        ("我身份证号" + VALID_ID, VALID_ID, 0.95),
        ("身份证是" + VALID_ID_X.lower(), VALID_ID_X, 0.95),
        ("证件号码" + VALID_ID[:6] + " " + VALID_ID[6:14] + " " + VALID_ID[14:], VALID_ID, 0.95),
        ("身份证三一零一零一一九九零零一零一一二三四", VALID_ID, 0.95),
        ("身份证一一零一零五一九四九一二三一零零二叉", VALID_ID_X, 0.95),
        ("我的号是" + VALID_ID, VALID_ID, 0.85),
    ],
)
def test_classify_caller_id(registry, text, value, confidence):
    field = registry.build("caller.id.v1")(_doc(text), {})
    assert (field.value, field.confidence) == (value, confidence)
    ev = field.evidence[0]
    assert _doc(text).segments[0].text[ev.start_char : ev.end_char] == ev.text


@pytest.mark.parametrize(
    "text,candidates",
    [
        ("编号" + BAD_CHECK_ID, ((BAD_CHECK_ID, 0.35),)),  # no cue, wrong check character: a candidate only
        ("身份证" + BAD_CHECK_ID, ((BAD_CHECK_ID, 0.55),)),  # regression: a wrong check character was filled in
        ("身份证" + "310101199013011234", ()),  # month 13: not an ID number
        ("我电话13812345678", ()),
        ("今天天气不错", ()),
    ],
)
def test_classify_caller_id_none(registry, text, candidates):
    field = registry.build("caller.id.v1")(_doc(text), {})
    assert field.value is None and field.candidates == candidates


@pytest.mark.parametrize(
    "text,value",
    [
        ("我电话13812345678，邻居电话13987654321", "13812345678"),  # regression: the neighbour's number was taken
        ("邻居电话13987654321，我的电话13812345678", "13812345678"),
        ("我手机13812345678，物业的电话是13987654321，一直打不通", "13812345678"),
        ("物业公司的电话，13987654321，我电话13812345678", "13812345678"),
        ("你们可以联系对方13987654321，我的联系方式是13812345678", "13812345678"),
        ("他手机13987654321", None),
        ("我邻居说打我电话13812345678", "13812345678"),
        ("我投诉楼下邻居，我电话13812345678", "13812345678"),
        ("其他电话13812345678", "13812345678"),
    ],
)
def test_classify_caller_phone_not_someone_elses(registry, text, value):
    field = registry.build("caller.phone.v1")(_doc(text), {})
    assert field.value == value
    assert "13987654321" not in [v for v, _ in field.candidates]


@pytest.mark.parametrize(
    "text,value",
    [
        ("我身份证" + VALID_ID + "，他身份证" + VALID_ID_X, VALID_ID),
        ("身份证" + BAD_CHECK_ID + "，说错了，是" + VALID_ID, VALID_ID),
        ("身份证" + BAD_CHECK_ID + "，" + BAD_CHECK_ID, None),  # said twice, still failing its check: never the value
    ],
)
def test_classify_caller_id_verified_and_own(registry, text, value):
    field = registry.build("caller.id.v1", {"min_confidence": 0.3})(_doc(text), {})
    assert field.value == value
    assert field.value is None or id_checksum_ok(field.value)


@pytest.mark.parametrize("text", ["我电话13812345678，身份证" + VALID_ID])
def test_classify_caller_both_numbers(registry, text):
    doc = _doc(text)
    assert registry.build("caller.phone.v1")(doc, {}).value == "13812345678"
    assert registry.build("caller.id.v1")(doc, {}).value == VALID_ID


@pytest.mark.parametrize("name", ["caller.phone.v1", "caller.id.v1"])
def test_classify_caller_segment_ids(registry, name):
    """Evidence names the segment id, not the position (the builder drops other speakers' segments)."""
    segments = (
        Segment(3, 0.0, 1.0, "路灯坏了", "caller"),
        Segment(7, 1.0, 2.0, "我电话13812345678，身份证" + VALID_ID, "caller"),
    )
    field = registry.build(name)(TextDoc(Transcript(segments, 2.0), ((), ())), {})
    assert field.value is not None and {e.segment_id for e in field.evidence} == {7}


@pytest.mark.parametrize(
    "name,config,match",
    [
        ("caller.phone.v1", {"min_confidence": 1.5}, "min_confidence"),
        ("caller.id.v1", {"context_chars": -1}, "context_chars"),
        ("caller.id.v1", {"context_chars": True}, "context_chars"),
    ],
)
def test_classify_caller_bad_config(registry, name, config, match):
    with pytest.raises(ValueError, match=match):
        registry.build(name, config)


@pytest.mark.parametrize("min_confidence,value", [(0.9, None), (0.5, "13812345678")])
def test_classify_caller_min_confidence(registry, min_confidence, value):
    stage = registry.build("caller.phone.v1", {"min_confidence": min_confidence})
    field = stage(_doc("路灯坏了，13812345678"), {})
    assert field.value == value and field.candidates == (("13812345678", 0.8),)


# --- the shared number finder and the masking --------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits,kind",
    [("13812345678", "mobile"), ("8613812345678", "mobile"), (VALID_ID, "id"), (VALID_ID_X, "id"), ("02162781234", "landline"),
     ("62781234", "landline"), ("12812345678", None), ("310101199013011234", None), ("12345", None)],
)  # fmt: skip
def test_classify_caller_number_kind(digits, kind):
    assert number_kind(digits) == kind


@pytest.mark.parametrize("digits,ok", [(VALID_ID, True), (VALID_ID_X, True), (BAD_CHECK_ID, False), ("123", False)])
def test_classify_caller_id_checksum(digits, ok):
    assert id_checksum_ok(digits) is ok


@pytest.mark.parametrize(
    "text,found",
    [
        ("电话幺三八 一二三四 五六七八，身份证31010119900101123X", [("mobile", "13812345678"), ("id", "31010119900101123X")]),
        ("我住301，13812345678", [("mobile", "13812345678")]),
        ("021 62781234 13812345678", [("landline", "02162781234"), ("mobile", "13812345678")]),
        ("一二三四", []),
    ],
)
def test_classify_caller_personal_numbers(text, found):
    assert [(p.kind, p.digits) for p in personal_numbers(text)] == found


@pytest.mark.parametrize(
    "text,masked",
    [
        ("幺三八 一二三四 五六七八", "幺三八****五六七八"),
        ("幺三八，一二三四，五六七八", "幺三八****五六七八"),
        ("138一二三四5678", "138****5678"),
        ("电话一三八一二三四五六七", "电话一三******六七"),  # a digit short: masked all the same
        ("三一零一零一一九九零零一零一一二三叉", "三一零***********一二三叉"),
        ("罚款1,000,000元", "罚款1,000,000元"),
        ("2024年5月1日", "2024年5月1日"),
    ],
)
def test_classify_caller_mask_spoken_and_split(text, masked):
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text,aligned",
    [
        ("电话138-1234-5678。", "电话138-****-5678。"),
        ("+86 138 1234 5678", "+86 138 **** 5678"),
        ("座机021-62781234，身份证" + VALID_ID, "座机021-62****34，身份证310***********1234"),
    ],
)
def test_classify_caller_mask_aligned_keeps_positions(text, aligned):
    assert mask_pii_aligned(text) == aligned and len(aligned) == len(text)


@pytest.mark.parametrize(
    "text,hidden",
    [
        ("楼上装修太吵了，我电话幺三八，一二三四，五六七八，希望尽快处理。", ["一二三四"]),
        ("楼上装修太吵了，电话138，1234，5678，希望尽快处理。", ["1234"]),
        ("楼上装修太吵了，我电话13812345678，身份证" + VALID_ID + "，希望尽快处理。", ["13812345678", VALID_ID, "19900101"]),
    ],
)
def test_classify_caller_summary_masks_numbers_split_over_clauses(registry, text, hidden):
    """A number said over several clauses is masked as one number in the summary, even when only some clauses are used."""
    value = registry.build("summarize.extractive.v1")(_doc(text), {}).value
    assert value is not None
    for part in hidden:
        assert part not in value, value


@pytest.mark.parametrize("text", ["我电话13812345678，身份证" + VALID_ID + "，家里路灯坏了，希望尽快修。"])
def test_classify_caller_stages_log_no_number(registry, caplog, text):
    with caplog.at_level(logging.DEBUG):
        doc = _doc(text)
        fields: dict[str, TicketField] = {}
        stages = (("caller_phone", "caller.phone.v1"), ("caller_id", "caller.id.v1"), ("summary", "summarize.extractive.v1"))
        for field_name, name in stages:
            fields[field_name] = registry.build(name)(doc, fields)
    assert fields["caller_phone"].value == "13812345678" and fields["caller_id"].value == VALID_ID
    assert "13812345678" not in caplog.text and VALID_ID not in caplog.text
