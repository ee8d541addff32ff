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
