"""location.gazetteer.v1: the location stage without the 居委 table (location.spacy.v1 is the same code with it)."""

from __future__ import annotations

import pytest

import classify
from classify.gazetteer import load_gazetteer
from pipeline.base.numerals import cn_to_int, normalise_number
from pipeline.base.errors import ConfigError
from pipeline.base.registry import Registry
from pipeline.ticket import text_transcript
from pipeline.base.types import LocationField, LocationParts, Segment, TextDoc, Transcript

pytest.importorskip("jieba")
pytest.importorskip("spacy")


@pytest.fixture(scope="module")
def registry():
    registry = Registry()
    classify.register(registry)
    return registry


@pytest.fixture(scope="module")
def stage(registry):
    return registry.build("location.gazetteer.v1")


def _doc(segmenter, text):
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))


# Spoken-style hotline sentences written for these tests: (sentence, value, parts that must match)
LOCATION_CASES = [
    ("你好，我住在浦东新区张杨路500号，小区门口路灯坏了一个星期了。", "浦东新区 张杨路500号", {"district": "浦东新区", "road": "张杨路", "number": "500号"}),
    ("就是嘉松南路这里有个窨井盖没了，很危险。", "嘉松南路", {"road": "嘉松南路", "number": None}),
    ("在张杨路和浦东南路路口红绿灯坏了。", "张杨路和浦东南路路口", {"intersection": "张杨路和浦东南路路口"}),
    ("我们阳光花园小区3号楼楼下天天有人跳广场舞。", "阳光花园小区3号楼", {"compound": "阳光花园小区3号楼"}),
    ("地址是沪闵路二百三十五号，楼上装修噪音很大。", "沪闵路235号", {"road": "沪闵路", "number": "235号"}),
    ("曹安公路靠近嘉松北路那边有人偷倒垃圾。", "曹安公路", {"road": "曹安公路"}),
    ("中山北一路1200弄5号门口有个坑。", "中山北一路1200弄5号", {"road": "中山北一路", "number": "1200弄5号"}),
    ("我家在七宝镇万科城市花园，物业不管事。", "闵行区 七宝镇 万科城市花园", {"district": "闵行区", "street": "七宝镇", "compound": "万科城市花园"}),
    ("长宁路和江苏路交叉口那边经常堵车。", "长宁路和江苏路交叉口", {"intersection": "长宁路和江苏路交叉口"}),
    ("龙吴路和华泾路这个路口老是堵车。", "龙吴路和华泾路路口", {"intersection": "龙吴路和华泾路路口"}),  # filler out
    ("建设路与文化路交汇路口有个坑。", "建设路与文化路交汇路口", {"intersection": "建设路与文化路交汇路口"}),
    ("浦东张江这边的地铁站出口积水严重。", "浦东新区 张江镇", {"district": "浦东新区", "street": "张江镇"}),
    ("我是闵行区莘庄镇的，想咨询一下居住证怎么办理。", "闵行区 莘庄镇", {"district": "闵行区", "street": "莘庄镇"}),
    ("宝山路上有个井盖坏了。", "宝山路", {"road": "宝山路", "district": None}),
    ("南京东路街道这边有人摆摊。", "黄浦区 南京东路街道", {"district": "黄浦区", "street": "南京东路街道", "road": None}),
    ("那个虹桥这边有个工地晚上施工。", "虹桥", {"street": "虹桥", "district": None}),  # 长宁区 or 闵行区
    ("徐汇区漕溪北路二百号的饭店油烟很大。", "徐汇区 漕溪北路200号", {"district": "徐汇区", "number": "200号"}),
    ("黄浦江边上有人钓鱼。", None, {}),
    ("我们小区门口马路上全是垃圾。", None, {}),
    ("延安西路华山路交叉口的路灯不亮了。", "延安西路华山路交叉口", {"intersection": "延安西路华山路交叉口"}),
    ("松江区九亭镇涞亭南路八百八十八弄十二号三楼漏水。", "松江区 九亭镇 涞亭南路888弄12号", {"street": "九亭镇", "number": "888弄12号"}),
    ("在世纪大道的那个路口有辆车抛锚了。", "世纪大道", {"road": "世纪大道"}),
    ("杨浦区五角场这边的公交站没有遮雨棚。", "杨浦区 五角场街道", {"district": "杨浦区", "street": "五角场街道"}),
    ("奉贤区南桥镇解放东路的下水道堵了。", "奉贤区 南桥镇 解放东路", {"road": "解放东路", "street": "南桥镇"}),
    ("嗯，就在锦绣苑二号楼五零二室，楼上漏水。", "锦绣苑2号楼502室", {"compound": "锦绣苑2号楼502室"}),
]


@pytest.mark.parametrize("text,value,parts", LOCATION_CASES)
def test_location_sentences(segmenter, stage, text, value, parts):
    field = stage(_doc(segmenter, text), {})
    assert isinstance(field, LocationField)
    assert field.value == value
    for name, expected in parts.items():
        assert getattr(field.parts, name) == expected, name
    if value is None:
        assert field.evidence == ()


@pytest.mark.parametrize("text", [case[0] for case in LOCATION_CASES])
def test_location_evidence_matches_text(segmenter, stage, text):
    doc = _doc(segmenter, text)
    field = stage(doc, {})
    by_id = {s.id: s for s in doc.segments}
    for ev in field.evidence:
        assert by_id[ev.segment_id].text[ev.start_char : ev.end_char] == ev.text
    assert 0.0 <= field.confidence <= 1.0


@pytest.mark.parametrize(
    "text,more_specific_than",
    [("浦东新区张杨路500号", "浦东新区"), ("张杨路500号", "张杨路"), ("张杨路和浦东南路路口", "张杨路")],
)
def test_location_confidence_grows_with_detail(segmenter, stage, text, more_specific_than):
    assert stage(_doc(segmenter, text), {}).confidence > stage(_doc(segmenter, more_specific_than), {}).confidence


@pytest.mark.parametrize("text", ["我家住在浦东张杨路五百号"])
def test_location_without_tokens_uses_characters(stage, text):
    """A doc whose segmenter gave no tokens still gets a location (one token per character)."""
    seg = Segment(0, 0.0, 1.0, text)
    field = stage(TextDoc(Transcript((seg,), 1.0), ((),)), {})
    assert field.value == "浦东新区 张杨路500号"
    assert field.parts == LocationParts(district="浦东新区", road="张杨路", number="500号", raw="张杨路五百号")


@pytest.mark.parametrize("text", [case[0] for case in LOCATION_CASES])
def test_location_names_agree_without_committees(segmenter, registry, stage, text):
    """location.gazetteer.v1 and location.spacy.v1 are one implementation: without a 居委 name they agree exactly."""
    doc = _doc(segmenter, text)
    assert stage(doc, {}) == registry.build("location.spacy.v1")(doc, {})


@pytest.mark.parametrize(
    "text,gazetteer_value,spacy_value",
    [("我是梅陇七村居委的，楼道里堆满了杂物。", "梅陇七村", "徐汇区 凌云路街道"), ("露香居委会这边有人乱停车。", None, "黄浦区 豫园街道")],
)
def test_location_names_differ_by_committees(segmenter, registry, stage, text, gazetteer_value, spacy_value):
    """Only location.spacy.v1 reads the 居委 table: a 居委 name places the call in its town/street and district."""
    doc = _doc(segmenter, text)
    assert stage(doc, {}).value == gazetteer_value
    assert registry.build("location.spacy.v1")(doc, {}).value == spacy_value


@pytest.mark.parametrize("config", [{"communities": None}])
def test_location_gazetteer_has_no_communities_option(registry, config):
    with pytest.raises(ConfigError, match="location.gazetteer.v1.communities.*accepts: gazetteer, min_confidence"):
        registry.build("location.gazetteer.v1", config)


@pytest.mark.parametrize(
    "text,value",
    [("二百三十五", 235), ("三百零八", 308), ("十二", 12), ("五零零", 500), ("幺零八", 108), ("二百五", 250), ("一千二", 1200),
     ("一千零五", 1005), ("两百", 200), ("1200", 1200), ("２３５", 235), ("二三百", None), ("路", None), ("", None)],
)
def test_numerals_cn_to_int(text, value):
    assert cn_to_int(text) == value


@pytest.mark.parametrize("text,expected", [("八百八十八", "888"), ("A栋", "A栋")])
def test_numerals_normalise_number(text, expected):
    assert normalise_number(text) == expected


@pytest.mark.parametrize(
    "name,district,full",
    [("浦东新区", "浦东新区", True), ("浦东", "浦东新区", False), ("张江镇", "浦东新区", True), ("张江", "浦东新区", False),
     ("古美街道", "闵行区", False), ("虹桥", None, False)],
)
def test_gazetteer_names(name, district, full):
    gaz = load_gazetteer()
    assert gaz.names[name].district == district
    assert gaz.names[name].full is full


@pytest.mark.parametrize("count", [16])
def test_gazetteer_has_every_district(count):
    gaz = load_gazetteer()
    assert len(gaz.districts) == count
    assert len([a for a in gaz.areas if a.level == "town_street"]) > 200


@pytest.mark.parametrize("row", ["district,静安区,,310106,,mca", "county,静安区,静安区,310106,,mca"])
def test_gazetteer_bad_row_names_file_and_line(tmp_path, row):
    bad = tmp_path / "admin.csv"
    bad.write_text("level,name,district,code,aliases,source\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"admin\.csv.*line 2"):
        load_gazetteer(str(bad))
