import argparse

import pytest

from pipeline.config import AsrOptions, PipelineConfig, TicketOptions, parse_channels
from pipeline.errors import ConfigError


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
