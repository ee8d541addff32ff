"""urgency.rules.v1: 紧急 / 加急 / 一般 from cue phrases in ``urgency_cues.csv`` (configurable)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Mapping, Optional

from pipeline.types import TextDoc, TicketField

from .matching import Cue, CueMatcher, evidence_of, has_chinese
from .resources import PathLike, data_path, read_table

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_CONFIG", "URGENCY_LEVELS", "load_urgency_cues", "make_urgency_rules"]

URGENCY_LEVELS = ("紧急", "加急", "一般")  # most urgent first
DEFAULT_CONFIG = {"cues": None, "default_confidence": 0.5}
_BASE = {"紧急": 0.75, "加急": 0.65}  # confidence with one cue; each further distinct cue adds 0.1


@lru_cache(maxsize=8)
def load_urgency_cues(path: Optional[PathLike] = None) -> CueMatcher:
    """The cue table (columns level, pattern); None reads the shipped ``urgency_cues.csv``."""
    file = data_path("urgency_cues.csv", path)
    cues = []
    for row in read_table(file, ("level", "pattern")):
        if row["level"] not in _BASE:
            raise ValueError(f"unknown urgency level {row['level']!r} in {row.where()}; cue levels are {', '.join(_BASE)}")
        cues.append(Cue(row["level"], row["pattern"]))
    return CueMatcher(cues, str(file))


def make_urgency_rules(cues: Optional[PathLike] = None, default_confidence: float = 0.5):
    """Build the stage.

    Args:
        cues: path of a cue table (level,pattern) instead of the shipped one.
        default_confidence: the confidence of 一般 when no cue is found.

    Returns:
        A stage: the most urgent level with a cue that is not negated ("没有人受伤" is no cue), evidence the
        cue spans of that level; 一般 without evidence when there is none; unknown when the call has no Chinese text.
    """
    if not 0.0 <= default_confidence <= 1.0:
        raise ValueError(f"urgency.rules.v1 default_confidence must be in [0, 1], got {default_confidence!r}")
    matcher = load_urgency_cues(cues)

    def urgency(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        if not has_chinese(doc):
            return TicketField.unknown()
        by_level: dict[str, list] = {level: [] for level in _BASE}
        for hit in matcher.scan(doc, skip_negated=True):
            by_level[hit.cue.label].append(hit)
        for level in URGENCY_LEVELS[:2]:
            hits = by_level[level]
            if hits:
                distinct = len({hit.cue for hit in hits})
                confidence = min(0.95, _BASE[level] + 0.1 * (distinct - 1))
                return TicketField(level, confidence, evidence_of(hits))
        return TicketField("一般", default_confidence)

    return urgency
