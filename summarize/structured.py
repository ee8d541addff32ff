"""summarize.structured.v1: the work-order summary an operator writes, built from the caller's words.

``来电人反映：<where><what>，诉求：<request>。`` where

* <where> is the place the location stage found, as the caller said it (its evidence), unless <what> says it;
* <what> is the clauses that state the matter, in the caller's order, compressed: greetings, fillers, hedges,
  repetitions and the caller's "I want to report …" are dropped, sure recognition errors are fixed from the domain
  vocabulary (`summarize.spoken`) and from the sounds of the written messages' words (`summarize.homophones`), and
  numbers are written in digits;
* <request> is what the caller asked for (希望/要求/请/麻烦/能不能 …) without the asking (希望领导帮我们尽快处理一下
  → 尽快处理); when the caller asks for nothing, `default_request`, and the field's confidence says so.

With `frame_by_type` a consultation is written ``来电人咨询：<where><what>。`` (the question is the request) and a
suggestion ``来电人建议：…，诉求：…。``, as centres write them.

Every character of the summary is the caller's, except the frame, the digits of numbers they said, the terms of sure
corrections and `default_request`; phone and ID numbers are masked (138****5678). The evidence is the clauses used,
less what the masking hides.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import AbstractSet, Mapping, Optional

from pipeline.base.config import check_number
from pipeline.base.privacy import mask_pii as _mask_pii
from pipeline.base.privacy import mask_pii_aligned
from pipeline.base.segmenter import shared_segmenter
from pipeline.base.types import Evidence, TextDoc, TicketField

from .extractive import Clause, _cited_spans, _evidence, split_clauses
from .homophones import correct_homophones
from .selector import Candidate, Selector, load_selector, pick_clauses
from .spoken import correct_terms, digits, keep_tokens, written

logger = logging.getLogger(__name__)

__all__ = ["Part", "build_structured_summary", "content_candidates", "make_structured_summary"]

NAME = "summarize.structured.v1"
CITED_BONUS = 3.0  # a clause the classifiers cited ranks as if said three clauses earlier
QUESTION_BONUS = 3.0  # the same for a question in a consultation
FRAMES = {"咨询": "来电人咨询", "建议": "来电人建议"}

_HAN = re.compile(r"[\u4e00-\u9fff]")
_IDLE = re.compile(
    r"^(?:喂|你好|您好|领导|嗯|呃|啊|哦|谢谢|谢谢你|谢谢你们|谢谢了|好的|好|再见|麻烦你了|麻烦了|辛苦了|对|是的|没有了|就这样|"
    r"打扰了|不好意思)+$"
)
_INTRO = re.compile(  # matched at a clause start (pattern.match(text, pos))
    r"(?:首先|今天|现在)?(?:我|我们)?(?:就|是|现在|今天)?(?:想|要|来|得)?(?:跟|向|给)?(?:你们|您|市长|领导|政府|你)?"
    r"(?:反映|投诉|举报|咨询|问|请问|打听|了解|提|控告|说|讲|求助)(?:一下|下|个|几个|一个|点|两个)?(?:啊|呀)?"
    r"(?:关于)?(?:问题|情况|事情|事|建议|意见|安全隐患)?(?:啊|呀|的事|的问题)?(?:，)?"
)
_SELF = re.compile(r"(?:我|我们|我家|我们家)(?:原来|以前|现在|本来)?(?:是|就是|在|住在|住|家住在|家住|家在)")
_NAME = re.compile(r"^(?:我|本人)(?:姓|叫)\w{1,3}$")
_SELF_TAIL = re.compile(r"(?:的)?(?:业主|住户|居民|村民|家长|职工)?(?:的|啊)?$")
_REQUEST_STRONG = re.compile(
    r"希望|要求|请求|诉求|恳请|(?<![申邀聘宴提])请(?!问|假|客|教|示|柬|帖)|麻烦(?:你们|您|相关|有关|帮|派|尽快)|"
    r"能不能|能否|可不可以|帮(?:我们|忙)(?:解决|处理|协调|做主|维权|查)|(?:我|我们)建议|^建议"
)
_REQUEST_WEAK = re.compile(r"尽快|赶紧|快点|管一管|管管|处理一下|解决一下|查一查|查一下|做个?主")
_ASK = re.compile(
    r"(?:我们|我)?(?:强烈|还是|就|真诚)?(?:希望|要求|请求|恳请|请|麻烦|能不能|能否|可不可以)?(?:一下)?"
    r"(?:你们|您|相关部门|有关部门|主管部门|相关的部门|有关的部门|上级领导|市领导|各位领导|领导|政府|市长|市委市政府|"
    r"上级部门|部门|你|市里|有关单位|相关单位|[县区镇乡]领导|[县区镇乡]里|[县区镇乡]政府)*"
    r"(?:能|可以|赶快|好好|帮忙|帮帮|帮|给|为|替)?(?:我们|我|咱们|老百姓|我们老百姓|业主)*"
)
_ASK_TAIL = re.compile(r"(?:一下|一下子|吧|啊|呀|好吗|行吗|可以吗|谢谢|谢谢了|谢谢你们)+$")
_SOFT = re.compile(r"^(?:重视(?:一下)?|关注(?:一下)?|考虑(?:一下)?|看看|看一下|了解一下|研究一下)$")


@dataclass(frozen=True, slots=True)
class Part:
    """A clause as the summary uses it: its place in the call and its compressed words."""

    clause: Clause
    text: str  # compressed, corrected, digits
    kind: str  # "content", "request", "question"


def make_structured_summary(
    what_chars: int = 34,
    request_chars: int = 12,
    default_request: str = "核实处理",
    frame_by_type: bool = True,
    correct_asr: bool = True,
    mask_pii: bool = True,
):
    """Build the stage with the shipped learned clause selector (`build_structured_summary` says what each option
    does, and takes another selector)."""
    return build_structured_summary(what_chars, request_chars, default_request, frame_by_type, correct_asr, mask_pii)


def build_structured_summary(
    what_chars: int = 34,
    request_chars: int = 12,
    default_request: str = "核实处理",
    frame_by_type: bool = True,
    correct_asr: bool = True,
    mask_pii: bool = True,
    selector: str = "learned",
    selector_model: Optional[str] = None,
):
    """Build the stage.

    Args:
        what_chars: the longest <where><what> (>= 10). The shipped selector's tuned budget (its card's
            ``what_chars``) is 34; a retrained one prints its own, to set here.
        request_chars: the longest <request> (>= 4).
        default_request: <request> when the caller asks for nothing.
        frame_by_type: write 来电人咨询 (without 诉求) and 来电人建议 for those request types (else always 来电人反映).
        correct_asr: fix sure recognition errors from the domain vocabulary (`summarize.spoken.CONFUSIONS`).
        mask_pii: mask phone and ID numbers.
        selector: how <what>'s clauses are chosen: "learned" (the shipped logistic clause scorer,
            `summarize.selector`, trained by ``summarize/train.py``) or "position" (the earliest clauses, those the
            classifiers cited and, in a consultation, questions first).
        selector_model: a selector file (.npz written by ``summarize/train.py``) or a `Selector`, instead of the
            shipped one.

    Returns:
        A stage whose value is the summary (None for a call without Chinese text or with greetings only) and whose
        evidence are the clauses it used (with `mask_pii`, less what the masking hides). Its confidence is 0.9 when the
        request is the caller's (or the call is a consultation) and 0.6 when it is `default_request`.
    """
    check_number(f"{NAME}.what_chars", what_chars, 10, integer=True)
    check_number(f"{NAME}.request_chars", request_chars, 4, integer=True)
    if not isinstance(default_request, str) or not default_request.strip():
        raise ValueError(f"{NAME} default_request must be a non-empty str, got {default_request!r}")
    do_mask, do_correct, by_type = bool(mask_pii), bool(correct_asr), bool(frame_by_type)
    if selector not in ("learned", "position"):
        raise ValueError(f"{NAME} selector must be 'learned' or 'position', got {selector!r}")
    if isinstance(selector_model, Selector) or selector != "learned":
        model = selector_model if selector == "learned" else None
    else:
        model = load_selector(str(selector_model) if selector_model else None)
    drop = frozenset(model.dropped) if model is not None else frozenset()

    def summarize(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        plan = _plan(doc, fields, do_mask, do_correct, by_type, request_chars, drop)
        if plan is None:
            return TicketField.unknown()
        said, kind, consult, places, request, content = plan
        if model is not None:
            chosen = _choose_learned(content, what_chars, consult, _cited_spans(fields), places, model)
        else:
            chosen = _choose(content, what_chars, consult, _cited_spans(fields))
        where = _where(said, fields.get("location"), chosen)
        what = "，".join(p.text for p in chosen)
        if not what and not where and request is None:
            return TicketField.unknown()
        what = _cut(where + what, what_chars + min(len(where), what_chars))
        frame = FRAMES.get(kind, "来电人反映") if by_type else "来电人反映"
        if consult and request is None:
            summary = f"{frame}：{what or '相关问题'}。"  # the question is the request
        elif not what and request is not None and frame == FRAMES["建议"]:
            summary = f"{frame}：{request[0]}。"  # the suggestion is the whole call
        else:
            summary = f"{frame}：{what or '相关问题'}，诉求：{request[0] if request else default_request}。"
        if do_mask:
            summary = _mask_pii(summary)
        cited = [p.clause for p in chosen] + ([p.clause for p in request[1]] if request else [])
        evidence = tuple(ev for c in cited for ev in _evidence(doc, c, do_mask))
        confidence = 0.5 + (0.3 if request or consult else 0.0) + (0.1 if chosen else 0.0)
        return TicketField(summary, round(confidence, 4), evidence)

    return summarize


def _plan(doc: TextDoc, fields: Mapping[str, TicketField], do_mask: bool, do_correct: bool, by_type: bool,
          request_chars: int, drop: AbstractSet[str] = frozenset()):
    """What the summary is chosen from: (said, request type, consult, place spans, request, content parts), or None
    for a call with nothing to summarise."""
    clauses = [c for c in split_clauses(doc) if _HAN.search(c.text)]
    if not clauses:
        return None
    kind = _value(fields.get("request_type"))
    places = _place_spans(fields.get("location"))
    said = {s.id: (mask_pii_aligned(s.text) if do_mask else s.text) for s in doc.segments}
    parts = [p for p in (_part(doc, said, c, places, do_correct, drop) for c in clauses) if p is not None]
    if not parts:
        return None
    consult = by_type and kind == "咨询"
    request = _request(doc, said, [p for p in parts if not (consult and _QUESTION.search(p.clause.text))], places,
                       do_correct, request_chars)
    in_request = set() if request is None else {id(p) for p in request[1]}
    content = [p for p in parts if id(p) not in in_request and (consult or p.kind != "request")]
    return said, kind, consult, places, request, content


def content_candidates(doc: TextDoc, fields: Mapping[str, TicketField], mask_pii: bool = True, correct_asr: bool = True,
                       frame_by_type: bool = True, request_chars: int = 12,
                       drop: AbstractSet[str] = frozenset()) -> tuple[list[Part], list[Candidate], bool]:
    """The parts <what> is chosen from, their selector candidates and whether the call is a consultation (for
    training the selector: ``summarize/train.py``; `drop`: the words compression drops, `Selector.dropped`)."""
    plan = _plan(doc, fields, mask_pii, correct_asr, frame_by_type, request_chars, drop)
    if plan is None:
        return [], [], False
    _, _, consult, places, _, content = plan
    return content, candidates(content, _cited_spans(fields), places), consult


def _value(field: Optional[TicketField]) -> Optional[str]:
    return field.value if field is not None and isinstance(field.value, str) else None


def _place_spans(location: Optional[TicketField]) -> dict[int, list[tuple[int, int]]]:
    spans: dict[int, list[tuple[int, int]]] = {}
    if location is not None and location.value:
        for ev in location.evidence:
            spans.setdefault(ev.segment_id, []).append((ev.start_char, ev.end_char))
    return spans


def _tokens(doc: TextDoc, clause: Clause) -> list[tuple[str, int, int]]:
    """The words of the clause (offsets in its segment): the doc's segmentation, or the shared segmenter's."""
    for seg, toks in zip(doc.segments, doc.tokens):
        if seg.id == clause.segment_id and toks:
            return [(t.text, t.start, t.end) for t in toks if clause.start <= t.start and t.end <= clause.end]
    out, pos = [], clause.start
    for word in shared_segmenter().cut(clause.text):
        out.append((word, pos, pos + len(word)))
        pos += len(word)
    return out


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """The clause's span less the caller's "I want to report …" and "I am a resident of …" frames."""
    m = _INTRO.match(text, a, b)
    if m and m.end() > a:
        a = m.end()
    m = _SELF.match(text, a, b)
    if m:
        a = m.end()
        tail = _SELF_TAIL.search(text, a, b)
        if tail and tail.start() > a:
            b = tail.start()
    return a, b


def _compress(doc: TextDoc, said: Mapping[int, str], clause: Clause, a: int, b: int, places, do_correct: bool,
              drop: AbstractSet[str] = frozenset()) -> str:
    """The words of ``said[segment][a:b]`` an operator keeps: sure recognition errors fixed (on the words as
    said, so a heard form never spans a dropped word), fillers dropped, numbers in digits."""
    text = said[clause.segment_id]
    spans = places.get(clause.segment_id, [])
    tokens = [(s, e) for _, s, e in _tokens(doc, clause) if a <= s and e <= b]
    if not tokens:
        return ""
    lo, hi = tokens[0][0], tokens[-1][1]
    piece = text[lo:hi]
    if do_correct:
        cuts = [s - lo for s, _ in tokens] + [hi - lo]
        shifted = [(ps - lo, pe - lo) for ps, pe in spans]
        piece, _ = correct_terms(piece, cuts, shifted)
        piece, _ = correct_homophones(piece, cuts, shifted)
    kept = keep_tokens([(piece[s - lo : e - lo], s, e) for s, e in tokens], spans, drop)
    return digits("".join(written([w for w, _, _ in kept])))


def _part(doc: TextDoc, said: Mapping[int, str], clause: Clause, places, do_correct: bool,
          drop: AbstractSet[str] = frozenset()) -> Optional[Part]:
    if _IDLE.match(clause.text) or _NAME.match(clause.text):
        return None
    a, b = _trim(said[clause.segment_id], clause.start, clause.end)
    compressed = _compress(doc, said, clause, a, b, places, do_correct, drop) if b > a else ""
    if len(_HAN.findall(compressed)) < 2:  # nothing, or one character left (搬 of 搬过来的): no clause of a summary
        return None
    if _REQUEST_STRONG.search(clause.text):
        kind = "request"
    elif _REQUEST_WEAK.search(clause.text):
        kind = "weak"
    else:
        kind = "content"
    return Part(clause, compressed, kind)


def _request(
    doc: TextDoc, said: Mapping[int, str], parts: list[Part], places, do_correct: bool, limit: int
) -> Optional[tuple[str, list[Part]]]:
    """The caller's request: the last clause with a strong cue (else the last with a weak one) from its cue on, or
    the latest strong one before it when that one names no action of its own (`_VAGUE`: 考虑一下老百姓, 给我们做主) or
    leaves nothing (then the last vague one, if any), less
    the asking and the addressee (希望领导帮我们 …), in the operator's words (`_plain`); when that leaves only
    "重视一下", the clause after it in the same sentence; the clauses after it in the same sentence join while they
    fit `limit`."""
    strong = [i for i in range(len(parts) - 1, -1, -1) if parts[i].kind == "request"]
    weak = [i for i in range(len(parts) - 1, -1, -1) if parts[i].kind == "weak"]
    fallback = None
    for idx in strong or weak[:1]:
        found = _ask_from(doc, said, parts, idx, places, do_correct, limit)
        if found is not None and not _VAGUE.match(found[0]):
            return found
        fallback = fallback or found
    return fallback


# a request that names no action of its own (听听老百姓意见, 考虑一下, 给我们做主): an earlier, concrete one is
# preferred. It is vague when, after an addressee (交通局), it is one of these verbs with at most a short object and
# no action in it (考虑在路口加装红绿灯 and 研究出台停车办法 are concrete).
_VAGUE = re.compile(
    r"^(?:解决|处理|答复|协调|督促)$|"
    r"^(?:[\u4e00-\u9fff]{0,6}?(?:局|委|部门|政府|领导))?(?:给|帮|为|替)?(?:我们|老百姓)?"
    r"(?:听听|考虑|重视|关注|体谅|包涵|做个?主|研究|想个?办法|想想办法)(?:一下)?"
    r"(?![^，]*(?:在|把|加|装|设|修|建|拆|改|增|开通|恢复|出台|安排|取消|退|赔))[^，]{0,10}$"
)


def _ask_from(
    doc: TextDoc, said: Mapping[int, str], parts: list[Part], idx: int, places, do_correct: bool, limit: int
) -> Optional[tuple[str, list[Part]]]:
    """The request said from clause `idx` on (see `_request`)."""
    asked: list[str] = []
    used: list[Part] = []
    for k in range(idx, min(idx + 3, len(parts))):
        p = parts[k]
        if k > idx and (p.clause.sentence != parts[idx].clause.sentence or _PURPOSE.match(p.clause.text)):
            break  # another sentence, or what the request is for (让我们住得安心): not the request
        text = said[p.clause.segment_id]
        a, b = p.clause.start, p.clause.end
        cue = _CUE.search(text, a, b) if k == idx else None
        a = cue.end() if cue else a
        m = _ASK.match(text, a, b)
        a = m.end() if m else a
        piece = _plain(_compress(doc, said, p.clause, a, b, places, do_correct))  # titles say no requests: no `drop`
        used.append(p)
        if len(piece) < 2 or _SOFT.fullmatch(piece):
            if asked:
                break
            continue
        if asked and len("，".join(asked)) + 1 + len(piece) > limit:
            used.pop()
            break
        asked.append(piece)
    if not asked:
        return None
    return _cut("，".join(asked), limit), used


_CUE = re.compile(
    r"希望|要求|请求|恳请|诉求是|建议(?!.{0,3}[吗？])|请(?!问)|麻烦|能不能|能否|可不可以|可否|尽快|赶紧|赶快|快点|马上|"
    r"管一管|管管|处理一下|解决一下|查一查|查一下|做个?主"
)
_PURPOSE = re.compile(r"(?:好让|让|免得|以免|省得|不然|否则|要不然)")
_PLAIN = (
    (re.compile(r"赶紧|赶快|抓紧|快点|早点|马上"), "尽快"),
    (re.compile(r"(?:管一管|管管|管一下|处理处理|处理一下)$"), "处理"),
    (re.compile(r"(?:(?:好好|下来|过来|去|来)?(?:查一查|查一下|查查|调查一下|调查)|(?:好好|下来|过来|去|来)查)$"), "调查处理"),
    (re.compile(r"(?:去现场|来现场|现场|过来|下来|来|去)?(?:看一看|看看|看一下)$"), "实地查看"),
    (re.compile(r"(?:回个话|给个回复|回复一下|给回复|给个答复|给答复|回个复|给个说法|给说法)$"), "答复"),
    (re.compile(r"^(?:给|一)?个(?:说法|答复|回复|准信|回话)$"), "答复"),
    (re.compile(r"^(?:给|一)?个(?:解释|交代)$"), "给予解释"),
    (re.compile(r"^(?:帮帮|帮帮忙|帮忙|帮)$"), "协助解决"),
    (re.compile(r"^.{0,8}?(?:做个主|做主)$"), "做主"),
    (re.compile(r"^查$"), "调查处理"),
    (re.compile(r"^管$"), "处理"),
    (re.compile(r"^催$"), "督促"),
    (re.compile(r"^(?:帮|给|替|为).{0,8}?(主持公道|维权|撑腰)$"), r"\1"),
)


def _plain(request: str) -> str:
    """A request as an operator writes it: 赶紧 → 尽快, 管一管 → 处理, 来查一查 → 调查处理, 回个话 → 答复 …"""
    for rx, repl in _PLAIN:
        request = rx.sub(repl, request)
    return request


_QUESTION = re.compile(r"怎么|如何|多少|什么|哪里|哪个|哪些|是否|能不能|可不可以|能否|有没有|吗|呢|何时|几时|为什么|为啥|要不要|算不算")


def _score(part: Part, index: int, consult: bool, cited: set[tuple[int, int, int]]) -> float:
    """Earlier clauses first, ahead of them the clauses holding the words the category, urgency and request-type
    stages cited, and for a consultation the questions."""
    score = -float(index)
    if _overlaps(part.clause, cited):
        score += CITED_BONUS
    if consult and _QUESTION.search(part.text):
        score += QUESTION_BONUS
    return score


def _overlaps(clause: Clause, spans) -> bool:
    return any(sid == clause.segment_id and a < clause.end and clause.start < b for sid, a, b in spans)


def _choose(parts: list[Part], budget: int, consult: bool, cited: set[tuple[int, int, int]]) -> list[Part]:
    """The most telling clauses that fit `budget` characters (joined by "，"), in the caller's order; a clause said
    again is used once."""
    ranked = sorted(range(len(parts)), key=lambda i: -_score(parts[i], i, consult, cited))
    return [parts[i] for i in pick_clauses([p.text for p in parts], ranked, budget)]


def candidates(parts: list[Part], cited, places) -> list[Candidate]:
    """What `summarize.selector.clause_features` needs of each part."""
    out = []
    for k, p in enumerate(parts):
        c = p.clause
        spans = [(c.segment_id, a, b) for a, b in places.get(c.segment_id, [])]
        first = k == 0 or parts[k - 1].clause.sentence != c.sentence
        out.append(Candidate(p.text, c.text, c.sentence, first, _overlaps(c, cited), _overlaps(c, spans), p.kind))
    return out


def _choose_learned(parts: list[Part], budget: int, consult: bool, cited, places, model: Selector) -> list[Part]:
    """The clauses the learned selector keeps (`Selector.choose`), in the caller's order."""
    if not parts:
        return []
    scores = model.scores(model.features_of(candidates(parts, cited, places), consult))
    return [parts[i] for i in model.choose([p.text for p in parts], list(scores), budget)]


_LEVEL = (re.compile(r".*[省市区县]$"), re.compile(r".*(?:镇|乡|街道)$"), re.compile(r".*(?:路|街|道|线|巷)$"))


def _level(piece: str) -> int:
    return next((k for k, rx in enumerate(_LEVEL) if rx.match(piece)), len(_LEVEL))


def _where(said: Mapping[int, str], location: Optional[TicketField], chosen: list[Part]) -> str:
    """The places the location stage found, as the caller said them (its evidence, masked as the summary is), from
    the largest to the smallest, less those <what> already says."""
    if location is None or not location.value:
        return ""
    body = "".join(p.text for p in chosen)
    pieces: list[str] = []
    spans = [said.get(ev.segment_id, "")[ev.start_char : ev.end_char] for ev in location.evidence]
    if not location.evidence:  # a location without evidence: its parts that the caller said as written
        spans = [part for part in location.value.split() if any(part in text for text in said.values())]
    for span in spans:
        piece = digits(span)
        if piece and piece not in body and not any(piece in p for p in pieces):
            pieces = [p for p in pieces if p not in piece] + [piece]
    return "".join(sorted(pieces, key=_level))


def _cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, never inside a number (a cut 802 would be a number nobody said)."""
    if len(text) <= limit:
        return text
    end = limit
    while 0 < end < len(text) and _DIGIT.match(text[end - 1]) and _DIGIT.match(text[end]):
        end -= 1
    return text[:end].rstrip("，")


_DIGIT = re.compile(r"[0-9*A-Za-z]")
