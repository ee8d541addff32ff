"""Batches: many recordings, or many typed messages, through the one call object (`pipeline.call`).

`run_batch` loops over files, writes each output atomically, reports a broken file and carries on; every
output records the recording it came from (its resolved path), and `--resume` and the overwrite guard key on that;
`BatchTotals` sums what it did (files, audio, wall time, real-time factor). `draft_messages` drafts a
ticket for each `{"id", "text"}` line of a JSONL file and reports a bad line by its number.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from .base.errors import AudioDecodeError, HotlineError
from .base.text import read_lines
from .base.types import CallResult
from .call import CallPipeline, ProgressFn
from .output import append_line, remove_stale_temps, render, write_atomic

logger = logging.getLogger(__name__)

__all__ = ["BatchTotals", "FileOutcome", "JSONL_NAME", "MessageOutcome", "draft_messages", "output_path", "run_batch"]

JSONL_NAME = "transcripts.jsonl"
SOURCES_NAME = ".hotline-sources.jsonl"  # txt/srt outputs cannot hold their source: {"output", "source"} lines


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: Path
    status: str  # "ok", "failed", "skipped"
    audio_s: float = 0.0
    wall_s: float = 0.0
    output: Optional[Path] = None
    error: Optional[str] = None
    result: Optional[CallResult] = None


def output_path(path: Path, root: Path, out_dir: Path, fmt: str) -> Path:
    """Where the output of `path` goes: its place under `root` mirrored under `out_dir`, name + '.' + fmt."""
    if fmt == "jsonl":
        return out_dir / JSONL_NAME
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
    return out_dir / rel.parent / f"{rel.name}.{fmt}"


def _jsonl_repair(path: Path) -> list[dict]:
    """The records of a jsonl file that we append to. Lines that are not complete JSON objects (a crash
    mid-write tears the last one) are cut off and logged, so new records never get glued onto a torn line."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    records, good = [], []
    for i, line in enumerate(raw.split(b"\n")):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            logger.warning("%s line %d is incomplete (interrupted write); dropping it, that file will be redone", path, i + 1)
            continue
        records.append(record)
        good.append(line)
    fixed = b"".join(g + b"\n" for g in good)
    if fixed != raw:
        write_atomic(path, fixed.decode("utf-8"))
    return records


def _recorded_source(target: Path, fmt: str, sources: dict[str, str], out_dir: Path) -> Optional[str]:
    """Which recording an existing output came from: a json's own "source", the sources file's entry for
    txt/srt; None when it does not say (an older version wrote it, or it is not ours)."""
    if fmt == "json":
        try:
            record = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record.get("source") if isinstance(record, dict) else None
    return sources.get(target.relative_to(out_dir).as_posix())


def _owner_conflict(target: Path, owner: Optional[str]) -> str:
    if owner is None:
        return f"its output {target} exists but does not record which recording it came from; move it away or use another --out"
    return f"its output {target} already holds the result of {owner}; rename one or use another --out"


def run_batch(
    pipeline: CallPipeline,
    files: Iterable[tuple[Path, Path]],
    out_dir: Path,
    fmt: str = "json",
    resume: bool = False,
    on_start: Optional[Callable[[Path], None]] = None,
    on_progress: Optional[ProgressFn] = None,
) -> Iterator[FileOutcome]:
    """Process (file, root) pairs, writing one output per file; yields one FileOutcome per file.

    Each recording is known by its source: its resolved absolute path, recorded in its output (json and jsonl
    `"source"`; for txt and srt in `out_dir/.hotline-sources.jsonl`). A file that fails for any reason is
    reported (status "failed", `error` one line naming the reason) and leaves no output; the others continue.
    An output that exists and holds another source's result (or does not say whose) is never overwritten or
    skipped: that file fails, naming both. With `resume`, a source whose output exists is skipped; without it
    it is redone (json/txt/srt replaced; jsonl gets another line, the last one counts). A source named twice
    in one run (a folder given relatively and absolutely) is done once.

    A KeyboardInterrupt abandons the current file without output (a temp file is removed, a half-appended
    line cut off) and goes on up.
    """
    out_dir = Path(out_dir)
    done: set[str] = set()  # jsonl: sources with a complete record
    sources: dict[str, str] = {}  # txt/srt: output (relative to out_dir) → source
    if fmt == "jsonl":
        done = {r["source"] for r in _jsonl_repair(out_dir / JSONL_NAME) if isinstance(r.get("source"), str)}
    elif fmt != "json":
        sources = {r["output"]: r["source"] for r in _jsonl_repair(out_dir / SOURCES_NAME) if {"output", "source"} <= r.keys()}
    claimed: dict[Path, str] = {}  # output → source, this run
    seen: set[str] = set()  # sources met in this run
    for path, root in files:
        source = os.path.realpath(path)
        target = output_path(path, root, out_dir, fmt)
        if source in seen:
            logger.info("%s is %s, named twice; done once", path, source)
            yield FileOutcome(path, "skipped", output=target)
            continue
        seen.add(source)
        if fmt == "jsonl":
            if resume and source in done:
                yield FileOutcome(path, "skipped", output=target)
                continue
        else:
            first = claimed.setdefault(target, source)
            if first != source:
                yield FileOutcome(path, "failed", error=f"its output {target} would overwrite that of {first}; rename one")
                continue
            if target.exists():
                owner = _recorded_source(target, fmt, sources, out_dir)
                if owner != source:
                    yield FileOutcome(path, "failed", error=_owner_conflict(target, owner))
                    continue
                if resume:
                    yield FileOutcome(path, "skipped", output=target)
                    continue
        if on_start:
            on_start(path)
        t0 = time.perf_counter()
        try:
            result = pipeline.process(path, on_progress)
            text = render(result, fmt, source)
            if fmt == "jsonl":
                append_line(target, text)
            else:
                rel = target.relative_to(out_dir).as_posix()
                if fmt != "json" and sources.get(rel) != source:  # recorded first: a crash leaves no unowned output
                    append_line(out_dir / SOURCES_NAME, json.dumps({"output": rel, "source": source}, ensure_ascii=False) + "\n")
                    sources[rel] = source
                remove_stale_temps(target)
                write_atomic(target, text)
        except HotlineError as e:
            msg = f"{e.reason}" if isinstance(e, AudioDecodeError) else str(e)
            yield FileOutcome(path, "failed", wall_s=time.perf_counter() - t0, error=msg)
            continue
        except OSError as e:
            yield FileOutcome(path, "failed", wall_s=time.perf_counter() - t0, error=f"cannot write output: {e}")
            continue
        except Exception as e:  # one file must never stop the batch; the traceback goes to the debug log
            logger.debug("unexpected error on %s", path, exc_info=True)
            yield FileOutcome(path, "failed", wall_s=time.perf_counter() - t0, error=f"{type(e).__name__}: {e}".splitlines()[0])
            continue
        yield FileOutcome(path, "ok", result.duration_s, time.perf_counter() - t0, target, result=result)


@dataclass
class BatchTotals:
    """What a batch did, summed over its FileOutcomes (`add` each one as it comes)."""

    files: int = 0
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0

    def add(self, outcome: FileOutcome) -> None:
        self.files += 1
        if outcome.status == "ok":
            self.ok += 1
            self.audio_s += outcome.audio_s
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1

    @property
    def rtf(self) -> Optional[float]:
        """Real-time factor: wall time over audio time (None when no audio was transcribed)."""
        return self.wall_s / self.audio_s if self.audio_s else None


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """One line of a messages file: its ticket, or why the line could not be drafted."""

    lineno: int
    id: object = None
    result: Optional[CallResult] = None
    error: Optional[str] = None


def draft_messages(pipeline: CallPipeline, path: Path) -> Iterator[MessageOutcome]:
    """Draft a ticket for each `{"id": …, "text": …}` line of the JSONL file `path` (typed text: app, web, SMS).

    Lines are split on line feeds only (`pipeline.base.text.read_lines`: U+2028 or U+0085 inside a text never split
    a record; a byte order mark is dropped) and decoded one by one. A line that is not UTF-8, not such an object, or
    whose ticket cannot be drafted yields an outcome with `error` and the others go on; blank lines are skipped.

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: the file is UTF-16 or UTF-32, not UTF-8.
    """
    for line in read_lines(path):
        if line.error is not None:
            yield MessageOutcome(line.lineno, error=line.error)
            continue
        if not line.text.strip():
            continue
        try:
            msg = json.loads(line.text)
        except (ValueError, RecursionError) as e:  # RecursionError: arrays nested thousands deep
            yield MessageOutcome(line.lineno, error=f"not JSON: {e}")
            continue
        problem = _message_problem(msg)
        if problem is not None:
            yield MessageOutcome(line.lineno, error=problem)
            continue
        try:
            result = pipeline.process_text(msg["text"], source=str(msg.get("id")))
        except HotlineError as e:
            yield MessageOutcome(line.lineno, msg.get("id"), error=str(e))
            continue
        except Exception as e:  # one message must never stop the others; the traceback goes to the debug log
            logger.debug("unexpected error on %s line %d", path, line.lineno, exc_info=True)
            yield MessageOutcome(line.lineno, msg.get("id"), error=f"{type(e).__name__}: {e}".splitlines()[0])
            continue
        yield MessageOutcome(line.lineno, msg.get("id"), result)


def _message_problem(msg: object) -> Optional[str]:
    """Why a parsed JSONL line is not a message `draft_messages` can draft and write back, or None."""
    if not isinstance(msg, dict):
        return f'expected an object with a string "text", got {_short(msg)}'
    if "text" not in msg:
        return 'no "text" in the object'
    if not isinstance(msg["text"], str):
        return f'"text" must be a string, got {_short(msg["text"])}'
    try:
        json.dumps(msg.get("id"), ensure_ascii=False).encode("utf-8")  # the id is echoed into the output
    except UnicodeEncodeError:
        return f'"id" {_short(msg.get("id"))} holds an unpaired surrogate (\\ud800-\\udfff): it cannot be written back as UTF-8'
    return None


def _short(value: object, limit: int = 40) -> str:
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
