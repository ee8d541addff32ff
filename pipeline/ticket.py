"""Transcript → segmentation → ticket stages → TicketDraft.

Each ticket field is produced by a stage built by name from a Registry (classify/ and summarize/
register theirs). A stage is a callable `(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField`;
stages run in the order of `TicketOptions.stages` and see the fields drafted before them.
"""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Callable, Mapping, Optional

from .base.config import TicketOptions
from .base.errors import ConfigError, ModelError, StageError
from .base.registry import Registry
from .base.segmenter import Segmenter, shared_segmenter
from .base.text import ingest_text
from .base.types import Segment, TextDoc, TicketDraft, TicketField, Transcript

logger = logging.getLogger(__name__)

__all__ = ["TicketBuilder", "default_registry", "text_transcript"]

Stage = Callable[[TextDoc, Mapping[str, TicketField]], TicketField]


def default_registry() -> Registry:
    """A fresh registry holding every stage the product ships."""
    import classify
    import summarize

    registry = Registry()
    classify.register(registry)
    summarize.register(registry)
    return registry


def text_transcript(text: str, speaker: Optional[str] = None, source: Optional[str] = None) -> Transcript:
    """A transcript for typed text (app, web, SMS): one segment per non-empty line, no times.

    The text goes through `ingest_text` first (NFC, Simplified characters, unpaired surrogates replaced), so every
    stage sees clean Unicode whichever way the text came in.
    """
    text = ingest_text(text, where=f"text of {source!r}" if source is not None else "typed text")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    segments = tuple(Segment(i, 0.0, 0.0, line, speaker) for i, line in enumerate(lines))
    return Transcript(segments, 0.0, audio=source, model=None)


def _build_stage(registry: Registry, name: str, options: Optional[Mapping[str, object]]) -> object:
    """Build the stage `name` with the user's `options`. A factory that refuses them (a missing table, a model that is
    not there, a wrong type) raises a ConfigError naming the stage's options and why, so a bad config is one line.

    Raises:
        ConfigError: an unknown or bad option (the factory's own ConfigError, naming the option), or any other
            failure of the factory while `options` were given.
    """
    try:
        return registry.build(name, options)
    except ConfigError:
        raise
    except (OSError, ValueError, TypeError, LookupError, ModelError) as e:
        if not options:
            raise  # the shipped defaults failed: not a config problem
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"ticket.stage_config.{name}", dict(options), reason) from e


class TicketBuilder:
    """Drafts a ticket from a transcript. Build once and reuse: it holds the segmenter and the stages.

    Raises:
        ConfigError: at construction, a stage name that is not registered or options a stage refuses.
    """

    def __init__(
        self,
        options: Optional[TicketOptions] = None,
        registry: Optional[Registry] = None,
        segmenter: Optional[Segmenter] = None,
    ):
        self.options = options or TicketOptions()
        registry = registry if registry is not None else default_registry()
        self.segmenter = segmenter if segmenter is not None else shared_segmenter()
        self._stages: list[tuple[str, str, Stage]] = []
        for field_name, stage_name in self.options.stages.items():
            if stage_name not in registry.names:
                available = f"unknown stage; available: {', '.join(registry.names)}"
                raise ConfigError(f"ticket.stages.{field_name}", stage_name, available)
            stage = _build_stage(registry, stage_name, self.options.stage_config.get(stage_name))
            if not callable(stage):
                raise StageError(f"factory {stage_name!r} returned {type(stage).__name__}, not a callable stage")
            self._stages.append((field_name, stage_name, stage))

    def analyze(self, transcript: Transcript) -> TextDoc:
        """Segment the words of the speakers the ticket is drafted from (see TicketOptions.speakers)."""
        labelled = {s.speaker for s in transcript.segments}
        wanted = set(self.options.speakers)
        if labelled & wanted:
            kept = tuple(s for s in transcript.segments if s.speaker in wanted)
            transcript = Transcript(kept, transcript.duration_s, transcript.language, transcript.audio, transcript.model)
        return TextDoc(transcript, tuple(self.segmenter.tokenize(s) for s in transcript.segments))

    def build(self, transcript: Transcript) -> TicketDraft:
        doc = self.analyze(transcript)
        drafted: dict[str, TicketField] = {}
        view = MappingProxyType(drafted)
        for field_name, stage_name, stage in self._stages:
            try:
                result = stage(doc, view)
            except Exception as e:
                raise StageError(f"ticket stage {stage_name!r} (field {field_name!r}) failed: {e}") from e
            if not isinstance(result, TicketField):
                raise StageError(
                    f"ticket stage {stage_name!r} (field {field_name!r}) returned {type(result).__name__}, expected TicketField"
                )
            self._check_evidence(stage_name, doc, result)
            drafted[field_name] = result
        return TicketDraft(**drafted)

    @staticmethod
    def _check_evidence(stage_name: str, doc: TextDoc, result: TicketField) -> None:
        by_id = {s.id: s for s in doc.segments}
        for ev in result.evidence:
            seg = by_id.get(ev.segment_id)
            if seg is None or ev.end_char > len(seg.text) or seg.text[ev.start_char : ev.end_char] != ev.text:
                raise StageError(  # the text itself is not echoed: it may hold a caller's phone or ID number
                    f"ticket stage {stage_name!r} returned evidence that does not match its segment: "
                    f"segment {ev.segment_id}, characters {ev.start_char}..{ev.end_char}"
                )
