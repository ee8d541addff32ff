"""urgency.rules.v2 (priority and time limit from priority_table.csv) and request_type.rules.v2 (problem statements)."""

from __future__ import annotations

import pytest

from classify.urgency import load_priority_table
from pipeline.base.config import DEFAULT_STAGES, TicketOptions
from pipeline.output import ticket_to_dict
from pipeline.ticket import TicketBuilder, text_transcript
from pipeline.base.types import TextDoc, TicketField, UrgencyField

pytest.importorskip("jieba")


def _doc(segmenter, text):
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))


@pytest.mark.parametrize(
    "urgency,request_type,priority,hours",
    [
        ("紧急", "求助", "P1", 2.0),
        ("紧急", "咨询", "P1", 2.0),
        ("紧急", None, "P1", 2.0),
        ("加急", "投诉", "P2", 24.0),
        ("一般", "投诉", "P3", 120.0),
        ("一般", "举报", "P3", 120.0),
        ("一般", "求助", "P3", 120.0),
        ("一般", "建议", "P4", 360.0),
        ("一般", "表扬", "P4", 120.0),
        ("一般", "咨询", "P4", 24.0),
        ("一般", None, "P3", 120.0),
    ],
)
def test_classify_priority_table_shipped(urgency, request_type, priority, hours):
    row = load_priority_table().lookup(urgency, request_type)
    assert (row.priority, row.time_limit_hours) == (priority, hours)


@pytest.mark.parametrize(
    "text,request_type,value,evidence,confidence,priority,hours",
    [
        ("闻到很浓的煤气味。", "求助", "紧急", ["煤气味"], 0.75, "P1", 2.0),
        ("厨房着火了，有人受伤了！", None, "紧急", ["着火", "有人受伤"], 0.85, "P1", 2.0),
        ("电梯坏了，我妈被困在里面了。", "求助", "紧急", ["被困"], 0.75, "P1", 2.0),
        ("马路上水管爆裂了。", None, "紧急", ["水管爆裂"], 0.75, "P1", 2.0),
        ("小区停电了。", "求助", "加急", ["停电"], 0.65, "P2", 24.0),
        ("路灯坏了。", "求助", "一般", [], 0.5, "P3", 120.0),
        ("楼上装修太吵了。", "投诉", "一般", [], 0.5, "P3", 120.0),
        ("我建议增设一个公交站。", "建议", "一般", [], 0.5, "P4", 360.0),
        ("请问社保怎么交费？", "咨询", "一般", [], 0.5, "P4", 24.0),
        ("没有燃气泄漏，就是想问一下燃气费。", "咨询", "一般", [], 0.5, "P4", 24.0),
    ],
)
def test_classify_urgency_v2(segmenter, registry, text, request_type, value, evidence, confidence, priority, hours):
    fields = {"request_type": TicketField(request_type, 0.6) if request_type else TicketField.unknown()}
    field = registry.build("urgency.rules.v2")(_doc(segmenter, text), fields)
    assert isinstance(field, UrgencyField)
    assert (field.value, [e.text for e in field.evidence], field.confidence) == (value, evidence, confidence)
    assert (field.priority, field.time_limit_hours) == (priority, hours)


@pytest.mark.parametrize("text", ["闻到很浓的煤气味。", "小区停电了。", "路灯坏了。"])
def test_classify_urgency_v2_agrees_with_v1(segmenter, registry, text):
    doc = _doc(segmenter, text)
    v1 = registry.build("urgency.rules.v1")(doc, {})
    v2 = registry.build("urgency.rules.v2")(doc, {})
    assert (v2.value, v2.confidence, v2.evidence) == (v1.value, v1.confidence, v1.evidence)


@pytest.mark.parametrize("text", ["", "Hello, the street light is broken.", "12345 !!!"])
def test_classify_urgency_v2_unknown(segmenter, registry, text):
    field = registry.build("urgency.rules.v2")(_doc(segmenter, text), {})
    assert isinstance(field, UrgencyField)
    assert (field.value, field.priority, field.time_limit_hours) == (None, None, None)


HEADER = "urgency,request_type,priority,time_limit_hours\n"
CITY_TABLE = HEADER + "紧急,*,A,0.5\n加急,*,B,12\n一般,*,C,72\n"


@pytest.mark.parametrize(
    "rows,text,request_type,priority,hours",
    [
        ("urgency,request_type,priority,time_limit_hours\n紧急,*,A,0.5\n加急,*,B,12\n一般,*,C,72\n一般,咨询,D,1\n",
         "请问社保怎么交费？", "咨询", "D", 1.0),
        (CITY_TABLE, "路灯坏了。", "求助", "C", 72.0),
        (CITY_TABLE, "闻到煤气味。", "求助", "A", 0.5),
    ],
)  # fmt: skip
def test_classify_priority_table_is_configurable(tmp_path, segmenter, registry, rows, text, request_type, priority, hours):
    table = tmp_path / "city.csv"
    table.write_text(rows, encoding="utf-8")
    stage = registry.build("urgency.rules.v2", {"table": str(table)})
    field = stage(_doc(segmenter, text), {"request_type": TicketField(request_type, 0.7)})
    assert (field.priority, field.time_limit_hours) == (priority, hours)


@pytest.mark.parametrize(
    "rows,match",
    [
        ("urgency,request_type,priority,time_limit_hours\n很急,*,P1,2\n", r"unknown urgency '很急' in '.*bad\.csv' at line 2"),
        (HEADER + "紧急,求救,P1,2\n", r"unknown request_type '求救' in '.*bad\.csv' at line 2"),
        ("urgency,request_type,priority,time_limit_hours\n紧急,*,P1,两小时\n", r"invalid time_limit_hours '两小时' .*line 2"),
        ("urgency,request_type,priority,time_limit_hours\n紧急,*,P1,0\n", r"invalid time_limit_hours '0'"),
        ("urgency,request_type,priority,time_limit_hours\n紧急,*,P1,nan\n", r"invalid time_limit_hours 'nan'"),
        ("urgency,request_type,priority,time_limit_hours\n紧急,*,,2\n", r"empty priority in '.*bad\.csv' at line 2"),
        ("urgency,request_type,priority,time_limit_hours\n紧急,*,P1,2\n紧急,*,P2,3\n", r"repeated row for \(紧急, \*\) .*line 3"),
        (HEADER + "紧急,*,P1,2\n加急,*,P2,24\n一般,咨询,P4,24\n", r"no \* row for urgency 一般"),
        ("urgency,request_type,priority\n紧急,*,P1\n", r"lacks column\(s\) time_limit_hours"),
    ],
)
def test_classify_bad_priority_table(tmp_path, registry, rows, match):
    table = tmp_path / "bad.csv"
    table.write_text(rows, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        registry.build("urgency.rules.v2", {"table": str(table)})


@pytest.mark.parametrize("path", ["/nonexistent/priority.csv"])
def test_classify_priority_table_missing_names_file(registry, path):
    with pytest.raises(OSError, match="nonexistent/priority.csv"):
        registry.build("urgency.rules.v2", {"table": path})


@pytest.mark.parametrize("config,match", [({"default_confidence": 2}, "default_confidence"), ({"table": 42}, "path")])
def test_classify_urgency_v2_bad_config(registry, config, match):
    with pytest.raises((ValueError, TypeError), match=match):
        registry.build("urgency.rules.v2", config)


@pytest.mark.parametrize(
    "text,value,evidence,confidence",
    [
        # v1 finds a type: v2 says the same
        ("我要投诉楼下饭店油烟太大，希望相关部门管一管。", "投诉", ["投诉"], None),
        ("请问一下办理居住证需要什么材料？", "咨询", ["请问", "需要什么材料"], None),
        ("电梯坏了，我妈被困在里面了，快点派人来！", "求助", ["被困", "派人来"], None),
        # no stated type: the problem decides, at the fallback confidence
        ("我家门口路灯坏了。", "求助", ["坏了"], 0.4),
        ("楼上漏水漏到我家了。", "求助", ["漏水"], 0.4),
        ("闻到很浓的煤气味，好像燃气泄漏了。", "求助", ["煤气味", "燃气泄漏"], 0.4),
        ("小区停电了。", "求助", ["停电"], 0.4),
        ("楼上装修噪音很大，物业也不管。", "投诉", ["也不管"], None),  # v1 cue (没人|也不)管
        ("晚上十一点还在施工。", "投诉", ["晚上十一点还在施工"], 0.4),
        ("门口乱停车，车都开不出去。", "投诉", ["乱停"], 0.4),
        # nothing to go on
        ("今天天气不错。", None, [], 0.0),
        ("路灯没坏。", None, [], 0.0),
    ],
)
def test_classify_request_type_v2(segmenter, registry, text, value, evidence, confidence):
    doc = _doc(segmenter, text)
    field = registry.build("request_type.rules.v2")(doc, {})
    assert field.value == value
    assert [e.text for e in field.evidence] == evidence
    v1 = registry.build("request_type.rules.v1")(doc, {})
    if v1.value is not None:
        assert field == v1
    elif confidence is not None:
        assert field.confidence == confidence


@pytest.mark.parametrize("text,candidates", [("路灯坏了，楼上噪音。", (("求助", 0.5), ("投诉", 0.5)))])
def test_classify_request_type_v2_split_vote_is_unknown(segmenter, registry, text, candidates):
    """A fault and a nuisance in equal measure: no type, both candidates kept."""
    field = registry.build("request_type.rules.v2")(_doc(segmenter, text), {})
    assert field.value is None and field.candidates == candidates


@pytest.mark.parametrize("fallback_confidence,value", [(0.25, None), (0.6, "求助")])
def test_classify_request_type_v2_fallback_confidence(segmenter, registry, fallback_confidence, value):
    stage = registry.build("request_type.rules.v2", {"fallback_confidence": fallback_confidence})
    assert stage(_doc(segmenter, "我家门口路灯坏了。"), {}).value == value


@pytest.mark.parametrize(
    "rows,match",
    [
        ("type,pattern,weight,tier\n求助,坏了,0.5,maybe\n", r"unknown tier 'maybe' in '.*cues\.csv' at line 2"),
        ("type,pattern,weight,tier\n求救,坏了,0.5,fallback\n", r"unknown request type '求救'"),
    ],
)
def test_classify_request_type_v2_bad_cue_table(tmp_path, registry, rows, match):
    table = tmp_path / "cues.csv"
    table.write_text(rows, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        registry.build("request_type.rules.v2", {"cues": str(table)})


@pytest.mark.parametrize("rows", ["type,pattern,weight\n投诉,投诉,1.0\n"])
def test_classify_request_type_v2_table_without_tier(tmp_path, segmenter, registry, rows):
    """A v1 table (no tier column) works with v2: every cue is primary, there are no fallback cues."""
    table = tmp_path / "cues.csv"
    table.write_text(rows, encoding="utf-8")
    stage = registry.build("request_type.rules.v2", {"cues": str(table)})
    assert stage(_doc(segmenter, "我要投诉"), {}).value == "投诉"
    assert stage(_doc(segmenter, "路灯坏了"), {}).value is None


@pytest.mark.parametrize(
    "config,match", [({"fallback_confidence": 1.5}, "fallback_confidence"), ({"min_confidence": -1}, "min_confidence")]
)
def test_classify_request_type_v2_bad_config(registry, config, match):
    with pytest.raises(ValueError, match=match):
        registry.build("request_type.rules.v2", config)


V2_STAGES = dict(DEFAULT_STAGES, request_type="request_type.rules.v2", urgency="urgency.rules.v2")


@pytest.mark.parametrize(
    "text,request_type,urgency,priority,hours",
    [
        ("闻到很浓的煤气味，好像燃气泄漏了，在松江区九亭镇。", "求助", "紧急", "P1", 2.0),
        ("我想举报一下，我们小区旁边有个工厂晚上偷排污水。", "举报", "一般", "P3", 120.0),
        ("请问一下办理居住证需要什么材料？", "咨询", "一般", "P4", 24.0),
        ("我们这里停水两天了，希望尽快恢复供水。", "求助", "加急", "P2", 24.0),
    ],
)
def test_classify_urgency_v2_ticket_builder(text, request_type, urgency, priority, hours):
    """The urgency stage reads the request type drafted before it; the JSON carries priority and time limit."""
    builder = TicketBuilder(TicketOptions(stages=V2_STAGES))
    draft = builder.build(text_transcript(text))
    assert (draft.request_type.value, draft.urgency.value) == (request_type, urgency)
    out = ticket_to_dict(draft)["urgency"]
    assert (out["priority"], out["time_limit_hours"]) == (priority, hours)
