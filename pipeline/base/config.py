"""One typed configuration object, validated at construction with messages naming the field and value."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from .errors import ConfigError

__all__ = [
    "AsrOptions", "PipelineConfig", "StreamingOptions", "TicketOptions", "DEFAULT_STAGES", "check_number",
]  # fmt: skip

DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = ("auto", "default", "int8", "int8_float16", "int8_float32", "int16", "float16", "bfloat16", "float32")

# ticket field -> registered stage name, run in this order (later stages may read earlier fields)
DEFAULT_STAGES: Mapping[str, str] = {
    "request_type": "request_type.linear.v1",
    "category": "category.linear.v1",
    "location": "location.lac.v1",
    "department": "department.linear.v1",
    "urgency": "urgency.linear.v1",
    "caller_phone": "caller.phone.v1",
    "caller_id": "caller.id.v1",
    "summary": "summarize.structured.v1",
}


def _check(cond: bool, name: str, value: object, expected: str, source: Optional[str] = None) -> None:
    if not cond:
        raise ConfigError(name, value, expected, source)


def _name(key: object) -> str:
    """A key as it goes into a field name: printable text as is, anything else as its repr (a message stays one line)."""
    return key if isinstance(key, str) and key and key.isprintable() else repr(key)


def check_number(field: str, value: object, lo: float, hi: Optional[float] = None, *, integer: bool = False) -> None:
    """Refuse a numeric option that is not a number (an int when `integer`) in lo..hi; no upper bound when `hi` is None.

    A bool is refused although Python counts it as an int: ``min_confidence: true`` in a config file is a mistake.

    Args:
        field: the option as the user names it, for a stage ``"<stage name>.<option>"`` (``"caller.id.v1.context_chars"``).

    Raises:
        ConfigError: naming `field` and the value.
    """
    kind = "an integer" if integer else "a number"
    _check(_is_number(value, integer, lo, hi), field, value, f"{kind} >= {lo}" if hi is None else f"{kind} in {lo}..{hi}")


def _is_number(value: object, integer: bool, lo: float, hi: Optional[float]) -> bool:
    """A finite int (or float unless `integer`) in lo..hi, not a bool; nan and inf are not."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return False
    return (isinstance(value, int) or math.isfinite(value)) and lo <= value and (hi is None or value <= hi)


def _integer(lo: int, hi: Optional[int] = None) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _is_number(v, True, lo, hi)), (f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}")


def _number(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _is_number(v, False, lo, hi)), f"a number in {lo}..{hi}"


def _one_of(choices: tuple[str, ...]) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, str) and v in choices), f"one of {', '.join(choices)}"


def _text(v: object) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _labels(v: object) -> bool:
    """A non-empty list (or tuple) of non-blank labels."""
    return isinstance(v, (list, tuple)) and len(v) >= 1 and all(_text(c) for c in v)


def _channels(v: object) -> bool:
    """None, or one distinct label per channel with at least one channel not skipped ("-")."""
    if v is None:
        return True
    named = [c for c in v if c != "-"] if _labels(v) else []
    return bool(named) and len(set(named)) == len(named)


_BOOL = ((lambda v: isinstance(v, bool)), "true or false")
Rules = Mapping[str, tuple[Callable[[Any], bool], str]]

# every option of a section: (accepts its value?, what is accepted); bool is not an int, "false" is not a bool
ASR_RULES: Rules = {
    "model": (_text, "a model name or directory"),
    "model_dir": ((lambda v: v is None or isinstance(v, Path) or _text(v)), "a directory (a string) or null"),
    "device": _one_of(DEVICES),
    "compute_type": _one_of(COMPUTE_TYPES),
    "cpu_threads": _integer(0),
    "workers": _integer(0, 64),
    "language": ((lambda v: isinstance(v, str) and 2 <= len(v) <= 3), "a language code such as 'zh'"),
    "beam_size": _integer(1, 20),
    "vad": _BOOL,
    "vad_min_silence_ms": _integer(0, 10000),
    "word_timestamps": _BOOL,
    "initial_prompt": ((lambda v: isinstance(v, str)), "a string ('' for none)"),
    "hotwords": _BOOL,
    "channels": (_channels, 'null (mix to mono) or one distinct speaker label per channel, "-" skips one: ["-", "caller"]'),
}
STREAMING_RULES: Rules = {
    "min_step_s": _number(0.1, 10.0),
    "endpoint_silence_s": _number(0.2, 5.0),
    "max_buffer_s": _number(3.0, 25.0),
    "vad_threshold": _number(0.05, 0.95),
    "beam_size": _integer(1, 10),
    "partial_beam_size": _integer(1, 10),
    "context_s": _number(0.0, 25.0),
    "partial_context_s": _number(0.0, 25.0),
}


def _check_rules(values: Mapping[str, Any], rules: Rules, prefix: str, source: Optional[str]) -> None:
    for name, (ok, expected) in rules.items():
        if name in values:
            _check(ok(values[name]), prefix + name, values[name], expected, source)


def _check_ticket(values: Mapping[str, Any], source: Optional[str]) -> None:
    """The ticket section: fields in `stages` (merged over DEFAULT_STAGES), `stage_config` only for stages in use."""

    def check(ok: bool, name: str, value: object, expected: str) -> None:
        _check(ok, name, value, expected, source)

    stages = values.get("stages", {})
    check(isinstance(stages, Mapping), "ticket.stages", stages, 'an object: ticket field -> stage name ({"summary": …})')
    for name, stage in stages.items():
        known = f"unknown ticket field; fields are {', '.join(DEFAULT_STAGES)}"
        check(name in DEFAULT_STAGES, f"ticket.stages.{_name(name)}", stage, known)
        check(_text(stage), f"ticket.stages.{name}", stage, "a registered stage name such as 'summarize.extractive.v1'")
    in_use = sorted(set({**DEFAULT_STAGES, **stages}.values()))
    config = values.get("stage_config", {})
    check(isinstance(config, Mapping), "ticket.stage_config", config, "an object: stage name -> its options")
    for stage, options in config.items():
        unused = f"not the stage of any ticket field (in use: {', '.join(in_use)}); choose it in ticket.stages first"
        check(stage in in_use, f"ticket.stage_config.{_name(stage)}", options, unused)
        check(isinstance(options, Mapping), f"ticket.stage_config.{stage}", options, "an object: option -> value")
    speakers = values.get("speakers", ("caller",))
    check(_labels(speakers), "ticket.speakers", speakers, 'a list of speaker labels, e.g. ["caller"]')


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
        cpu_threads: CPU threads for the model, 0 = CTranslate2's default (with several `workers`: the CPU
            cores shared out among them).
        workers: decodes the model runs at once (CTranslate2 replicas sharing its weights, faster-whisper's
            num_workers), for `hotline serve`, whose decode workers serve several calls. 0 = automatic: one for
            every command but serve; serve takes one per live call, up to the CPU cores.
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
    workers: int = 0
    language: str = "zh"
    beam_size: int = 5
    vad: bool = True
    vad_min_silence_ms: int = 2000
    word_timestamps: bool = True
    initial_prompt: str = ""
    hotwords: bool = False
    channels: Optional[tuple[str, ...]] = None

    def __post_init__(self) -> None:
        _check_rules(vars(self), ASR_RULES, "", None)
        if isinstance(self.model_dir, str):
            object.__setattr__(self, "model_dir", Path(self.model_dir))
        if isinstance(self.channels, list):
            object.__setattr__(self, "channels", tuple(self.channels))


@dataclass(frozen=True)
class TicketOptions:
    """Ticket drafting options.

    Attributes:
        stages: ticket field -> registered stage name, merged over DEFAULT_STAGES (name only the fields to change);
            the stages run in DEFAULT_STAGES' order.
        stage_config: stage name -> options merged over that stage's defaults. A name that is not the stage of
            any field is an error (its options would be ignored).
        speakers: whose words the ticket is drafted from when segments carry speaker labels
            (default: the caller's; all segments when none is labelled so).
    """

    stages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STAGES))
    stage_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    speakers: tuple[str, ...] = ("caller",)

    def __post_init__(self) -> None:
        _check_ticket(vars(self), None)
        object.__setattr__(self, "stages", {**DEFAULT_STAGES, **self.stages})  # in DEFAULT_STAGES' order
        object.__setattr__(self, "speakers", tuple(self.speakers))


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
        _check_rules(vars(self), STREAMING_RULES, "streaming.", None)


@dataclass(frozen=True)
class PipelineConfig:
    """Every option of a run. `source` is the config file it was read from (None: defaults or code), named by
    errors found later, when the stages are built; it is not an option and not compared."""

    asr: AsrOptions = field(default_factory=AsrOptions)
    ticket: TicketOptions = field(default_factory=TicketOptions)
    streaming: StreamingOptions = field(default_factory=StreamingOptions)
    source: Optional[str] = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, data: Any, source: Optional[str] = None) -> "PipelineConfig":
        """Build from a nested mapping ({"asr": {...}, "ticket": {...}, "streaming": {...}}), as read from JSON.

        Every value is checked (type and range) before anything is built; `ticket.stages` is merged over the
        default stages.

        Raises:
            ConfigError: an unknown section or option, or a value of the wrong type or out of range; it names
                the field, the value, what is accepted and `source`.
        """
        sections = {"asr": (AsrOptions, ASR_RULES), "ticket": (TicketOptions, None),
                    "streaming": (StreamingOptions, STREAMING_RULES)}  # fmt: skip
        _check(isinstance(data, Mapping), "config", data, 'an object {"asr": {…}, "ticket": {…}, "streaming": {…}}', source)
        kwargs = {}
        for key, value in data.items():
            if key not in sections:
                raise ConfigError(_name(key), value, f"unknown section; sections are {', '.join(sections)}", source)
            options, rules = sections[key]
            known = sorted(f.name for f in fields(options))
            _check(isinstance(value, Mapping), key, value, f"an object of {key} options ({', '.join(known)})", source)
            for sub in value:
                if sub not in known:
                    accepted = ", ".join(known)
                    raise ConfigError(f"{key}.{_name(sub)}", value[sub], f"unknown option; {key} accepts {accepted}", source)
            if rules is None:
                _check_ticket(value, source)
            else:
                _check_rules(value, rules, f"{key}.", source)
            kwargs[key] = options(**value)
        return cls(**kwargs, source=source)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, base: Optional["PipelineConfig"] = None) -> "PipelineConfig":
        """Build from CLI arguments over `base` (e.g. a config file); flags not given keep the base values."""
        base = base or cls()
        asr: dict[str, Any] = {}
        for name in ("model", "compute_type", "cpu_threads", "workers", "beam_size", "language"):
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
        return cls(asr=replace(base.asr, **asr), ticket=base.ticket, streaming=streaming, source=base.source)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["source"]
        if d["asr"]["model_dir"] is not None:
            d["asr"]["model_dir"] = str(d["asr"]["model_dir"])
        return d


def parse_channels(spec: str) -> Optional[tuple[str, ...]]:
    """"operator,caller" -> ("operator", "caller"); "mix" -> None (mono downmix)."""
    spec = spec.strip()
    if spec in ("", "mix"):
        return None
    labels = tuple(p.strip() for p in spec.split(","))
    expected = "'mix', or one distinct speaker label per channel, '-' skips one (operator,caller or -,caller)"
    _check(_channels(labels), "--channels", spec, expected)
    return labels
