"""The request type of a call (咨询/求助/投诉/举报/建议/表扬) from cue phrases.

The types are those of the State Council guideline on hotlines (国办发〔2020〕53号) plus 表扬.

Stages:
    request_type.rules.v1: the primary cues of ``request_type_cues.csv`` (投诉, 请问, 建议, 被困 …); None when
        the caller uses none.
    request_type.rules.v2: v1, and when v1 finds no type, the fallback cues of the same table: a caller who only
        describes a problem (路灯坏了, 楼上漏水, 闻到煤气味) asks for help (求助), one who describes a nuisance caused by
        others or an authority's inaction (噪音, 油烟, 物业不管) complains (投诉); at a modest confidence
        (`fallback_confidence`, 0.4 by default) so that downstream users can tell it from a stated type.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import lru_cache
from typing import Mapping, Optional

from pipeline.base.config import check_number
from pipeline.base.types import TextDoc, TicketField

from .matching import Cue, CueMatcher, evidence_of, strength
from .resources import PathLike, data_path, parse_weight, read_table

logger = logging.getLogger(__name__)

__all__ = [
    "REQUEST_TYPES", "CUE_TIERS", "load_request_cues", "make_request_type_rules", "make_request_type_rules_v2",
]  # fmt: skip

REQUEST_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "表扬")
CUE_TIERS = ("primary", "fallback")


@lru_cache(maxsize=8)
def load_request_cues(path: Optional[PathLike] = None, tier: str = "primary") -> CueMatcher:
    """The cues of one tier of a cue table (columns type, pattern, weight and optionally tier, default primary);
    None reads the shipped ``request_type_cues.csv``."""
    if tier not in CUE_TIERS:
        raise ValueError(f"unknown cue tier {tier!r}; tiers are {', '.join(CUE_TIERS)}")
    file = data_path("request_type_cues.csv", path)
    cues = []
    for row in read_table(file, ("type", "pattern", "weight")):
        if row["type"] not in REQUEST_TYPES:
            raise ValueError(f"unknown request type {row['type']!r} in {row.where()}; types are {', '.join(REQUEST_TYPES)}")
        row_tier = row.values.get("tier") or "primary"
        if row_tier not in CUE_TIERS:
            raise ValueError(f"unknown tier {row_tier!r} in {row.where()}; tiers are {', '.join(CUE_TIERS)}")
        if row_tier == tier:
            cues.append(Cue(row["type"], row["pattern"], parse_weight(row)))
    return CueMatcher(cues, str(file))


def _vote(matcher: CueMatcher, doc: TextDoc):
    """(ranked [(type, score)], total score, hits by type) of the cues of `matcher` in `doc`, negated cues left out."""
    scores: dict[str, float] = defaultdict(float)
    hits_by_type = defaultdict(list)
    for hit in matcher.scan(doc, skip_negated=True):
        scores[hit.cue.label] += hit.cue.weight
        hits_by_type[hit.cue.label].append(hit)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], REQUEST_TYPES.index(kv[0])))
    return ranked, sum(scores.values()), hits_by_type


def _rules(matcher: CueMatcher, doc: TextDoc, min_confidence: float) -> TicketField:
    ranked, total, hits_by_type = _vote(matcher, doc)
    if not ranked:
        return TicketField.unknown()
    best, best_score = ranked[0]
    confidence = round(strength(best_score) * best_score / total, 4)
    candidates = tuple((label, round(score / total, 4)) for label, score in ranked[:3])
    if confidence < min_confidence:
        return TicketField.unknown(confidence, candidates)
    return TicketField(best, confidence, evidence_of(hits_by_type[best]), candidates)


def make_request_type_rules(cues: Optional[PathLike] = None, min_confidence: float = 0.3):
    """Build request_type.rules.v1.

    Args:
        cues: path of a cue table to use instead of the shipped one (only its primary cues are used).
        min_confidence: below this confidence the value is None (unknown); the ranked candidates are kept.

    Returns:
        A stage ``(doc, fields) -> TicketField`` whose evidence is the cue spans of the chosen type.
    """
    check_number("request_type.rules.v1.min_confidence", min_confidence, 0.0, 1.0)
    matcher = load_request_cues(cues)

    def request_type(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        return _rules(matcher, doc, min_confidence)

    return request_type


def make_request_type_rules_v2(cues: Optional[PathLike] = None, min_confidence: float = 0.3, fallback_confidence: float = 0.4):
    """Build request_type.rules.v2.

    Args:
        cues: path of a cue table to use instead of the shipped one (primary and fallback tiers).
        min_confidence: below this confidence the value is None (unknown); the ranked candidates are kept.
        fallback_confidence: the confidence of a type decided by fallback cues alone when they all agree; it is
            scaled by the share of the winning type (求助 and 投诉 cues in equal measure give half of it).

    Returns:
        A stage that answers as request_type.rules.v1 whenever v1 finds a type; otherwise the type the fallback
        cues vote for, with their spans as evidence.
    """
    check_number("request_type.rules.v2.min_confidence", min_confidence, 0.0, 1.0)
    check_number("request_type.rules.v2.fallback_confidence", fallback_confidence, 0.0, 1.0)
    primary = load_request_cues(cues, "primary")
    fallback = load_request_cues(cues, "fallback")

    def request_type(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        stated = _rules(primary, doc, min_confidence)
        if stated.value is not None:
            return stated
        ranked, total, hits_by_type = _vote(fallback, doc)
        if not ranked:
            return stated
        best, best_score = ranked[0]
        confidence = round(fallback_confidence * best_score / total, 4)
        candidates = tuple((label, round(score / total, 4)) for label, score in ranked[:3])
        if confidence < min_confidence:
            return TicketField.unknown(max(confidence, stated.confidence), candidates)
        return TicketField(best, confidence, evidence_of(hits_by_type[best]), candidates)

    return request_type
