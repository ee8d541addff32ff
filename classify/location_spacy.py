"""location.spacy.v1: where the problem is, found with spaCy token patterns over place-aware jieba words.

The stage builds one blank spaCy ``zh`` pipeline at construction:

* its tokenizer (`PlaceTokenizer`) takes the words of *our* `JiebaSegmenter` (the tokens already in the
  `TextDoc`; a lazily built segmenter for plain text) and re-cuts them at place boundaries: names from the
  licensed gazetteer (districts, towns/streets) and 居委 names become single tokens, as do anonymised districts
  ("A3区", "A7县", "A9市"); road, compound and town suffixes (路 大道 公路 街 / 小区 花园 苑 / 街道 镇 乡) become
  tokens of their own, so that "区栖凤路" or "金甲冲 路口" from jieba give "栖凤" "路" and "金甲冲" "路" "口".
  Every word gets a place tag (NAME, NUM, ROAD, COMP, TOWN, ADMIN, ALIAS, ANON, JUWEI …) and the words cover the
  segment text exactly, so a token's ``idx`` is its character offset in the segment;
* an ``entity_ruler`` with token patterns on those tags marks roads (name words + road suffix), compounds (name
  words + compound suffix) and towns (name words + 镇/街道/乡).

Rules then fix where each name begins (stop words; verbs, prepositions and localizers by the tags of jieba's own
dictionary, read once; at most 4 characters before a road suffix), read the house number (二百三十五号 → 235号, `classify.location.house_number_at`) or building, and join two roads before
路口/交叉口/交汇处 into an intersection. The district is the first district said (an anonymised one as written,
else a gazetteer name), else the one a town/street or a 居委 implies when that is unambiguous; the road is the
first road said. Confidence and the field follow `classify.location.assemble_location`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional, Sequence

from pipeline.base.deps import require
from pipeline.base.types import Segment, TextDoc, TicketField

from .gazetteer import Communities, Gazetteer, load_communities, load_gazetteer
from .location import (
    BAD_ROAD_STEM_ENDS,
    GENERIC_COMPOUND_STEMS,
    GENERIC_ROAD_STEMS,
    STOP_WORDS,
    Mention,
    assemble_location,
    building_at,
    house_number_at,
)
from .matching import has_chinese
from pipeline.base.numerals import NUMBER_CHARS, normalise_number
from .resources import PathLike

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_CONFIG", "PlaceTokenizer", "SpacyLocator", "make_location_spacy"]

DEFAULT_CONFIG = {"gazetteer": None, "communities": None, "min_confidence": 0.3}

MAX_ROAD_STEM = 4  # characters before a road suffix: 嘉松南, 万家丽南; a single longer word may still be a name
MAX_TOWN_STEM = 4
MAX_COMPOUND_STEM = 8

_TEN = "一二三四五六七八九十"
# Place words found by characters, whatever jieba made of them. One pattern, one pass; earlier alternatives win.
_LEX = re.compile(
    "|".join(
        f"(?P<{tag}>{pattern})"
        for tag, pattern in (
            ("ANON", r"(?<![A-Za-z0-9])[A-Z][0-9]{1,2}[ \u00a0]?[区县市]"),
            ("CITY", r"(?<![A-Za-z0-9])[A-Z][市省](?![A-Za-z0-9])"),
            ("JUNC", r"十字路口|交叉路口|交叉口|交汇处|交界处|交界口|交汇口|交叉处|交汇|交叉|交界"),
            (
                "WORD",
                r"马路|道路|路灯|路面|路况|路费|路线|路径|路过(?!江)|路牌|路标|路名|路虎|铁路|线路|网路|高速公路|公路局|"
                r"街道办事处|街道办|街头|街边|街上|街区|街巷|巷子|大街小巷|步行街|商业街|美食街|小吃街|老街|号线",
            ),
            ("TOWN", r"路街道|街道|镇|乡"),
            # 街/巷 before a compound suffix is part of the compound's name (碧水楚街小区); 东四线 is a road
            ("ROAD", rf"大道|公路|国道|省道|大街|路|(?:街|巷)(?!小区|花园|公寓|大厦|家园|苑|楼盘|庭院)|(?<=[东西南北][{_TEN}])线"),
            ("COMP", rf"小区|花园|新村|公寓|家园|苑|大厦|公馆|名邸|华庭|山庄|(?<=[^{_TEN}])[{_TEN}]村"),
            ("NUM", r"[0-9０-９]+|[零一二两三四五六七八九十]+(?=大道|路|街|线)"),
        )
    )
)
_CN_NUMERAL = re.compile(r"^[零〇一二两三四五六七八九十百千万幺]+号?$")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"^[A-Za-z0-9０-９.]+$")
_SPACE = re.compile(r"\s+")

# Characters that end a name when they stand alone and the name has two characters already ("庆和里路" keeps 和).
_FUNCTION_CHARS = frozenset("在到从往过进出靠沿经临近至和与及或是的了把被给让向对于由等" "上下里外前后中内旁边这那该此每各某其去来住就也都还又为将却")
# A longer jieba word that swallowed a preposition before a name: 从鹤州|路 → 从 鹤州.
_LEADING_FUNCTION = frozenset("从在到往至于经沿靠是的把被给向对离过进去来住")
_LEADING_FUNCTION_2 = frozenset("从在到往靠是的把被给对离住")  # 往联|丰路 (not 向阳路, 经纬路)
_MORE_STOP_WORDS = frozenset(
    "位于 地处 靠近 临近 穿越 穿过 通往 连接 前往 来到 路过 经过 居住 居住于 家住 住于 沿线 周边 周围 一带 以及 或者 "
    "还是 但是 而且 特别 特别是 例如 比如 包括 其中 目前 今年 去年 近期 最近 要求 希望 建议 请问 咨询 关于 有关 "
    "公示 规划 项目 工程 修建 拓宽 改造 施工 开通 通车 小区 业主 居民 门面 全体 我家 我们 本人 那边 这边".split()
)
_STOP = STOP_WORDS | _MORE_STOP_WORDS
_NAME_BREAK_CHARS = frozenset("的了吗呢吧啊我你他她们")
_AREA_END_CHARS = frozenset("区县市省镇乡村组")  # 七组|路
_AREA_END_CHARS_2 = frozenset("区县省镇乡村组")  # 社区|黄回路, 新区|汉宁路 (but 城市花园, 超市)
_PLACE_TAIL_CHARS = frozenset("坪铺岭湾塘冲桥港坡洲湖山河庄园城场站口")  # 四方 坪|双拥路, 毛塘 铺|物流大道
_FUNCTION_POS = frozenset("v p c d r u f t s vd ad y e o q l".split())  # jieba tags that end a name
_COUNTED = re.compile(r"^[一二两三四五六七八九十几多]+[个条辆段所座栋家间处片块]$")
_MORE_GENERIC_ROAD_STEMS = frozenset(
    "大马 泥巴 柏油 水泥 沥青 石子 砂石 硬化 村级 组级 乡村 农村 村组 主干 断头 丁字 十字 人行 上坡 下坡 盘山 机耕 "
    "唯一 一条 两条 过江 快速 高速 回家 上学 放学 出行 必经 主要 城市 乡间 田间 泥泞 毛坯 小马 每天 经常 "
    "小学 中学 大学 学校 学院 幼儿园 医院 超市 商场 市场 银行 地铁 车站 公交 红绿灯 信号灯 立交 立交桥 大桥 隧道 高架".split()
)
_GENERIC_ROAD = GENERIC_ROAD_STEMS | _MORE_GENERIC_ROAD_STEMS
_BAD_ROAD_ENDS = BAD_ROAD_STEM_ENDS + tuple("毛修后旁内的了")
_GENERIC_COMPOUND = GENERIC_COMPOUND_STEMS | frozenset("居民 周边 周围 本 该 老旧 新建 住宅 其他 公务员 安置 拆迁 商住 居民区 住宅区".split())  # noqa: E501
_GENERIC_TOWN_ENDS = tuple("小城乡集村该本我各全每这那哪")
_BUS_AFTER_ROAD = re.compile(r"(?:公交|公共汽车|汽车|班车|专线|车)")
_NOT_HOUSE_NUMBER = re.compile(r"地块|号线|号文|号令")
_NUMBER_BEFORE_BUILDING = re.compile(rf"([{NUMBER_CHARS}]+)号(?=楼[下上里道前后])")
_BARE_NUMBER = re.compile(r"([0-9]{1,4})(?=[的，,。；;\s）)]|$)")
_CONNECTORS = frozenset(("", "和", "与", "跟", "同", "、", "-", "－", "—", "的", "上", "和那个", "跟那个", "还有", " ", "\u00a0"))
_JUNCTION = re.compile(
    r"(?:的|那个|这个|的那个|那|这)?"
    r"(?:十字路口|交叉路口|交叉口|交汇处|交界处|交界口|交汇口|交叉处|交汇|交叉|交界|路口|口(?![岸罩腔号径]))"
)
_DIRECTIONS = "东南西北中"
_STEM_TAGS = ("NAME", "NUM", "ALIAS")  # words a name may be made of
_SUFFIX_TAGS = ("ROAD", "COMP", "TOWN")


def _load_spacy():
    return require("spacy", "zh", "location.spacy.v1")


@dataclass(frozen=True, slots=True)
class _Atom:
    start: int
    end: int
    tag: str


class PlaceTokenizer:
    """A spaCy tokenizer: our jieba words, re-cut at place boundaries, each with a place tag (``token.tag_``).

    Args:
        vocab: the pipeline's vocab.
        gazetteer: administrative names (districts, towns/streets) to keep as single tokens.
        communities: 居委 names to keep as single tokens.
        segmenter: what cuts plain text into words; None builds a `JiebaSegmenter` on first use (it loads the
            domain dictionary, about a second). The stage itself passes the tokens already in the `TextDoc`.
    """

    def __init__(self, vocab: Any, gazetteer: Gazetteer, communities: Optional[Communities] = None, segmenter: Any = None):
        self.vocab = vocab
        self.gazetteer = gazetteer
        self.communities = communities
        self._segmenter = segmenter

    def __call__(self, text: str):
        if self._segmenter is None:
            from pipeline.base.segmenter import shared_segmenter

            self._segmenter = shared_segmenter()
        tokens = self._segmenter.tokenize(Segment(0, 0.0, 0.0, text))
        return self.make_doc(text, [(t.start, t.end) for t in tokens])

    def make_doc(self, text: str, spans: Sequence[tuple[int, int]]):
        """A Doc whose words cover `text` exactly (``doc.text == text``), cut at `spans` and at place boundaries."""
        from spacy.tokens import Doc

        words, tags = self.words(text, spans)
        return Doc(self.vocab, words=words, spaces=[False] * len(words), tags=tags)

    def words(self, text: str, spans: Sequence[tuple[int, int]]) -> tuple[list[str], list[str]]:
        """The words of `text` and their place tags: cut at every span boundary and around every place word, never
        inside one (a gazetteer name, an anonymised district, a suffix)."""
        atoms = self._atoms(text)
        cuts = {0, len(text)}
        for a, b in spans:
            if 0 <= a < b <= len(text):
                cuts.update((a, b))
        for atom in atoms:
            cuts.update((atom.start, atom.end))
        for atom in atoms:
            cuts.difference_update(range(atom.start + 1, atom.end))
        bounds = sorted(cuts)
        by_start = {atom.start: atom for atom in atoms}
        words, tags = [], []
        for a, b in zip(bounds, bounds[1:]):
            atom = by_start.get(a)
            words.append(text[a:b])
            tags.append(atom.tag if atom is not None and atom.end == b else _word_tag(text[a:b]))
        return _split_leading_function(words, tags)

    def _atoms(self, text: str) -> list[_Atom]:
        """Non-overlapping place words: committee and gazetteer names first (longest first), then the lexicon."""
        named: list[_Atom] = []
        if self.communities is not None:
            named += [_Atom(h.start, h.end, "JUWEI") for h in self.communities.matcher.finditer(text)]
        gaz = self.gazetteer
        for h in gaz.matcher.finditer(text):
            if _admin_ok(text, h.start, h.end, gaz):
                named.append(_Atom(h.start, h.end, "ADMIN" if gaz.names[h.text].full else "ALIAS"))
        taken = bytearray(len(text))  # characters already inside a chosen atom: linear in the text, not quadratic
        chosen: list[_Atom] = []
        for atom in sorted(named, key=lambda x: (x.start - x.end, x.start)):
            if not any(taken[atom.start : atom.end]):
                taken[atom.start : atom.end] = b"\x01" * (atom.end - atom.start)
                chosen.append(atom)
        for m in _LEX.finditer(text):
            if not any(taken[m.start() : m.end()]):
                chosen.append(_Atom(m.start(), m.end(), m.lastgroup))
        return chosen


def _admin_ok(text: str, start: int, end: int, gazetteer: Gazetteer) -> bool:
    """An alias right before 路/街/道/江 is part of a road's name (宝山路, 黄浦江), not the area."""
    if gazetteer.names[text[start:end]].full:
        return True
    after = text[end : end + 2]
    return not (after[:1] in ("路", "街", "道", "江", "弄") or after in ("大道", "公路"))


def _word_tag(word: str) -> str:
    if not word.strip():
        return "SPACE"
    if _CN_NUMERAL.match(word) or word.isdigit():
        return "NUM"
    if _HAN.search(word):
        return "NAME"
    return "LATIN" if _LATIN.match(word) else "PUNCT"


def _split_leading_function(words: list[str], tags: list[str]) -> tuple[list[str], list[str]]:
    """Split 从鹤州 → 从 鹤州 when a preposition jieba glued to a name stands right before a place suffix."""
    out_w, out_t = [], []
    for i, (w, t) in enumerate(zip(words, tags)):
        nxt = tags[i + 1] if i + 1 < len(tags) else ""
        lead = w[0] in _LEADING_FUNCTION if len(w) >= 3 else w[0] in _LEADING_FUNCTION_2
        if t == "NAME" and len(w) >= 2 and lead and (nxt in _SUFFIX_TAGS or _before_suffix(tags, i + 1)):
            out_w += [w[0], w[1:]]
            out_t += ["NAME", "NAME"]
        else:
            out_w.append(w)
            out_t.append(t)
    return out_w, out_t


def _before_suffix(tags: list[str], i: int) -> bool:
    """Whether tags[i:] is one or two name words and then a place suffix."""
    rest = tags[i : i + 3]
    if len(rest) < 2 or rest[0] not in _STEM_TAGS:
        return False
    return rest[1] in _SUFFIX_TAGS or (rest[1] in _STEM_TAGS and len(rest) == 3 and rest[2] in _SUFFIX_TAGS)


_STEM = {"TAG": {"IN": list(_STEM_TAGS)}}
PATTERNS = (
    {"label": "ROAD", "pattern": [{**_STEM, "OP": "+"}, {"TAG": "ROAD"}]},
    {"label": "COMPOUND", "pattern": [{**_STEM, "OP": "+"}, {"TAG": "COMP"}, {"TAG": "COMP", "OP": "?"}]},
    {"label": "TOWN", "pattern": [{"TAG": {"IN": ["NAME", "NUM"]}, "OP": "+"}, {"TAG": "TOWN"}]},
)


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
        if tag not in _STEM_TAGS:
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
    jieba = require("jieba", "zh", "location.spacy.v1")
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
    if "是" in stem or stem.endswith("期") or _COUNTED.match(stem) or _CN_NUMERAL.match(stem) or stem.isdigit():
        return False  # 应该是|小区, 二期住宅|小区, 四个|小区, 3614|小区
    return True


def _house_number(text: str, end: int) -> tuple[str, int]:
    number, num_end = house_number_at(text, end)
    if number and _NOT_HOUSE_NUMBER.match(text, num_end):
        return "", end  # 429号地块 is a plot, 3号线 a metro line
    if not number:
        said = _NUMBER_BEFORE_BUILDING.match(text, end)
        if said:  # 宜山路七百号楼下: after a road, "号楼下" is 号 + 楼下
            return f"{normalise_number(said.group(1))}号", said.end()
        bare = _BARE_NUMBER.match(text, end)
        if bare:  # 五一大道202的 …
            return f"{bare.group(1)}号", bare.end()
    return number, num_end


class SpacyLocator:
    """The stage: one spaCy pipeline, built once; call it with a TextDoc."""

    def __init__(self, gazetteer: Gazetteer, communities: Optional[Communities], min_confidence: float):
        spacy = _load_spacy()
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
        return self.assemble(mentions)

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
            number, end = _house_number(text, e)
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
        norm, end = f"{r1.name}与{r2.name}路口", junction.end()
        out.append(Mention("intersection", segment_id, r1.start, end, text[r1.start : end], norm, name=norm))
    return out


def make_location_spacy(
    gazetteer: Optional[PathLike] = None, communities: Optional[PathLike] = None, min_confidence: float = 0.3
):
    """Build the stage (the spaCy pipeline is built here, once).

    Args:
        gazetteer: path of an administrative-area CSV (level,name,district,code,aliases) instead of Shanghai's.
        communities: path of a 居委 CSV (name,town_street,district) instead of Shanghai's ``sh_juwei.csv``.
        min_confidence: below this the value is None (unknown).

    Returns:
        A stage returning a LocationField whose `parts` hold district, street, road, number, compound,
        intersection and the raw mention, each mention used given as evidence (segment id and character span).

    Raises:
        ValueError: `min_confidence` is outside [0, 1].
        ImportError: spaCy is not installed (the message gives the pip line).
    """
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)) or not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"location.spacy.v1 min_confidence must be a number in [0, 1], got {min_confidence!r}")
    return SpacyLocator(load_gazetteer(gazetteer), load_communities(communities), float(min_confidence))
