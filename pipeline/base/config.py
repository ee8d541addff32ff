"""One typed configuration object, validated at construction with messages naming the field and value."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Optional

from .errors import ConfigError

__all__ = ["AsrOptions", "PipelineConfig", "StreamingOptions", "TicketOptions", "DEFAULT_STAGES", "check_number"]

DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = ("auto", "default", "int8", "int8_float16", "int8_float32", "int16", "float16", "bfloat16", "float32")

# ticket field -> registered stage name, run in this order (later stages may read earlier fields)
DEFAULT_STAGES: Mapping[str, str] = {
    "request_type": "request_type.rules.v2",
    "category": "category.linear.v1",
    "department": "department.table.v1",
    "location": "location.spacy.v1",
    "urgency": "urgency.rules.v2",
    "caller_phone": "caller.phone.v1",
    "caller_id": "caller.id.v1",
    "summary": "summarize.extractive.v1",
}


def _check(cond: bool, name: str, value: object, expected: str) -> None:
    if not cond:
        raise ConfigError(name, value, expected)


def check_number(field: str, value: object, lo: float, hi: Optional[float] = None, *, integer: bool = False) -> None:
    """Refuse a numeric option that is not a number (an int when `integer`) in lo..hi; no upper bound when `hi` is None.

    A bool is refused although Python counts it as an int: ``min_confidence: true`` in a config file is a mistake.

    Args:
        field: the option as the user names it, for a stage ``"<stage name>.<option>"`` (``"caller.id.v1.context_chars"``).

    Raises:
        ConfigError: naming `field` and the value.
    """
    kind = "an integer" if integer else "a number"
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int if integer else (int, float))
        and lo <= value
        and (hi is None or value <= hi)
    )
    _check(ok, field, value, f"{kind} >= {lo}" if hi is None else f"{kind} in {lo}..{hi}")


@dataclass(frozen=True)
class AsrOptions:
    """Speech recognition options.

    Attributes:
        model: a known model name (see `hotline models`, default "base": Whisper base from PyPI packages),
            a faster-whisper size name (tiny … large-v3, downloaded when online), a hub name "org/repo",
            or a path to a local CTranslate2 model directory.
        model_dir: where assembled/downloaded models are cached (default: platform cache dir or $HOTLINE_MODEL_DIR).
        device: "auto" (CUDA when available, else CPU), "cpu" or "cuda".
        compute_type: "auto" (int8 on CPU, float16 on CUDA) or any CTranslate2 compute type.
        cpu_threads: CPU threads for the model, 0 = CTranslate2's default.
        language: spoken language code.
        beam_size: beam width for decoding (>= 1).
        vad: drop non-speech with faster-whisper's Silero VAD before decoding.
        vad_min_silence_ms: silence that splits speech regions for the VAD.
        word_timestamps: compute per-word times.
        initial_prompt: text given to Whisper as previous context ("" for none).
        hotwords: offer the domain vocabulary's hotwords to Whisper.
        channels: None to mix all channels to mono, or one speaker label per channel ("-" skips a channel).
    """

    model: str = "base"
    model_dir: Optional[Path] = None
    device: str = "auto"
    compute_type: str = "auto"
    cpu_threads: int = 0
    language: str = "zh"
    beam_size: int = 5
    vad: bool = True
    vad_min_silence_ms: int = 2000
    word_timestamps: bool = True
    initial_prompt: str = ""
    hotwords: bool = False
    channels: Optional[tuple[str, ...]] = None

    def __post_init__(self) -> None:
        _check(isinstance(self.model, str) and bool(self.model.strip()), "model", self.model, "a model name or directory")
        _check(self.device in DEVICES, "device", self.device, f"one of {', '.join(DEVICES)}")
        _check(self.compute_type in COMPUTE_TYPES, "compute_type", self.compute_type, f"one of {', '.join(COMPUTE_TYPES)}")
        _check(isinstance(self.cpu_threads, int) and self.cpu_threads >= 0, "cpu_threads", self.cpu_threads, "an integer >= 0")
        _check(isinstance(self.beam_size, int) and 1 <= self.beam_size <= 20, "beam_size", self.beam_size, "an integer in 1..20")
        _check(isinstance(self.language, str) and 2 <= len(self.language) <= 3, "language", self.language, "a language code such as 'zh'")
        _check(
            isinstance(self.vad_min_silence_ms, int) and 0 <= self.vad_min_silence_ms <= 10000,
            "vad_min_silence_ms",
            self.vad_min_silence_ms,
            "an integer in 0..10000",
        )
        if self.channels is not None:
            labels = self.channels
            _check(isinstance(labels, tuple) and len(labels) >= 1, "channels", labels, "a tuple of speaker labels")
            named = [c for c in labels if c != "-"]
            _check(all(isinstance(c, str) and c.strip() for c in labels), "channels", ",".join(labels), "non-empty labels")
            _check(len(named) >= 1, "channels", ",".join(labels), "at least one channel not skipped with '-'")
            _check(len(set(named)) == len(named), "channels", ",".join(labels), "distinct speaker labels")


@dataclass(frozen=True)
class TicketOptions:
    """Ticket drafting options.

    Attributes:
        stages: ticket field -> registered stage name (see DEFAULT_STAGES).
        stage_config: stage name -> options merged over that stage's defaults.
        speakers: whose words the ticket is drafted from when segments carry speaker labels
            (default: the caller's; all segments when none is labelled so).
    """

    stages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STAGES))
    stage_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    speakers: tuple[str, ...] = ("caller",)

    def __post_init__(self) -> None:
        missing = [f for f in DEFAULT_STAGES if f not in self.stages]
        extra = [f for f in self.stages if f not in DEFAULT_STAGES]
        _check(not missing, "ticket.stages", sorted(missing), "every ticket field needs a stage")
        _check(not extra, "ticket.stages", sorted(extra), f"unknown ticket field; fields are {', '.join(DEFAULT_STAGES)}")


@dataclass(frozen=True)
class StreamingOptions:
    """Streaming settings.

    Attributes:
        min_step_s: new audio needed before decoding again (bounds CPU use).
        endpoint_silence_s: trailing silence that ends an utterance (0.5–0.8 s is natural speech).
        max_buffer_s: longest audio decoded at once; beyond it words are committed without agreement.
        vad_threshold: Silero speech probability threshold.
        beam_size: beam for the last decode of an utterance (at its endpoint). Greedy (1) by default: with a
            full window of context a beam-5 decode takes about 2.5 s on 2 cores, which the lag cannot afford,
            and the context buys more accuracy than the beam (README, "Live calls").
        partial_beam_size: beam for the decodes while the utterance goes on (LocalAgreement's hypotheses)
            and for the last decode at hang-up.
        context_s: audio before the buffer (already committed) decoded with it at an utterance's endpoint, so
            Whisper hears the words before the ones it must write; those words are re-read, not emitted
            again. Context and buffer share one 28 s window, so 25 s means "fill the window". Measured on the
            long-form eval audio, context is the biggest accuracy gain (README, "Live calls").
        partial_context_s: the same for the decodes while the utterance goes on. They run every step, and
            re-reading the context is most of their cost (about 30 ms per second of it), so they get less.
            The decode at hang-up gets at most 5 s, so the ticket is not kept waiting.
    """

    min_step_s: float = 1.0
    endpoint_silence_s: float = 0.6
    max_buffer_s: float = 12.0
    vad_threshold: float = 0.5
    beam_size: int = 1
    partial_beam_size: int = 1
    context_s: float = 25.0
    partial_context_s: float = 12.0

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("min_step_s", 0.1, 10.0),
            ("endpoint_silence_s", 0.2, 5.0),
            ("max_buffer_s", 3.0, 25.0),
            ("vad_threshold", 0.05, 0.95),
            ("context_s", 0.0, 25.0),
            ("partial_context_s", 0.0, 25.0),
        ):
            value = getattr(self, name)
            ok = not isinstance(value, bool) and isinstance(value, (int, float)) and lo <= value <= hi
            _check(ok, f"streaming.{name}", value, f"a number in {lo}..{hi}")
        for name in ("beam_size", "partial_beam_size"):
            value = getattr(self, name)
            _check(not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= 10, f"streaming.{name}", value, "an integer in 1..10")


@dataclass(frozen=True)
class PipelineConfig:
    asr: AsrOptions = field(default_factory=AsrOptions)
    ticket: TicketOptions = field(default_factory=TicketOptions)
    streaming: StreamingOptions = field(default_factory=StreamingOptions)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: Optional[str] = None) -> "PipelineConfig":
        """Build from a nested mapping ({"asr": {...}, "ticket": {...}}). Unknown keys are errors."""
        sections = {"asr": AsrOptions, "ticket": TicketOptions, "streaming": StreamingOptions}
        kwargs = {}
        for key, value in data.items():
            if key not in sections:
                raise ConfigError(key, value, f"unknown section; sections are {', '.join(sections)}", source)
            known = {f.name for f in fields(sections[key])}
            for sub in value:
                if sub not in known:
                    raise ConfigError(f"{key}.{sub}", value[sub], f"unknown option; {key} accepts {', '.join(sorted(known))}", source)
            value = dict(value)
            if key == "asr":
                if value.get("model_dir") is not None:
                    value["model_dir"] = Path(value["model_dir"])
                if value.get("channels") is not None:
                    value["channels"] = tuple(value["channels"])
            if key == "ticket" and "speakers" in value:
                value["speakers"] = tuple(value["speakers"])
            kwargs[key] = sections[key](**value)
        return cls(**kwargs)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, base: Optional["PipelineConfig"] = None) -> "PipelineConfig":
        """Build from CLI arguments over `base` (e.g. a config file); flags not given keep the base values."""
        base = base or cls()
        asr: dict[str, Any] = {}
        for name in ("model", "compute_type", "cpu_threads", "beam_size", "language"):
            if getattr(ns, name, None) is not None:
                asr[name] = getattr(ns, name)
        if getattr(ns, "asr_device", None) is not None:
            asr["device"] = ns.asr_device
        if getattr(ns, "model_dir", None):
            asr["model_dir"] = Path(ns.model_dir)
        if getattr(ns, "channels", None):
            asr["channels"] = parse_channels(ns.channels)
        if getattr(ns, "no_vad", False):
            asr["vad"] = False
        if getattr(ns, "prompt", None) is not None:
            asr["initial_prompt"] = ns.prompt
        if getattr(ns, "hotwords", False):
            asr["hotwords"] = True
        streaming = base.streaming
        if getattr(ns, "endpoint_silence", None) is not None:
            streaming = replace(streaming, endpoint_silence_s=ns.endpoint_silence)
        if getattr(ns, "final_beam_size", None) is not None:
            streaming = replace(streaming, beam_size=ns.final_beam_size)
        return cls(asr=replace(base.asr, **asr), ticket=base.ticket, streaming=streaming)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["asr"]["model_dir"] is not None:
            d["asr"]["model_dir"] = str(d["asr"]["model_dir"])
        return d


def parse_channels(spec: str) -> Optional[tuple[str, ...]]:
    """"operator,caller" -> ("operator", "caller"); "mix" -> None (mono downmix)."""
    spec = spec.strip()
    if spec in ("", "mix"):
        return None
    labels = tuple(p.strip() for p in spec.split(","))
    AsrOptions(channels=labels)  # validates
    return labels
