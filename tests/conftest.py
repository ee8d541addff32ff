"""Shared fixtures (only here). The `model` tier loads the real embedded Whisper base model once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pytest

from pipeline.types import Segment

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "audio_samples"


class FakeEngine:
    """Implements the engine protocol with scripted segments: `script[speaker]` is a list of (start_s, end_s, text)."""

    def __init__(self, script: Optional[dict] = None, model: str = "fake"):
        self.script = script or {None: [(0.0, 1.0, "测试")]}
        self.calls: list[tuple[int, Optional[str]]] = []

        class _Info:
            pass

        self.info = _Info()
        self.info.model = model

    def transcribe(self, samples: np.ndarray, speaker: Optional[str] = None, offset_s: float = 0.0) -> Iterator[Segment]:
        self.calls.append((len(samples), speaker))
        for i, (start, end, text) in enumerate(self.script.get(speaker, [])):
            yield Segment(i, start + offset_s, end + offset_s, text, speaker)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="session")
def engine():
    """The real Whisper engine with default options (Whisper base from the PyPI packages)."""
    from asr.engine import WhisperEngine
    from pipeline.config import AsrOptions

    return WhisperEngine(AsrOptions())


@pytest.fixture(scope="session")
def ticket_builder():
    from pipeline.ticket import TicketBuilder

    return TicketBuilder()


@pytest.fixture(scope="session")
def segmenter():
    """One jieba segmenter with the domain dictionary (loading it takes about a second)."""
    from pipeline.segmenter import JiebaSegmenter

    return JiebaSegmenter()


@pytest.fixture
def registry():
    """A fresh registry with every shipped stage."""
    from pipeline.ticket import default_registry

    return default_registry()
