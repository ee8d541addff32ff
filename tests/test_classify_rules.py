"""request_type.rules.v1, category.keywords.v1, department.table.v1 and urgency.rules.v1 called directly."""

from __future__ import annotations

import pytest

from classify.matching import Cue, CueMatcher, is_negated
from classify.taxonomy import load_taxonomy, name_keywords
from pipeline.ticket import text_transcript
from pipeline.base.types import Evidence, TextDoc, TicketField

pytest.importorskip("jieba")


def _doc(segmenter, text):
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))


@pytest.mark.parametrize(
    "text,value,evidence",
    [
        ("我要投诉楼下饭店油烟太大，希望相关部门管一管。", "投诉", ["投诉"]),
        ("隔壁KTV每天半夜太吵了。", "投诉", ["太吵"]),
        ("我想反映一下我们小区停车的问题。", "投诉", ["反映一下我们小区停车的问题"]),
        ("街道办一直不作为。", "投诉", ["不作为"]),
        ("我想举报一下，有个工厂晚上偷排污水。", "举报", ["举报", "偷排"]),
        ("请问一下办理居住证需要什么材料？", "咨询", ["请问", "需要什么材料"]),
        ("我不是要投诉，就是想问一下社保怎么交费。", "咨询", ["想问一下", "怎么交费"]),
        ("电梯坏了，我妈被困在里面了，快点派人来！", "求助", ["被困", "派人来"]),
        ("我建议在小区门口的公交站增设一个候车亭。", "建议", ["建议", "增设"]),
        ("我想表扬一下你们的工作人员，给你们点赞。", "表扬", ["表扬", "点赞"]),
        ("今天天气不错。", None, []),
    ],
)
def test_request_type_rules(segmenter, registry, text, value, evidence):
    field = registry.build("request_type.rules.v1")(_doc(segmenter, text), {})
    assert field.value == value
    assert [e.text for e in field.evidence] == evidence
    if value is not None:
        assert field.candidates[0][0] == value


@pytest.mark.parametrize("text,confidence", [("能不能", 0.2592)])
def test_request_type_min_confidence_gives_unknown(segmenter, registry, text, confidence):
    """A weak cue alone stays below the default threshold; the candidates are kept."""
    field = registry.build("request_type.rules.v1")(_doc(segmenter, text), {})
    assert field.value is None
    assert field.confidence == confidence
    assert field.candidates == (("建议", 1.0),)
    assert registry.build("request_type.rules.v1", {"min_confidence": 0.1})(_doc(segmenter, text), {}).value == "建议"


@pytest.mark.parametrize(
    "text,value,top",
    [
        ("小区门口路灯坏了一个星期了。", "城乡建设", ("城乡建设", 1.0)),
        ("楼上装修噪音扰民。", "环境保护", ("环境保护", 0.75)),
        ("公司拖欠工资三个月了。", "劳动和社会保障", ("劳动和社会保障", 1.0)),
        ("出租车司机拒载，还绕路。", "交通运输", ("交通运输", 1.0)),
        ("孩子上幼儿园的入学要准备什么？", "教育文体", ("教育文体", 1.0)),
        ("请问一下办理居住证需要什么材料？", "政法", ("政法", 1.0)),
        ("超市卖过期食品，要求退款。", "商贸旅游", ("商贸旅游", 0.6207)),
        ("我想申请低保。", "民政", ("民政", 1.0)),
        ("今天天气不错。", None, None),
    ],
)
def test_category_keywords(segmenter, registry, text, value, top):
    field = registry.build("category.keywords.v1")(_doc(segmenter, text), {})
    assert field.value == value
    assert (field.candidates[0] if field.candidates else None) == top
    assert len(field.candidates) <= 3
    assert abs(sum(p for _, p in field.candidates) - 1.0) < 0.01 or not field.candidates


@pytest.mark.parametrize("top_k", [1, 2])
def test_category_top_k(segmenter, registry, top_k):
    field = registry.build("category.keywords.v1", {"top_k": top_k})(_doc(segmenter, "超市卖过期食品，要求退款。"), {})
    assert len(field.candidates) == top_k


@pytest.mark.parametrize(
    "category,department",
    [("城乡建设", "住建委"), ("环境保护", "生态环境局"), ("劳动和社会保障", "人社局"), ("教育文体", "教育局"), ("交通运输", "交通委"),
     ("卫生计生", "卫健委"), ("商贸旅游", "市场监管局")],
)
def test_department_table(registry, category, department):
    ev = (Evidence(0, 0, 2, "路灯"),)
    fields = {"category": TicketField(category, 0.7, ev, ((category, 0.8), ("民政", 0.2)))}
    field = registry.build("department.table.v1")(None, fields)
    assert (field.value, field.confidence, field.evidence) == (department, 0.7, ev)
    assert field.candidates[0] == (department, 0.8)


@pytest.mark.parametrize("fields", [{}, {"category": TicketField.unknown()}, {"category": TicketField("外星事务", 0.9)}])
def test_department_unknown_category(registry, fields):
    assert registry.build("department.table.v1")(None, fields).value is None


@pytest.mark.parametrize("row", ["城乡建设,建设局"])
def test_department_other_city_table(tmp_path, registry, row):
    table = tmp_path / "haikou.csv"
    table.write_text("category,department\n" + row + "\n", encoding="utf-8")
    stage = registry.build("department.table.v1", {"table": str(table)})
    assert stage(None, {"category": TicketField("城乡建设", 0.6)}).value == "建设局"
    assert stage(None, {"category": TicketField("环境保护", 0.6)}).value is None


@pytest.mark.parametrize(
    "text,value,evidence,confidence",
    [
        ("闻到很浓的煤气味。", "紧急", ["煤气味"], 0.75),
        ("厨房着火了，有人受伤了！", "紧急", ["着火", "有人受伤"], 0.85),
        ("电梯坏了，我妈被困在里面了。", "紧急", ["被困"], 0.75),
        ("马路上水管爆裂了。", "紧急", ["水管爆裂"], 0.75),
        ("我们这里停水两天了，家里有独居老人。", "加急", ["停水", "独居老人"], 0.75),
        ("小区停电了。", "加急", ["停电"], 0.65),
        ("没有人受伤，就是路边一棵树倒了。", "加急", ["树倒"], 0.65),
        ("没有燃气泄漏，就是想问一下燃气费。", "一般", [], 0.5),
        ("路灯坏了。", "一般", [], 0.5),
    ],
)
def test_urgency_rules(segmenter, registry, text, value, evidence, confidence):
    field = registry.build("urgency.rules.v1")(_doc(segmenter, text), {})
    assert (field.value, [e.text for e in field.evidence], field.confidence) == (value, evidence, confidence)


@pytest.mark.parametrize("rows", ["level,pattern\n紧急,电瓶车进电梯\n"])
def test_urgency_cue_table_is_configurable(tmp_path, segmenter, registry, rows):
    table = tmp_path / "cues.csv"
    table.write_text(rows, encoding="utf-8")
    stage = registry.build("urgency.rules.v1", {"cues": str(table)})
    assert stage(_doc(segmenter, "有人把电瓶车进电梯了"), {}).value == "紧急"
    assert stage(_doc(segmenter, "煤气味很重"), {}).value == "一般"


@pytest.mark.parametrize(
    "rows,match",
    [
        ("level,pattern\n很急,着火\n", r"unknown urgency level '很急' in '.*cues\.csv' at line 2"),
        ("level,pattern\n紧急,(着火)\n", r"capturing groups"),
        ("level,pattern\n紧急,着(火\n", r"invalid cue pattern"),
        ("level\n紧急\n", r"lacks column\(s\) pattern"),
    ],
)
def test_urgency_bad_cue_table(tmp_path, registry, rows, match):
    table = tmp_path / "cues.csv"
    table.write_text(rows, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        registry.build("urgency.rules.v1", {"cues": str(table)})


@pytest.mark.parametrize("path", ["/nonexistent/cues.csv"])
def test_request_type_missing_table_names_file(registry, path):
    with pytest.raises(OSError, match="nonexistent/cues.csv"):
        registry.build("request_type.rules.v1", {"cues": path})


@pytest.mark.parametrize(
    "name,keywords",
    [("噪音污染", ("噪音污染", "噪音", "污染")), ("拖欠工程款", ("拖欠工程款",)), ("物业服务", ("物业服务", "物业")), ("其他", ())],
)
def test_taxonomy_name_keywords(name, keywords):
    assert name_keywords(name) == keywords


@pytest.mark.parametrize("n_top,n_leaves", [(15, 517)])
def test_taxonomy_levels(n_top, n_leaves):
    tax = load_taxonomy()
    assert len(tax.top_level) == n_top
    assert len(tax.leaves) == n_leaves
    assert "环境污染" in tax.second_level("环境保护")
    assert "噪音污染" in tax.third_level("环境保护", "环境污染")


@pytest.mark.parametrize("rows", ["category,word,weight\n天文地理,黑洞,1.0\n"])
def test_category_lexicon_unknown_category(tmp_path, registry, rows):
    lexicon = tmp_path / "lex.csv"
    lexicon.write_text(rows, encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown category '天文地理' in '.*lex\.csv' at line 2"):
        registry.build("category.keywords.v1", {"lexicon": str(lexicon)})


@pytest.mark.parametrize(
    "text,hits",
    [("路灯坏了路灯", [(0, 2), (4, 6)]), ("拖欠工资", [(0, 4)]), ("工资", [(0, 2)]), ("", []), ("说拖欠", [(1, 3)])],
)
def test_matching_literal_longest_first(text, hits):
    matcher = CueMatcher([Cue("a", w, literal=True) for w in ("路灯", "拖欠工资", "工资", "拖欠")])
    assert [(h.start, h.end) for h in matcher.finditer(text)] == hits


@pytest.mark.parametrize("text,start,negated", [("没有人受伤", 1, True), ("有人受伤", 0, False), ("不是要投诉", 3, True), ("要投诉", 1, False)])
def test_matching_is_negated(text, start, negated):
    assert is_negated(text, start) is negated
