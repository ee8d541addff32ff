"""Masking of personal numbers in text shown to people: mobiles, landlines and resident ID numbers."""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

__all__ = ["mask_pii"]

_ID = re.compile(r"(?<![0-9])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(?P<area>0\d{2,3}[-\s]?)?(?P<number>\d{8})(?![0-9])")
_SPOKEN = re.compile(r"[零〇洞幺一二两三四五六七八九]{7,}")


def _mask(digits: str, head: int, tail: int) -> str:
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail :]


def _mask_mobile(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group())[-11:]
    return _mask(digits, 3, 4)


def _mask_landline(m: re.Match[str]) -> str:
    return (m.group("area") or "") + _mask(m.group("number"), 2, 2)


def _mask_spoken(m: re.Match[str]) -> str:
    run = m.group()
    return _mask(run, 3, 4) if len(run) >= 11 else _mask(run, 2, 2)


def mask_pii(text: str) -> str:
    """Mask 18-character ID numbers, mobile numbers (11 digits, also with +86 or separators), 8-digit landlines
    and numbers of 7+ digits said in Chinese.

    >>> mask_pii("我电话13812345678，身份证310101199001011234")
    '我电话138****5678，身份证310***********1234'
    """
    text = _ID.sub(lambda m: _mask(m.group(), 3, 4), text)
    text = _MOBILE.sub(_mask_mobile, text)
    text = _LANDLINE.sub(_mask_landline, text)
    return _SPOKEN.sub(_mask_spoken, text)
