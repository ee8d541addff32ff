"""urgency.linear.v1: the shipped model (sha256, card, CV-tuned thresholds), exact outputs, options, unknowns."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from classify.fields_linear import load_field_model
from models.registry import CLASSIFIERS, resolve_classifier
from pipeline.base.config import DEFAULT_STAGES
from pipeline.base.errors import ConfigError, ModelError
from pipeline.base.types import TextDoc, TicketField, UrgencyField
from pipeline.ticket import text_transcript

pytest.importorskip("jieba")

NAME = "urgency_linear_v1"
SHIPPED = Path(str(resources.files("models") / "data" / f"{NAME}.npz"))


def _doc(segmenter, text):
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))


def test_urgency_linear_is_the_default_and_rules_stay_registered(registry):
    assert DEFAULT_STAGES["urgency"] == "urgency.linear.v1"
    assert {"urgency.rules.v1", "urgency.rules.v2", "urgency.linear.v1"} <= set(registry.names)


def test_urgency_linear_artifact_matches_registry_and_card():
    spec = CLASSIFIERS[NAME]
    assert resolve_classifier(NAME) == SHIPPED
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == spec.sha256
    card = json.loads(SHIPPED.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["model_sha256"] == spec.sha256
    assert len(card["training_data"]["annotated"]["sha256"]) == 64
    assert len(card["cv"]["cv_per_fold"]) == card["cv"]["folds"]
    model = load_field_model(SHIPPED)
    assert model.task == "urgency" and model.classes == ("一般", "urgent")
    assert model.threshold == card["model"]["threshold"] and model.cue_threshold == card["model"]["cue_threshold"]


@pytest.mark.parametrize(
    "text,request_type,value,evidence,priority",
    [
        ("请问社保怎么交费？", "咨询", "一般", [], "P4"),
        ("我要投诉楼下的烧烤店，油烟太大。", "投诉", "一般", [], "P3"),
        ("闻到很浓的煤气味，楼里还有老人被困在屋里，请马上派人来！", "求助", "紧急", ["煤气味", "被困"], "P1"),
        ("电梯突然坠落，有人被困在里面，请赶快来救援。", "求助", "紧急", ["被困"], "P1"),
        ("整个小区已经停水三天了，几百户居民没有水用，做饭洗澡都成问题。", "求助", "加急", ["停水"], "P2"),
    ],
)
def test_urgency_linear_outputs(segmenter, registry, text, request_type, value, evidence, priority):
    fields = {"request_type": TicketField(request_type, 0.9)}
    field = registry.build("urgency.linear.v1")(_doc(segmenter, text), fields)
    assert isinstance(field, UrgencyField)
    assert (field.value, [e.text for e in field.evidence], field.priority) == (value, evidence, priority)
    assert 0.5 <= field.confidence <= 1.0


def test_urgency_linear_threshold_option(segmenter, registry):
    doc = _doc(segmenter, "请问社保怎么交费？")
    assert registry.build("urgency.linear.v1", {"threshold": 0.0})(doc, {}).value == "加急"
    assert registry.build("urgency.linear.v1", {"threshold": 1.0})(doc, {}).value == "一般"


def test_urgency_linear_unknown_without_chinese(segmenter, registry):
    field = registry.build("urgency.linear.v1")(_doc(segmenter, "Hello, 12345!"), {})
    assert field.value is None and field.priority is None


@pytest.mark.parametrize(
    "config,field_name",
    [
        ({"threshold": 1.5}, "urgency.linear.v1.threshold"),
        ({"threshold": True}, "urgency.linear.v1.threshold"),
        ({"cue_threshold": -0.1}, "urgency.linear.v1.cue_threshold"),
    ],
)
def test_urgency_linear_bad_options(registry, config, field_name):
    with pytest.raises(ConfigError, match=field_name.replace(".", r"\.")):
        registry.build("urgency.linear.v1", config)


def test_urgency_linear_refuses_wrong_model(registry):
    with pytest.raises(ModelError, match="request_type"):
        registry.build("urgency.linear.v1", {"model": "request_type_linear_v1"})
