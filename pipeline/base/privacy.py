"""Personal numbers in text: finding them (mobiles, landlines, resident ID numbers) and masking them.

Callers say numbers in many ways and ASR writes them in as many: ``13812345678``, ``138-1234-5678``,
``+86 138 1234 5678``, ``幺三八一二三四五六七八``, ``138一二三四5678``, ``幺三八，一二三四，五六七八``. A *number run* is a
stretch of digit characters (Arabic, full-width, or Chinese 零〇洞幺一二两三四五六七八九), possibly in chunks joined by
one or two separators (space, -, ·, ., 、, comma); an ID number may end in X (also written x, × or 叉).
Inside a run, consecutive chunks that together have the shape of a mobile, an ID number or a landline are one
personal number (`personal_numbers`). `mask_pii` masks those, and also any other stretch of a run with 7 or more
digits, so a number ASR got slightly wrong is masked too.

This module is shared by the summaries (masking) and by the caller-field stages in ``classify.caller``
(extraction), so the two agree on what a number is.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Iterator, Optional

logger = logging.getLogger(__name__)

__all__ = [
    "NumberRun", "PersonalNumber", "find_number_runs", "id_checksum_ok", "mask_pii", "mask_pii_aligned", "number_kind",
    "personal_numbers", "pii_spans",
]  # fmt: skip

_DIGIT_VALUES = {"零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
                 "六": "6", "七": "7", "八": "8", "九": "9"}  # fmt: skip
_DIGIT_VALUES.update({str(d): str(d) for d in range(10)})
_DIGIT_VALUES.update({chr(0xFF10 + d): str(d) for d in range(10)})  # full-width ０-９
_X_CHARS = "Xx×叉"
_DIGIT = "[0-9０-９零〇洞幺一二两三四五六七八九]"
_CHUNK = re.compile(f"{_DIGIT}+(?:[{_X_CHARS}](?!{_DIGIT}))?")
_SEP = r"[ \t\u3000\-－—–·.、，,]{1,2}"
_RUN = re.compile(f"\\+?{_DIGIT}+(?:[{_X_CHARS}](?!{_DIGIT}))?(?:{_SEP}{_DIGIT}+(?:[{_X_CHARS}](?!{_DIGIT}))?)*")

_MOBILE = re.compile(r"(?:0086|86)?(1[3-9]\d{9})")
_ID = re.compile(r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]")
_LANDLINE_AREA = re.compile(r"(0(?:[12]\d|[3-9]\d{2}))([2-9]\d{6,7})")  # 010/02x + 8 digits, 0xxx + 7-8 digits
_LANDLINE_LOCAL = re.compile(r"[2-9]\d{6,7}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
MAX_DIGITS = 18 + 4  # an ID number, or a mobile with the 0086 prefix
MIN_MASKED_DIGITS = 7  # any stretch of a number run with this many digits is masked, whatever its shape


@dataclass(frozen=True, slots=True)
class NumberRun:
    """A stretch of `text[start:end]` made of digit chunks; `chunks` are (start, end, digits) with the digits
    normalised to ASCII (X for a final X/叉)."""

    start: int
    end: int
    text: str
    chunks: tuple[tuple[int, int, str], ...]

    @property
    def digits(self) -> str:
        return "".join(d for _, _, d in self.chunks)


@dataclass(frozen=True, slots=True)
class PersonalNumber:
    """A mobile, landline or ID number found in `text[start:end]`; `digits` is normalised (ASCII digits, an ID's
    check character X, no country code, no separators)."""

    kind: str  # "mobile", "landline" or "id"
    start: int
    end: int
    text: str
    digits: str


def _normalise(chunk: str) -> str:
    return "".join(_DIGIT_VALUES.get(ch, "X") for ch in chunk)


def find_number_runs(text: str) -> Iterator[NumberRun]:
    """Every number run in `text`, left to right (see the module docstring)."""
    for m in _RUN.finditer(text):
        chunks = tuple((m.start() + c.start(), m.start() + c.end(), _normalise(c.group())) for c in _CHUNK.finditer(m.group()))
        if chunks:
            yield NumberRun(m.start(), m.end(), m.group(), chunks)


def number_kind(digits: str) -> Optional[str]:
    """The kind, "mobile", "id" or "landline", when normalised `digits` have that shape (an ID's birth date must be a
    plausible date; a landline is 7-8 digits, or 10-12 with an area code), else None."""
    if _MOBILE.fullmatch(digits):
        return "mobile"
    if _ID.fullmatch(digits):
        return "id"
    if _LANDLINE_AREA.fullmatch(digits) or _LANDLINE_LOCAL.fullmatch(digits):
        return "landline"
    return None


def id_checksum_ok(digits: str) -> bool:
    """Whether an 18-character resident ID number has the right check character (GB 11643-1999)."""
    if len(digits) != 18 or not digits[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == digits[17]


def _is_amount(run: NumberRun) -> bool:
    """1,234,567: thousands separators, not a phone number."""
    seps = [run.text[a - run.start : b - run.start] for (_, a, _), (b, _, _) in zip(run.chunks, run.chunks[1:])]
    return (
        len(run.chunks) > 1
        and all(s in (",", "，") for s in seps)
        and len(run.chunks[0][2]) <= 3
        and all(len(d) == 3 and run.text[s - run.start].isascii() for s, _, d in run.chunks[1:])
    )


def _split(run: NumberRun) -> Iterator[tuple[Optional[str], int, int]]:
    """Cover the chunks of `run` left to right with (kind, first, last+1) pieces: the longest stretch of chunks from
    each position that has a personal number's shape, else a single chunk with kind None."""
    chunks, i = run.chunks, 0
    while i < len(chunks):
        stop, n_digits = i, 0  # no personal number is longer than MAX_DIGITS: look no further (linear in the run)
        while stop < len(chunks) and n_digits + len(chunks[stop][2]) <= MAX_DIGITS:
            n_digits += len(chunks[stop][2])
            stop += 1
        for j in range(stop, i, -1):
            kind = number_kind("".join(d for _, _, d in chunks[i:j]))
            if kind is not None:
                yield kind, i, j
                i = j
                break
        else:
            yield None, i, i + 1
            i += 1


def personal_numbers(text: str) -> Iterator[PersonalNumber]:
    """Every mobile, landline and ID number said in `text`, left to right.

    >>> [(p.kind, p.digits) for p in personal_numbers("电话幺三八 一二三四 五六七八，身份证31010119900101123X")]
    [('mobile', '13812345678'), ('id', '31010119900101123X')]
    """
    for run in find_number_runs(text):
        if _is_amount(run):
            continue
        for kind, i, j in _split(run):
            if kind is None:
                continue
            start = run.start if i == 0 else run.chunks[i][0]  # a leading "+" belongs to the number
            end = run.chunks[j - 1][1]
            digits = "".join(d for _, _, d in run.chunks[i:j])
            if kind == "mobile":
                digits = _MOBILE.fullmatch(digits).group(1)
            yield PersonalNumber(kind, start, end, text[start:end], digits)


def _digit_chars(text: str, start: int, end: int) -> list[str]:
    """The digit characters of text[start:end] as written (separators and "+" left out)."""
    return [ch for ch in text[start:end] if ch in _DIGIT_VALUES or ch in _X_CHARS]


def _keep_ends(chars: list[str], head: int, tail: int) -> str:
    return "".join(chars[:head]) + "*" * (len(chars) - head - tail) + "".join(chars[len(chars) - tail :])


def _masked(text: str, kind: Optional[str], start: int, end: int) -> str:
    chars = _digit_chars(text, start, end)
    if kind == "mobile":
        return _keep_ends(chars[-11:], 3, 4)  # the country code is dropped
    if kind == "id":
        return _keep_ends(chars, 3, 4)
    if kind == "landline":
        m = _LANDLINE_AREA.fullmatch(_normalise("".join(chars)))
        if m:
            n_area = len(m.group(1))
            said = text[start:end]
            # keep the area code as said, with its separator when it was said apart ("021-62****34")
            k, seen = 0, 0
            while seen < n_area:
                seen += said[k] in _DIGIT_VALUES
                k += 1
            sep = said[k] if k < len(said) and said[k] not in _DIGIT_VALUES else ""
            return "".join(chars[:n_area]) + sep + _keep_ends(chars[n_area:], 2, 2)
        return _keep_ends(chars, 2, 2)
    return _keep_ends(chars, 3, 4) if len(chars) >= 11 else _keep_ends(chars, 2, 2)


def _mask_plan(text: str) -> list[tuple[Optional[str], int, int]]:
    """The (kind, start, end) stretches of `text` that `mask_pii` masks: personal numbers (kind set) and other
    stretches of number runs with at least MIN_MASKED_DIGITS digits (kind None), left to right."""
    pieces: list[tuple[Optional[str], int, int]] = []
    for run in find_number_runs(text):
        if len(run.digits) < MIN_MASKED_DIGITS or _is_amount(run):
            continue
        pending: list[int] = []  # chunk indexes of a stretch without a shape

        def flush() -> None:
            if pending and sum(len(run.chunks[k][2]) for k in pending) >= MIN_MASKED_DIGITS:
                pieces.append((None, run.chunks[pending[0]][0], run.chunks[pending[-1]][1]))
            pending.clear()

        for kind, i, j in _split(run):
            if kind is None:
                pending.append(i)
                continue
            flush()
            pieces.append((kind, run.start if i == 0 else run.chunks[i][0], run.chunks[j - 1][1]))
        flush()
    return pieces


def pii_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) stretches of `text` that `mask_pii` masks, left to right: what must not be shown beside a
    masked text (e.g. as the evidence of a masked summary).

    >>> pii_spans("我电话13812345678，路灯坏了")
    [(3, 14)]
    """
    return [(start, end) for _, start, end in _mask_plan(text)]


def mask_pii(text: str) -> str:
    """Mask the personal numbers in `text`: mobiles keep 3+4 digits (138****5678), ID numbers 3+4, landlines 2+2
    after the area code (021-62****34), and any other stretch of a number run with 7 or more digits is masked too.
    Digits keep the script they were said in (幺三八****五六七八); amounts with thousands separators are left alone.

    >>> mask_pii("我电话13812345678，身份证310101199001011234")
    '我电话138****5678，身份证310***********1234'
    """
    if not text:
        return text
    out, pos = [], 0
    for kind, start, end in _mask_plan(text):
        out.append(text[pos:start])
        out.append(_masked(text, kind, start, end))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_pii_aligned(text: str) -> str:
    """`mask_pii` that keeps every character in place: the hidden digits become "*" one for one and separators stay,
    so ``mask_pii_aligned(text)[a:b]`` masks a slice of `text` by what the whole text says. Use it to mask a clause
    cut out of a longer text: a number said over two clauses (幺三八，一二三四五六七八) is masked as one number.

    >>> mask_pii_aligned("电话138-1234-5678。")
    '电话138-****-5678。'
    """
    if not text:
        return text
    chars = list(text)
    for kind, start, end in _mask_plan(text):
        masked = [ch for ch in _masked(text, kind, start, end) if ch not in "-－—–·.、，, \t\u3000"]
        positions = [k for k in range(start, end) if text[k] in _DIGIT_VALUES or text[k] in _X_CHARS]
        positions = positions[len(positions) - len(masked) :]  # a dropped country code stays as said
        for k, ch in zip(positions, masked):
            chars[k] = ch
    return "".join(chars)
