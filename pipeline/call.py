"""The one call object: everything a transport needs to run a call, built once per process.

`CallPipeline` holds the process-wide pieces (one Whisper engine, one TicketBuilder, the config) and runs a
call three ways: a recording → `CallResult` (`process`), a typed text → `CallResult` (`process_text`), and
a live session (`session`: feed / step / finish) that capture, replay and the browser console all drive
through `pipeline.live.run_session`. The batch loop (`pipeline.batch`), the CLI and, later, the server and
Ray workers use it; none of them wires an engine, a builder or a session themselves.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from asr.audio import load_speakers

from .base.config import PipelineConfig
from .base.types import CallResult, Segment, Transcript
from .live import CallSession
from .ticket import TicketBuilder, text_transcript

logger = logging.getLogger(__name__)

__all__ = ["CallPipeline", "ProgressFn"]

ProgressFn = Callable[[float, float], None]  # (seconds of audio done, seconds in total)


class CallPipeline:
    """Recording, text or live audio → CallResult. Build once per process; every call shares its engine.

    Args:
        config: the effective configuration.
        engine: a WhisperEngine (or any object with `transcribe(samples, speaker, offset_s)`,
            `transcribe_words(samples, final, beam_size)` and `info`); built from `config.asr` on first use
            when None, so text-only use never loads Whisper.
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

    def run_options(self, streaming: bool, speakers: Optional[Sequence[Optional[str]]] = None) -> tuple[tuple[str, object], ...]:
        """The settings a result records (the JSON `options`): the same keys for batch and live calls.
        `beam_size` is the beam of the decode that writes the text (a streamed utterance's endpoint decode)."""
        asr = self.config.asr
        if streaming:
            labelled = tuple(s for s in speakers or () if s is not None)
            return (("language", asr.language), ("beam_size", self.config.streaming.beam_size), ("vad", True),
                    ("channels", labelled or None), ("streaming", True))  # fmt: skip
        return (("language", asr.language), ("beam_size", asr.beam_size), ("vad", asr.vad), ("channels", asr.channels),
                ("streaming", False))  # fmt: skip

    # --- a recording ----------------------------------------------------------------------------
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
        ticket = self.builder.build(transcript)
        return CallResult(transcript.audio, transcript.duration_s, self.model_name, transcript, ticket, self.run_options(False))

    # --- a typed text ---------------------------------------------------------------------------
    def process_text(self, text: str, source: Optional[str] = None) -> CallResult:
        transcript = text_transcript(text, source=source)
        return CallResult(transcript.audio, transcript.duration_s, None, transcript, self.builder.build(transcript))

    # --- a live call ----------------------------------------------------------------------------
    def session(
        self,
        speakers: Sequence[Optional[str]] = (None,),
        audio: Optional[str] = None,
        clock: Callable[[], float] = time.monotonic,
        ticket_every_s: float = 1.0,
        recogniser=None,
    ) -> CallSession:
        """A new live call on the shared engine and builder: one streaming recogniser per speaker label.

        Args:
            speakers: one label per audio input fed (None for an unlabelled mono call).
            audio: what the call is (a replayed file's path), recorded in the result.
            clock: wall clock (monotonic seconds); benchmarks pass a simulated one.
            ticket_every_s: redraft the ticket at most this often while the call runs (0: only at the end).
            recogniser: factory for the per-speaker StreamingASR (default: OnlineWhisper on the engine).
        """
        engine = self.engine if recogniser is None else self._engine
        model = self.model_name if engine is not None else None
        return CallSession(
            engine, self.builder, speakers, self.config.streaming, ticket_every_s=ticket_every_s, clock=clock,
            recogniser=recogniser, audio=audio, model=model, options_record=self.run_options(True, speakers),
        )  # fmt: skip


def _merge(segments: list[Segment]) -> tuple[Segment, ...]:
    """Order segments of all speakers by start time and number them 0..n-1."""
    ordered = sorted(segments, key=lambda s: (s.start_s, s.end_s))
    return tuple(
        Segment(i, s.start_s, s.end_s, s.text, s.speaker, s.words, s.avg_logprob, s.no_speech_prob) for i, s in enumerate(ordered)
    )
