"""Lexical resources shipped as package data (vocabularies), located in one place."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["hotwords", "vocabulary_path"]


def vocabulary_path() -> Path:
    """The domain vocabulary in jieba user-dictionary format ("word freq tag" per line, # comments)."""
    return Path(str(resources.files("pipeline.base") / "data" / "hotline_vocab.txt"))


@lru_cache(maxsize=1)
def hotwords() -> tuple[str, ...]:
    """The vocabulary entries tagged `hot`, offered to Whisper as hotwords."""
    words = []
    for line in vocabulary_path().read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#") and parts[2] == "hot":
            words.append(parts[0])
    return tuple(words)
