"""caller.phone.v1 and caller.id.v1: the phone and resident ID numbers the caller says, for the ticket's caller fields.

Numbers are found by ``pipeline.base.privacy.personal_numbers``, the same finder that masks them in summaries, so what
is extracted here is exactly what is masked there. Values are normalised: ASCII digits only (an ID number may end
in X), spoken digits converted (幺三八 → 138, 洞 → 0, 两 → 2), separators and a +86 country code dropped.

A number the caller gives as someone else's (邻居电话…, 物业的电话是…, 他手机…, 对方号码…) is not the caller's and is
left out; an ID number is only filled in when its check character is right. The values are unmasked (the operator
calls back with them); these stages never log a number. Evidence is the span of the number as said.
"""

from __future__ import annotations

import logging
import re
from typing import Callable, Mapping

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
# Whose number it is: the last of these words said before the number, in its own clause (or, when the number opens
# its clause, "邻居的电话，139…", the clause before), decides. Someone else's number is not the caller's.
_OWNER = re.compile(
    r"(?P<other>邻居|物业|保安|门卫|房东|中介|商家|店家|店主|老板|对方|(?<!其)他|她|开发商|施工(?:方|队|单位)|司机|业委会|居委)"
    r"|(?P<self>我|本人|自己|俺)"
)
_CLAUSE_BREAK = re.compile(r"[，,。！？!?；;：:\n]")
_NO_WORDS = re.compile(r"[\s是为啊呢]*")  # a clause this empty says nothing about whose number follows
# Confidence of a phone number by kind and whether a phone cue (电话, 手机, 号码 …) precedes it. A landline without a
# cue is too easily a date, an amount or a case number: it stays a candidate only.
_PHONE_CONFIDENCE = {("mobile", True): 0.95, ("mobile", False): 0.8, ("landline", True): 0.75, ("landline", False): 0.3}
# An ID number by whether its check character is right and an ID cue precedes it. One that fails the check (a digit
# misheard) is never the value, but stays a candidate: it still helps the operator.
_ID_CONFIDENCE = {(True, True): 0.95, (True, False): 0.85, (False, True): 0.55, (False, False): 0.35}
_REPEAT_BONUS = 0.03  # per further mention of the same number (the caller repeated or confirmed it)


def _check(name: str, min_confidence: float, context_chars: int) -> None:
    check_number(f"{name}.min_confidence", min_confidence, 0.0, 1.0)
    check_number(f"{name}.context_chars", context_chars, 0, 100, integer=True)


def _pick(
    found: list[tuple[str, float, Evidence]], min_confidence: float, acceptable: Callable[[str], bool] = lambda v: True
) -> TicketField:
    """Group mentions by value; the best value is the one with the highest confidence, the latest mention among
    equals (a caller who corrects a number says the right one last). A value that is not `acceptable` (an ID
    number failing its checksum) stays a candidate and is never the value."""
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
    best = next((t for t in scored if acceptable(t[2])), None)
    if best is None or best[0] < min_confidence:
        return TicketField.unknown(scored[0][0], candidates)
    confidence, _, value, evidence = best
    return TicketField(value, confidence, evidence, candidates)


def _someone_elses(text: str, start: int, lo: int) -> bool:
    """Whether the words before the number at `text[start]` (not before `lo`: the end of the previous number) say
    it is someone else's: "邻居电话139…", "物业的电话是，139…", "他手机139…" (but "我邻居说打我电话138…" is the caller's)."""
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(text, lo, start)]
    clause_start = breaks[-1] if breaks else lo
    if _NO_WORDS.fullmatch(text, clause_start, start) and len(breaks) >= 1:
        clause_start = breaks[-2] if len(breaks) >= 2 else lo  # the number opens its clause: look at the one before
    last = None
    for last in _OWNER.finditer(text, clause_start, start):
        pass
    return last is not None and last.group("other") is not None


def make_caller_phone(min_confidence: float = 0.5, context_chars: int = 12):
    """Build caller.phone.v1.

    Args:
        min_confidence: below this the value is None (unknown); the ranked candidates are kept.
        context_chars: how many characters before a number are searched for a phone cue (电话, 手机, 号码, 打我 …).

    Returns:
        A stage whose value is the caller's mobile (11 digits) or landline (area code and number, digits only):
        a mobile scores 0.95 after a phone cue and 0.8 without one; a landline 0.75 after a cue (without one it is
        only a candidate). A number right after 身份证 without a phone cue is not a phone number, and one said as
        someone else's (邻居电话…, 物业的电话是…, 他手机…) is left out.
    """
    _check("caller.phone.v1", min_confidence, context_chars)

    def caller_phone(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        found: list[tuple[str, float, Evidence]] = []
        for seg in doc.segments:
            previous_end = 0
            for number in personal_numbers(seg.text):
                lo, previous_end = previous_end, number.end
                if number.kind not in ("mobile", "landline") or _someone_elses(seg.text, number.start, lo):
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
        A stage whose value is an 18-character resident ID number with a plausible birth date and the right check
        character: 0.95 when an ID cue precedes it, 0.85 without the cue. A number with a wrong check character (a
        digit misheard) is never the value, only a candidate (0.55 with a cue, 0.35 without), for the operator to
        confirm. A number said as someone else's (他身份证…) is left out. 15-digit numbers of the first-generation
        cards are not recognised.
    """
    _check("caller.id.v1", min_confidence, context_chars)

    def caller_id(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        found: list[tuple[str, float, Evidence]] = []
        for seg in doc.segments:
            previous_end = 0
            for number in personal_numbers(seg.text):
                lo, previous_end = previous_end, number.end
                if number.kind != "id" or _someone_elses(seg.text, number.start, lo):
                    continue
                before = seg.text[max(0, number.start - context_chars) : number.start]
                cue = max(_last_cue(_ID_CUE, before), _last_cue(_CORRECTION, before))
                confidence = _ID_CONFIDENCE[(id_checksum_ok(number.digits), cue >= 0)]
                found.append((number.digits, confidence, Evidence(seg.id, number.start, number.end, number.text)))
        return _pick(found, min_confidence, acceptable=id_checksum_ok)

    return caller_id


def _last_cue(pattern: re.Pattern[str], text: str) -> int:
    """The end of the last match of `pattern` in `text`, -1 when none."""
    end = -1
    for m in pattern.finditer(text):
        end = m.end()
    return end
