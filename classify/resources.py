"""Package data of the classify stages (cue tables, taxonomy, gazetteer), read with importlib.resources.

Every table is a UTF-8 CSV file with a header row; lines starting with ``#`` are comments. A stage option that
names a table takes a path (str or Path) to use instead of the shipped file, or None for the shipped one.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence, Union

logger = logging.getLogger(__name__)

__all__ = ["CsvRow", "data_path", "read_table", "parse_weight"]

PathLike = Union[str, Path]


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row of a table, with where it came from (for error messages)."""

    values: dict[str, str]
    source: str
    line: int

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    def where(self) -> str:
        return f"{self.source!r} at line {self.line}"


def data_path(name: str, override: Optional[PathLike] = None) -> Path:
    """The path of the shipped data file `name`, or `override` when one is given."""
    if override is not None:
        if not isinstance(override, (str, Path)):
            raise TypeError(f"a table option must be a path (str or Path) or None, got {type(override).__name__}")
        return Path(override)
    return Path(str(resources.files("classify") / "data" / name))


def read_table(path: Path, columns: Sequence[str]) -> tuple[CsvRow, ...]:
    """Read a CSV table that must have at least `columns` in its header.

    Raises:
        OSError: the file cannot be read (the message names it).
        ValueError: the header lacks a column or a row has too few fields (names the file and line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise OSError(f"Error reading table {str(path)!r}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ValueError(f"Error reading table {str(path)!r}: not UTF-8 ({e.reason})") from None
    numbered = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise ValueError(f"table {str(path)!r} is empty; expected a header with columns {', '.join(columns)}")
    reader = csv.reader([line for _, line in numbered])
    header = [h.strip() for h in next(reader)]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"table {str(path)!r} lacks column(s) {', '.join(missing)}; its header is {','.join(header)}")
    rows = []
    for (lineno, _), fields in zip(numbered[1:], reader):
        if len(fields) < len(header):
            raise ValueError(f"table {str(path)!r} at line {lineno}: expected {len(header)} fields ({','.join(header)}), got {len(fields)}")
        rows.append(CsvRow({h: f.strip() for h, f in zip(header, fields)}, str(path), lineno))
    logger.debug("read %d rows from %s", len(rows), path)
    return tuple(rows)


def parse_weight(row: CsvRow) -> float:
    """The float in the weight column of `row`, which must lie in (0, 1]."""
    raw = row["weight"]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"invalid weight {raw!r} in {row.where()}: expected a number in (0, 1]") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"invalid weight {raw!r} in {row.where()}: expected a number in (0, 1]")
    return value
