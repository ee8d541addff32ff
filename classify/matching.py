"""Cue matching shared by the rule stages: many patterns, one pass per segment, hits with character spans.

All cues of a table are compiled into one regular expression (one named group per cue), so scanning a
transcript costs one `finditer` per segment: linear in the length of the transcript.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

from pipeline.base.types import Evidence, TextDoc

logger = logging.getLogger(__name__)

__all__ = ["Cue", "CueMatcher", "Hit", "MAX_EVIDENCE", "evidence_of", "has_chinese", "is_negated", "strength"]

MAX_EVIDENCE = 8  # evidence spans kept per field; a long call repeats its cues
_HAN = re.compile(r"[\u4e00-\u9fff]")
_NEGATIONS = ("没有", "并没有", "没", "不是", "不是要", "不是想", "不想", "不", "未", "无", "并非")


@dataclass(frozen=True, slots=True)
class Cue:
    """A pattern that votes for `label` with `weight`. `pattern` is a regular expression without capturing groups."""

    label: str
    pattern: str
    weight: float = 1.0
    literal: bool = False  # True: `pattern` is plain text, escaped before compiling


@dataclass(frozen=True, slots=True)
class Hit:
    """One match of a cue in one segment: `text == segment.text[start:end]`."""

    segment_id: int
    start: int
    end: int
    text: str
    cue: Cue

    def evidence(self) -> Evidence:
        return Evidence(self.segment_id, self.start, self.end, self.text)


class CueMatcher:
    """Finds every non-overlapping cue in a text, left to right; at one position the longest cue wins.

    When every cue is literal text the matcher looks words up in a dict keyed by their first character, so the
    cost per character does not grow with the number of cues; otherwise the cues are compiled into one regular
    expression (one named group per cue).

    Args:
        cues: the cues; regular-expression cues must not contain capturing groups (use ``(?:...)``).
        source: the file the cues come from, named in errors.

    Raises:
        ValueError: a pattern does not compile, has a capturing group or matches the empty string (names the
            pattern and `source`).
    """

    def __init__(self, cues: Sequence[Cue], source: str = "<cues>"):
        self.cues = tuple(cues)
        self._regex: Optional[re.Pattern[str]] = None
        self._literal: dict[str, Cue] = {}
        self._lengths: dict[str, tuple[int, ...]] = {}
        if all(c.literal for c in self.cues):
            lengths: dict[str, set[int]] = {}
            for cue in self.cues:
                if not cue.pattern:
                    raise ValueError(f"empty cue in {source!r}")
                self._literal.setdefault(cue.pattern, cue)
                lengths.setdefault(cue.pattern[0], set()).add(len(cue.pattern))
            self._lengths = {ch: tuple(sorted(ls, reverse=True)) for ch, ls in lengths.items()}
            return
        parts = []
        for i in sorted(range(len(self.cues)), key=lambda i: -len(self.cues[i].pattern)):
            cue = self.cues[i]
            pattern = re.escape(cue.pattern) if cue.literal else cue.pattern
            try:
                compiled = re.compile(pattern)
            except re.error as e:
                raise ValueError(f"invalid cue pattern {cue.pattern!r} in {source!r}: {e}") from None
            if compiled.groups:
                raise ValueError(f"invalid cue pattern {cue.pattern!r} in {source!r}: use (?:...) instead of capturing groups")
            if compiled.match(""):
                raise ValueError(f"invalid cue pattern {cue.pattern!r} in {source!r}: it matches the empty string")
            parts.append(f"(?P<c{i}>{pattern})")
        self._regex = re.compile("|".join(parts))

    def finditer(self, text: str, segment_id: int = 0) -> Iterator[Hit]:
        if not text:
            return
        if self._regex is not None:
            for m in self._regex.finditer(text):
                yield Hit(segment_id, m.start(), m.end(), m.group(), self.cues[int(m.lastgroup[1:])])
            return
        i, n, lengths, words = 0, len(text), self._lengths, self._literal
        while i < n:
            for length in lengths.get(text[i], ()):
                if i + length > n:
                    continue
                word = text[i : i + length]
                cue = words.get(word)
                if cue is not None:
                    yield Hit(segment_id, i, i + length, word, cue)
                    i += length
                    break
            else:
                i += 1

    def scan(self, doc: TextDoc, skip_negated: bool = False) -> Iterator[Hit]:
        """Every hit in every segment of `doc`, in order. `skip_negated` drops cues right after 没/不/未/无."""
        for seg in doc.segments:
            for hit in self.finditer(seg.text, seg.id):
                if skip_negated and is_negated(seg.text, hit.start):
                    continue
                yield hit


def is_negated(text: str, start: int) -> bool:
    """Whether the words right before `start` negate what follows ("没有人受伤", "不是投诉")."""
    before = text[max(0, start - 3) : start]
    return before.endswith(_NEGATIONS)


def has_chinese(doc: TextDoc) -> bool:
    """Whether any segment of `doc` contains a Chinese character (rules for Chinese have nothing to say otherwise)."""
    return any(_HAN.search(seg.text) for seg in doc.segments)


def evidence_of(hits: Iterable[Hit]) -> tuple[Evidence, ...]:
    """Distinct evidence spans of `hits`, the first `MAX_EVIDENCE` in order."""
    seen: set[tuple[int, int, int]] = set()
    out = []
    for hit in hits:
        key = (hit.segment_id, hit.start, hit.end)
        if key in seen:
            continue
        seen.add(key)
        out.append(hit.evidence())
        if len(out) >= MAX_EVIDENCE:
            break
    return tuple(out)


def strength(score: float) -> float:
    """Map an accumulated cue score (>= 0) to (0, 1): one full-weight cue gives 0.63, two give 0.86."""
    return 1.0 - math.exp(-max(0.0, score))
