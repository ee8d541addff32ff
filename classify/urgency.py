"""Urgency of a call from cue phrases in ``urgency_cues.csv`` (configurable).

Stages:
    urgency.rules.v1: 紧急 / 加急 / 一般.
    urgency.rules.v2: the same level, as an `UrgencyField` with the handling priority and time limit looked up in
        ``priority_table.csv`` (configurable) by (urgency, request type), the request type being the drafted
        ``fields["request_type"]``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, Optional

from pipeline.base.config import check_number
from pipeline.base.types import TextDoc, TicketField, UrgencyField

from .matching import Cue, CueMatcher, evidence_of, has_chinese
from .request_type import REQUEST_TYPES
from .resources import PathLike, data_path, read_table

logger = logging.getLogger(__name__)

__all__ = [
    "URGENCY_LEVELS", "Priority", "PriorityTable", "load_priority_table", "load_urgency_cues", "make_urgency_rules",
    "make_urgency_rules_v2",
]  # fmt: skip

URGENCY_LEVELS = ("紧急", "加急", "一般")  # most urgent first
ANY_TYPE = "*"
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
    """Build urgency.rules.v1.

    Args:
        cues: path of a cue table (level,pattern) instead of the shipped one.
        default_confidence: the confidence of 一般 when no cue is found.

    Returns:
        A stage: the most urgent level with a cue that is not negated ("没有人受伤" is no cue), evidence the
        cue spans of that level; 一般 without evidence when there is none; unknown when the call has no Chinese text.
    """
    check_number("urgency.rules.v1.default_confidence", default_confidence, 0.0, 1.0)
    matcher = load_urgency_cues(cues)

    def urgency(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        return _level(matcher, doc, default_confidence)

    return urgency


def _level(matcher: CueMatcher, doc: TextDoc, default_confidence: float) -> TicketField:
    """The most urgent level with a cue that is not negated, evidence its cue spans; 一般 without evidence when
    there is none; unknown when the call has no Chinese text."""
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


@dataclass(frozen=True, slots=True)
class Priority:
    """A row of the priority table: handling priority (e.g. "P1") and the hours to the ticket's deadline."""

    priority: str
    time_limit_hours: float


@dataclass(frozen=True, slots=True)
class PriorityTable:
    """(urgency, request type or "*") -> Priority; `source` names the file."""

    rows: Mapping[tuple[str, str], Priority]
    source: str

    def lookup(self, urgency: str, request_type: Optional[str]) -> Priority:
        """The row for (urgency, request_type), else the urgency's "*" row.

        Raises:
            ValueError: `urgency` is not a level of the table.
        """
        row = self.rows.get((urgency, request_type or ANY_TYPE)) or self.rows.get((urgency, ANY_TYPE))
        if row is None:
            levels = ", ".join(URGENCY_LEVELS)
            raise ValueError(f"urgency {urgency!r} is not in the priority table {self.source!r}; levels are {levels}")
        return row


@lru_cache(maxsize=8)
def load_priority_table(path: Optional[PathLike] = None) -> PriorityTable:
    """The priority table (columns urgency, request_type, priority, time_limit_hours; more columns such as a note
    are ignored); None reads the shipped ``priority_table.csv``.

    Raises:
        OSError: the file cannot be read.
        ValueError: an unknown urgency or request type, an empty priority, a time limit that is not a number > 0, a
            repeated (urgency, request_type) or an urgency level without its "*" row (names the file and line).
    """
    file = data_path("priority_table.csv", path)
    rows: dict[tuple[str, str], Priority] = {}
    for row in read_table(file, ("urgency", "request_type", "priority", "time_limit_hours")):
        urgency, request_type = row["urgency"], row["request_type"]
        if urgency not in URGENCY_LEVELS:
            raise ValueError(f"unknown urgency {urgency!r} in {row.where()}; levels are {', '.join(URGENCY_LEVELS)}")
        if request_type != ANY_TYPE and request_type not in REQUEST_TYPES:
            raise ValueError(
                f"unknown request_type {request_type!r} in {row.where()}; "
                f"types are {', '.join(REQUEST_TYPES)} or {ANY_TYPE} for any"
            )
        if not row["priority"]:
            raise ValueError(f"empty priority in {row.where()}")
        raw = row["time_limit_hours"]
        try:
            hours = float(raw)
        except ValueError:
            hours = math.nan
        if not (math.isfinite(hours) and hours > 0):
            raise ValueError(f"invalid time_limit_hours {raw!r} in {row.where()}: expected a number of hours > 0")
        if (urgency, request_type) in rows:
            raise ValueError(f"repeated row for ({urgency}, {request_type}) in {row.where()}")
        rows[(urgency, request_type)] = Priority(row["priority"], hours)
    missing = [level for level in URGENCY_LEVELS if (level, ANY_TYPE) not in rows]
    if missing:
        raise ValueError(
            f"priority table {str(file)!r} has no {ANY_TYPE} row for urgency {', '.join(missing)}; every level needs one "
            f"(e.g. {missing[0]},{ANY_TYPE},P3,120)"
        )
    return PriorityTable(MappingProxyType(rows), str(file))


def make_urgency_rules_v2(cues: Optional[PathLike] = None, default_confidence: float = 0.5, table: Optional[PathLike] = None):
    """Build urgency.rules.v2.

    Args:
        cues: path of a cue table (level,pattern) instead of the shipped one.
        default_confidence: the confidence of 一般 when no cue is found.
        table: path of a priority table instead of the shipped ``priority_table.csv``.

    Returns:
        A stage returning an `UrgencyField`: the level, confidence and evidence of urgency.rules.v1, with `priority`
        and `time_limit_hours` from the table row of (level, drafted request type), falling back to the level's "*"
        row when the request type is unknown or has no row of its own. Unknown (no priority) when the call has no
        Chinese text.
    """
    check_number("urgency.rules.v2.default_confidence", default_confidence, 0.0, 1.0)
    matcher = load_urgency_cues(cues)
    priorities = load_priority_table(table)

    def urgency(doc: TextDoc, fields: Mapping[str, TicketField]) -> UrgencyField:
        level = _level(matcher, doc, default_confidence)
        if level.value is None:
            return UrgencyField(None, level.confidence)
        request_type = fields.get("request_type")
        row = priorities.lookup(level.value, request_type.value if request_type is not None else None)
        return UrgencyField(level.value, level.confidence, level.evidence, level.candidates, row.priority, row.time_limit_hours)

    return urgency
