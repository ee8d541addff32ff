"""summarize.extractive.v1 and the masking of personal numbers."""

from __future__ import annotations

import pytest

import summarize
from pipeline.base.registry import Registry
from pipeline.ticket import text_transcript
from pipeline.base.types import (
    Evidence,
    LocationField,
    LocationParts,
    Segment,
    TextDoc,
    TicketField,
    Transcript,
)
from summarize.extractive import split_clauses
from pipeline.base.privacy import mask_pii, pii_spans


@pytest.fixture(scope="module")
def stage():
    registry = Registry()
    summarize.register(registry)
    return registry.build("summarize.extractive.v1")


def _doc(text: str) -> TextDoc:
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(() for _ in transcript.segments))  # the summary does not need tokens


@pytest.mark.parametrize(
    "text,summary",
    [
        ("我要投诉楼下饭店油烟太大，每天晚上都熏得不行，希望相关部门管一管。", "来电人反映：楼下饭店油烟太大，每天晚上都熏得不行；诉求：希望相关部门管一管。"),
        ("你好，我家电梯坏了，我妈被困在里面了，快点派人来！", "来电人反映：我家电梯坏了，我妈被困在里面了；诉求：快点派人来。"),
        ("嗯，那个，就是路边一棵树倒了挡住了路。", "来电人反映：路边一棵树倒了挡住了路；诉求：请相关部门核实处理。"),
        ("我想反映一下。\n楼上漏水漏到我家了。\n麻烦你们尽快处理，谢谢。", "来电人反映：楼上漏水漏到我家了；诉求：麻烦你们尽快处理。"),
        ("我们这里停水两天了，希望尽快恢复供水，谢谢。", "来电人反映：我们这里停水两天了；诉求：希望尽快恢复供水。"),
    ],
)
def test_summarize_extractive(stage, text, summary):
    field = stage(_doc(text), {})
    assert field.value == summary


@pytest.mark.parametrize(
    "text,location,summary",
    [
        (
            "小区门口路灯坏了一个星期了，晚上很黑，希望尽快派人来修。",
            "浦东新区 张杨路500号",
            "来电人反映：浦东新区张杨路500号，小区门口路灯坏了一个星期了，晚上很黑；诉求：希望尽快派人来修。",
        ),
    ],
)
def test_summarize_uses_location(stage, text, location, summary):
    fields = {"location": LocationField(location, 0.8, (), (), LocationParts(district="浦东新区"))}
    assert stage(_doc(text), fields).value == summary


@pytest.mark.parametrize("text", ["张杨路500号门口的路灯坏了，希望尽快修。"])
def test_summarize_location_not_repeated(stage, text):
    """When the problem clause already says the place, <where> is not put in front again."""
    doc = _doc(text)
    fields = {"location": LocationField("张杨路500号", 0.8, (Evidence(0, 0, 7, "张杨路500号"),))}
    assert stage(doc, fields).value == "来电人反映：张杨路500号门口的路灯坏了；诉求：希望尽快修。"


@pytest.mark.parametrize(
    "request_type,wanted",
    [(TicketField("咨询", 0.8), "请予以解答"), (TicketField("投诉", 0.8), "请相关部门核实处理"), (None, "请相关部门核实处理")],
)
def test_summarize_default_request(stage, request_type, wanted):
    fields = {"request_type": request_type} if request_type else {}
    value = stage(_doc("社保断缴了会有什么影响？"), fields).value
    assert value == f"来电人反映：社保断缴了会有什么影响；诉求：{wanted}。"


@pytest.mark.parametrize(
    "text,masked",
    [
        ("楼上装修太吵了，我电话13812345678，希望尽快处理。", "138****5678"),
        ("楼上装修太吵了，我身份证310101199001011234，希望尽快处理。", "310***********1234"),
        ("楼上装修太吵了，座机021-62781234，希望尽快处理。", "021-62****34"),
    ],
)
def test_summarize_masks_numbers(stage, text, masked):
    value = stage(_doc(text), {}).value
    assert masked in value
    assert "13812345678" not in value and "62781234" not in value and "199001011234" not in value


@pytest.mark.parametrize(
    "text,digits",
    [
        ("我电话13812345678，路灯坏了，希望尽快修。", "13812345678"),
        ("楼上装修太吵了我电话13812345678，希望尽快处理。", "13812345678"),
        ("楼上装修太吵了，我身份证310101199001011234，希望尽快处理。", "310101199001011234"),
        ("路灯坏了，电话幺三八，一二三四，五六七八，希望尽快修。", "幺三八，一二三四，五六七八"),
        ("座机021-62781234，楼上漏水了，麻烦尽快处理13812345678。", "62781234"),
    ],
)
def test_summarize_evidence_never_shows_masked_numbers(stage, text, digits):
    """Regression: the masked summary shipped beside evidence holding the raw number (summary.evidence[].text)."""
    doc = _doc(text)
    field = stage(doc, {})
    shown = field.value + "".join(ev.text for ev in field.evidence)
    assert digits not in shown and "12345678" not in shown.replace("，", "")
    assert field.evidence
    for ev in field.evidence:
        seg = doc.segments[ev.segment_id].text
        assert seg[ev.start_char : ev.end_char] == ev.text
        assert not any(a < ev.end_char and ev.start_char < b for a, b in pii_spans(seg))


@pytest.mark.parametrize("text", ["楼上装修太吵了我电话13812345678，希望尽快处理。"])
def test_summarize_evidence_whole_clauses_without_masking(text):
    registry = Registry()
    summarize.register(registry)
    field = registry.build("summarize.extractive.v1", {"mask_pii": False})(_doc(text), {})
    assert "13812345678" in field.value and field.evidence[0].text == "楼上装修太吵了我电话13812345678"


@pytest.mark.parametrize("max_chars", [30, 60, 120])
def test_summarize_max_chars(max_chars):
    registry = Registry()
    summarize.register(registry)
    stage = registry.build("summarize.extractive.v1", {"max_chars": max_chars})
    text = "我家楼下的饭店每天晚上油烟特别大，" * 20 + "希望相关部门尽快来检查一下，" * 10
    value = stage(_doc(text), {}).value
    assert len(value) <= max_chars
    assert value.startswith("来电人反映：") and value.endswith("。") and "；诉求：" in value


@pytest.mark.parametrize(
    "transcript",
    [
        pytest.param(Transcript((), 0.0), id="no-segments"),
        pytest.param(text_transcript("Hello, the street light is broken."), id="english"),
        pytest.param(text_transcript("喂，你好。\n谢谢，再见。"), id="greetings-only"),
        pytest.param(Transcript((Segment(0, 0.0, 1.0, ""),), 1.0), id="empty-segment"),
    ],
)
def test_summarize_nothing_to_say(stage, transcript):
    doc = TextDoc(transcript, tuple(() for _ in transcript.segments))
    field = stage(doc, {})
    assert field.value is None and field.evidence == ()


@pytest.mark.parametrize("text", ["你好，我家门口路灯坏了，晚上很黑。\n希望尽快派人来修，谢谢。"])
def test_summarize_evidence_matches_text(stage, text):
    doc = _doc(text)
    field = stage(doc, {})
    assert field.evidence
    for ev in field.evidence:
        assert doc.segments[ev.segment_id].text[ev.start_char : ev.end_char] == ev.text


@pytest.mark.parametrize(
    "text,clauses",
    [
        ("嗯，那个，我家门口路灯坏了。希望尽快修！", ["我家门口路灯坏了", "希望尽快修"]),
        ("我想投诉一下楼下饭店油烟太大", ["楼下饭店油烟太大"]),
        ("", []),
    ],
)
def test_summarize_split_clauses(text, clauses):
    assert [c.text for c in split_clauses(_doc(text))] == clauses


@pytest.mark.parametrize(
    "text,masked",
    [
        ("我电话13812345678", "我电话138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("身份证31010119900101123X", "身份证310***********123X"),
        ("座机62781234", "座机62****34"),
        ("幺三八一二三四五六七八", "幺三八****五六七八"),
        ("张杨路500号1200弄", "张杨路500号1200弄"),
    ],
)
def test_summarize_mask_pii(text, masked):
    assert mask_pii(text) == masked
