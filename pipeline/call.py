"""The one call object: everything a transport needs to run a call, built once per process.

`CallPipeline` holds the process-wide pieces (one Whisper engine, one TicketBuilder, the config) and runs a
call three ways: a recording → `CallResult` (`process`), a typed text → `CallResult` (`process_text`), and
a live session (`session`: feed / step / finish) that capture, replay and the browser console all drive
through `pipeline.live.run_session`. The batch loop (`pipeline.batch`), the CLI and, later, the server and
Ray workers use it; none of them wires an engine, a builder or a session themselves.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from asr.audio import SAMPLE_RATE_HZ, decode_blocks, probe_audio, quiet_pieces, speaker_channels

from models import resolve_whisper

from .base.config import PipelineConfig
from .base.errors import ConfigError
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

    Raises:
        ConfigError: a ticket stage that is not registered or refuses its options (naming `config.source`).
    """

    def __init__(self, config: Optional[PipelineConfig] = None, engine=None, builder: Optional[TicketBuilder] = None):
        self.config = config or PipelineConfig()
        self._engine = engine
        self._model_path: Optional[Path] = None  # the Whisper model directory, once `check` has resolved it
        try:
            self.builder = builder or TicketBuilder(self.config.ticket)
        except ConfigError as e:
            named = e.in_file(self.config.source)
            if named is e:
                raise
            raise named from e

    @property
    def engine(self):
        if self._engine is None:
            from asr.engine import WhisperEngine

            self._engine = WhisperEngine(self.config.asr, model_path=self._model_path)
        return self._engine

    def check(self, audio: bool = True, out_dir=None, out_field: str = "out_dir") -> None:
        """Find, once and before any work, what would otherwise fail later (for every file, or after Whisper has
        loaded): an output that cannot be created or written, a Whisper model that is not there, a device that
        is not there. The ticket stages' options were checked when the constructor built them. Nothing is left
        behind and no weights are loaded.

        Args:
            audio: the run transcribes audio; False (typed text) leaves the model and the device alone.
            out_dir: a folder the run writes into (created when missing).
            out_field: how errors name `out_dir` (the CLI passes "--out").

        Raises:
            ConfigError: the output or the device, naming it.
            ModelError: the model is not there. It is resolved as the engine would (`models.resolve_whisper`:
                the embedded model is assembled into the cache once, a hub name may be downloaded); the engine
                then loads that directory.
        """
        if out_dir is not None:
            _check_folder(Path(out_dir), out_field)
        if audio and self._engine is None and self._model_path is None:
            _check_device(self.config.asr.device)
            self._model_path = resolve_whisper(self.config.asr.model, self.config.asr.model_dir)

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
        """Transcribe a recording block by block (`asr.audio.decode_blocks`: 2 minutes of audio per channel at a
        time, each block cut at a quiet point), so a long recording needs no more memory than a call. The header
        and the channel count are checked before anything is decoded; a truncation found at the end fails the
        whole file (AudioDecodeError), never a partial transcript."""
        labels = self.config.asr.channels
        info = probe_audio(path)
        speakers = dict(speaker_channels(path, info.num_channels, labels))
        done = dict.fromkeys(speakers, 0.0)  # seconds transcribed per channel, for progress
        total = 0.0  # seconds decoded; until the end, progress takes the header's word for the whole
        segments: list[Segment] = []
        for ch, start_s, samples in quiet_pieces(decode_blocks(path, keep_channels=labels is not None), tuple(speakers)):
            end_s = start_s + len(samples) / SAMPLE_RATE_HZ
            total = max(total, end_s)
            for seg in self.engine.transcribe(samples, speaker=speakers[ch], offset_s=start_s):
                segments.append(seg)
                done[ch] = max(done[ch], min(seg.end_s, end_s))
                if on_progress:
                    on_progress(sum(done.values()) / len(done), max(total, info.declared_s or 0.0))
            done[ch] = end_s
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


def _check_folder(folder: Path, field: str) -> None:
    """`folder` exists or can be created, and takes new files. Tried with an anonymous temp file in it (or in its
    nearest existing parent), which leaves nothing behind.

    Raises:
        ConfigError: naming `field` and `folder`.
    """
    try:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise ConfigError(field, str(folder), f"a folder that can be created, but {str(existing)!r} is not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ConfigError(field, str(folder), f"a folder that can be written ({e.strerror or e})") from None


def _check_device(device: str) -> None:
    """A `cuda` device is there (`auto` falls back to the CPU by itself)."""
    if device != "cuda":
        return
    from asr.engine import cuda_device_count

    if cuda_device_count() == 0:  # None: CTranslate2 is not installed, and the engine says which extra to install
        raise ConfigError("asr.device", device, "a device this machine has; CTranslate2 sees no CUDA device (use cpu or auto)")


def _merge(segments: list[Segment]) -> tuple[Segment, ...]:
    """Order segments of all speakers by start time and number them 0..n-1."""
    ordered = sorted(segments, key=lambda s: (s.start_s, s.end_s))
    return tuple(
        Segment(i, s.start_s, s.end_s, s.text, s.speaker, s.words, s.avg_logprob, s.no_speech_prob) for i, s in enumerate(ordered)
    )
