"""Character error rate, normalised the way the project scores Mandarin ASR (see README, "Measured numbers"):
both sides converted to Simplified (OpenCC t2s), NFKC, every character that is not a letter or digit dropped,
then Levenshtein distance over characters divided by the reference length."""

from __future__ import annotations

import unicodedata

from .hygiene import to_simplified

__all__ = ["cer", "edit_distance", "normalize_for_cer"]


def normalize_for_cer(text: str) -> str:
    text = unicodedata.normalize("NFKC", to_simplified(text))
    return "".join(ch for ch in text if ch.isalnum()).lower()


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference length) after normalisation; sum both over a corpus, then divide."""
    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    return edit_distance(ref, hyp), len(ref)
