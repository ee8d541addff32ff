"""The responsible department: by the matter (department.linear.v1, the default) or by the category alone.

department.linear.v1: a linear model over the caller's words (``models/data/department_linear_v1.npz``, trained by
``python -m classify.train_department`` on messages labelled with the unit type that handled them, read from the
government's replies) gives the functional unit type (城管 for street vendors, where the category 城乡建设 alone
said 住建); ``department_types.csv`` names the department of each type (Shanghai names; `names` points to another
city's). When the model is unsure (top probability below `min_confidence`) the category's department is taken,
as department.table.v1 would. When the location names a street office, town or township (…街道, …镇, …乡), it is
added as the local unit (属地) the centre also dispatches to: ``城管执法局、洋湖街道``.

department.table.v1: the category's department from ``departments.csv`` (城乡建设 → 住建委 …); the `table` option
points to another city's table with the same columns (category, department).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, Optional

import numpy as np

from pipeline.base.config import check_number
from pipeline.base.errors import ModelError
from pipeline.base.types import UNIT_SEPARATOR, TextDoc, TicketField

from .fields_linear import _load, doc_text
from .linear import _floor4, evidence_for
from .matching import has_chinese
from .resources import PathLike, data_path, read_table

logger = logging.getLogger(__name__)

__all__ = ["load_department_table", "load_department_types", "make_department_linear", "make_department_table"]


@lru_cache(maxsize=8)
def load_department_table(path: Optional[PathLike] = None) -> Mapping[str, str]:
    """Category → department from a CSV with columns category, department.

    Raises:
        ValueError: a row has an empty department or repeats a category (names the file and line).
    """
    return _two_columns(data_path("departments.csv", path), "category")


def _two_columns(file, key: str) -> Mapping[str, str]:
    table: dict[str, str] = {}
    for row in read_table(file, (key, "department")):
        if not row[key] or not row["department"]:
            raise ValueError(f"empty {key} or department in {row.where()}")
        if row[key] in table:
            raise ValueError(f"{key} {row[key]!r} listed twice in {row.where()}")
        table[row[key]] = row["department"]
    return MappingProxyType(table)


def make_department_table(table: Optional[PathLike] = None):
    """Build the stage.

    Args:
        table: path of a category → department CSV instead of the shipped Shanghai one.

    Returns:
        A stage that reads ``fields["category"]``: its department with the category's confidence and evidence,
        its candidates mapped to departments; unknown when the category is unknown, absent or not in the table.
    """
    departments = load_department_table(table)

    def department(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        category = fields.get("category")
        if category is None:
            return TicketField.unknown()
        merged: dict[str, float] = {}
        for cat, p in category.candidates:
            dept = departments.get(cat)
            if dept is not None:
                merged[dept] = round(merged.get(dept, 0.0) + p, 4)
        candidates = tuple(sorted(merged.items(), key=lambda kv: -kv[1]))
        dept = departments.get(category.value) if category.value is not None else None
        if dept is None:
            if category.value is not None:
                logger.debug("no department for category %r", category.value)
            return TicketField.unknown(0.0, candidates)
        return TicketField(dept, category.confidence, category.evidence, candidates)

    return department


@lru_cache(maxsize=8)
def load_department_types(path: Optional[PathLike] = None) -> Mapping[str, str]:
    """Unit type → department from a CSV with columns type, department (``department_types.csv``).

    Raises:
        ValueError: a row has an empty field or repeats a type (names the file and line).
    """
    return _two_columns(data_path("department_types.csv", path), "type")


_LOCAL_UNIT = re.compile(r"^[\u4e00-\u9fff]{1,8}(?:街道|镇|乡)$")


def make_department_linear(
    model: PathLike = "department_linear_v1",
    min_confidence: float = 0.35,
    names: Optional[PathLike] = None,
    table: Optional[PathLike] = None,
    local_unit: bool = True,
):
    """Build department.linear.v1.

    Args:
        model: a shipped model name (``models.registry.CLASSIFIERS``) or the path of a ``.npz`` written by
            ``python -m classify.train_department``.
        min_confidence: below this top probability the category's department (`table`) is taken instead.
        names: path of a type → department CSV instead of the shipped ``department_types.csv``.
        table: path of a category → department CSV instead of the shipped ``departments.csv`` (the fallback).
        local_unit: add the street office, town or township the location names (属地).

    Returns:
        A stage whose value is the department (and the local unit, joined by "、"); candidates are the top
        departments by probability; evidence the words that pushed the type up (and the location's words for the
        local unit). Unknown when the text has no Chinese and the category has no department either.

    Raises:
        ConfigError: an option out of range. ModelError: the model is missing or is not a department model, or a
        type of the model has no department in `names`.
    """
    check_number("department.linear.v1.min_confidence", min_confidence, 0.0, 1.0)
    clf = _load(model, "department")
    departments = load_department_types(names)
    missing = [c for c in clf.classes if c not in departments]
    if missing:
        raise ModelError(f"department model {clf.source!r} has types with no department in the names table: {', '.join(missing)}")
    by_category = make_department_table(table)
    with_local = bool(local_unit)

    def department(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        result = _by_matter(doc) or by_category(doc, fields)
        return _with_local(result, fields.get("location")) if with_local else result

    def _by_matter(doc: TextDoc) -> Optional[TicketField]:
        """The model's department, None when the text has no known term or the model is below `min_confidence`."""
        if not has_chinese(doc):
            return None
        idx, values = clf.vectorize(doc_text(doc))
        if not len(idx):
            return None
        probs = clf.probabilities(idx, values)
        order = np.argsort(-probs, kind="stable")
        if probs[order[0]] < min_confidence:
            return None
        candidates = tuple((departments[clf.classes[j]], _floor4(float(probs[j]))) for j in order[:3])
        evidence = evidence_for(doc, clf.top_terms(idx, values, int(order[0])))
        return TicketField(candidates[0][0], candidates[0][1], evidence, candidates)

    return department


def _with_local(result: TicketField, location: Optional[TicketField]) -> TicketField:
    """`result` with the location's street office, town or township added (属地), when it names one."""
    if result.value is None or location is None or not isinstance(location.value, str):
        return result
    local = [part for part in location.value.split() if _LOCAL_UNIT.match(part)]
    if not local or local[-1] in result.value:
        return result
    words = tuple(ev for ev in location.evidence if local[-1] in ev.text)
    return TicketField(f"{result.value}{UNIT_SEPARATOR}{local[-1]}", result.confidence, result.evidence + words,
                       result.candidates)
