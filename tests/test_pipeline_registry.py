import pytest

from pipeline.base.config import DEFAULT_STAGES, TicketOptions
from pipeline.base.errors import ConfigError, StageError
from pipeline.base.registry import Registry
from pipeline.ticket import TicketBuilder, default_registry, text_transcript
from pipeline.base.types import Evidence, TicketField


def _const(value="x", confidence=0.9):
    def make(value=value, confidence=confidence):
        return lambda doc, fields: TicketField(value, confidence)

    return make


def _fresh_registry(**overrides):
    reg = Registry()
    for field, name in DEFAULT_STAGES.items():
        reg.register(name, overrides.get(field, _const(field)))
    return reg


@pytest.mark.parametrize("name", ["category.keywords.v1"])
def test_registry_refuses_different_function_under_taken_name(name):
    reg = Registry()
    f = _const()
    reg.register(name, f)
    reg.register(name, f)  # same function again: fine
    with pytest.raises(ValueError, match=name):
        reg.register(name, _const())


def _factory_with_options(cues=None, min_confidence=0.3, *, top_k=3):
    return lambda doc, fields: TicketField(None, 0.0)


@pytest.mark.parametrize("expected", [{"cues": None, "min_confidence": 0.3, "top_k": 3}])
def test_registry_default_config_is_the_factory_signature(expected):
    reg = Registry()
    reg.register("test.options.v1", _factory_with_options)
    assert dict(reg.get("test.options.v1").default_config) == expected
    with pytest.raises(ConfigError, match="test.options.v1 accepts: cues, min_confidence, top_k"):
        reg.build("test.options.v1", {"colour": "red"})


def _no_default(cues, min_confidence=0.3):
    return lambda doc, fields: TicketField(None, 0.0)


def _var_keyword(min_confidence=0.3, **options):
    return lambda doc, fields: TicketField(None, 0.0)


def _var_positional(*tables):
    return lambda doc, fields: TicketField(None, 0.0)


@pytest.mark.parametrize(
    "factory,param", [(_no_default, "cues"), (_var_keyword, r"\*\*options"), (_var_positional, r"\*tables")]
)
def test_registry_refuses_factory_parameter_without_default(factory, param):
    reg = Registry()
    with pytest.raises(TypeError, match=rf"'test.bad.v1'.*{factory.__name__} parameter {param}: .*needs a default"):
        reg.register("test.bad.v1", factory)
    assert reg.names == ()


@pytest.mark.parametrize("name", ["category.nope.v9"])
def test_registry_unknown_name_lists_available(name):
    reg = _fresh_registry()
    with pytest.raises(ConfigError, match=f"available: .*{DEFAULT_STAGES['category']}"):
        reg.build(name)


@pytest.mark.parametrize("config", [{"confidence": 0.5}])
def test_registry_build_merges_over_defaults(config):
    reg = _fresh_registry()
    name = DEFAULT_STAGES["urgency"]
    stage = reg.build(name, config)
    assert stage(None, {}) == TicketField("urgency", 0.5)
    with pytest.raises(ConfigError, match=f"{name}.colour"):
        reg.build(name, {"colour": 1})


@pytest.mark.parametrize("field", ["category"])
def test_ticket_builder_checks_stage_return_type(field):
    def bad():
        return lambda doc, fields: {"value": "城乡建设"}

    reg = _fresh_registry(**{field: bad})
    with pytest.raises(StageError, match=f"{DEFAULT_STAGES['category']}.*returned dict, expected TicketField"):
        TicketBuilder(registry=reg).build(text_transcript("路灯坏了"))


@pytest.mark.parametrize("span", [(0, 2, "不对")])
def test_ticket_builder_rejects_evidence_not_in_text(span):
    def liar():
        return lambda doc, fields: TicketField("x", 0.5, (Evidence(0, *span),))

    reg = Registry()
    for field, name in DEFAULT_STAGES.items():
        reg.register(name, liar if field == "location" else _const(field))
    with pytest.raises(StageError, match=f"{DEFAULT_STAGES['location']}.*evidence"):
        TicketBuilder(registry=reg).build(text_transcript("路灯坏了"))


@pytest.mark.parametrize("speakers", [("caller",)])
def test_ticket_builder_uses_caller_segments_when_labelled(speakers):
    from pipeline.base.types import Segment, Transcript

    t = Transcript(
        (Segment(0, 0, 1, "您好，12345热线，请讲。", "operator"), Segment(1, 1, 3, "我家楼下的路灯坏了。", "caller")), 3.0
    )
    builder = TicketBuilder(TicketOptions(speakers=speakers))
    doc = builder.analyze(t)
    assert [s.speaker for s in doc.segments] == ["caller"]
    assert [tok.text for tok in doc.tokens[0]][:3] == ["我家", "楼下", "的"]
    # unlabelled transcripts keep every segment
    assert len(builder.analyze(text_transcript("第一句\n第二句")).segments) == 2


def test_ticket_default_registry_has_every_default_stage():
    names = default_registry().names
    assert set(DEFAULT_STAGES.values()) <= set(names)
