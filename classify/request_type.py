"""request_type.rules.v1: the request type of a call (咨询/求助/投诉/举报/建议/表扬) from cue phrases.

The types are those of the State Council guideline on hotlines (国办发〔2020〕53号) plus 表扬.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import lru_cache
from typing import Mapping, Optional

from pipeline.types import TextDoc, TicketField

from .matching import Cue, CueMatcher, evidence_of, strength
from .resources import PathLike, data_path, parse_weight, read_table

logger = logging.getLogger(__name__)

__all__ = ["REQUEST_TYPES", "DEFAULT_CONFIG", "load_request_cues", "make_request_type_rules"]

REQUEST_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "表扬")
DEFAULT_CONFIG = {"cues": None, "min_confidence": 0.3}


@lru_cache(maxsize=8)
def load_request_cues(path: Optional[PathLike] = None) -> CueMatcher:
    """The cue table (columns type, pattern, weight); None reads the shipped ``request_type_cues.csv``."""
    file = data_path("request_type_cues.csv", path)
    cues = []
    for row in read_table(file, ("type", "pattern", "weight")):
        if row["type"] not in REQUEST_TYPES:
            raise ValueError(f"unknown request type {row['type']!r} in {row.where()}; types are {', '.join(REQUEST_TYPES)}")
        cues.append(Cue(row["type"], row["pattern"], parse_weight(row)))
    return CueMatcher(cues, str(file))


def make_request_type_rules(cues: Optional[PathLike] = None, min_confidence: float = 0.3):
    """Build the stage.

    Args:
        cues: path of a cue table to use instead of the shipped one.
        min_confidence: below this confidence the value is None (unknown); the ranked candidates are kept.

    Returns:
        A stage ``(doc, fields) -> TicketField`` whose evidence is the cue spans of the chosen type.
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"request_type.rules.v1 min_confidence must be in [0, 1], got {min_confidence!r}")
    matcher = load_request_cues(cues)

    def request_type(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        scores: dict[str, float] = defaultdict(float)
        hits_by_type = defaultdict(list)
        for hit in matcher.scan(doc, skip_negated=True):
            scores[hit.cue.label] += hit.cue.weight
            hits_by_type[hit.cue.label].append(hit)
        if not scores:
            return TicketField.unknown()
        total = sum(scores.values())
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], REQUEST_TYPES.index(kv[0])))
        best, best_score = ranked[0]
        confidence = round(strength(best_score) * best_score / total, 4)
        candidates = tuple((label, round(score / total, 4)) for label, score in ranked[:3])
        if confidence < min_confidence:
            return TicketField.unknown(confidence, candidates)
        return TicketField(best, confidence, evidence_of(hits_by_type[best]), candidates)

    return request_type
