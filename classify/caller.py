"""caller.phone.v1 and caller.id.v1: the phone and resident ID numbers the caller says, for the ticket's caller fields.

Numbers are found by ``pipeline.base.privacy.personal_numbers``, the same finder that masks them in summaries, so what
is extracted here is exactly what is masked there. Values are normalised: ASCII digits only (an ID number may end
in X), spoken digits converted (幺三八 → 138, 洞 → 0, 两 → 2), separators and a +86 country code dropped.

The values are unmasked (the operator calls back with them); these stages never log a number. Evidence is the span
of the number as said.
"""

from __future__ import annotations

import logging
import re
from typing import Mapping

from pipeline.base.config import check_number
from pipeline.base.privacy import id_checksum_ok, personal_numbers
from pipeline.base.types import Evidence, TextDoc, TicketField

from .matching import MAX_EVIDENCE

logger = logging.getLogger(__name__)

__all__ = ["make_caller_id", "make_caller_phone"]

_PHONE_CUE = re.compile(r"电话|手机|号码|联系|座机|固话|打(?:我|给我|这个)|回(?:电|拨|个电话)|拨打")
_ID_CUE = re.compile(r"身份证|证件|身份号|公民身份")
# A correction ("不对，是…", "说错了，应该是…") counts as a cue for the number after it, which then wins the tie
# with the number it corrects by being said later.
_CORRECTION = re.compile(r"不对|说错|错了|应该是|更正")
# Confidence of a phone number by kind and whether a phone cue (电话, 手机, 号码 …) precedes it. A landline without a
# cue is too easily a date, an amount or a case number: it stays a candidate only.
_PHONE_CONFIDENCE = {("mobile", True): 0.95, ("mobile", False): 0.8, ("landline", True): 0.75, ("landline", False): 0.3}
# An ID number whose check character is right; one that fails the check (a digit misheard) still helps the operator.
_ID_CONFIDENCE = {(True, True): 0.95, (True, False): 0.85, (False, True): 0.55, (False, False): 0.35}
_REPEAT_BONUS = 0.03  # per further mention of the same number (the caller repeated or confirmed it)


def _check(name: str, min_confidence: float, context_chars: int) -> None:
    check_number(f"{name}.min_confidence", min_confidence, 0.0, 1.0)
    check_number(f"{name}.context_chars", context_chars, 0, 100, integer=True)


def _pick(found: list[tuple[str, float, Evidence]], min_confidence: float) -> TicketField:
    """Group mentions by value; the best value is the one with the highest confidence, the latest mention among
    equals (a caller who corrects a number says the right one last)."""
    if not found:
        return TicketField.unknown()
    by_value: dict[str, tuple[float, int, list[Evidence]]] = {}
    for order, (value, confidence, ev) in enumerate(found):
        best, _, evs = by_value.get(value, (0.0, order, []))
        evs.append(ev)
        by_value[value] = (max(best, confidence), order, evs)
    scored = []
    for value, (confidence, last, evs) in by_value.items():
        confidence = min(0.99, confidence + _REPEAT_BONUS * (len(evs) - 1))
        scored.append((round(confidence, 4), last, value, tuple(evs[:MAX_EVIDENCE])))
    scored.sort(key=lambda t: (-t[0], -t[1]))
    candidates = tuple((value, confidence) for confidence, _, value, _ in scored[:3])
    confidence, _, value, evidence = scored[0]
    if confidence < min_confidence:
        return TicketField.unknown(confidence, candidates)
    return TicketField(value, confidence, evidence, candidates)


def make_caller_phone(min_confidence: float = 0.5, context_chars: int = 12):
    """Build caller.phone.v1.

    Args:
        min_confidence: below this the value is None (unknown); the ranked candidates are kept.
        context_chars: how many characters before a number are searched for a phone cue (电话, 手机, 号码, 打我 …).

    Returns:
        A stage whose value is the caller's mobile (11 digits) or landline (area code and number, digits only):
        a mobile scores 0.95 after a phone cue and 0.8 without one; a landline 0.75 after a cue (without one it is
        only a candidate). A number right after 身份证 without a phone cue is not a phone number.
    """
    _check("caller.phone.v1", min_confidence, context_chars)

    def caller_phone(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        found: list[tuple[str, float, Evidence]] = []
        for seg in doc.segments:
            for number in personal_numbers(seg.text):
                if number.kind not in ("mobile", "landline"):
                    continue
                before = seg.text[max(0, number.start - context_chars) : number.start]
                cue = max(_last_cue(_PHONE_CUE, before), _last_cue(_CORRECTION, before))
                id_cue = _last_cue(_ID_CUE, before)
                if id_cue > cue:
                    continue  # "身份证310101…" misheard with a wrong length is not a phone number
                confidence = _PHONE_CONFIDENCE[(number.kind, cue >= 0)]
                found.append((number.digits, confidence, Evidence(seg.id, number.start, number.end, number.text)))
        return _pick(found, min_confidence)

    return caller_phone


def make_caller_id(min_confidence: float = 0.5, context_chars: int = 12):
    """Build caller.id.v1.

    Args:
        min_confidence: below this the value is None (unknown); the ranked candidates are kept.
        context_chars: how many characters before a number are searched for an ID cue (身份证, 证件 …).

    Returns:
        A stage whose value is an 18-character resident ID number with a plausible birth date: 0.95 when its check
        character is right and an ID cue precedes it, 0.85 without the cue; 0.55 with a cue but a wrong check
        character (a digit was probably misheard: the operator confirms it), 0.35 (a candidate only) with neither.
        15-digit numbers of the first-generation cards are not recognised.
    """
    _check("caller.id.v1", min_confidence, context_chars)

    def caller_id(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        found: list[tuple[str, float, Evidence]] = []
        for seg in doc.segments:
            for number in personal_numbers(seg.text):
                if number.kind != "id":
                    continue
                before = seg.text[max(0, number.start - context_chars) : number.start]
                cue = max(_last_cue(_ID_CUE, before), _last_cue(_CORRECTION, before))
                confidence = _ID_CONFIDENCE[(id_checksum_ok(number.digits), cue >= 0)]
                found.append((number.digits, confidence, Evidence(seg.id, number.start, number.end, number.text)))
        return _pick(found, min_confidence)

    return caller_id


def _last_cue(pattern: re.Pattern[str], text: str) -> int:
    """The end of the last match of `pattern` in `text`, -1 when none."""
    end = -1
    for m in pattern.finditer(text):
        end = m.end()
    return end
