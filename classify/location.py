"""location.gazetteer.v1: where the problem is, as said on the phone.

Districts and towns/streets come from the licensed gazetteer (classify/gazetteer.py). Roads, house numbers,
residential compounds and intersections have no licensed list, so they are found by rules:

* a road is a name ending in 路/大道/公路/街 whose left edge is found from the word segmentation (stop words,
  administrative names and punctuation end it): 张杨路, 嘉松南路, 曹安公路, 中山北一路;
* a house number follows the road: 500号, 1200弄5号, 二百三十五号 (→ 235号);
* a compound ends in 小区/花园/新村/公寓/家园/苑/大厦 …, optionally with a building: 阳光花园小区3号楼;
* an intersection is two roads joined by 和/与/跟/、 (or nothing) before 路口/交叉口/十字路口.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from pipeline.base.types import (
    Evidence,
    LocationField,
    LocationParts,
    Segment,
    TextDoc,
    TicketField,
    Token,
)

from .gazetteer import Gazetteer, load_gazetteer
from .matching import Hit
from pipeline.base.numerals import NUMBER_CHARS, normalise_number
from .resources import PathLike

logger = logging.getLogger(__name__)

__all__ = [
    "BAD_ROAD_STEM_ENDS",
    "DEFAULT_CONFIG",
    "GENERIC_COMPOUND_STEMS",
    "GENERIC_ROAD_STEMS",
    "Mention",
    "STOP_CHARS",
    "STOP_WORDS",
    "assemble_location",
    "building_at",
    "find_mentions",
    "house_number_at",
    "make_location_gazetteer",
    "specificity",
]

DEFAULT_CONFIG = {"gazetteer": None, "min_confidence": 0.3}

MAX_STEM = 8  # characters of a road or compound name before its suffix
_N = f"[{NUMBER_CHARS}]+"
_ROAD_SUFFIX = re.compile(r"大道|公路|路|街")
_COMPOUND_SUFFIX = re.compile(r"小区|花园|新村|公寓|家园|苑|大厦|公馆|名邸|华庭|[一二三四五六七八九十]村")
_HOUSE_NUMBER = re.compile(rf"\s*(?:(?P<lane>{_N})弄(?:(?P<branch>{_N})支弄)?)?(?:(?P<no>{_N})号(?!楼))?")
_BUILDING = re.compile(rf"\s*(?:的)?(?P<bld>{_N})(?:号楼|栋|幢|号)(?:(?P<room>{_N})(?:室|号房|号)?)?")
_JUNCTION = re.compile(r"(?:的|那个|这个|的那个|那|这)?(?:十字路口|交叉路口|交叉口|交界处|交汇处|路口|口)")
_CONNECTORS = frozenset(("", "和", "与", "跟", "同", "、", "和那个", "跟那个", "还有"))
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
_DIRECTIONS = "东南西北中"

STOP_WORDS = frozenset(
    "我 我们 我家 你 你们 他 他们 她 它 住 住在 在 是 就是 地址 地址是 的 和 与 跟 同 及 还有 靠近 附近 那边 这边 "
    "这里 那里 这儿 那儿 到 从 往 去 来 了 个 有 有个 那个 这个 就 也 还 说 位于 门口 对面 旁边 边上 里面 楼下 "
    "楼上 家 你好 您好 喂 嗯 啊 呃 哦 一下 一个 条 这条 那条 整条 上 下 里 外 前 后 都 很 太 被 把 给 让 对 向 "
    "沿 沿着 经过 过 这 那 哪 该 其 每 所有 现在 今天 昨天 晚上 白天 一直 市 上海 上海市 反映 投诉 举报 请问 "
    "那个那个 然后 就是说 叫 叫做 名字 隔壁 整个 咱们 本 就在".split()
)
STOP_CHARS = frozenset("的了吗呢吧啊路街号弄楼室我你他她")
GENERIC_ROAD_STEMS = frozenset("高速 这条 那条 一条 整条 柏油 水泥 沥青 主干 机动 非机动 人行 步行 商业 美食 小吃 新修 这段 那段 高架 环城".split())
BAD_ROAD_STEM_ENDS = tuple("马修走挖封堵占绕拦挡让")
GENERIC_COMPOUND_STEMS = frozenset("我们 这个 那个 整个 附近 对面 隔壁 旁边 一个 我家 商品房 老公房 动迁房 安置房 同一个".split())


@dataclass(frozen=True, slots=True)
class Mention:
    """A place said in one segment.

    Attributes:
        kind: "district", "street", "road", "compound" or "intersection".
        text: the words as said, `segment.text[start:end]`.
        norm: the normalised form: "浦东新区", "张杨路235号", "阳光花园小区3号楼", "张杨路与浦东南路路口".
        district: the district the mention implies (administrative names only), None if unknown or ambiguous.
        full: False for an alias or short form of an administrative name (浦东, 张江).
        detail: a house number or building follows (road, compound).
        name: the road or compound name without its number or building.
    """

    kind: str
    segment_id: int
    start: int
    end: int
    text: str
    norm: str
    district: Optional[str] = None
    full: bool = True
    detail: bool = False
    name: str = ""

    def evidence(self) -> Evidence:
        return Evidence(self.segment_id, self.start, self.end, self.text)


@dataclass(frozen=True)
class _Context:
    """One segment prepared for the rules: its token spans and administrative names."""

    text: str
    segment_id: int
    spans: list[tuple[int, int]]
    ends: dict[int, int]  # character offset -> index of the token ending there
    admin: list[tuple[Hit, bool]]  # (hit, is the full official name)

    def inside_full_name(self, a: int, b: int) -> bool:
        return any(full and h.start <= a and b <= h.end for h, full in self.admin)


def _token_spans(segment: Segment, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    spans = [(t.start, t.end) for t in tokens if 0 <= t.start < t.end <= len(segment.text)]
    return spans or [(i, i + 1) for i in range(len(segment.text))]  # no segmentation: one token per character


def _name_start(ctx: _Context, s: int) -> int:
    """The left edge of the name whose suffix starts at `s`: tokens are taken while they can be part of a name."""
    text, start = ctx.text, s
    for a, b in ctx.spans:  # the token holding the suffix may begin before it ("张杨路")
        if a < s < b:
            start = a
            break
        if a >= s:
            break
    j = ctx.ends.get(start)
    while j is not None:
        a, _ = ctx.spans[j]
        word = text[a:start]
        if not _HAN.match(word) or word in STOP_WORDS or any(ch in STOP_CHARS for ch in word) or s - a > MAX_STEM:
            break
        start = a
        j = ctx.ends.get(start)
    for hit, full in ctx.admin:  # an administrative name before the road ends it: "浦东新区张杨路"
        if start <= hit.start < s and hit.end <= s:
            stem = text[hit.end : s]
            # an alias may be part of the name: 浦东南路 (浦东), 中山北一路 (中山)
            if full or (len(stem) >= 2 and not stem.startswith(tuple(_DIRECTIONS))):
                start = max(start, hit.end)
    return start


def _stem_ok(stem: str, generic: frozenset[str]) -> bool:
    return len(stem) >= 2 and bool(_HAN.match(stem)) and stem not in generic and stem[0] not in "这那哪该此条"


def find_mentions(segment: Segment, tokens: Sequence[Token], gazetteer: Gazetteer) -> list[Mention]:
    """Every place mention in one segment, in order of position. Pure: no state, no I/O."""
    text = segment.text
    if not text:
        return []
    admin = [(h, gazetteer.names[h.text].full) for h in gazetteer.matcher.finditer(text, segment.id) if _admin_ok(text, h, gazetteer)]
    spans = _token_spans(segment, tokens)
    ctx = _Context(text, segment.id, spans, {b: i for i, (_, b) in enumerate(spans)}, admin)
    roads = _find_roads(ctx)
    named = roads + _find_compounds(ctx)
    mentions: list[Mention] = []
    for h, _ in admin:
        if any(m.start <= h.start and h.end <= m.end for m in named):
            continue  # "宝山" inside "宝山路"
        name = gazetteer.names[h.text]
        kind = "district" if name.level == "district" else "street"
        norm = name.areas[0].name if len(name.areas) == 1 else h.text
        mentions.append(Mention(kind, segment.id, h.start, h.end, h.text, norm, name.district, name.full))
    mentions += named + _find_intersections(ctx, roads)
    return sorted(mentions, key=lambda m: (m.start, -m.end))


def _admin_ok(text: str, hit: Hit, gazetteer: Gazetteer) -> bool:
    if gazetteer.names[hit.text].full:
        return True
    after = text[hit.end : hit.end + 2]
    return not (after[:1] in ("路", "街", "道", "江", "弄") or after in ("大道", "公路"))  # 宝山路, 黄浦江


def house_number_at(text: str, pos: int) -> tuple[str, int]:
    """The house number said at `pos` (right after a road), normalised, and where it ends.

    >>> house_number_at("张杨路一千二百弄五号门口", 3)
    ('1200弄5号', 10)

    Returns ``("", pos)`` when no 弄/号 follows.
    """
    num = _HOUSE_NUMBER.match(text, pos)
    if not num or not (num.group("lane") or num.group("no")):
        return "", pos
    lane, branch, no = num.group("lane"), num.group("branch"), num.group("no")
    norm = f"{normalise_number(lane)}弄" if lane else ""
    norm += f"{normalise_number(branch)}支弄" if branch else ""
    norm += f"{normalise_number(no)}号" if no else ""
    return norm, num.end()


def building_at(text: str, pos: int) -> tuple[str, int]:
    """The building (and room) said at `pos` (right after a compound), normalised ("3号楼502室"), and its end."""
    bld = _BUILDING.match(text, pos)
    if not bld:
        return "", pos
    norm = f"{normalise_number(bld.group('bld'))}号楼"
    norm += f"{normalise_number(bld.group('room'))}室" if bld.group("room") else ""
    return norm, bld.end()


def _find_roads(ctx: _Context) -> list[Mention]:
    text, roads = ctx.text, []
    for m in _ROAD_SUFFIX.finditer(text):
        s, e = m.span()
        nxt = text[e : e + 1]
        if m.group() == "路" and nxt and (nxt in "灯面况费线由径人过" or (nxt == "口" and text[s - 1 : s] == "路")):
            continue  # 路灯, 路面 …; 路口 right after a road
        if m.group() == "街" and nxt and nxt in "道坊头":
            continue
        if ctx.inside_full_name(s, e):
            continue  # part of a street's name: 南京东路街道
        start = _name_start(ctx, s)
        stem = text[start:s]
        if not _stem_ok(stem, GENERIC_ROAD_STEMS) or stem.endswith(BAD_ROAD_STEM_ENDS):
            continue
        name, end = text[start:e], e
        number, end = house_number_at(text, e)
        norm = name + number
        roads.append(Mention("road", ctx.segment_id, start, end, text[start:end], norm, detail=end > e, name=name))
    return roads


def _find_compounds(ctx: _Context) -> list[Mention]:
    text, found = ctx.text, []
    for m in _COMPOUND_SUFFIX.finditer(text):
        s, e = m.span()
        start = _name_start(ctx, s)
        stem = text[start:s]
        if not _stem_ok(stem, GENERIC_COMPOUND_STEMS) or ctx.inside_full_name(start, e):
            continue
        name, end = text[start:e], e
        detail, end = building_at(text, e)
        norm = name + detail
        found.append(Mention("compound", ctx.segment_id, start, end, text[start:end], norm, detail=end > e, name=name))
    # "阳光花园小区" also matched "阳光花园": keep the longest
    return [m for m in found if not any(o.start <= m.start and m.end <= o.end and o.end - o.start > m.end - m.start for o in found)]


def _find_intersections(ctx: _Context, roads: list[Mention]) -> list[Mention]:
    text, out = ctx.text, []
    for r1, r2 in zip(roads, roads[1:]):
        if r1.detail or r2.detail:
            continue
        if text[r1.end : r2.start].strip() not in _CONNECTORS:
            continue
        j = _JUNCTION.match(text, r2.end)
        if j is None:
            continue
        norm = f"{r1.name}与{r2.name}路口"
        out.append(Mention("intersection", ctx.segment_id, r1.start, j.end(), text[r1.start : j.end()], norm, name=norm))
    return out


_SPECIFICITY = {"district": 0.35, "street": 0.45, "road": 0.55, "compound": 0.6, "intersection": 0.75}
_DETAILED = {"road": 0.8, "compound": 0.75}  # with a house number / a building


def _first(mentions: list[Mention], kind: str, *prefer: str) -> Optional[Mention]:
    """The first mention of `kind`, preferring (in order) those with each attribute in `prefer` true."""
    of_kind = [m for m in mentions if m.kind == kind]
    for attr in prefer:
        better = [m for m in of_kind if getattr(m, attr)]
        if better:
            return better[0]
    return of_kind[0] if of_kind else None


def specificity(m: Mention) -> float:
    """How precisely one mention places the problem: district 0.35 … road with a house number 0.8 (aliases -0.1)."""
    score = _DETAILED.get(m.kind, 0.0) if m.detail else _SPECIFICITY[m.kind]
    return score if m.full else score - 0.1


def assemble_location(
    district: Optional[Mention],
    street: Optional[Mention],
    road: Optional[Mention],
    compound: Optional[Mention],
    crossing: Optional[Mention],
    min_confidence: float,
) -> LocationField:
    """The LocationField of the chosen mentions (any may be None); shared by the location stages.

    The district is `district.norm`, else the district the street implies. Confidence is the specificity of the
    most precise mention, +0.05 for each further kind of mention, -0.1 when the street lies in another district;
    below `min_confidence` the value is None (unknown) and no evidence is given.
    """
    used = [m for m in (district, street, road, crossing, compound) if m is not None]
    if not used:
        return LocationField(None, 0.0)
    district_name = district.norm if district else (street.district if street else None)
    conflict = bool(district and street and street.district and street.district != district.norm)
    best = max(used, key=specificity)
    confidence = min(0.95, specificity(best) + 0.05 * (len({m.kind for m in used}) - 1) - (0.1 if conflict else 0.0))
    confidence = round(max(confidence, 0.0), 4)
    place = road.norm if road and road.detail else crossing.norm if crossing else road.norm if road else None
    display = " ".join(p for p in (district_name, street.norm if street else None, place, compound.norm if compound else None) if p)
    parts = LocationParts(
        district=district_name,
        street=street.norm if street else None,
        road=road.name if road else None,
        number=(road.norm[len(road.name) :] or None) if road else None,
        compound=compound.norm if compound else None,
        intersection=crossing.norm if crossing else None,
        raw=best.text,
    )
    evidence = tuple(dict.fromkeys(m.evidence() for m in sorted(used, key=lambda m: (m.segment_id, m.start))))
    if confidence < min_confidence:
        return LocationField(None, confidence, (), (), parts)
    return LocationField(display, confidence, evidence, ((display, confidence),), parts)


def make_location_gazetteer(gazetteer: Optional[PathLike] = None, min_confidence: float = 0.3):
    """Build the stage.

    Args:
        gazetteer: path of an administrative-area CSV (level,name,district,code,aliases) instead of Shanghai's.
        min_confidence: below this the value is None (unknown).

    Returns:
        A stage returning a LocationField: `parts` holds district, street (镇/街道), road, number, compound and
        intersection; `value` joins them for display ("浦东新区 张杨路500号"); confidence grows with how specific
        the location is (district 0.35 … road with house number 0.8); evidence are the mentions used.
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"location.gazetteer.v1 min_confidence must be in [0, 1], got {min_confidence!r}")
    gaz = load_gazetteer(gazetteer)

    def location(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        mentions: list[Mention] = []
        for seg, tokens in zip(doc.segments, doc.tokens):
            mentions += find_mentions(seg, tokens, gaz)
        if len(doc.tokens) < len(doc.segments):  # a doc without segmentation
            for seg in doc.segments[len(doc.tokens) :]:
                mentions += find_mentions(seg, (), gaz)
        return assemble_location(
            _first(mentions, "district", "full"),
            _first(mentions, "street", "full"),
            _first(mentions, "road", "detail"),
            _first(mentions, "compound", "detail"),
            _first(mentions, "intersection"),
            min_confidence,
        )

    return location
