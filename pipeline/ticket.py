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
from .base.errors import StageError
from .base.registry import Registry
from .base.segmenter import Segmenter, shared_segmenter
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
    """A transcript for typed text (app, web, SMS): one segment per non-empty line, no times."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    segments = tuple(Segment(i, 0.0, 0.0, line, speaker) for i, line in enumerate(lines))
    return Transcript(segments, 0.0, audio=source, model=None)


class TicketBuilder:
    """Drafts a ticket from a transcript. Build once and reuse: it holds the segmenter and the stages."""

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
            stage = registry.build(stage_name, self.options.stage_config.get(stage_name))
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
