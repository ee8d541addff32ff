"""Sinks: the JSON output contract, TXT and SRT renderings, atomic file writes.

JSON contract (fields may be added by later versions, never removed):
    audio (the path as given), source (its resolved absolute path, or null), duration_s, model,
    transcript: {text, segments: [{id, start_s, end_s, speaker, text}]},
    ticket: {request_type, category, department, location, urgency, caller_phone, caller_id, summary:
             {value (null = unknown), confidence, evidence: [{segment_id, start_char, end_char, text}], ...}}
"""

from __future__ import annotations

import errno
import glob
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

from .base.types import CallResult, LocationField, Segment, TicketDraft, TicketField, Transcript, UrgencyField

logger = logging.getLogger(__name__)

__all__ = [
    "FORMATS", "append_line", "commit_partial", "remove_stale_temps", "render", "result_to_dict", "start_partial",
    "ticket_to_dict", "transcript_to_dict", "write_atomic",
]  # fmt: skip

FORMATS = ("json", "txt", "srt", "jsonl")


def field_to_dict(f: TicketField) -> dict[str, Any]:
    d: dict[str, Any] = {
        "value": f.value,
        "confidence": round(f.confidence, 4),
        "evidence": [
            {"segment_id": e.segment_id, "start_char": e.start_char, "end_char": e.end_char, "text": e.text} for e in f.evidence
        ],
    }
    if f.candidates:
        d["candidates"] = [{"value": v, "probability": round(p, 4)} for v, p in f.candidates]
    if isinstance(f, LocationField):
        d["parts"] = {k: getattr(f.parts, k) for k in f.parts.__slots__}
    if isinstance(f, UrgencyField):
        d["priority"] = f.priority
        d["time_limit_hours"] = f.time_limit_hours
    return d


def ticket_to_dict(ticket: TicketDraft) -> dict[str, Any]:
    return {name: field_to_dict(f) for name, f in ticket.fields()}


def _r(x: float) -> float:
    return round(float(x), 3)


def transcript_to_dict(t: Transcript) -> dict[str, Any]:
    return {
        "text": t.text,
        "segments": [
            {"id": s.id, "start_s": _r(s.start_s), "end_s": _r(s.end_s), "speaker": s.speaker, "text": s.text} for s in t.segments
        ],
    }


def result_to_dict(r: CallResult, source: Optional[str] = None) -> dict[str, Any]:
    """The JSON contract's object; `source` is the recording's resolved absolute path (what `--resume` keys on)."""
    return {
        "audio": r.audio,
        "source": source,
        "duration_s": _r(r.duration_s),
        "model": r.model,
        "transcript": transcript_to_dict(r.transcript),
        "ticket": ticket_to_dict(r.ticket),
        "options": {k: v for k, v in r.options},
    }


def _srt_time(t: float) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _label(s: Segment) -> str:
    return f"[{s.speaker}] " if s.speaker else ""


def render(r: CallResult, fmt: str, source: Optional[str] = None) -> str:
    """The text of one output file in format `fmt` (json, txt, srt; jsonl = one line of json). `source`: the
    recording's resolved path, recorded by json and jsonl (txt and srt have no place for it)."""
    if fmt == "json":
        return json.dumps(result_to_dict(r, source), ensure_ascii=False, indent=2) + "\n"
    if fmt == "jsonl":
        return json.dumps(result_to_dict(r, source), ensure_ascii=False) + "\n"
    if fmt == "txt":
        return "".join(f"{_label(s)}{s.text}\n" for s in r.transcript.segments)
    if fmt == "srt":
        return "".join(
            f"{i}\n{_srt_time(s.start_s)} --> {_srt_time(s.end_s)}\n{_label(s)}{s.text}\n\n"
            for i, s in enumerate(r.transcript.segments, 1)
        )
    raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _write_all(fd: int, data: bytes, path: Path) -> None:
    """Write every byte of `data` to `fd`. One os.write may write fewer bytes than asked (a nearly full disk)
    and say so only in its return value; the next one then raises. The error names `path` and how far it got."""
    view, done = memoryview(data), 0
    while done < len(data):
        try:
            n = os.write(fd, view[done:])
        except OSError as e:
            raise OSError(e.errno, f"{e.strerror} (wrote {done} of {len(data)} bytes)", str(path)) from None
        if n <= 0:
            raise OSError(errno.EIO, f"short write (wrote {done} of {len(data)} bytes)", str(path))
        done += n


def _fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` survive a power cut (not every filesystem can: then skip it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Union[str, Path], text: str) -> None:
    """Write via a temp file in the same folder + rename: readers see the old file or the whole new one.

    Raises:
        OSError: naming `path` (disk full, short write, folder not writable); the temp file is removed and
            the old file, if any, is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        try:
            _write_all(fd, text.encode("utf-8"), path)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def remove_stale_temps(path: Union[str, Path]) -> None:
    """Delete the temp files a killed `write_atomic(path)` left behind (SIGKILL, power cut): they never
    became `path`. Only call it when nothing else is writing `path`."""
    path = Path(path)
    for tmp in glob.glob(os.path.join(glob.escape(str(path.parent)), "." + glob.escape(path.name) + ".*.tmp")):
        logger.info("removing %s, left by an interrupted write", tmp)
        Path(tmp).unlink(missing_ok=True)


def append_line(path: Union[str, Path], line: str) -> None:
    """Append one complete line, then fsync. A short write or a full disk cuts the file back to its old length,
    so no torn line is left, and raises; so does an interrupt (KeyboardInterrupt) before the fsync.

    Raises:
        ValueError: `line` is not exactly one newline-terminated line.
        OSError: naming `path`; the file is as it was before the call.
    """
    if not line.endswith("\n") or "\n" in line[:-1]:
        raise ValueError("append_line takes exactly one newline-terminated line")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            _write_all(fd, line.encode("utf-8"), path)
            os.fsync(fd)
        except BaseException:
            try:
                os.ftruncate(fd, start)
                os.fsync(fd)
            except OSError as e:  # the torn line stays; a reader (or --resume) drops it
                logger.error("cannot cut the unfinished line off %s: %s", path, e)
            raise
    finally:
        os.close(fd)
    if new:
        _fsync_dir(path.parent)


def start_partial(target: Union[str, Path]) -> Path:
    """Begin an output that is written a line at a time: check that `target` can be written, and create (or
    empty) `<target>.partial` next to it. Append to that, then `commit_partial` once the output is whole.

    Raises:
        OSError: naming the path: `target` is a folder, or its folder cannot be created or written.
    """
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        logger.warning("%s (an incomplete output of an earlier run) is started again", partial)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    return partial


def commit_partial(partial: Union[str, Path], target: Union[str, Path]) -> None:
    """The output is whole: rename `partial` to `target` (readers see the old target or the whole new one)."""
    target = Path(target)
    os.replace(partial, target)
    _fsync_dir(target.parent)
