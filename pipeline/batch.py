"""Batches: many recordings, or many typed messages, through the one call object (`pipeline.call`).

`run_batch` loops over files, writes each output atomically, reports a broken file and carries on;
`BatchTotals` sums what it did (files, audio, wall time, real-time factor). `draft_messages` drafts a
ticket for each `{"id", "text"}` line of a JSONL file and reports a bad line by its number.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from .base.errors import AudioDecodeError, HotlineError
from .base.types import CallResult
from .call import CallPipeline, ProgressFn
from .output import append_line, render, write_atomic

logger = logging.getLogger(__name__)

__all__ = ["BatchTotals", "FileOutcome", "JSONL_NAME", "MessageOutcome", "draft_messages", "output_path", "run_batch"]

JSONL_NAME = "transcripts.jsonl"


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


def _jsonl_repair(path: Path) -> set[str]:
    """Audio paths already in a jsonl output. Lines that are not complete records (a crash mid-write tears
    the last one) are cut off and logged, so new records never get glued onto a torn line."""
    if not path.exists():
        return set()
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    done, good = set(), []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            done.add(json.loads(line)["audio"])
            good.append(line)
        except (ValueError, KeyError, TypeError):
            logger.warning("%s line %d is incomplete (interrupted write); dropping it, that file will be redone", path, i + 1)
    fixed = b"".join(g + b"\n" for g in good)
    if fixed != raw:
        write_atomic(path, fixed.decode("utf-8"))
    return done


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

    A file that fails for any reason is reported (status "failed", `error` one line naming the reason) and
    leaves no output; the others continue. With `resume`, files whose output already exists are skipped;
    without it they are redone (json/txt/srt replaced; jsonl gets another line, the last one counts).
    """
    out_dir = Path(out_dir)
    done = _jsonl_repair(out_dir / JSONL_NAME) if fmt == "jsonl" else set()
    claimed: dict[Path, Path] = {}
    for path, root in files:
        target = output_path(path, root, out_dir, fmt)
        if fmt != "jsonl":
            first = claimed.setdefault(target, path)
            if first != path:
                yield FileOutcome(path, "failed", error=f"its output {target} would overwrite that of {first}; rename one")
                continue
        if resume and ((fmt == "jsonl" and str(path) in done) or (fmt != "jsonl" and target.exists())):
            yield FileOutcome(path, "skipped", output=target)
            continue
        if on_start:
            on_start(path)
        t0 = time.perf_counter()
        try:
            result = pipeline.process(path, on_progress)
            text = render(result, fmt)
            if fmt == "jsonl":
                append_line(target, text)
            else:
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

    A line that is not such an object yields an outcome with `error` and the others go on; blank lines are skipped.

    Raises:
        OSError, UnicodeDecodeError: the file cannot be read.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict) or not isinstance(msg.get("text"), str):
                raise ValueError('expected an object with a string "text"')
        except ValueError as e:
            yield MessageOutcome(lineno, error=str(e))
            continue
        yield MessageOutcome(lineno, msg.get("id"), pipeline.process_text(msg["text"], source=str(msg.get("id"))))
