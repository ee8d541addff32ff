"""Training recipe of request_type.linear.v1 and urgency.linear.v1 (``python -m classify.train_fields``).

Needs scikit-learn (the ``train`` extra), imported only here; the shipped models run on numpy alone
(``classify.fields_linear``).

Data (not shipped; paths on the command line):

* ``--annotated``: hand-annotated messages (``annotated_dev.jsonl`` of the TipDM 2020 messages: ``title``, ``text``,
  ``request_type``, ``urgency``). The model reads ``title + "。" + text``, the text the ticket scorer feeds.
* ``--unlabelled`` (optional): raw messages with a ``title`` (``unlabelled.jsonl``) for weak request-type labels:
  a title that names exactly one type (咨询/请问 → 咨询, 投诉, 举报, 建议, 求助, 表扬/感谢/点赞 → 表扬) gives that type
  to the message (on the annotated set such titles agree with the annotation about 86 % of the time). Messages
  whose id is in the annotated file are left out. The weak rows enter training with a small sample weight chosen
  by cross-validation (0 = not used); they are never scored.
* The annotated file's ``spoken`` versions (the same message as a caller says it, with recognition errors) enter
  the request-type training as a second row of the same label with a weight chosen by cross-validation
  (`SPOKEN_WEIGHT_GRID`); within cross-validation only the training folds' spoken rows train, and the written
  messages alone are scored. The stage reads call transcripts, so the spoken rows also fit what it sees.

Request type: features `classify.fields_linear.field_terms` (character 1–3-grams of the text and of its head),
TF-IDF (sublinear tf, smooth idf, L2; idf from the training rows of each fold), a linear SVM one-vs-rest. The SVM's
C and the weak-label weight are chosen by stratified k-fold cross-validation on the annotated rows; the softmax
temperature is fitted (maximum likelihood) on the chosen setting's out-of-fold scores; the reported accuracy
counts a type below the stage's ``min_confidence`` as wrong (null), as the scorer does. The cue rules
(request_type.rules.v2) are one signal: where the model's top probability is below ``rules_below`` and the rules
find a type, the rules' type is taken; ``rules_below`` is chosen on the same out-of-fold probabilities (grid
`RULES_BELOW_GRID`, 0 = never).

Urgency: the same features, a logistic regression (class-balanced) for "urgent" (紧急 or 加急) against 一般. The
stage calls a message urgent when the probability is at least ``threshold``, or at least ``cue_threshold`` with a
紧急 cue of urgency.rules.v1, or always with two or more distinct 紧急 cues (a fixed safety floor, not tuned: gas
and a person trapped together is never 一般); the level is 紧急 with a 紧急 cue, else 加急. Both thresholds are tuned by *nested*
cross-validation: in each outer fold they are chosen on out-of-fold probabilities of the training part alone,
maximising ``accuracy + RECALL_WEIGHT * urgent recall`` (0.1: a caught urgent message is worth a little more than one false
alarms at 300 messages), and the outer fold is scored with them. The shipped thresholds are chosen the same way
on the out-of-fold probabilities of all rows.

Each model is written as ``<out>/<name>.npz`` with a card ``<name>.json``: the training data's sha256, the
settings, per-fold and mean cross-validated figures and the model's own sha256 (also recorded in
``models.registry.CLASSIFIERS``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from pipeline.base.deps import require
from pipeline.base.types import Segment, TextDoc, Transcript

from .fields_linear import FieldModel, field_terms
from .request_type import REQUEST_TYPES
from .train import _sha256
from .urgency import _level, load_urgency_cues

logger = logging.getLogger(__name__)

__all__ = ["RECALL_WEIGHT", "TITLE_CUES", "main", "read_annotated", "weak_request_types"]

TITLE_CUES = {"咨询": ("咨询", "请问"), "求助": ("求助",), "投诉": ("投诉",), "举报": ("举报",), "建议": ("建议",),
              "表扬": ("表扬", "感谢", "点赞")}  # fmt: skip
RECALL_WEIGHT = 0.1
NGRAMS = (1, 3)
HEAD_CHARS = 40
MIN_DF = 2
MAX_TERMS = 60_000
SVM_C_GRID = (0.3, 1.0, 3.0)
WEAK_WEIGHT_GRID = (0.0, 0.05, 0.15)
SPOKEN_WEIGHT_GRID = (0.0, 1.0)  # the annotated message as a caller says it, a second training row (0 = not used)
RULES_BELOW_GRID = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
URGENCY_C = 10.0
MIN_CONFIDENCE = 0.3  # request_type.linear.v1's default
STRONG_CUE_CONFIDENCE = 0.85  # urgency.rules.v1's confidence with two distinct 紧急 cues


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_annotated(path: Path) -> list[dict]:
    """Rows with ``id``, ``text`` (title + "。" + text), ``spoken`` (the call version, "" when the file has none),
    ``request_type`` and ``urgency``."""
    rows = []
    for i, obj in enumerate(_read_jsonl(path), 1):
        if obj.get("request_type") not in REQUEST_TYPES or obj.get("urgency") not in ("紧急", "加急", "一般"):
            raise ValueError(f"{str(path)!r} row {i}: request_type or urgency missing or unknown")
        text = (obj.get("title") or "") + "。" + obj["text"]
        rows.append({"id": str(obj.get("id")), "text": text, "spoken": obj.get("spoken") or "",
                     "request_type": obj["request_type"], "urgency": obj["urgency"]})
    return rows


def weak_request_types(rows: Sequence[dict], exclude_ids: set[str]) -> list[tuple[str, str]]:
    """(title + "。" + text, type) for messages whose title names exactly one request type (see `TITLE_CUES`)."""
    out = []
    for obj in rows:
        if str(obj.get("id")) in exclude_ids or not obj.get("text"):
            continue
        title = obj.get("title") or ""
        named = [t for t, cues in TITLE_CUES.items() if any(c in title for c in cues)]
        if len(named) == 1:
            out.append((title + "。" + obj["text"], named[0]))
    return out


def _analyzer(text: str) -> list[str]:
    return field_terms(text, NGRAMS[0], NGRAMS[1], HEAD_CHARS)


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True, min_df=MIN_DF, max_features=MAX_TERMS, dtype=np.float32)


def _folds(y: np.ndarray, k: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _fit_rt(texts, y, weak, weak_weight: float, c: float, spoken: Sequence[str] = (), spoken_weight: float = 0.0):
    """TF-IDF + linear SVM on `texts` (labels `y`), the weak rows with `weak_weight`, and `spoken` (the same
    messages as said on the phone, aligned with `texts`; "" where there is none) with `spoken_weight`."""
    from sklearn.svm import LinearSVC

    docs, labels, weights = list(texts), list(y), [1.0] * len(y)
    if spoken_weight > 0:
        said = [(t, lab) for t, lab in zip(spoken, y) if t]
        docs += [t for t, _ in said]
        labels += [lab for _, lab in said]
        weights += [spoken_weight] * len(said)
    if weak_weight > 0:
        docs += [t for t, _ in weak]
        labels += [lab for _, lab in weak]
        weights += [weak_weight] * len(weak)
    labels = np.array(labels)
    weights = np.array(weights) if len(weights) > len(y) else None
    vec = _vectorizer()
    x = vec.fit_transform(docs)
    svm = LinearSVC(C=c, random_state=0).fit(x, labels, sample_weight=weights)
    return vec, svm


def oof_scores(texts: Sequence[str], y: np.ndarray, folds, classes: np.ndarray, c: float, weak=(), weak_weight: float = 0.0,
               spoken: Sequence[str] = (), spoken_weight: float = 0.0) -> np.ndarray:
    """Out-of-fold SVM decision scores, (len(y), len(classes)): each row scored by a model fitted on the other folds
    (a class absent from a training fold scores -1000). The spoken versions of the training folds' rows only
    train."""
    oof = np.full((len(y), len(classes)), -1e3)
    for a, b in folds:
        said = [spoken[i] for i in a] if spoken_weight > 0 else ()
        vec, svm = _fit_rt([texts[i] for i in a], y[a], list(weak), weak_weight, c, said, spoken_weight)
        cols = np.searchsorted(classes, svm.classes_)
        oof[np.ix_(b, cols)] = svm.decision_function(vec.transform([texts[i] for i in b]))
    return oof


def svm_field_model(task: str, vec, svm, temperature: float, **extra) -> FieldModel:
    """A `FieldModel` from a fitted TF-IDF vectoriser and linear SVM (weights stored as float16)."""
    return FieldModel(
        task=task,
        classes=tuple(str(x) for x in svm.classes_),
        vocabulary={str(t): i for i, t in enumerate(vec.get_feature_names_out())},
        idf=vec.idf_.astype(np.float32),
        weights=svm.coef_.T.astype(np.float16).astype(np.float32),
        bias=svm.intercept_.astype(np.float32),
        temperature=temperature,
        ngram_min=NGRAMS[0],
        ngram_max=NGRAMS[1],
        head_chars=HEAD_CHARS,
        **extra,
    )


def _softmax(scores: np.ndarray, t: float) -> np.ndarray:
    z = t * (scores - scores.max(axis=1, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_request_type(rows, weak, k: int, seed: int) -> tuple[FieldModel, dict]:
    from .train import fit_temperature

    texts = [r["text"] for r in rows]
    spoken = [r.get("spoken") or "" for r in rows]
    y = np.array([r["request_type"] for r in rows])
    folds = _folds(y, k, seed)
    classes = np.array(sorted(set(y) | {lab for _, lab in weak}))
    results = []
    for sw in SPOKEN_WEIGHT_GRID if any(spoken) else (0.0,):
        for ww in WEAK_WEIGHT_GRID if weak else (0.0,):
            for c in SVM_C_GRID:
                oof = oof_scores(texts, y, folds, classes, c, weak, ww, spoken, sw)
                acc = float(np.mean(classes[oof.argmax(axis=1)] == y))
                logger.info("request type: spoken weight %s, weak weight %s, C=%s: cv accuracy %.3f", sw, ww, c, acc)
                results.append((acc, sw, ww, c, oof))
    acc, sw, ww, c, oof = max(results, key=lambda r: r[0])
    temperature = fit_temperature(oof, np.searchsorted(classes, y))
    probs = _softmax(oof, temperature)
    rules = _rule_types(texts)
    model_only = np.where(probs.max(axis=1) >= MIN_CONFIDENCE, classes[probs.argmax(axis=1)], None)

    def combined(rows_idx, tau):
        top = probs[rows_idx].max(axis=1)
        return np.where((top < tau) & (rules[rows_idx] != None), rules[rows_idx], model_only[rows_idx])  # noqa: E711

    everything = np.arange(len(y))
    rules_below = max(RULES_BELOW_GRID, key=lambda tau: (float(np.mean(combined(everything, tau) == y)), -tau))
    pred = combined(everything, rules_below)
    per_fold = [round(float(np.mean(pred[b] == y[b])), 4) for _, b in folds]
    vec, svm = _fit_rt(texts, y, weak, ww, c, spoken, sw)
    model = svm_field_model("request_type", vec, svm, temperature, threshold=rules_below)
    confusion = Counter(f"{g}->{p}" for g, p in zip(y, pred))
    metrics = {
        "cv_accuracy": round(float(np.mean(pred == y)), 4),
        "cv_accuracy_per_fold": per_fold,
        "cv_accuracy_argmax": round(acc, 4),
        "cv_accuracy_model_alone": round(float(np.mean(model_only == y)), 4),
        "rules_alone_accuracy": round(float(np.mean(rules == y)), 4),
        "cv_null_rate": round(float(np.mean(pred == None)), 4),  # noqa: E711 (numpy elementwise)
        "cv_confusion": dict(confusion.most_common()),
        "grid": [{"spoken_weight": s_, "weak_weight": w, "svm_c": cc, "cv_accuracy_argmax": round(a, 4)}
                 for a, s_, w, cc, _ in results],
    }
    settings = {"svm_c": c, "weak_weight": ww, "spoken_weight": sw, "temperature": temperature, "min_confidence": MIN_CONFIDENCE,
                "rules_below": rules_below, "rules_below_grid": list(RULES_BELOW_GRID)}
    return model, {"settings": settings, "metrics": metrics}


def _doc(text: str) -> TextDoc:
    from pipeline.base.segmenter import shared_segmenter

    seg = Segment(0, 0.0, 0.0, text)
    return TextDoc(Transcript((seg,), 0.0), (shared_segmenter().tokenize(seg),))


def _rule_types(texts: Sequence[str]) -> np.ndarray:
    """request_type.rules.v2's type of each text (None where it finds none)."""
    from .request_type import make_request_type_rules_v2

    stage = make_request_type_rules_v2()
    return np.array([stage(_doc(t), {}).value for t in texts], dtype=object)


def _cue_levels(texts: Sequence[str]) -> np.ndarray:
    """urgency.rules.v1's level of each text (the cue signal), one segment per text; "紧急+" where two or more
    distinct 紧急 cues are found (the stage's safety floor)."""
    matcher = load_urgency_cues()
    out = []
    for text in texts:
        from pipeline.base.segmenter import shared_segmenter

        seg = Segment(0, 0.0, 0.0, text)
        doc = TextDoc(Transcript((seg,), 0.0), (shared_segmenter().tokenize(seg),))
        level = _level(matcher, doc, 0.5)
        out.append("紧急+" if level.value == "紧急" and level.confidence >= STRONG_CUE_CONFIDENCE else level.value)
    return np.array(out, dtype=object)


def _fit_urgency(texts, yb):
    from sklearn.linear_model import LogisticRegression

    vec = _vectorizer()
    x = vec.fit_transform(texts)
    lr = LogisticRegression(C=URGENCY_C, class_weight="balanced", max_iter=5000).fit(x, yb)
    return vec, lr


def _oof_urgent(texts, yb, folds) -> np.ndarray:
    out = np.zeros(len(yb))
    for a, b in folds:
        vec, lr = _fit_urgency([texts[i] for i in a], yb[a])
        out[b] = lr.predict_proba(vec.transform([texts[i] for i in b]))[:, 1]
    return out


def _urgency_levels(p: np.ndarray, cue: np.ndarray, t: float, t_cue: float) -> np.ndarray:
    emergency = (cue == "紧急") | (cue == "紧急+")
    urgent = (p >= t) | (emergency & (p >= t_cue)) | (cue == "紧急+")
    return np.where(urgent, np.where(emergency, "紧急", "加急"), "一般")


def _urgency_scores(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    gold_urgent = y != "一般"
    acc = float(np.mean(pred == y))
    recall = float(np.mean(pred[gold_urgent] != "一般")) if gold_urgent.any() else math.nan
    return acc, recall


def _choose_thresholds(p: np.ndarray, cue: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    best, best_obj = (1.0, 1.0), -math.inf
    for t in np.round(np.linspace(0.05, 0.95, 91), 2):
        for t_cue in (0.0, 0.05, 0.1, 0.2, 0.3, 1.0):
            if t_cue > t:
                continue
            acc, recall = _urgency_scores(y, _urgency_levels(p, cue, float(t), t_cue))
            obj = acc + RECALL_WEIGHT * recall
            if obj > best_obj + 1e-12:
                best, best_obj = (float(t), float(t_cue)), obj
    return best


def train_urgency(rows, k: int, seed: int) -> tuple[FieldModel, dict]:
    texts = [r["text"] for r in rows]
    y = np.array([r["urgency"] for r in rows], dtype=object)
    yb = (y != "一般").astype(int)
    cue = _cue_levels(texts)
    folds = _folds(yb, k, seed)
    pred = np.empty(len(y), dtype=object)
    per_fold, chosen = [], []
    for a, b in folds:  # nested: thresholds from the training part's own out-of-fold probabilities
        inner = _folds(yb[a], k - 1, seed)
        p_inner = _oof_urgent([texts[i] for i in a], yb[a], inner)
        t, t_cue = _choose_thresholds(p_inner, cue[a], y[a])
        vec, lr = _fit_urgency([texts[i] for i in a], yb[a])
        p_b = lr.predict_proba(vec.transform([texts[i] for i in b]))[:, 1]
        pred[b] = _urgency_levels(p_b, cue[b], t, t_cue)
        acc, recall = _urgency_scores(y[b], pred[b])
        per_fold.append({"accuracy": round(acc, 4), "urgent_recall": round(recall, 4), "threshold": t, "cue_threshold": t_cue})
        chosen.append((t, t_cue))
    acc, recall = _urgency_scores(y, pred)
    p_all = _oof_urgent(texts, yb, folds)
    t, t_cue = _choose_thresholds(p_all, cue, y)
    vec, lr = _fit_urgency(texts, yb)
    weights = np.stack([-lr.coef_[0] / 2, lr.coef_[0] / 2], axis=1)  # softmax of ±s/2 is the logistic of s
    model = FieldModel(
        task="urgency",
        classes=("一般", "urgent"),
        vocabulary={str(term): i for i, term in enumerate(vec.get_feature_names_out())},
        idf=vec.idf_.astype(np.float32),
        weights=weights.astype(np.float16).astype(np.float32),
        bias=np.array([-lr.intercept_[0] / 2, lr.intercept_[0] / 2], dtype=np.float32),
        temperature=1.0,
        ngram_min=NGRAMS[0],
        ngram_max=NGRAMS[1],
        head_chars=HEAD_CHARS,
        threshold=t,
        cue_threshold=t_cue,
    )
    cue_only = _urgency_scores(y, np.where(cue == None, "一般", np.where(cue == "紧急+", "紧急", cue)))  # noqa: E711
    metrics = {
        "cv_accuracy": round(acc, 4),
        "cv_urgent_recall": round(recall, 4),
        "cv_per_fold": per_fold,
        "cv_confusion": dict(Counter(f"{g}->{p}" for g, p in zip(y, pred)).most_common()),
        "always_一般_accuracy": round(float(np.mean(y == "一般")), 4),
        "cue_rules_alone": {"accuracy": round(cue_only[0], 4), "urgent_recall": round(cue_only[1], 4)},
    }
    settings = {"logistic_c": URGENCY_C, "class_weight": "balanced", "threshold": t, "cue_threshold": t_cue,
                "strong_cue_confidence": STRONG_CUE_CONFIDENCE, "objective": f"accuracy + {RECALL_WEIGHT} * urgent recall"}  # fmt: skip
    return model, {"settings": settings, "metrics": metrics}


def _write(model: FieldModel, info: dict, out: Path, name: str, data: dict, seed: int, k: int) -> Path:
    path = model.save(out / f"{name}.npz")
    stage = "request_type.linear.v1" if model.task == "request_type" else "urgency.linear.v1"
    card = {
        "name": name,
        "task": f"{model.task} (classify.fields_linear, stage {stage})",
        "format_version": 1,
        "trained_with": "python -m classify.train_fields",
        "training_data": data,
        "features": {"terms": "classify.fields_linear.field_terms", "char_ngram_range": list(NGRAMS),
                     "head_chars": HEAD_CHARS, "tf": "1 + log(count)", "idf": "smooth", "norm": "l2",
                     "min_df": MIN_DF, "max_terms": MAX_TERMS, "vocabulary": len(model.vocabulary)},
        "model": {**info["settings"], "weights": "float16"},
        "cv": {"folds": k, "seed": seed, "kind": "stratified k-fold on the annotated rows", **info["metrics"]},
        "model_sha256": _sha256(path),
        "size_bytes": path.stat().st_size,
        "sklearn_version": __import__("sklearn").__version__,
    }  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classify.train_fields", description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", required=True, type=Path, help="annotated_dev.jsonl (request_type, urgency)")
    parser.add_argument("--unlabelled", type=Path, help="unlabelled.jsonl for weak request-type labels from titles")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models" / "data")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("request_type", "urgency"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    require("sklearn", "train", "training the field models")
    started = time.perf_counter()
    rows = read_annotated(args.annotated)
    data = {"annotated": {"file": args.annotated.name, "sha256": _sha256(args.annotated), "rows": len(rows)}}
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "request_type"):
        weak = []
        rt_data = dict(data)
        if args.unlabelled:
            weak = weak_request_types(_read_jsonl(args.unlabelled), {r["id"] for r in rows})
            rt_data["unlabelled"] = {"file": args.unlabelled.name, "sha256": _sha256(args.unlabelled),
                                     "weak_rows": len(weak), "weak_labels": dict(Counter(lab for _, lab in weak)),
                                     "weak_rule": "title names exactly one type (TITLE_CUES); annotated ids excluded"}  # fmt: skip
        model, info = train_request_type(rows, weak, args.folds, args.seed)
        path = _write(model, info, args.out, "request_type_linear_v1", rt_data, args.seed, args.folds)
        m = info["metrics"]
        print(f"request_type: cv accuracy {m['cv_accuracy']:.3f} per fold {m['cv_accuracy_per_fold']} "
              f"(null {m['cv_null_rate']:.3f}; {info['settings']}) -> {path}")  # fmt: skip
    if args.only in (None, "urgency"):
        model, info = train_urgency(rows, args.folds, args.seed)
        path = _write(model, info, args.out, "urgency_linear_v1", data, args.seed, args.folds)
        m = info["metrics"]
        print(f"urgency: cv accuracy {m['cv_accuracy']:.3f} urgent recall {m['cv_urgent_recall']:.3f} per fold "
              f"{m['cv_per_fold']} ({info['settings']}) -> {path}")  # fmt: skip
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
