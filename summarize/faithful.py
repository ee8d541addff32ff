"""Faithfulness of a summary: every number, place and named party in it occurs in the transcript.

`unsupported_facts(summary, transcript)` lists what a summary says that the caller did not: used by
``summarize.llamacpp.v1`` to refuse a generated summary that names a number, place or party nobody said, and by
``bench/summary_metrics.py`` to measure every summary stage the same way.

Both texts are first written in one canonical form (`canonical`): every numeral run, Arabic or Chinese (八零二,
二十六, 18), becomes its value (a run ending in 万 keeps the 万: 十八万 and 18万 are both 18万); numbers next to a
masked digit (*) are left out (the masking hides them on purpose). Then

* numbers: every value in the summary must be a value in the transcript;
* places and parties: every word of the summary (segmented with the product's segmenter) that ends in a place or
  party suffix (`SUFFIXES`; a suffix that is a word of its own takes the word before it: 张杨/路) must occur in the
  transcript, where up to `GAP` characters may stand between two of its characters (a summary drops fillers:
  A1区那个鑫苑 → A1区鑫苑).
"""

from __future__ import annotations

import re
from typing import Optional

from pipeline.base.numerals import cn_to_int
from pipeline.base.segmenter import shared_segmenter

__all__ = ["GAP", "SUFFIXES", "canonical", "unsupported_facts"]

_RUN = re.compile(r"[0-9零〇一二两三四五六七八九十百千万幺]+")
SUFFIXES = (
    "小区", "社区", "大厦", "广场", "公园", "医院", "学校", "小学", "中学", "幼儿园", "市场", "公司", "集团", "派出所",
    "物业", "银行", "法院", "政府", "中心", "大道", "街道", "路", "街", "巷", "区", "县", "市", "镇", "乡", "村", "组",
    "站", "桥", "局", "委", "厂", "苑",
)  # fmt: skip
_SUFFIX = re.compile("|".join(SUFFIXES))
_UNITS = "栋号楼层室月日点万元块岁组期"
GAP = 2  # characters a summary may have dropped between two of a name's (那个, 的)


def _value(run: str) -> Optional[str]:
    if run.isdigit():
        return str(int(run)) if len(run) < 2 or run[0] != "0" else run
    if all(ch in "零〇一二两三四五六七八九幺" for ch in run) and len(run) > 1:
        return "".join(str(cn_to_int(ch)) for ch in run)  # digit by digit: 八零二 → 802, 零二 → 02
    value = cn_to_int(run)
    return None if value is None else str(value)


def canonical(text: str) -> str:
    """`text` with every numeral run written as ⟨value⟩ (see the module docstring); runs touching * stay as said."""
    out, pos = [], 0
    for m in _RUN.finditer(text):
        a, b = m.span()
        if (a > 0 and text[a - 1] == "*") or (b < len(text) and text[b] == "*"):
            continue
        if b - a == 1 and text[a] in "一两十" and not (b < len(text) and text[b] in _UNITS):
            continue  # a lone 一/两/十 is a word (一下, 两边) unless it counts an address, date or amount
        run, tail = (m.group()[:-1], "万") if m.group().endswith("万") and len(m.group()) > 1 else (m.group(), "")
        value = _value(run) if "万" not in run else None
        if value is None:
            continue
        out.append(text[pos:a] + f"⟨{value}⟩" + tail)
        pos = b
    out.append(text[pos:])
    return "".join(out)


def unsupported_facts(summary: str, transcript: str) -> list[str]:
    """The numbers, places and parties of `summary` that do not occur in `transcript` (empty: faithful)."""
    body = summary.split("：", 1)[1] if "：" in summary else summary
    body = body.replace("诉求：", "，")
    said, ours = canonical(transcript), canonical(body)
    values = set(re.findall(r"⟨[^⟩]+⟩", said))
    missing = [v for v in re.findall(r"⟨[^⟩]+⟩", ours) if v not in values]
    words = [w for w in shared_segmenter().cut(ours) if w.strip()]
    for k, word in enumerate(words):
        if not _SUFFIX.search(word[-3:]) or not _SUFFIX.fullmatch(_SUFFIX.findall(word)[-1]) or not word.endswith(_SUFFIX.findall(word)[-1]):
            continue
        name = word if len(word) >= 2 or k == 0 else words[k - 1] + word  # 路 alone: with the word before it
        if re.search(r"[，。⟨⟩*：]", name):
            continue
        # the caller's words, with at most GAP dropped characters (fillers) between two of them
        if not re.search(f".{{0,{GAP}}}".join(map(re.escape, name)), said):
            missing.append(name)
    return missing
