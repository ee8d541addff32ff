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
        ("举报幸福路上有一家工厂夜里偷排污水，河里的鱼都死了。", "举报", ["举报", "一家", "里的"]),
        ("建议在实验小学门口增设一个红绿灯，方便孩子们过马路。", "建议", ["建议", "绿灯", "方便"]),
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


def test_request_type_training_takes_the_spoken_versions_of_the_training_rows_only(tmp_path, monkeypatch):
    """classify.train_fields: the spoken version of an annotated message is a second training row of its label, in
    the final fit and in the training folds of cross-validation (never the scored fold's)."""
    pytest.importorskip("sklearn")
    import numpy as np

    from classify.train_fields import _fit_rt, oof_scores, read_annotated

    rows = [
        {"id": str(i), "title": "", "text": t, "spoken": s, "request_type": lab, "urgency": "一般"}
        for i, (t, s, lab) in enumerate([
            ("请问怎么办理居住证", "喂你好我想问一下居住证咋个办", "咨询"),
            ("请问社保怎么转移", "喂那个社保咋个转啊", "咨询"),
            ("投诉楼下饭店油烟大", "喂我要投诉楼下饭店油烟熏死人", "投诉"),
            ("投诉工地夜间施工噪音", "喂工地半夜还在搞吵死人", "投诉"),
            ("建议路口增设红绿灯", "我建议那个路口装个红绿灯嘛", "建议"),
            ("建议小区增加垃圾桶", "我建议小区多放几个垃圾桶嘛", "建议"),
        ])
    ]  # fmt: skip
    path = tmp_path / "annotated.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    read = read_annotated(path)
    assert [r["spoken"] for r in read] == [r["spoken"] for r in rows]
    texts, y, spoken = [r["text"] for r in read], np.array([r["request_type"] for r in read]), [r["spoken"] for r in read]
    without, _ = _fit_rt(texts, y, [], 0.0, 1.0, spoken, 0.0)
    with_spoken, _ = _fit_rt(texts, y, [], 0.0, 1.0, spoken, 1.0)
    assert "咋个" not in without.vocabulary_ and "咋个" in with_spoken.vocabulary_  # said in two spoken rows only
    # cross-validation: the fold holding rows 0, 2 and 4 trains on rows 1, 3 and 5 and their spoken versions alone
    import classify.train_fields as tf

    seen = []

    def recording_fit(t, yy, w, ww, c, s=(), sw=0.0):
        seen.append((list(t), list(s)))
        return _fit_rt(t, yy, w, ww, c, s, sw)

    monkeypatch.setattr(tf, "_fit_rt", recording_fit)
    oof_scores(texts, y, [(np.array([1, 3, 5]), np.array([0, 2, 4]))], np.array(["咨询", "建议", "投诉"]), 1.0,
               spoken=spoken, spoken_weight=1.0)
    assert seen == [([texts[1], texts[3], texts[5]], [spoken[1], spoken[3], spoken[5]])]


def test_bench_ambiguity_split_scores_by_the_annotators_alternative(monkeypatch):
    """bench/ticket_fields.py --ambiguity: out-of-fold types scored on all messages, on those whose notes name an
    alternative type ("alt 求助") and on the rest, and right when they are either type."""
    import importlib.util

    import numpy as np

    import classify.train_fields as tf

    spec = importlib.util.spec_from_file_location("ticket_fields_bench", Path(__file__).resolve().parent.parent / "bench" / "ticket_fields.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gold = [
        {"id": "1", "title": "", "text": "a", "request_type": "投诉", "notes": "party at fault; alt 求助"},
        {"id": "2", "title": "", "text": "b", "request_type": "举报", "notes": "alt 投诉"},
        {"id": "3", "title": "", "text": "c", "request_type": "咨询", "notes": ""},
        {"id": "4", "title": "", "text": "d", "request_type": "求助"},
    ]
    classes = sorted(["投诉", "举报", "咨询", "求助"])
    predicted = ["求助", "举报", "咨询", "投诉"]  # wrong (the alternative), right, right, wrong

    def fake_oof(texts, y, folds, cls, c, weak=(), weak_weight=0.0, spoken=(), spoken_weight=0.0):
        assert list(cls) == classes and list(texts) == ["。a", "。b", "。c", "。d"]
        return np.array([[1.0 if k == p else 0.0 for k in cls] for p in predicted])

    monkeypatch.setattr(tf, "oof_scores", fake_oof)
    monkeypatch.setattr(tf, "_folds", lambda y, k, seed: [])
    monkeypatch.setattr(bench, "_card", lambda name: {"model": {"svm_c": 1.0, "weak_weight": 0.0, "spoken_weight": 0.0}})
    got = bench.ambiguity_split(gold, None)
    assert got == {"n": 4, "acc": 0.5, "n_alt": 2, "acc_alt": 0.5, "acc_no_alt": 0.5, "acc_either": 0.75}
