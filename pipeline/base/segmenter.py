"""Chinese word segmentation: its own jieba.Tokenizer with the domain user dictionary."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Protocol

from .vocab import vocabulary_path

from .deps import require
from .types import Segment, Token

logger = logging.getLogger(__name__)

__all__ = ["JiebaSegmenter", "Segmenter", "shared_segmenter"]


class Segmenter(Protocol):
    def tokenize(self, segment: Segment) -> tuple[Token, ...]: ...


def _load_jieba():
    return require("jieba", "zh", "Chinese word segmentation")


class JiebaSegmenter:
    """Segments text with a private `jieba.Tokenizer` (never the global one) and the hotline user dictionary.

    The dictionary is loaded and the tokenizer warmed up at construction, so the first call is not slow.
    """

    def __init__(self, user_dict: Optional[Path] = None, extra_words: Iterable[str] = ()):
        jieba = _load_jieba()
        logging.getLogger("jieba").setLevel(logging.WARNING)  # jieba logs its cache build at DEBUG/INFO
        self._tok = jieba.Tokenizer()
        self._tok.initialize()
        path = Path(user_dict) if user_dict is not None else vocabulary_path()
        self._load_user_dict(path)
        for word in extra_words:
            self._tok.add_word(word)
        list(self._tok.tokenize("上海市浦东新区"))  # warm-up

    def _load_user_dict(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise OSError(f"Error reading user dictionary {str(path)!r}: {e.strerror or e}") from e
        for lineno, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) > 3 or (len(parts) >= 2 and not parts[1].isdigit()):
                raise ValueError(f"invalid dictionary entry in {str(path)!r} at line {lineno}: {line!r} (expected 'word [freq] [tag]')")
            freq = int(parts[1]) if len(parts) >= 2 else None
            tag = parts[2] if len(parts) == 3 else None
            self._tok.add_word(parts[0], freq, tag)

    def add_word(self, word: str, freq: Optional[int] = None) -> None:
        self._tok.add_word(word, freq)

    def is_word(self, text: str) -> bool:
        """Whether `text` is a word of the dictionary (jieba's and the domain's)."""
        return self._tok.FREQ.get(text, 0) > 0

    def cut(self, text: str) -> list[str]:
        return [w for w, _, _ in self._tok.tokenize(text)]

    def tokenize(self, segment: Segment) -> tuple[Token, ...]:
        return tuple(
            Token(word, start, end, segment.id)
            for word, start, end in self._tok.tokenize(segment.text)
            if word.strip()
        )


@lru_cache(maxsize=1)
def shared_segmenter() -> JiebaSegmenter:
    """The domain-dictionary segmenter every stage uses by default, built once per process (a second or so
    and tens of MB each). Read-only: build your own JiebaSegmenter to add words."""
    return JiebaSegmenter()
