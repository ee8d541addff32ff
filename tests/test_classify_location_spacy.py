"""location.spacy.v1: spaCy token patterns over place-aware jieba words, measured on hand-annotated fixtures.

`tests/fixtures/location_real.jsonl` holds 242 short quotes of real citizen messages annotated by hand (see
tests/fixtures/README.md); `location_spoken.jsonl` holds 48 sentences written in the style of a caller.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import classify
from classify.gazetteer import load_communities
from classify.house_numbers import building_at, house_number_at
from classify.location import make_location_spacy
from pipeline.base.config import DEFAULT_STAGES, TicketOptions
from pipeline.base.errors import ConfigError
from pipeline.base.registry import Registry
from pipeline.ticket import TicketBuilder, text_transcript
from pipeline.base.types import LocationField, Segment, TextDoc, Transcript

pytest.importorskip("jieba")
pytest.importorskip("spacy")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PARTS = ("district", "street", "road", "number", "compound", "intersection")
_BUILDING = re.compile(r"\d+号楼(?:\d+室)?$")


def _rows(name: str) -> list[dict]:
    with open(FIXTURES / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


REAL = _rows("location_real.jsonl")
SPOKEN = _rows("location_spoken.jsonl")


@pytest.fixture(scope="module")
def stage():
    registry = Registry()
    classify.register(registry)
    return registry.build("location.spacy.v1")


def _doc(segmenter, text: str) -> TextDoc:
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))


def _parts(field: LocationField, names_only: bool = False) -> dict:
    got = {name: getattr(field.parts, name) for name in PARTS}
    if names_only and got["compound"]:
        got["compound"] = _BUILDING.sub("", got["compound"])  # the real set annotates compound names only
    return got


def _measure(segmenter, stage, rows: list[dict], names_only: bool) -> tuple[float, dict[str, float], list[str]]:
    both, per_part, misses = 0, dict.fromkeys(PARTS, 0), []
    for row in rows:
        got = _parts(stage(_doc(segmenter, row["text"]), {}), names_only)
        for name in PARTS:
            per_part[name] += got[name] == row[name]
        if got["district"] == row["district"] and got["road"] == row["road"]:
            both += 1
        else:
            misses.append(f"{row['source']}: want {row['district']} {row['road']}, got {got['district']} {got['road']}")
    n = len(rows)
    return both / n, {name: round(v / n, 3) for name, v in per_part.items()}, misses


@pytest.mark.parametrize("name,rows,minimum", [("location_real.jsonl", REAL, 200), ("location_spoken.jsonl", SPOKEN, 40)])
def test_classify_location_spacy_fixtures_are_well_formed(name, rows, minimum):
    assert len(rows) >= minimum, name
    for row in rows:
        assert set(row) == {"text", *PARTS, "source"}, row
        assert row["text"] and len(row["text"]) <= 90, row["source"]


@pytest.mark.parametrize("rows", [REAL])
def test_classify_location_spacy_real_labels_are_quoted(rows):
    """In the real set the district, road and crossing are annotated as written."""
    for row in rows:
        flat = re.sub(r"\s", "", row["text"])
        for key in ("district", "road", "intersection"):
            assert row[key] is None or row[key] in flat, row


@pytest.mark.parametrize("minimum", [0.90])
def test_classify_location_spacy_real_set_accuracy(segmenter, stage, minimum):
    accuracy, per_part, misses = _measure(segmenter, stage, REAL, names_only=True)
    print(f"\nlocation.spacy.v1 on {len(REAL)} real messages: district+road {accuracy:.3f}; per part {per_part}")
    assert accuracy >= minimum, "\n".join(misses)


@pytest.mark.parametrize("minimum", [0.95])
def test_classify_location_spacy_spoken_set_accuracy(segmenter, stage, minimum):
    accuracy, per_part, misses = _measure(segmenter, stage, SPOKEN, names_only=False)
    print(f"\nlocation.spacy.v1 on {len(SPOKEN)} spoken sentences: district+road {accuracy:.3f}; per part {per_part}")
    assert accuracy >= minimum, "\n".join(misses)
    assert min(per_part.values()) >= minimum, per_part


# Exact parts (district, street, road, number, compound, intersection) for a sample of both sets.
SAMPLE = [
    ("喂你好，我这边是嘉松南路这里，有个窨井盖没了，很危险。", (None, None, "嘉松南路", None, None, None)),
    ("就在张杨路和浦东南路路口，红绿灯坏了好几天了。", (None, None, "张杨路", None, None, "张杨路和浦东南路路口")),
    ("我住在锦绣苑三号楼，楼上天天漏水。", (None, None, None, None, "锦绣苑3号楼", None)),
    ("地址是沪闵路二百三十五号，楼下饭店油烟很大。", (None, None, "沪闵路", "235号", None, None)),
    ("我是徐汇区漕河泾街道的，想问一下那个居住证怎么办。", ("徐汇区", "漕河泾街道", None, None, None, None)),
    ("我们是七宝镇的，那个漕宝路上天天有人乱停车。", ("闵行区", "七宝镇", "漕宝路", None, None, None)),
    ("中山北一路一千二百弄五号门口有个坑。", (None, None, "中山北一路", "1200弄5号", None, None)),
    ("那个田林街道宜山路七百号楼下有人摆摊。", ("徐汇区", "田林街道", "宜山路", "700号", None, None)),
    ("我是梅陇七村居委的，楼道里堆满了杂物。", ("徐汇区", "凌云路街道", None, None, None, None)),
    ("那个虹桥这边有个工地晚上施工。", (None, "虹桥", None, None, None, None)),
    ("我们小区门口马路上全是垃圾，没人扫。", (None, None, None, None, None, None)),
    ("位于A6区银星路与金甲冲路口的新华联梦想城小区", ("A6区", None, "银星路", None, "新华联梦想城小区", "银星路与金甲冲路口")),
    ("我们是A市A3区联丰路398号利海米兰春天小区的业主", ("A3区", None, "联丰路", "398号", "利海米兰春天小区", None)),
    ("早上8点在友谊路银杏路口等145路公交车", (None, None, "友谊路", None, None, "友谊路银杏路口")),
    ("我是西地省J市J10 县金盾金街楼盘的业主", ("J10县", None, None, None, None, None)),
    ("A7县安沙镇新华村，由于修建北横线", ("A7县", "安沙镇", None, None, None, None)),
    ("关于A4区东风路街道拆迁办工作人员的检举信", ("A4区", "东风路街道", None, None, None, None)),
    ("碧水楚街小区在紧邻E栋和F栋中间东侧的位置建一个垃圾站", (None, None, None, None, "碧水楚街小区", None)),
    ("A市柠檬丽都小区A3栋商铺去年开了个加木子工作室", (None, None, None, None, "柠檬丽都小区", None)),
    ("[2018]A7县037号地块位于黄兴镇打卦岭村北溪路以南", ("A7县", "黄兴镇", "北溪路", None, None, None)),
]


@pytest.mark.parametrize("text,expected", SAMPLE)
def test_classify_location_spacy_exact_parts(segmenter, stage, text, expected):
    field = stage(_doc(segmenter, text), {})
    assert isinstance(field, LocationField)
    assert tuple(getattr(field.parts, name) for name in PARTS) == expected


@pytest.mark.parametrize("rows", [REAL + SPOKEN])
def test_classify_location_spacy_evidence_matches_text(segmenter, stage, rows):
    for row in rows:
        doc = _doc(segmenter, row["text"])
        field = stage(doc, {})
        assert 0.0 <= field.confidence <= 1.0
        by_id = {s.id: s for s in doc.segments}
        for ev in field.evidence:
            assert by_id[ev.segment_id].text[ev.start_char : ev.end_char] == ev.text, row["source"]
        if field.value is not None:
            assert field.evidence, row["source"]
            assert field.parts.raw in [ev.text for ev in field.evidence]


@pytest.mark.parametrize("text", ["浦东新区张杨路和浦东南路路口", "A市A3区\u00a0联丰路 398号", "我住在锦绣苑三号楼，楼上天天漏水。"])
def test_classify_location_spacy_tokenizer_covers_text(segmenter, stage, text):
    """The spaCy words cover the segment exactly, so a token's idx is its character offset."""
    sdoc = stage.nlp.tokenizer.make_doc(text, [(t.start, t.end) for t in segmenter.tokenize(Segment(0, 0.0, 0.0, text))])
    assert sdoc.text == text
    assert [t.idx for t in sdoc] == [sum(len(u.text) for u in sdoc[:i]) for i in range(len(sdoc))]


@pytest.mark.parametrize(
    "text,tags",
    [("A4区栖凤路与佳园路", [("A4区", "ANON"), ("栖凤", "NAME"), ("路", "ROAD")]), ("闵行区七宝镇", [("闵行区", "ADMIN"), ("七宝镇", "ADMIN")])],
)
def test_classify_location_spacy_tokenizer_place_tags(stage, text, tags):
    sdoc = stage.nlp.tokenizer(text)  # plain text: the tokenizer's own JiebaSegmenter cuts it
    got = [(t.text, t.tag_) for t in sdoc]
    for pair in tags:
        assert pair in got, got


@pytest.mark.parametrize("text", ["", "   ", "Hello, the streetlight on Main Road is broken.", "ＡＢＣ１２３ ### 路路路 街街 区区区县", "路", "😀"])
def test_classify_location_spacy_bad_input_gives_unknown(segmenter, stage, text):
    transcript = Transcript((Segment(0, 0.0, 1.0, text),), 1.0)
    field = stage(TextDoc(transcript, (segmenter.tokenize(transcript.segments[0]),)), {})
    assert field.value is None
    assert field.evidence == ()


@pytest.mark.parametrize("segments", [5000])
def test_classify_location_spacy_hour_long_transcript(segmenter, stage, segments):
    lines = ["喂你好，我这边是嘉松南路这里，有个窨井盖没了。", "嗯，对，就是那个小区门口。", "好的谢谢。", "A3区" * 50]
    transcript = Transcript(tuple(Segment(i, i, i + 1.0, lines[i % 4]) for i in range(segments)), float(segments))
    doc = TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))
    field = stage(doc, {})
    assert field.parts.road == "嘉松南路"
    assert field.parts.district == "A3区"
    assert len(field.evidence) <= 5


@pytest.mark.parametrize("text", ["我家住在浦东张杨路五百号"])
def test_classify_location_spacy_doc_without_tokens(stage, text):
    """A segment without words is cut by the tokenizer's own (lazily built) JiebaSegmenter."""
    field = stage(TextDoc(Transcript((Segment(0, 0.0, 1.0, text),), 1.0), ((),)), {})
    assert field.value == "浦东新区 张杨路500号"
    assert field.parts.raw == "张杨路五百号"


@pytest.mark.parametrize("text,min_confidence", [("浦东新区", 0.9), ("嘉松南路这里", 0.6)])
def test_classify_location_spacy_unknown_below_threshold(segmenter, text, min_confidence):
    field = make_location_spacy(min_confidence=min_confidence)(_doc(segmenter, text), {})
    assert field.value is None
    assert field.evidence == ()
    assert 0.0 < field.confidence < min_confidence
    assert field.parts.raw is not None  # the parts are kept for the operator, only the value is withheld


@pytest.mark.parametrize("text", ["浦东新区张杨路500号"])
def test_classify_location_spacy_confidence_grows_with_detail(segmenter, stage, text):
    assert stage(_doc(segmenter, text), {}).confidence > stage(_doc(segmenter, "浦东新区"), {}).confidence


@pytest.mark.parametrize("calls", [3])
def test_classify_location_spacy_pipeline_built_once(segmenter, stage, calls):
    nlp, tokenizer = stage.nlp, stage.nlp.tokenizer
    for _ in range(calls):
        stage(_doc(segmenter, "张杨路500号"), {})
    assert stage.nlp is nlp and stage.nlp.tokenizer is tokenizer
    assert stage.nlp.pipe_names == ["entity_ruler"]


@pytest.mark.parametrize("fields", [{"location": "location.spacy.v1"}])
def test_classify_location_spacy_in_ticket_builder(fields):
    """The TicketBuilder checks every evidence span against its segment."""
    builder = TicketBuilder(TicketOptions(stages={**DEFAULT_STAGES, **fields}))
    draft = builder.build(text_transcript("喂，我是浦东新区的，张杨路五百号门口路灯坏了。"))
    assert draft.location.value == "浦东新区 张杨路500号"


@pytest.mark.parametrize("config,match", [({"min_confidence": 2}, "min_confidence"), ({"min_confidence": "high"}, "min_confidence")])
def test_classify_location_spacy_bad_config(config, match):
    registry = Registry()
    classify.register(registry)
    with pytest.raises(ValueError, match=match):
        registry.build("location.spacy.v1", config)


@pytest.mark.parametrize("key", ["gazeteer"])
def test_classify_location_spacy_unknown_option(key):
    registry = Registry()
    classify.register(registry)
    with pytest.raises(ConfigError, match="gazetteer"):
        registry.build("location.spacy.v1", {key: None})


@pytest.mark.parametrize(
    "said,district,town",
    [("梅陇七村居委", "徐汇区", "凌云路街道"), ("露香居委会", "黄浦区", "豫园街道"), ("曹杨八村居委", "普陀区", "真如镇街道"), ("阳光居委", None, None)],
)
def test_classify_location_spacy_communities(said, district, town):
    communities = load_communities()
    assert communities.district(said) == district
    assert communities.town_street(said) == town


@pytest.mark.parametrize("row", ["露香社区,豫园街道,", ",豫园街道,黄浦区"])
def test_classify_location_spacy_bad_community_row_names_file_and_line(tmp_path, row):
    bad = tmp_path / "juwei.csv"
    bad.write_text("name,town_street,district\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"juwei\.csv.*line 2"):
        load_communities(str(bad))


@pytest.mark.parametrize(
    "text,pos,expected",
    [("张杨路一千二百弄五号门口", 3, ("1200弄5号", 10)), ("沪闵路二百三十五号", 3, ("235号", 9)), ("张杨路门口", 3, ("", 3))],
)
def test_classify_location_house_number_at(text, pos, expected):
    assert house_number_at(text, pos) == expected


@pytest.mark.parametrize("text,pos,expected", [("锦绣苑二号楼五零二室", 3, ("2号楼502室", 10)), ("锦绣苑门口", 3, ("", 3))])
def test_classify_location_building_at(text, pos, expected):
    assert building_at(text, pos) == expected
