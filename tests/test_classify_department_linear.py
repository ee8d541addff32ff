"""department.linear.v1: the department by the matter (a model trained on who handled each message), the category's
department when the model is unsure, and the location's street office or town as the local unit (属地)."""

import json

import pytest

from classify.department import make_department_linear
from classify.train_department import reply_units, unit_type
from models.registry import resolve_classifier
from pipeline.base.errors import ModelError
from pipeline.base.types import TicketField
from pipeline.ticket import TicketBuilder, text_transcript

VENDORS = "我们小区门口每天晚上都有人摆摊卖烧烤，占道经营，油烟很大，希望管一管。"


@pytest.fixture(scope="module")
def builder():
    return TicketBuilder()


def _fields(builder, text):
    draft = builder.build(text_transcript(text))
    return builder.analyze(text_transcript(text)), {n: f for n, f in draft.fields() if n != "department"}


@pytest.mark.parametrize("text,department", [(VENDORS, "城管执法局"), ("楼下有人半夜打架，很吵，请派出所来处理。", "公安局"),
                                             ("我家孩子上小学报名需要什么材料？", "教育局")])  # fmt: skip
def test_department_linear_by_the_matter(builder, text, department):
    doc, fields = _fields(builder, text)
    field = make_department_linear()(doc, fields)
    assert field.value == department and field.confidence >= 0.35
    assert field.candidates[0][0] == department and len(field.candidates) == 3
    assert all(doc.segments[e.segment_id].text[e.start_char : e.end_char] == e.text for e in field.evidence)


@pytest.mark.parametrize("text", [VENDORS])
def test_department_linear_unsure_takes_the_categorys_department(builder, text):
    doc, fields = _fields(builder, text)
    assert fields["category"].value == "城乡建设"
    assert make_department_linear(min_confidence=1.0)(doc, fields).value == "住建委"  # the category table's


@pytest.mark.parametrize(
    "location,value",
    [
        (TicketField("A3区 洋湖街道 潇楚南路", 0.9), "城管执法局、洋湖街道"),
        (TicketField("松江区 九亭镇", 0.9), "城管执法局、九亭镇"),
        (TicketField("张杨路500号", 0.9), "城管执法局"),  # no street office or town named
        (TicketField.unknown(), "城管执法局"),
    ],
)
def test_department_linear_adds_the_local_unit_of_the_location(builder, location, value):
    doc, fields = _fields(builder, VENDORS)
    assert make_department_linear()(doc, {**fields, "location": location}).value == value
    assert make_department_linear(local_unit=False)(doc, {**fields, "location": location}).value == "城管执法局"


def test_department_linear_refuses_a_model_of_another_task():
    with pytest.raises(ModelError, match="not a 'department' model"):
        make_department_linear(model="request_type_linear_v1")


def test_department_linear_refuses_a_names_table_missing_a_type(tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("type,department\n住建,住建委\n", encoding="utf-8")
    with pytest.raises(ModelError, match="no department in the names table: .*城管"):
        make_department_linear(names=names)


def test_department_linear_card_is_the_shipped_model():
    path = resolve_classifier("department_linear_v1")  # sha256-verified against models.registry.CLASSIFIERS
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["cv"]["cv_department_acc"] > 0.6 and card["training_data"]["replies"]["excluded_ids"] == 300


@pytest.mark.parametrize(
    "reply,types,local",
    [
        ("网友您好！针对您反映的问题,A3区洋湖街道高度重视，立即组织调查处理，现回复如下：……2019年4月29日", set(), {"洋湖"}),
        ("网友您好！您的留言已收悉，市住建局及时将您反映的问题交由市房屋交易管理中心办理。现将情况回复如下：……", {"住建"}, set()),
        ("您好！经我局调查……特此回复。A市公安局交警支队 2019年5月", {"公安"}, set()),
        ("您好，关于A市人民政府的文件……", set(), set()),  # 人民政府 is no 民政
    ],
)
def test_department_reply_units(reply, types, local):
    assert reply_units(reply) == (types, local)


@pytest.mark.parametrize("name,kind", [("住建委", "住建"), ("城管执法局、洋湖街道", "城管"), ("区政府办公室", None), (None, None)])
def test_department_unit_type(name, kind):
    assert unit_type(name) == kind
