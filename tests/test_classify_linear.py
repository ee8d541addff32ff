"""category.linear.v1: the shipped trained classifier, its numpy inference, the lexicon fallback and the training recipe."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from classify.linear import (
    FeatureSettings,
    Featurizer,
    fallback_applies,
    load_linear_model,
    make_category_linear,
    normalize,
)
from models.registry import CLASSIFIERS, resolve_classifier
from pipeline.base.config import DEFAULT_STAGES, TicketOptions
from pipeline.base.errors import ModelError
from pipeline.ticket import TicketBuilder, text_transcript
from pipeline.base.types import TextDoc, TicketField

pytest.importorskip("jieba")

SHIPPED = Path(str(resources.files("models") / "data" / "category_linear_v1.npz"))
TRAINED_CLASSES = ("交通运输", "劳动和社会保障", "卫生计生", "商贸旅游", "城乡建设", "教育文体", "环境保护")


def _doc(segmenter, text):
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(segmenter.tokenize(s) for s in transcript.segments))


@pytest.fixture(scope="module")
def stage():
    return make_category_linear()


@pytest.fixture(scope="module")
def model():
    return load_linear_model(resolve_classifier("category_linear_v1"))


@pytest.mark.parametrize("name", ["category_linear_v1"])
def test_classify_linear_artifact_matches_registry(name):
    spec = CLASSIFIERS[name]
    assert resolve_classifier(name) == SHIPPED
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == spec.sha256
    assert SHIPPED.stat().st_size < 5_000_000
    card = json.loads(SHIPPED.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["model_sha256"] == spec.sha256
    for key in ("training_data", "split", "features", "model", "metrics"):
        assert key in card
    assert card["metrics"]["held_out_accuracy"] >= 0.92
    assert card["metrics"]["held_out_accuracy"] > card["metrics"]["baseline"]["held_out_accuracy"]


@pytest.mark.parametrize("name", ["category_linear_v1"])
def test_classify_linear_artifact_loads(model, name):
    assert model.classes == TRAINED_CLASSES
    assert model.weights.shape == (len(model.vocabulary), len(TRAINED_CLASSES))
    assert model.settings.stop_words and "的" in model.settings.stop_words
    assert model.card["name"] == name


@pytest.mark.parametrize(
    "text,value",
    [
        # written messages, like the training data
        ("A市A3区某建筑工地夜间施工噪音扰民，严重影响周边居民休息，希望环保部门尽快处理", "环境保护"),
        ("本人在A市某公司工作三年，公司一直未给员工缴纳社会保险，并拖欠工资", "劳动和社会保障"),
        ("A市某中学违规收取补课费，强制学生参加周末补课，希望教育局调查", "教育文体"),
        ("A市某医院医生态度恶劣，收受红包，乱开检查项目", "卫生计生"),
        ("A市出租车司机拒载、绕路现象严重，希望交通运输局加强管理", "交通运输"),
        ("A市某商场销售假冒伪劣商品，消费者维权困难，请工商部门查处", "商贸旅游"),
        # short colloquial sentences, as said on the phone
        ("我家楼下的路灯坏了好几天了", "城乡建设"),
        ("公司拖欠我三个月工资", "劳动和社会保障"),
        ("孩子上学的学区划分有问题", "教育文体"),
        ("小区停水好几天了也没人管", "城乡建设"),
        ("我老婆生二胎的准生证怎么办", "卫生计生"),
        ("出租车司机拒载", "交通运输"),
        ("网上买的东西是假货，商家不给退款", "商贸旅游"),
        ("楼下饭店的油烟太大了", "环境保护"),
    ],
)
def test_classify_linear_known_examples(segmenter, stage, text, value):
    field = stage(_doc(segmenter, text), {})
    assert field.value == value
    assert field.candidates[0][0] == value


@pytest.mark.parametrize(
    "text", ["我家楼下的路灯坏了好几天了", "A市某医院医生态度恶劣，收受红包，乱开检查项目", "嗯，那个，就是说"]
)
def test_classify_linear_probabilities_ranked(segmenter, stage, text):
    field = stage(_doc(segmenter, text), {})
    probs = [p for _, p in field.candidates]
    assert len(field.candidates) == 3
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert field.confidence == probs[0] or field.value is None


@pytest.mark.parametrize(
    "segmented",
    [
        "A1 区 A2 区华庭 小区 高层 二次 供水 楼顶 水箱 长年 不洗 现在 自来水 龙头 水 严重 霉味",
        "反映 公司 拖欠 工资 三个月 劳动 监察 不 处理",
        "孩子 上学 学区 划分 问题",
    ],
)
def test_classify_linear_segmented_and_despaced_agree(model, segmented):
    """One feature path: word-segmented text and the same text without spaces give the same terms."""
    featurizer = Featurizer(model.settings)
    despaced = segmented.replace(" ", "")
    assert featurizer.terms(segmented) == featurizer.terms(despaced)
    assert model.predict(segmented, featurizer).ranked == model.predict(despaced, featurizer).ranked


@pytest.mark.parametrize(
    "raw,segmented",
    [("我们小区的路灯坏了，怎么没有人管？", "小区 路灯 坏 管"), ("公司拖欠了我们三个月的工资！", "公司 拖欠 三个月 工资")],
)
def test_classify_linear_raw_text_stop_words_removed(model, raw, segmented):
    """Function words and punctuation of raw text are dropped, so raw and stop-word-free text look alike."""
    featurizer = Featurizer(model.settings)
    assert model.predict(raw, featurizer).ranked[0][0] == model.predict(segmented, featurizer).ranked[0][0]
    assert "的" not in featurizer.tokens(raw) and "，" not in "".join(featurizer.tokens(raw))


@pytest.mark.parametrize("text", ["A市A2区华庭小区的自来水有一股霉味\n楼顶水箱长年不洗", "公司拖欠我三个月工资"])
def test_classify_linear_evidence_spans_match(segmenter, stage, text):
    doc = _doc(segmenter, text)
    field = stage(doc, {})
    assert field.evidence
    for ev in field.evidence:
        assert doc.segments[ev.segment_id].text[ev.start_char : ev.end_char] == ev.text


@pytest.mark.parametrize("text", ["A市A2区华庭小区的自来水有一股霉味，楼顶水箱长年不洗。"])
def test_classify_linear_in_ticket_builder(text):
    """TicketBuilder checks evidence spans and the field type of the stage."""
    builder = TicketBuilder(TicketOptions(stages={**DEFAULT_STAGES, "category": "category.linear.v1"}))
    ticket = builder.build(text_transcript(text))
    assert ticket.category.value == "城乡建设"


@pytest.mark.parametrize(
    "text,value",
    [
        ("", None),
        ("   \n  ", None),
        ("hello world, this is English", None),
        ("，。！？", None),
        ("12345", None),
        ("的了吗", None),
    ],
)
def test_classify_linear_empty_or_foreign_text(segmenter, stage, text, value):
    field = stage(_doc(segmenter, text), {})
    assert isinstance(field, TicketField)
    assert field.value == value


@pytest.mark.parametrize("repeat", [3000])
def test_classify_linear_very_long_text(segmenter, stage, repeat):
    field = stage(_doc(segmenter, "楼下路灯坏了。" * repeat), {})
    assert field.value == "城乡建设"


@pytest.mark.parametrize(
    "text,value",
    [("我家被小偷偷了，派出所也不管", "政法"), ("楼下有人打架", "政法"), ("手机信号太差了", "科技与信息产业")],
)
def test_classify_linear_lexicon_fallback(segmenter, stage, text, value):
    """Categories without training rows come from the keyword lexicon when the model is unsure."""
    field = stage(_doc(segmenter, text), {})
    assert field.value == value
    assert field.candidates[0][0] == value
    assert sum(p for _, p in field.candidates) <= 1.0
    assert field.evidence


@pytest.mark.parametrize("text", ["我家被小偷偷了，派出所也不管"])
def test_classify_linear_fallback_off(segmenter, text):
    field = make_category_linear(fallback=False)(_doc(segmenter, text), {})
    assert field.value in TRAINED_CLASSES + (None,)


@pytest.mark.parametrize(
    "keyword,top_p,expected",
    [
        (TicketField("政法", 0.86), 0.3, True),
        (TicketField("政法", 0.86), 0.6, False),  # the model is sure
        (TicketField("政法", 0.4), 0.3, False),  # the lexicon is not
        (TicketField("城乡建设", 0.9), 0.3, False),  # a trained class: the model decides
        (TicketField.unknown(), 0.1, False),
    ],
)
def test_classify_linear_fallback_rule(keyword, top_p, expected):
    assert fallback_applies(keyword, TRAINED_CLASSES, top_p, 0.6, 0.5) is expected


@pytest.mark.parametrize(
    "config,match",
    [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"top_k": 0}, "top_k"),
        ({"fallback_max_model_probability": -0.1}, "fallback_max_model_probability"),
    ],
)
def test_classify_linear_bad_config(config, match):
    with pytest.raises(ValueError, match=match):
        make_category_linear(**config)


@pytest.mark.parametrize("name", ["no_such_classifier"])
def test_classify_linear_unknown_model(name):
    with pytest.raises(ModelError, match=name):
        make_category_linear(model=name)


@pytest.mark.parametrize("content", [b"not an npz file"])
def test_classify_linear_corrupt_file(tmp_path, content):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    with pytest.raises(ModelError, match="bad.npz"):
        load_linear_model(bad)


@pytest.mark.parametrize("name", ["category_linear_v1"])
def test_classify_linear_registry_sha_mismatch(tmp_path, name):
    from models.registry import _verified

    copy = tmp_path / "copy.npz"
    copy.write_bytes(SHIPPED.read_bytes() + b"x")
    with pytest.raises(ModelError, match="corrupt"):
        _verified(copy, CLASSIFIERS[name].sha256)


@pytest.mark.parametrize("text,expected", [("Ａ市 路灯\n坏了", "a市路灯坏了"), ("ABC  def", "abcdef")])
def test_classify_linear_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("lo,hi", [(0, 3), (3, 2)])
def test_classify_linear_feature_settings_validated(lo, hi):
    with pytest.raises(ValueError, match="n-gram"):
        FeatureSettings(lo, hi)


# --- training recipe -------------------------------------------------------------------------------------------

_SYNTHETIC = {
    "城乡建设": ["小区路灯坏了没人修", "楼下下水道堵塞污水横流", "小区电梯经常故障", "道路坑洼不平需要修补", "自来水停水好几天",
             "物业不管小区绿化", "井盖丢失很危险", "小区围墙倒塌", "路面塌陷积水严重", "楼道灯不亮"],
    "教育文体": ["学校违规补课收费", "孩子上学学区划分", "幼儿园入园难", "老师体罚学生", "中学食堂饭菜差",
             "小学放学太早接送难", "学校乱收资料费", "教师工资拖欠", "高考加分不公平", "校车超载"],
    "劳动和社会保障": ["公司拖欠工资三个月", "单位不缴社保", "失业保险怎么领", "养老金发放延迟", "劳动合同不签",
                "加班没有加班费", "工伤认定太慢", "社保卡办理", "退休手续办理", "医保报销比例"],
}  # fmt: skip


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("hold_out", [False, True])
def test_classify_train_from_jsonl(tmp_path, segmenter, hold_out):
    pytest.importorskip("sklearn")
    from classify.train import train_from_jsonl

    rows = [{"text": t, "category": c} for c, texts in _SYNTHETIC.items() for t in texts]
    data = _write_jsonl(tmp_path / "tickets.jsonl", rows)
    report = train_from_jsonl(
        data, tmp_path / "out", name="tiny", hold_out=hold_out, c_grid=(1.0,), cv_folds=3, min_df=1, baseline=False
    )
    assert report.model_path == tmp_path / "out" / "tiny.npz" and report.model_path.is_file()
    assert report.card_path.is_file()
    assert set(report.classes) == set(_SYNTHETIC)
    assert report.train_rows + report.held_out_rows == len(rows)
    assert (report.held_out_rows > 0) is hold_out
    assert report.cv_accuracy is not None
    card = json.loads(report.card_path.read_text(encoding="utf-8"))
    assert card["training_data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    stage = make_category_linear(model=str(report.model_path), fallback=False, min_confidence=0.0)
    field = stage(_doc(segmenter, "公司拖欠工资"), {})
    assert field.value == "劳动和社会保障"
    assert abs(sum(p for _, p in field.candidates) - 1.0) < 0.01


@pytest.mark.parametrize(
    "content,match",
    [
        ('{"text": "路灯坏了", "category": "城乡建设"}\n{"text": "x", "category": \n', "line 2"),
        ('{"text": "路灯坏了"}\n', "line 1.*category"),
        ('{"text": "", "category": "城乡建设"}\n', "line 1.*text"),
        ('["路灯坏了", "城乡建设"]\n', "line 1.*JSON object"),
        ("\n\n", "no rows"),
        ('{"text": "路灯坏了", "category": "城乡建设"}\n{"text": "井盖丢了", "category": "城乡建设"}\n', "at least 2 categories"),
    ],
)
def test_classify_train_bad_input(tmp_path, content, match):
    pytest.importorskip("sklearn")
    from classify.train import train_from_jsonl

    data = tmp_path / "bad.jsonl"
    data.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match) as info:
        train_from_jsonl(data, tmp_path / "out", hold_out=False, baseline=False)
    assert "bad.jsonl" in str(info.value)


@pytest.mark.parametrize("name", ["missing.jsonl"])
def test_classify_train_missing_file(tmp_path, name):
    from classify.train import read_labelled_jsonl

    with pytest.raises(FileNotFoundError, match=name):
        read_labelled_jsonl(tmp_path / name)


@pytest.mark.parametrize("text", ["A1 区 蔡锷 南路 楼顶 水箱 长年 不洗", "公司拖欠工资"])
def test_classify_train_split_is_deterministic(text):
    from classify.train import is_held_out, split_key

    assert is_held_out(text) == is_held_out(text.replace(" ", ""))  # whitespace does not move a row
    assert split_key(text) == normalize(text)[-40:]
    assert is_held_out(text, percent=0) is False and is_held_out(text, percent=100) is True


@pytest.mark.parametrize("scale", [3.0])
def test_classify_train_fit_temperature(scale):
    from classify.train import fit_temperature

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    scores = rng.normal(size=(2000, 3))
    scores[np.arange(2000), y] += 1.0
    # labels drawn from softmax(scale * scores) -> the fitted temperature is near `scale`
    p = np.exp(scale * scores)
    p /= p.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=row) for row in p])
    assert abs(fit_temperature(scores, labels) - scale) < 0.6
