"""Orchestration: recordings → transcripts → draft tickets, one file or a whole batch.

`CallPipeline` holds the shared pieces (one Whisper engine, one TicketBuilder) and turns one recording
or one typed text into a `CallResult`. `run_batch` loops over files with it, writes each output
atomically, reports a broken file and carries on. The same CallPipeline is what the live session,
the console and a Ray worker will reuse.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from asr.audio import load_speakers

from .config import PipelineConfig
from .errors import AudioDecodeError, HotlineError
from .output import append_line, render, write_atomic
from .ticket import TicketBuilder, text_transcript
from .types import CallResult, Segment, Transcript

logger = logging.getLogger(__name__)

__all__ = ["CallPipeline", "FileOutcome", "output_path", "run_batch", "JSONL_NAME"]

ProgressFn = Callable[[float, float], None]  # (seconds of audio done, seconds in total)
JSONL_NAME = "transcripts.jsonl"


class CallPipeline:
    """Recording or text → CallResult. Build once per process; `engine` may be shared with live sessions.

    Args:
        config: the effective configuration.
        engine: a WhisperEngine (or any object with `transcribe(samples, speaker, offset_s)` and `info`);
            built from `config.asr` on first use when None, so text-only use never loads Whisper.
        builder: the TicketBuilder; built from `config.ticket` when None.
    """

    def __init__(self, config: Optional[PipelineConfig] = None, engine=None, builder: Optional[TicketBuilder] = None):
        self.config = config or PipelineConfig()
        self._engine = engine
        self.builder = builder or TicketBuilder(self.config.ticket)

    @property
    def engine(self):
        if self._engine is None:
            from asr.engine import WhisperEngine

            self._engine = WhisperEngine(self.config.asr)
        return self._engine

    @property
    def model_name(self) -> str:
        info = getattr(self.engine, "info", None)
        return getattr(info, "model", None) or self.config.asr.model

    def transcribe(self, path: Path, on_progress: Optional[ProgressFn] = None) -> Transcript:
        audio, jobs = load_speakers(path, self.config.asr.channels)
        total = audio.duration_s
        segments: list[Segment] = []
        for i, (samples, speaker) in enumerate(jobs):
            for seg in self.engine.transcribe(samples, speaker=speaker):
                segments.append(seg)
                if on_progress:
                    on_progress(min(total * i + seg.end_s, total * (i + 1)) / len(jobs), total)
        if on_progress:
            on_progress(total, total)
        return Transcript(_merge(segments), total, self.config.asr.language, str(path), self.model_name)

    def process(self, path: Path, on_progress: Optional[ProgressFn] = None) -> CallResult:
        transcript = self.transcribe(Path(path), on_progress)
        return self._result(transcript, self.model_name)

    def process_text(self, text: str, source: Optional[str] = None) -> CallResult:
        return self._result(text_transcript(text, source=source), None)

    def _result(self, transcript: Transcript, model: Optional[str]) -> CallResult:
        ticket = self.builder.build(transcript)
        asr = self.config.asr
        options = (("language", asr.language), ("beam_size", asr.beam_size), ("vad", asr.vad), ("channels", asr.channels))
        return CallResult(transcript.audio, transcript.duration_s, model, transcript, ticket, options if model else ())


def _merge(segments: list[Segment]) -> tuple[Segment, ...]:
    """Order segments of all speakers by start time and number them 0..n-1."""
    ordered = sorted(segments, key=lambda s: (s.start_s, s.end_s))
    return tuple(
        Segment(i, s.start_s, s.end_s, s.text, s.speaker, s.words, s.avg_logprob, s.no_speech_prob) for i, s in enumerate(ordered)
    )


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
