"""Recognition errors that sound like a domain word: 压金 → 押金, 抱名 → 报名, 隔强 → 隔墙.

Whisper writes a word the caller said with the wrong characters of the same sound. `correct_homophones` puts the
written word back only where three things make it sure:

* the heard form is not a dictionary word (jieba's and the domain's) and was seen at most once in the written
  messages (`Homophones.seen`: 2–4-character strings seen twice or more there, a hashed bit set);
* a word of the written messages (seen `MIN_COUNT` times or more, a dictionary word, no numeral) has exactly its
  sound, character by character without tones (`Homophones.words`);
* that word is seen with the characters on both sides of it in the written messages (能抱名读 → 能报名读 because 能报
  and 报名读 … are written; 治出了 → 指出了 not, as 子指 never is).

The heard form must be one word of the segmentation (2 or 3 characters) and lie outside the places the location
stage found. On the 300 spoken dev calls this fixes 53 of the 567 listed recognition errors and makes 2 changes
that are not listed (楼放 → 楼房, 游衣 → 有意): about 96 % of its changes are right.
The lexicon is built from the written messages (``python bench/build_homophones.py``) and shipped as
``summarize/data/homophones_v1.npz`` (words and the bit set, read with numpy). Needs pypinyin (the ``zh`` extra).
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from pipeline.base.deps import require
from pipeline.base.segmenter import shared_segmenter

from .spoken import Correction

logger = logging.getLogger(__name__)

__all__ = ["Homophones", "build_homophones", "correct_homophones", "load_homophones", "sound"]

LEXICON_FILE = "homophones_v1.npz"
MIN_COUNT = 50
SEEN_BITS = 1 << 23  # 1 MB: a hash collision says "seen", which only ever stops a correction
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万亿]")


@lru_cache(maxsize=8192)
def _char_sound(ch: str) -> str:
    pypinyin = require("pypinyin", "zh", "homophone correction")
    return pypinyin.lazy_pinyin(ch)[0]


def sound(text: str) -> str:
    """The toneless pinyin of `text`, character by character (each character's default reading)."""
    return " ".join(_char_sound(ch) for ch in text)


def _bucket(text: str) -> int:
    return zlib.crc32(text.encode("utf-8")) % SEEN_BITS


@dataclass(frozen=True)
class Homophones:
    """The lexicon: (length, sound) -> the written word, and the bit set of strings seen twice or more."""

    words: Mapping[tuple[int, str], str]
    bits: np.ndarray  # uint8, SEEN_BITS // 8

    def seen(self, text: str) -> bool:
        b = _bucket(text)
        return bool(self.bits[b >> 3] & (1 << (b & 7)))

    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        lines = "\n".join(sorted(self.words.values()))
        with path.open("wb") as fh:
            np.savez_compressed(fh, words=np.frombuffer(lines.encode("utf-8"), dtype=np.uint8), bits=self.bits)
        return path


def build_homophones(texts: Iterable[str], min_count: int = MIN_COUNT) -> Homophones:
    """The lexicon of written `texts` (see the module docstring)."""
    from collections import Counter

    counts: Counter = Counter()
    for text in texts:
        for run in _HAN_RUN.findall(text):
            for n in (2, 3, 4):
                counts.update(run[i : i + n] for i in range(len(run) - n + 1))
    seg = shared_segmenter()
    bits = np.zeros(SEEN_BITS // 8, dtype=np.uint8)
    best: dict[tuple[int, str], str] = {}
    for gram, count in counts.items():
        if count < 2:
            continue
        b = _bucket(gram)
        bits[b >> 3] |= 1 << (b & 7)
        if len(gram) <= 3 and count >= min_count and seg.is_word(gram) and not _NUMERAL.search(gram):
            key = (len(gram), sound(gram))
            if key not in best or counts[best[key]] < count:
                best[key] = gram
    return Homophones(best, bits)


def read_homophones(path: Union[str, Path]) -> Homophones:
    with np.load(path, allow_pickle=False) as z:
        words = z["words"].tobytes().decode("utf-8").split("\n")
        bits = z["bits"].astype(np.uint8)
    if bits.shape != (SEEN_BITS // 8,):
        raise ValueError(f"homophone lexicon {str(path)!r} has a bit set of {bits.shape[0]} bytes, want {SEEN_BITS // 8}")
    return Homophones({(len(w), sound(w)): w for w in words if w}, bits)


@lru_cache(maxsize=2)
def load_homophones(path: Optional[str] = None) -> Homophones:
    """The shipped lexicon (`LEXICON_FILE`), or the one at `path`."""
    return read_homophones(path or str(resources.files("summarize") / "data" / LEXICON_FILE))


def correct_homophones(
    text: str, boundaries: Iterable[int], protected: Sequence[tuple[int, int]] = (), lexicon: Optional[Homophones] = None
) -> tuple[str, tuple[Correction, ...]]:
    """`text` with the sure homophone errors replaced (same length), and what was replaced (see the module docstring).

    Args:
        text: a clause as said.
        boundaries: its word boundaries (character offsets); a heard form is the text between two consecutive ones.
        protected: spans never changed (places).
        lexicon: instead of the shipped one.
    """
    lex = lexicon if lexicon is not None else load_homophones()
    seg = shared_segmenter()
    cuts = sorted(set(boundaries))
    out = list(text)
    fixes: list[Correction] = []
    spans = tuple(protected)
    for a, b in pairwise(cuts):  # one word of the segmentation at a time
        heard = text[a:b]
        if b - a not in (2, 3) or not _HAN_RUN.fullmatch(heard) or any(a < pe and ps < b for ps, pe in spans):
            continue
        if _NUMERAL.search(heard) or seg.is_word(heard) or lex.seen(heard):
            continue
        word = lex.words.get((b - a, sound(heard)))
        if word is None or word == heard:
            continue
        before = text[a - 1] if a and _HAN_RUN.fullmatch(text[a - 1]) else ""
        after = text[b] if b < len(text) and _HAN_RUN.fullmatch(text[b]) else ""
        if not (before or after) or (before and not lex.seen(before + word)) or (after and not lex.seen(word + after)):
            continue  # the written word must be seen with the characters on both sides of it
        out[a:b] = word
        fixes.append(Correction(heard, word, a, b))
    return "".join(out), tuple(fixes)
