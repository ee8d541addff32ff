"""request_type.linear.v1: the shipped model (sha256, card), exact outputs on short texts, options, unknowns."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from classify.fields_linear import field_terms, load_field_model
from models.registry import CLASSIFIERS, resolve_classifier
from pipeline.base.config import DEFAULT_STAGES
from pipeline.base.errors import ConfigError, ModelError
from pipeline.base.types import TextDoc
from pipeline.ticket import text_transcript

pytest.importorskip("jieba")

NAME = "request_type_linear_v1"
SHIPPED = Path(str(resources.files("models") / "data" / f"{NAME}.npz"))


def _doc(segmenter, text):
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))


def test_request_type_linear_is_the_default_and_rules_stay_registered(registry):
    assert DEFAULT_STAGES["request_type"] == "request_type.linear.v1"
    assert {"request_type.rules.v1", "request_type.rules.v2", "request_type.linear.v1"} <= set(registry.names)


def test_request_type_linear_artifact_matches_registry_and_card():
    spec = CLASSIFIERS[NAME]
    assert resolve_classifier(NAME) == SHIPPED
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == spec.sha256
    assert SHIPPED.stat().st_size < 2_000_000
    card = json.loads(SHIPPED.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["model_sha256"] == spec.sha256
    assert len(card["training_data"]["annotated"]["sha256"]) == 64
    assert len(card["cv"]["cv_accuracy_per_fold"]) == card["cv"]["folds"]
    model = load_field_model(SHIPPED)
    assert model.task == "request_type"
    assert set(model.classes) <= {"咨询", "求助", "投诉", "举报", "建议", "表扬"}
    assert model.weights.shape == (len(model.vocabulary), len(model.classes))


def test_field_terms_has_text_and_head_ngrams():
    assert field_terms("请问 办证？要带啥", 1, 2, 4) == [
        "请", "问", "办", "证", "?", "要", "带", "啥", "请问", "问办", "办证", "证?", "?要", "要带", "带啥",
        "^请", "^问", "^办", "^证", "^请问", "^问办", "^办证",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text,value,evidence",
    [
        ("请问新生儿的医保应该怎么办理？需要带哪些材料？", "咨询", ["请问", "办理", "哪些"]),
        ("我要投诉楼下的烧烤店，油烟太大，每天晚上吵到十二点，严重影响我们休息。", "投诉", ["投诉", "烧烤", "休息"]),
        ("举报幸福路上有一家工厂夜里偷排污水，河里的鱼都死了。", "举报", ["举报", "里的"]),
        ("建议在实验小学门口增设一个红绿灯，方便孩子们过马路。", "建议", ["建议", "绿灯"]),
    ],
)
def test_request_type_linear_outputs(segmenter, registry, text, value, evidence):
    doc = _doc(segmenter, text)
    field = registry.build("request_type.linear.v1")(doc, {})
    assert field.value == value
    assert field.confidence > 0.9
    assert [e.text for e in field.evidence] == evidence
    assert field.candidates[0][0] == value and len(field.candidates) == 3
    seg = doc.segments[0].text
    assert all(seg[e.start_char : e.end_char] == e.text for e in field.evidence)


def test_request_type_linear_null_when_unsure(segmenter, registry):
    doc = _doc(segmenter, "我家门口的路灯坏了一个星期了，晚上出门看不见。")
    field = registry.build("request_type.linear.v1", {"min_confidence": 0.6})(doc, {})
    assert field.value is None and field.evidence == ()
    assert field.candidates and field.candidates[0][1] < 0.6  # the ranked guesses are kept
    assert registry.build("request_type.linear.v1")(_doc(segmenter, "Hello, broken light."), {}).value is None


@pytest.mark.parametrize(
    "config,field_name",
    [
        ({"min_confidence": 1.5}, "request_type.linear.v1.min_confidence"),
        ({"min_confidence": "high"}, "request_type.linear.v1.min_confidence"),
        ({"top_k": 0}, "request_type.linear.v1.top_k"),
    ],
)
def test_request_type_linear_bad_options(registry, config, field_name):
    with pytest.raises(ConfigError, match=field_name.replace(".", r"\.")):
        registry.build("request_type.linear.v1", config)


def test_request_type_linear_refuses_wrong_model(registry, tmp_path):
    with pytest.raises(ModelError, match="urgency"):
        registry.build("request_type.linear.v1", {"model": "urgency_linear_v1"})
    with pytest.raises(ModelError, match="no such file"):
        registry.build("request_type.linear.v1", {"model": str(tmp_path / "missing.npz")})
