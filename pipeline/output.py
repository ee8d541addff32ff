"""Sinks: the JSON output contract, TXT and SRT renderings, atomic file writes.

JSON contract (fields may be added by later versions, never removed):
    audio, duration_s, model,
    transcript: {text, segments: [{id, start_s, end_s, speaker, text}]},
    ticket: {request_type, category, department, location, urgency, caller_phone, caller_id, summary:
             {value (null = unknown), confidence, evidence: [{segment_id, start_char, end_char, text}], ...}}
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union

from .base.types import CallResult, LocationField, Segment, TicketDraft, TicketField, Transcript, UrgencyField

__all__ = ["FORMATS", "render", "result_to_dict", "ticket_to_dict", "transcript_to_dict", "write_atomic", "append_line"]

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


def result_to_dict(r: CallResult) -> dict[str, Any]:
    return {
        "audio": r.audio,
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


def render(r: CallResult, fmt: str) -> str:
    """The text of one output file in format `fmt` (json, txt, srt; jsonl = one line of json)."""
    if fmt == "json":
        return json.dumps(result_to_dict(r), ensure_ascii=False, indent=2) + "\n"
    if fmt == "jsonl":
        return json.dumps(result_to_dict(r), ensure_ascii=False) + "\n"
    if fmt == "txt":
        return "".join(f"{_label(s)}{s.text}\n" for s in r.transcript.segments)
    if fmt == "srt":
        return "".join(
            f"{i}\n{_srt_time(s.start_s)} --> {_srt_time(s.end_s)}\n{_label(s)}{s.text}\n\n"
            for i, s in enumerate(r.transcript.segments, 1)
        )
    raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_atomic(path: Union[str, Path], text: str) -> None:
    """Write via a temp file in the same folder + rename: readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_line(path: Union[str, Path], line: str) -> None:
    """Append one complete line with a single write, then fsync (a crash can only tear the last line)."""
    if not line.endswith("\n") or "\n" in line[:-1]:
        raise ValueError("append_line takes exactly one newline-terminated line")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
