import argparse

import pytest

from pipeline.base.config import AsrOptions, PipelineConfig, TicketOptions, check_number, parse_channels
from pipeline.base.errors import ConfigError


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"device": "tpu"}, "device"),
        ({"beam_size": 0}, "beam_size"),
        ({"cpu_threads": -1}, "cpu_threads"),
        ({"compute_type": "int3"}, "compute_type"),
        ({"model": " "}, "model"),
        ({"channels": ("caller", "caller")}, "channels"),
        ({"channels": ("-", "-")}, "channels"),
        ({"vad_min_silence_ms": 99999}, "vad_min_silence_ms"),
    ],
)
def test_config_asr_invalid_names_field_and_value(kwargs, field):
    with pytest.raises(ConfigError, match=f"Invalid {field}=") as info:
        AsrOptions(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    "data,fragment",
    [
        ({"asr": {"beam": 3}}, "asr.beam"),
        ({"audio": {}}, "unknown section"),
        ({"ticket": {"stages": {"colour": "x"}}}, "ticket.stages"),
    ],
)
def test_config_from_dict_rejects_unknown_keys(data, fragment):
    with pytest.raises(ConfigError, match=fragment):
        PipelineConfig.from_dict(data, source="hotline.json")


@pytest.mark.parametrize("spec,expected", [("operator,caller", ("operator", "caller")), ("mix", None), ("-,caller", ("-", "caller"))])
def test_config_parse_channels(spec, expected):
    assert parse_channels(spec) == expected


@pytest.mark.parametrize("flags", [{"model": "small", "channels": "operator,caller", "no_vad": True, "prompt": "你好", "hotwords": True}])
def test_config_from_namespace_overrides_base(flags):
    base = PipelineConfig.from_dict({"asr": {"beam_size": 3}})
    cfg = PipelineConfig.from_namespace(argparse.Namespace(**flags), base)
    assert cfg.asr.model == "small"
    assert cfg.asr.beam_size == 3  # from the base config, not overridden
    assert cfg.asr.channels == ("operator", "caller")
    assert cfg.asr.vad is False
    assert cfg.asr.initial_prompt == "你好"
    assert cfg.asr.hotwords is True
    assert cfg.to_dict()["asr"]["model"] == "small"


@pytest.mark.parametrize("speakers", [("caller",)])
def test_config_defaults_are_valid(speakers):
    cfg = PipelineConfig()
    assert cfg.asr.model == "base" and cfg.asr.language == "zh" and cfg.asr.vad
    assert TicketOptions().speakers == speakers


@pytest.mark.parametrize("data", [{"streaming": {"endpoint_silence_s": 0.8, "context_s": 10}}])
def test_config_streaming_section_from_dict_and_flag(data):
    cfg = PipelineConfig.from_dict(data)
    assert cfg.streaming.endpoint_silence_s == 0.8 and cfg.streaming.context_s == 10
    flagged = PipelineConfig.from_namespace(argparse.Namespace(endpoint_silence=0.5), cfg)
    assert flagged.streaming.endpoint_silence_s == 0.5 and flagged.streaming.context_s == 10
    assert PipelineConfig.from_namespace(argparse.Namespace(), cfg).streaming == cfg.streaming


@pytest.mark.parametrize("data,field", [({"streaming": {"endpoint_silence_s": 0}}, "streaming.endpoint_silence_s"), ({"streaming": {"lag": 1}}, "streaming.lag")])
def test_config_streaming_bad_values_name_the_field(data, field):
    with pytest.raises(ConfigError) as info:
        PipelineConfig.from_dict(data, source="call.json")
    assert info.value.field == field


@pytest.mark.parametrize("command", ["live", "replay"])
def test_config_streamed_call_flags(command):
    """live/replay: --beam-size sets the beam of each utterance's last decode (the streaming beam), and the
    batch-only --no-vad is refused (a streamed call ends its utterances by VAD) rather than silently ignored."""
    import cli

    args = ["call.wav"] if command == "replay" else []
    ns = cli.build_parser().parse_args([command, *args, "--beam-size", "3", "--prompt", "你好", "--hotwords"])
    cfg = PipelineConfig.from_namespace(ns)
    assert cfg.streaming.beam_size == 3 and cfg.asr.beam_size == AsrOptions().beam_size
    assert cfg.asr.initial_prompt == "你好" and cfg.asr.hotwords is True
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([command, *args, "--no-vad"])


@pytest.mark.parametrize(
    "value,integer,lo,hi,expected",
    [
        (1.5, False, 0.0, 1.0, "a number in 0.0..1.0"),
        (-0.1, False, 0.0, 1.0, "a number in 0.0..1.0"),
        (float("nan"), False, 0.0, 1.0, "a number in 0.0..1.0"),
        ("high", False, 0.0, 1.0, "a number in 0.0..1.0"),
        (None, False, 0.0, 1.0, "a number in 0.0..1.0"),
        (True, False, 0.0, 1.0, "a number in 0.0..1.0"),
        (0.5, True, 0, 100, "an integer in 0..100"),
        (False, True, 0, 100, "an integer in 0..100"),
        (0, True, 1, None, "an integer >= 1"),
    ],
)
def test_config_check_number_names_field_and_value(value, integer, lo, hi, expected):
    with pytest.raises(ConfigError, match=f"Invalid stage.v1.option={value!r}: {expected}") as info:
        check_number("stage.v1.option", value, lo, hi, integer=integer)
    assert info.value.field == "stage.v1.option"
    assert info.value.value is value


@pytest.mark.parametrize(
    "value,integer,lo,hi",
    [(0, False, 0.0, 1.0), (1.0, False, 0.0, 1.0), (0.3, False, 0.0, 1.0), (100, True, 0, 100), (10**6, True, 1, None)],
)
def test_config_check_number_accepts_range_bounds(value, integer, lo, hi):
    check_number("stage.v1.option", value, lo, hi, integer=integer)


# one strict parser: stages merge over the defaults, every option's type is checked, bad shapes name the file --------

README_EXAMPLE = {
    "ticket": {
        "stages": {"summary": "summarize.transformers.v1"},
        "stage_config": {"summarize.transformers.v1": {"model": "/models/qwen2.5-0.5b-instruct"}},
    }
}


@pytest.mark.parametrize("data,field,stage", [(README_EXAMPLE, "summary", "summarize.transformers.v1")])
def test_config_stages_merge_over_defaults(data, field, stage):
    # regression: the README's own example was refused ("every ticket field needs a stage")
    from pipeline.base.config import DEFAULT_STAGES

    cfg = PipelineConfig.from_dict(data, source="hotline.json")
    assert cfg.ticket.stages == {**DEFAULT_STAGES, field: stage}
    assert list(cfg.ticket.stages) == list(DEFAULT_STAGES)  # run order stays the default order
    assert TicketOptions(stages={field: stage}).stages == cfg.ticket.stages


@pytest.mark.parametrize(
    "stage_config,name",
    [
        ({"summarize.transformers.v1": {"model": "/m"}}, "summarize.transformers.v1"),  # registered, but no field uses it
        ({"nope.v9": {}}, "nope.v9"),  # not registered at all
    ],
)
def test_config_stage_config_for_a_stage_not_in_use_is_an_error(stage_config, name):
    # regression: options for a stage no field uses were silently ignored
    with pytest.raises(ConfigError, match=f"ticket.stage_config.{name}=.* in hotline.json: not the stage of any ticket field"):
        PipelineConfig.from_dict({"ticket": {"stage_config": stage_config}}, source="hotline.json")


@pytest.mark.parametrize(
    "data,field",
    [
        ({"asr": {"vad": "false"}}, "asr.vad"),
        ({"asr": {"vad": 0}}, "asr.vad"),
        ({"asr": {"beam_size": True}}, "asr.beam_size"),
        ({"asr": {"beam_size": 5.0}}, "asr.beam_size"),
        ({"asr": {"hotwords": "yes"}}, "asr.hotwords"),
        ({"asr": {"word_timestamps": None}}, "asr.word_timestamps"),
        ({"asr": {"initial_prompt": 5}}, "asr.initial_prompt"),
        ({"asr": {"model_dir": 5}}, "asr.model_dir"),
        ({"asr": {"model": ["base"]}}, "asr.model"),
        ({"asr": {"device": ["cpu"]}}, "asr.device"),
        ({"asr": {"language": None}}, "asr.language"),
        ({"asr": {"channels": "operator,caller"}}, "asr.channels"),
        ({"asr": {"channels": ["caller", 5]}}, "asr.channels"),
        ({"asr": {"cpu_threads": 1e400}}, "asr.cpu_threads"),
        ({"streaming": {"context_s": float("nan")}}, "streaming.context_s"),
        ({"streaming": {"beam_size": False}}, "streaming.beam_size"),
        ({"ticket": {"speakers": "caller"}}, "ticket.speakers"),
        ({"ticket": {"speakers": []}}, "ticket.speakers"),
        ({"ticket": {"stages": {"summary": 5}}}, "ticket.stages.summary"),
        ({"ticket": {"stages": ["summary"]}}, "ticket.stages"),
        ({"ticket": {"stage_config": {"caller.id.v1": 5}}}, "ticket.stage_config.caller.id.v1"),
        ({"ticket": {"stage_config": []}}, "ticket.stage_config"),
        ({"asr": 5}, "asr"),
        ({"ticket": None}, "ticket"),
        ([], "config"),
        (None, "config"),
        ("asr", "config"),
        ({"a\nb": {}}, "'a\\nb'"),
    ],
)
def test_config_wrong_type_names_field_value_and_file(data, field):
    # regression: "false" kept VAD on, `true` was a beam size, and a wrong shape was a Python traceback
    with pytest.raises(ConfigError) as info:
        PipelineConfig.from_dict(data, source="x.json")
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(f"Invalid {field}=") and " in x.json: " in message and len(message.splitlines()) == 1


@pytest.mark.parametrize("data", [{"asr": {"model_dir": "/data/models", "channels": ["-", "caller"], "vad": False}}])
def test_config_from_dict_normalizes_json_values(data):
    from pathlib import Path

    cfg = PipelineConfig.from_dict(data, source="x.json")
    assert cfg.asr.model_dir == Path("/data/models") and cfg.asr.channels == ("-", "caller") and cfg.asr.vad is False
    assert cfg.source == "x.json" and cfg == PipelineConfig.from_dict(data)  # the source is not an option
    assert "source" not in cfg.to_dict()
    assert PipelineConfig.from_namespace(argparse.Namespace(), cfg).source == "x.json"


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_config_check_number_refuses_infinity(value):
    with pytest.raises(ConfigError, match="a number >= 0"):
        check_number("--speed", value, 0.0)


@pytest.mark.parametrize("spec", ["-,-", "caller,caller", "a,,b"])
def test_config_parse_channels_names_the_flag(spec):
    with pytest.raises(ConfigError, match=f"Invalid --channels={spec!r}: 'mix', or one distinct speaker label per channel"):
        parse_channels(spec)


@pytest.mark.parametrize("source", ["hotline.json"])
def test_config_error_in_file_names_the_file_once(source):
    plain = ConfigError("summarize.extractive.v1.max_chars", -5, "an integer >= 30")
    named = plain.in_file(source)
    assert str(named) == f"Invalid summarize.extractive.v1.max_chars=-5 in {source}: an integer >= 30"
    assert (named.field, named.value, named.expected, named.source) == (plain.field, -5, plain.expected, source)
    assert named.in_file("other.json") is named and plain.in_file(None) is plain


# property: whatever JSON a config file holds, the parser returns a config or raises ConfigError naming the file ---

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.base.config import DEFAULT_STAGES, StreamingOptions  # noqa: E402

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# what a real stage is called, and the options real stages take (summarize.transformers.v1 would load a model)
STAGE_NAMES = sorted({*DEFAULT_STAGES.values(), "category.keywords.v1", "location.gazetteer.v1", "request_type.rules.v1",
                      "urgency.rules.v1", "no.such.stage.v1"})  # fmt: skip
STAGE_OPTIONS = ["min_confidence", "max_chars", "table", "model", "top_k", "context_chars", "cues", "fallback", "colour"]


def _section(options, values=JSON_VALUES):
    return st.dictionaries(st.sampled_from(options), values, max_size=4)


def _option_names(cls) -> list[str]:
    from dataclasses import fields

    return [f.name for f in fields(cls)] + ["unknown_option"]


# plausible values too, so some configs get past the first check and reach the later ones
PLAUSIBLE = JSON_VALUES | st.sampled_from([0, 1, 5, 0.5, 30, 2000, "cpu", "zh", "base", "", ["operator", "caller"], ["-", "x"]])
STAGES = st.dictionaries(st.sampled_from([*DEFAULT_STAGES, "colour"]), st.sampled_from(STAGE_NAMES) | JSON_VALUES, max_size=3)
STAGE_CONFIG = st.dictionaries(
    st.sampled_from(STAGE_NAMES) | st.text(max_size=8), _section(STAGE_OPTIONS, PLAUSIBLE) | JSON_VALUES, max_size=2
)
SPEAKERS = st.lists(st.sampled_from(["caller", "operator", "", " "]) | JSON_VALUES, max_size=3) | JSON_VALUES
CONFIGS = JSON_VALUES | st.fixed_dictionaries(
    {},
    optional={
        "asr": _section(_option_names(AsrOptions), PLAUSIBLE) | JSON_VALUES,
        "streaming": _section(_option_names(StreamingOptions), PLAUSIBLE) | JSON_VALUES,
        "ticket": st.fixed_dictionaries(
            {},
            optional={
                "stages": STAGES | JSON_VALUES,
                "stage_config": STAGE_CONFIG | JSON_VALUES,
                "speakers": SPEAKERS,
            },
        ) | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=CONFIGS)
def test_config_from_dict_any_json_is_a_config_or_a_config_error(data):
    try:
        cfg = PipelineConfig.from_dict(data, source="x.json")
    except ConfigError as e:
        assert " in x.json: " in str(e) and len(str(e).splitlines()) == 1
    else:
        assert isinstance(cfg, PipelineConfig) and cfg.source == "x.json"
        assert set(cfg.ticket.stages) == set(DEFAULT_STAGES)
