"""Text ingest: the one way typed text, JSONL records and JSON files enter the pipeline.

Text from outside (a terminal, an app, a JSONL file written by another system) can hold what the stages must never
see: unpaired surrogates (a JSON ``"\\ud800"`` escape, or bytes a non-UTF-8 terminal sent that Python kept as
``\\udcXX``), decomposed characters, Traditional characters. `ingest_text` makes any `str` into NFC-normalised,
UTF-8-encodable, Simplified text; it never raises, and says in a warning (never with the text, which may hold a
caller's numbers) how many characters it had to replace.

`split_records` and `read_lines` cut JSONL into records on line feeds only (``\\r\\n`` too), never on the other
characters `str.splitlines` breaks at (U+2028, U+0085, form feed …), which JSON allows unescaped inside a string;
a UTF-8 byte order mark at the start of a line is dropped. `read_lines` decodes each line on its own, so one line
that is not UTF-8 is one bad line, not an unreadable file. `read_json_file` reads a JSON file with or without a BOM.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional, Union

logger = logging.getLogger(__name__)

__all__ = ["Line", "ingest_text", "read_json_file", "read_lines", "split_records", "to_simplified"]

BOM = "\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")  # also the start of the UTF-32 LE mark


@lru_cache(maxsize=1)
def _t2s():
    import opencc  # a core dependency; imported on first use so that importing the base layer stays light

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → Simplified characters (OpenCC t2s). `text` must be UTF-8-encodable (see `ingest_text`)."""
    return _t2s().convert(text)


def ingest_text(text: str, where: Optional[str] = None) -> str:
    """Any `str` → NFC-normalised, UTF-8-encodable, Simplified text. Never raises for a `str`.

    Unpaired surrogates become U+FFFD (a correctly paired one becomes the character it encodes), with one warning
    naming how many and `where` (e.g. the message id), never the text.

    Raises:
        TypeError: `text` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if _SURROGATE.search(text):
        had = text.count("\ufffd")
        # UTF-16 with surrogatepass joins each valid pair into its character; decoding with "replace" turns each
        # unpaired one (or a byte a non-UTF-8 terminal sent, kept as \udcXX) into U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        replaced = text.count("\ufffd") - had
        if replaced:
            logger.warning(
                "%s: replaced %d character(s) that are not Unicode text (unpaired surrogates or undecodable bytes) "
                "with U+FFFD", where or "text", replaced,
            )  # fmt: skip
    return to_simplified(unicodedata.normalize("NFC", text))


def split_records(data: str) -> list[str]:
    """The lines of JSONL text: split on "\\n" only ("\\r\\n" too), a BOM at the start of a line dropped. Blank lines
    are kept, so the index + 1 is the line number; a final line feed does not start another line."""
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r").removeprefix(BOM) for line in lines]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a text file: `text` (without its line break), or `error` saying why it could not be decoded."""

    lineno: int
    text: Optional[str] = None
    error: Optional[str] = None


def read_lines(path: Union[str, Path]) -> Iterator[Line]:
    """The lines of the UTF-8 file `path`, split as `split_records` splits, each decoded on its own.

    A line that is not valid UTF-8 yields a `Line` whose `error` names the column of the first bad byte; the next
    lines are read as usual.

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: the file is UTF-16 or UTF-32 (it starts with their byte order mark).
    """
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(_UTF16_32_BOMS):
                raise UnicodeDecodeError("utf-8", raw[:2], 0, 2, "the file starts with a UTF-16/32 byte order mark; save it as UTF-8")
            raw = raw.removesuffix(b"\n").removesuffix(b"\r").removeprefix(BOM.encode("utf-8"))
            try:
                yield Line(lineno, raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                yield Line(lineno, error=f"not valid UTF-8: byte 0x{raw[e.start]:02x} at column {e.start + 1} ({e.reason})")


def read_json_file(path: Union[str, Path]) -> Any:
    """The JSON value in the file `path`: UTF-8 with or without a byte order mark (UTF-16 and UTF-32 are detected).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not JSON (json.JSONDecodeError, or nested too deeply) or not in a Unicode encoding
            (UnicodeDecodeError).
    """
    data = Path(path).read_bytes()
    try:
        return json.loads(data)  # from bytes, json detects the encoding and skips a UTF-8 BOM
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
