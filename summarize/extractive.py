"""summarize.extractive.v1: a one-line ticket summary built from the caller's own clauses.

The summary has the usual ticket shape ``来电人反映：<where><what>；诉求：<request>。``:

* <where> is the drafted location (``fields["location"]``) unless the chosen clauses already say it;
* <what> is the clause that best states the problem (it holds the words the category and urgency stages cited,
  or problem cues such as 坏了/太吵/漏水), with the clauses that follow it in the same sentence;
* <request> is the first clause with 希望/要求/请…尽快 …; without one, `consult_request` when the request
  type is 咨询 and `default_request` otherwise.

Phone and ID numbers are masked (138****5678), and the evidence leaves them out: it cites the chosen clauses
without the stretches the masking hid, so no number the summary masks is shown whole beside it. The summary is
capped at `max_chars`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Mapping, Optional

from pipeline.base.config import check_number
from pipeline.base.privacy import mask_pii as _mask_pii
from pipeline.base.privacy import mask_pii_aligned, pii_spans
from pipeline.base.types import Evidence, TextDoc, TicketField

logger = logging.getLogger(__name__)

__all__ = ["Clause", "make_extractive_summary", "split_clauses"]

MAX_FOLLOWING = 2  # clauses after the problem clause that may join <what>
_TEMPLATE = "来电人反映：{what}；诉求：{request}。"

_SENTENCE_END = re.compile(r"[。！？!?；;…\n]+")
_CLAUSE_END = re.compile(r"[，,：:]+|\s{2,}")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_FILLER = re.compile(
    r"(?:(?:嗯|呃|啊|哦|喂|唉|那个|就是说|就是|然后|你好|您好|是这样的|是这样|我跟你说|我想说)[，,、\s]*)+"
)
_REPORT = re.compile(r"(?:我|我们)?(?:想|要)?(?:反映|投诉|举报)(?:一下|下)?(?:个|一个)?(?:问题|情况|事情)?(?:就是)?")
_GREETING = re.compile(r"^(?:喂|你好|您好|嗯|呃|啊|哦|谢谢|谢谢你|谢谢你们|好的|好|再见|麻烦你了|辛苦了|对|是的|没有了|就这样)+$")
_CLOSER = re.compile(r"^(?:谢谢|谢谢你|谢谢你们|感谢|好的|再见|麻烦了|麻烦你了|辛苦了)+")
_STRONG_REQUEST = re.compile(r"希望|要求|请求|诉求|请你们|请相关部门|请有关部门")
_WEAK_REQUEST = re.compile(
    r"请.{0,6}(?:尽快|马上|赶紧|处理|解决|派人|过来|来修|核实|查一下)|麻烦.{0,6}(?:处理|解决|派人|过来|看看|管一管)"
    r"|(?:能不能|可不可以|能否).{0,8}(?:处理|解决|修|管|派人)|帮忙.{0,6}(?:处理|解决|修|看看|管)|尽快|赶紧"
    r"|快(?:点|来|派人)|马上(?:派人|过来|来)"
)
_PROBLEM = re.compile(
    r"坏了|坏掉|损坏|破损|故障|不亮|不通|堵|漏|渗水|积水|吵|噪音|噪声|扰民|油烟|臭|脏|乱|违章|违建|偷|拖欠|欠薪|"
    r"停水|停电|没水|没电|危险|隐患|占用|占道|垃圾|收费|诈骗|骗|态度|不管|没人管|不处理|投诉|举报|问题"
)


@dataclass(frozen=True, slots=True)
class Clause:
    """A stretch of one segment between commas or sentence ends; `text == segment.text[start:end]`."""

    segment_id: int
    sentence: int  # index of its sentence in the whole doc
    start: int
    end: int
    text: str

    def evidence(self) -> Evidence:
        return Evidence(self.segment_id, self.start, self.end, self.text)


def _idle(clause: Clause) -> bool:
    """Greetings, thanks, or only "我想反映一下": nothing to summarise."""
    return bool(_GREETING.match(clause.text) or _REPORT.fullmatch(clause.text))


def split_clauses(doc: TextDoc) -> list[Clause]:
    """The clauses of `doc` in order, with leading fillers (嗯, 那个, 我想反映一下 …) cut off and filler-only clauses left out."""
    clauses: list[Clause] = []
    sentence = 0
    for seg in doc.segments:
        text = seg.text
        for sent in _spans(text, _SENTENCE_END, 0, len(text)):
            for a, b in _spans(text, _CLAUSE_END, *sent):
                piece = text[a:b]
                stripped = piece.strip()
                if not stripped:
                    continue
                a += len(piece) - len(piece.lstrip())
                b = a + len(stripped)
                cut = _FILLER.match(text, a, b)
                if cut and cut.end() >= b:
                    continue  # only "嗯", "那个" …
                if cut:
                    a = cut.end()
                report = _REPORT.match(text, a, b)
                if report and report.end() > a and b - report.end() >= 4:
                    a = report.end()
                clauses.append(Clause(seg.id, sentence, a, b, text[a:b]))
            sentence += 1
    return clauses


def _spans(text: str, sep: re.Pattern[str], lo: int, hi: int) -> list[tuple[int, int]]:
    out, pos = [], lo
    for m in sep.finditer(text, lo, hi):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, hi))
    return [(a, b) for a, b in out if b > a]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def make_extractive_summary(
    max_chars: int = 120, default_request: str = "请相关部门核实处理", consult_request: str = "请予以解答", mask_pii: bool = True
):
    """Build the stage.

    Args:
        max_chars: the longest summary, template included (>= 30).
        default_request: <request> when the caller states none.
        consult_request: <request> when the caller states none and the request type is 咨询.
        mask_pii: mask phone and ID numbers in the summary.

    Returns:
        A stage whose value is the summary (None for a call without Chinese text or with greetings only) and
        whose evidence are the clauses it was built from (with `mask_pii`, less the numbers it masks).
    """
    check_number("summarize.extractive.v1.max_chars", max_chars, 30, integer=True)
    for key, value in (("default_request", default_request), ("consult_request", consult_request)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"summarize.extractive.v1 {key} must be a non-empty str, got {value!r}")
    do_mask = bool(mask_pii)

    def summarize(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        clauses = [c for c in split_clauses(doc) if _HAN.search(c.text)]
        if not clauses:
            return TicketField.unknown()
        cited = _cited_spans(fields)
        request_idx = _request_clause(clauses)
        location = fields.get("location")
        where_spans = {(e.segment_id, e.start_char, e.end_char) for e in location.evidence} if location else set()

        best, best_score = None, 0
        for i, c in enumerate(clauses):
            if i == request_idx or _idle(c):
                continue
            score = 2 * _overlaps(c, cited) + len(_PROBLEM.findall(c.text))
            if score > best_score:
                best, best_score = i, score
        if best is None:  # no problem cue: the first clause with some content that is not only the address
            best = next(
                (i for i, c in enumerate(clauses) if i != request_idx and not _idle(c) and len(c.text) >= 4
                 and not _overlaps(c, where_spans)),
                None,
            )
        chosen: list[Clause] = []
        if best is not None:
            prev = best - 1
            if prev >= 0 and prev != request_idx and clauses[prev].sentence == clauses[best].sentence and not _idle(clauses[prev]) and (
                _overlaps(clauses[prev], cited) or _PROBLEM.search(clauses[prev].text)
            ):
                chosen.append(clauses[prev])  # the problem is often said over two clauses: 闻到煤气味，好像泄漏了
            chosen.append(clauses[best])
            for j in range(best + 1, min(best + 1 + MAX_FOLLOWING, len(clauses))):
                c = clauses[j]
                if j == request_idx or c.sentence != clauses[best].sentence:
                    break
                if _idle(c) or _CLOSER.match(c.text) or _STRONG_REQUEST.search(c.text) or _WEAK_REQUEST.search(c.text):
                    break
                chosen.append(c)
        what = "，".join(_said(doc, c, do_mask) for c in chosen)
        where = location.value.replace(" ", "") if location is not None and location.value else ""
        if where and any(_overlaps(c, where_spans) for c in chosen):
            where = ""  # the clause already says where
        request_type = fields.get("request_type")
        fallback = consult_request if request_type is not None and request_type.value == "咨询" else default_request
        request, request_clause = fallback, None
        if request_idx is not None:
            request_clause = clauses[request_idx]
            request = _CLOSER.sub("", _said(doc, request_clause, do_mask)) or fallback
        if not chosen and request_clause is None:
            return TicketField.unknown()  # greetings only
        what = "，".join(p for p in (where, what) if p) or "相关问题"
        if do_mask:
            what, request = _mask_pii(what), _mask_pii(request)
        room = max_chars - len(_TEMPLATE.format(what="", request=""))
        request = _truncate(request, max(8, min(len(request), room // 3)))
        what = _truncate(what, room - len(request))
        summary = _TEMPLATE.format(what=what, request=request)
        confidence = 0.4 + (0.3 if best_score > 0 else 0.0) + (0.2 if request_clause is not None else 0.0)
        cited_clauses = chosen + ([request_clause] if request_clause else [])
        evidence = tuple(ev for c in cited_clauses for ev in _evidence(doc, c, do_mask))
        return TicketField(summary, round(confidence, 4), evidence)

    return summarize


def _said(doc: TextDoc, clause: Clause, mask: bool) -> str:
    """The clause's text; with `mask`, numbers are masked by what its whole segment says, so a number said over
    two clauses (幺三八，一二三四五六七八) is masked as one."""
    if not mask:
        return clause.text
    seg = next(s for s in doc.segments if s.id == clause.segment_id)
    return mask_pii_aligned(seg.text)[clause.start : clause.end]


def _evidence(doc: TextDoc, clause: Clause, mask: bool) -> list[Evidence]:
    """The clause as evidence; with `mask`, the pieces of it outside what the masking hides (by what its whole segment
    says, as in `_said`), so the evidence never shows a number the summary masks."""
    if not mask:
        return [clause.evidence()]
    seg = next(s for s in doc.segments if s.id == clause.segment_id)
    pieces, pos = [], clause.start
    for start, end in pii_spans(seg.text):
        if end > pos and start < clause.end:
            pieces.append((pos, max(pos, start)))
            pos = min(clause.end, end)
    pieces.append((pos, clause.end))
    out = []
    for a, b in pieces:
        text = seg.text[a:b]
        stripped = text.strip(" \t\u3000+-－—–·.、，,")
        if _HAN.search(stripped) or any(ch.isalnum() for ch in stripped):
            a += len(text) - len(text.lstrip(" \t\u3000+-－—–·.、，,"))
            out.append(Evidence(seg.id, a, a + len(stripped), stripped))
    return out


def _cited_spans(fields: Mapping[str, TicketField]) -> set[tuple[int, int, int]]:
    spans = set()
    for name in ("category", "urgency", "request_type"):
        f = fields.get(name)
        if f is not None and f.value is not None:
            spans.update((e.segment_id, e.start_char, e.end_char) for e in f.evidence)
    return spans


def _overlaps(clause: Clause, spans: set[tuple[int, int, int]]) -> int:
    return sum(1 for sid, a, b in spans if sid == clause.segment_id and a < clause.end and clause.start < b)


def _request_clause(clauses: list[Clause]) -> Optional[int]:
    """The first clause with a strong request cue (希望, 要求 …), else the last one with a weak cue (尽快, 麻烦 …)."""
    weak = None
    for i, c in enumerate(clauses):
        if _STRONG_REQUEST.search(c.text):
            return i
        if _WEAK_REQUEST.search(c.text):
            weak = i
    return weak
