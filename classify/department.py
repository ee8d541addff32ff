"""department.table.v1: the responsible department, looked up from the drafted category in a table.

The shipped ``departments.csv`` holds Shanghai defaults (城乡建设 → 住建委 …); the `table` option points to
another city's table with the same columns (category, department).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, Optional

from pipeline.base.types import TextDoc, TicketField

from .resources import PathLike, data_path, read_table

logger = logging.getLogger(__name__)

__all__ = ["load_department_table", "make_department_table"]


@lru_cache(maxsize=8)
def load_department_table(path: Optional[PathLike] = None) -> Mapping[str, str]:
    """Category → department from a CSV with columns category, department.

    Raises:
        ValueError: a row has an empty department or repeats a category (names the file and line).
    """
    file = data_path("departments.csv", path)
    table: dict[str, str] = {}
    for row in read_table(file, ("category", "department")):
        if not row["category"] or not row["department"]:
            raise ValueError(f"empty category or department in {row.where()}")
        if row["category"] in table:
            raise ValueError(f"category {row['category']!r} listed twice in {row.where()}")
        table[row["category"]] = row["department"]
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
