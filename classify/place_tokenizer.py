"""The spaCy tokenizer of the location stage: our jieba words, re-cut at place boundaries and tagged.

It takes the words of *our* `JiebaSegmenter` (the tokens already in the `TextDoc`; a lazily built segmenter for
plain text) and re-cuts them at place boundaries: names from the licensed gazetteer (districts, towns/streets) and
居委 names become single tokens, as do anonymised districts ("A3区", "A7县", "A9市"); road, compound and town
suffixes (路 大道 公路 街 / 小区 花园 苑 / 街道 镇 乡) become tokens of their own, so that "区栖凤路" or "金甲冲 路口"
from jieba give "栖凤" "路" and "金甲冲" "路" "口". Every word gets a place tag (NAME, NUM, ROAD, COMP, TOWN, ADMIN,
ALIAS, ANON, JUWEI …) and the words cover the segment text exactly, so a token's ``idx`` is its character offset in
the segment. `PATTERNS` are the ``entity_ruler`` token patterns on those tags: roads (name words + road suffix),
compounds (name words + compound suffix) and towns (name words + 镇/街道/乡).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from pipeline.base.types import Segment

from .gazetteer import Communities, Gazetteer

logger = logging.getLogger(__name__)

__all__ = ["CN_NUMERAL", "JUNCTION_WORDS", "PATTERNS", "STEM_TAGS", "PlaceTokenizer"]

_TEN = "一二三四五六七八九十"
# the words for where roads cross, longest first (the location stage reads a crossing with them, and 路口)
JUNCTION_WORDS = "十字路口|交叉路口|交汇路口|交界路口|交会路口|交叉口|交汇处|交界处|交界口|交汇口|交叉处|交汇|交叉|交界"
# Place words found by characters, whatever jieba made of them. One pattern, one pass; earlier alternatives win.
_LEX = re.compile(
    "|".join(
        f"(?P<{tag}>{pattern})"
        for tag, pattern in (
            ("ANON", r"(?<![A-Za-z0-9])[A-Z][0-9]{1,2}[ \u00a0]?[区县市]"),
            ("CITY", r"(?<![A-Za-z0-9])[A-Z][市省](?![A-Za-z0-9])"),
            ("JUNC", JUNCTION_WORDS),
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
CN_NUMERAL = re.compile(r"^[零〇一二两三四五六七八九十百千万幺]+号?$")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"^[A-Za-z0-9０-９.]+$")
# A longer jieba word that swallowed a preposition before a name: 从鹤州|路 → 从 鹤州.
_LEADING_FUNCTION = frozenset("从在到往至于经沿靠是的把被给向对离过进去来住")
_LEADING_FUNCTION_2 = frozenset("从在到往靠是的把被给对离住")  # 往联|丰路 (not 向阳路, 经纬路)
STEM_TAGS = ("NAME", "NUM", "ALIAS")  # words a name may be made of
_SUFFIX_TAGS = ("ROAD", "COMP", "TOWN")

_STEM = {"TAG": {"IN": list(STEM_TAGS)}}
PATTERNS = (
    {"label": "ROAD", "pattern": [{**_STEM, "OP": "+"}, {"TAG": "ROAD"}]},
    {"label": "COMPOUND", "pattern": [{**_STEM, "OP": "+"}, {"TAG": "COMP"}, {"TAG": "COMP", "OP": "?"}]},
    {"label": "TOWN", "pattern": [{"TAG": {"IN": ["NAME", "NUM"]}, "OP": "+"}, {"TAG": "TOWN"}]},
)


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
        communities: 居委 names to keep as single tokens (None: no 居委 names).

    Called with plain text, it cuts the text with the shared `JiebaSegmenter`, built on first use (it loads the
    domain dictionary, about a second); the stage itself passes the tokens already in the `TextDoc` to `make_doc`.
    """

    def __init__(self, vocab: Any, gazetteer: Gazetteer, communities: Optional[Communities] = None):
        self.vocab = vocab
        self.gazetteer = gazetteer
        self.communities = communities
        self._segmenter: Any = None

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
    if CN_NUMERAL.match(word) or word.isdigit():
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
    if len(rest) < 2 or rest[0] not in STEM_TAGS:
        return False
    return rest[1] in _SUFFIX_TAGS or (rest[1] in STEM_TAGS and len(rest) == 3 and rest[2] in _SUFFIX_TAGS)
