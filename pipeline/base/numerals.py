"""Chinese numerals as said in addresses: 二百三十五 → 235, 五零零 → 500, 一千二 → 1200, 十二 → 12."""

from __future__ import annotations

import logging
from typing import Optional

logger = logging.getLogger(__name__)

__all__ = ["CN_DIGITS", "NUMBER_CHARS", "cn_to_int", "normalise_number"]

CN_DIGITS = {"零": 0, "〇": 0, "洞": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
NUMBER_CHARS = "0123456789０１２３４５６７８９" + "".join(CN_DIGITS) + "".join(_UNITS)
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def cn_to_int(text: str) -> Optional[int]:
    """The value of a Chinese or Arabic numeral, None if `text` is not one.

    Digit strings without units are read digit by digit ("五零零" → 500, "幺零八" → 108). With units the
    usual reading applies, including the colloquial elision of the last unit ("二百五" → 250, "一千二" → 1200).

    >>> cn_to_int("二百三十五"), cn_to_int("三百零八"), cn_to_int("十二"), cn_to_int("1200")
    (235, 308, 12, 1200)
    """
    text = text.translate(_FULLWIDTH)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if any(ch not in CN_DIGITS and ch not in _UNITS for ch in text):
        return None
    if not any(ch in _UNITS for ch in text):
        return int("".join(str(CN_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    last_unit = None
    prev_zero = False
    for ch in text:
        if ch in CN_DIGITS:
            value = CN_DIGITS[ch]
            if digit is not None and not prev_zero:
                return None  # two digits in a row inside a unit numeral ("二三百") is not a number
            prev_zero = value == 0 and digit is None
            digit = value if value else None
            if value == 0:
                last_unit = None  # "三百零八": the 8 is units, not tens
        else:
            unit = _UNITS[ch]
            if unit == 10000:
                total += (section + (digit or 0)) * unit
                section, digit, last_unit = 0, None, None
                continue
            if digit is None and unit == 10 and section == 0:
                digit = 1  # "十二" = 12
            if digit is None:
                return None
            section += digit * unit
            digit, last_unit, prev_zero = None, unit, False
    if digit is not None:
        # "二百五" = 250: a trailing digit right after a unit counts one unit lower
        section += digit * (last_unit // 10 if last_unit and last_unit >= 100 and text[-2] in _UNITS else 1)
    return total + section


def normalise_number(text: str) -> str:
    """A number said in Chinese as Arabic digits; `text` unchanged when it is not a numeral."""
    value = cn_to_int(text)
    return str(value) if value is not None else text
