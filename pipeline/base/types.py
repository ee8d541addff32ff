"""Value types that flow between the stages: audio → words/segments → transcript → ticket.

This module imports nothing else of the project, so every package may import it.
All types are frozen: stages return new objects instead of mutating their input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = [
    "AudioChunk",
    "CallResult",
    "Evidence",
    "LocationField",
    "LocationParts",
    "Segment",
    "TextDoc",
    "TicketDraft",
    "TicketField",
    "Token",
    "UrgencyField",
    "Transcript",
    "UNIT_SEPARATOR",
    "Word",
    "TICKET_FIELDS",
]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of mono audio, float32 in [-1, 1]."""

    samples: np.ndarray
    sample_rate_hz: int
    start_s: float = 0.0
    speaker: Optional[str] = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


@dataclass(frozen=True, slots=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float = 1.0

    def with_offset(self, offset_s: float) -> "Word":
        return Word(self.start_s + offset_s, self.end_s + offset_s, self.text, self.probability)


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of speech by one speaker. `id` is its index in the transcript."""

    id: int
    start_s: float
    end_s: float
    text: str
    speaker: Optional[str] = None
    words: tuple[Word, ...] = ()
    avg_logprob: Optional[float] = None
    no_speech_prob: Optional[float] = None


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: tuple[Segment, ...]
    duration_s: float
    language: str = "zh"
    audio: Optional[str] = None
    model: Optional[str] = None

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


@dataclass(frozen=True, slots=True)
class Token:
    """A jieba word inside one segment; `start`/`end` are character offsets in that segment's text."""

    text: str
    start: int
    end: int
    segment_id: int


@dataclass(frozen=True, slots=True)
class TextDoc:
    """A transcript with its word segmentation: the input of every ticket stage."""

    transcript: Transcript
    tokens: tuple[tuple[Token, ...], ...]  # one tuple of tokens per segment, same order as segments

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.transcript.segments


@dataclass(frozen=True, slots=True)
class Evidence:
    """The words that support a ticket field: a character span of one segment."""

    segment_id: int
    start_char: int
    end_char: int
    text: str

    def __post_init__(self) -> None:
        if not 0 <= self.start_char <= self.end_char:
            raise ValueError(f"Evidence span must satisfy 0 <= start_char <= end_char, got {self.start_char}..{self.end_char}")


@dataclass(frozen=True, slots=True)
class TicketField:
    """One field of the draft ticket. `value` is None when the stage is not confident enough (unknown)."""

    value: Optional[str]
    confidence: float
    evidence: tuple[Evidence, ...] = ()
    candidates: tuple[tuple[str, float], ...] = ()  # ranked alternatives (value, probability)

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"TicketField.confidence must be in [0, 1], got {self.confidence!r}")

    @classmethod
    def unknown(cls, confidence: float = 0.0, candidates: tuple[tuple[str, float], ...] = ()) -> "TicketField":
        return cls(None, confidence, (), candidates)


@dataclass(frozen=True, slots=True)
class LocationParts:
    """A normalised location. Every part is optional; `raw` is the mention as said."""

    district: Optional[str] = None
    street: Optional[str] = None  # 街道 / 镇
    road: Optional[str] = None
    number: Optional[str] = None  # 门牌号, e.g. "500号"
    compound: Optional[str] = None  # 小区 / POI
    intersection: Optional[str] = None  # as said, less fillers: "XX路和YY路路口", "XX路与YY路交汇处"
    raw: Optional[str] = None


@dataclass(frozen=True, slots=True)
class LocationField(TicketField):
    parts: LocationParts = field(default_factory=LocationParts)


@dataclass(frozen=True, slots=True)
class UrgencyField(TicketField):
    """Urgency with the handling priority and time limit it implies (from a configurable table)."""

    priority: Optional[str] = None  # e.g. "P1"
    time_limit_hours: Optional[float] = None


# a department field naming two units a ticket goes to: the functional department and the local one (城管执法局、洋湖街道)
UNIT_SEPARATOR = "、"
TICKET_FIELDS = ("request_type", "category", "department", "location", "urgency", "caller_phone", "caller_id", "summary")


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """The draft work order. `caller_phone` / `caller_id` hold numbers the caller said (unmasked: the
    operator needs them); everything that is logged or summarised masks them."""

    request_type: TicketField
    category: TicketField
    department: TicketField
    location: TicketField
    summary: TicketField
    urgency: TicketField
    caller_phone: TicketField = field(default_factory=TicketField.unknown)
    caller_id: TicketField = field(default_factory=TicketField.unknown)

    def fields(self) -> tuple[tuple[str, TicketField], ...]:
        return tuple((name, getattr(self, name)) for name in TICKET_FIELDS)


@dataclass(frozen=True, slots=True)
class CallResult:
    """Everything produced for one call: what the JSON output contract serialises."""

    audio: Optional[str]
    duration_s: float
    model: Optional[str]
    transcript: Transcript
    ticket: TicketDraft
    options: tuple[tuple[str, object], ...] = ()  # the effective settings, echoed into the output
