"""Training recipe of department.linear.v1 (``python -m classify.train_department --replies FILE``).

Labels come from the government replies (``unlabelled_with_replies.jsonl``: ``title``, ``text``, ``reply``): the
unit that handled a message names itself in the reply's opening (``A3区洋湖街道高度重视…``, ``市住建局及时将您反映的
问题交由…``) or in its signature. `reply_units` reads every unit named in the first `HEAD_CHARS` and the last
`TAIL_CHARS` characters and reduces it to its *type* (`UNIT_TYPES`: 住建, 城管, 公安, 教育 …, the functional
department) and, for a street office, town or township (属地), its name. The rules were written from what replies
look like, not fitted to any stage's output.

The model: messages whose reply names exactly one functional type; features `classify.fields_linear.field_terms`
of ``title + "。" + text``; TF-IDF and a linear SVM one-vs-rest, as request_type.linear.v1 (``classify.train_fields``);
C chosen by stratified k-fold cross-validation; softmax temperature fitted on the out-of-fold scores. The card
also holds ``cv_department_acc``: over every message whose reply names a functional unit (one or several), the
share whose out-of-fold prediction is one of them (the measure of ``bench/department_eval.py``). Messages whose id
is in ``--exclude`` (the annotated dev set) are left out.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from pipeline.base.deps import require

from .fields_linear import FieldModel
from .train import _sha256
from .train_fields import HEAD_CHARS as FIELD_HEAD_CHARS
from .train_fields import MAX_TERMS, MIN_DF, NGRAMS, SVM_C_GRID, _fit_rt, _folds, _read_jsonl, oof_scores, svm_field_model

logger = logging.getLogger(__name__)

__all__ = ["UNIT_TYPES", "reply_units", "train_department", "unit_type"]

HEAD_CHARS = 120  # of the reply: where the handling unit names itself
TAIL_CHARS = 40  # the signature
UNIT_TYPES: dict[str, re.Pattern] = {
    name: re.compile(pattern)
    for name, pattern in (
        ("住建", r"住建|住房和城乡建设|住房城乡建设|房产局|房屋交易|不动产|建设局|建委"),
        ("城管", r"城管|城市管理|行政执法|综合执法"),
        ("公安", r"公安|派出所|交警|交通警察|刑警|治安"),
        ("教育", r"教育局|教育厅|教体局|教育委员会|教育部门"),
        ("人社", r"人社|人力资源和社会保障|人力资源社会保障|社保局|社会保险"),
        ("交通", r"交通运输|交通局|交通委|运管|公交公司|公路局|轨道交通"),
        ("市场监管", r"市场监督|市场监管|工商局|质监|食药监|食品药品"),
        ("生态环境", r"环保局|生态环境|环境保护"),
        ("自然资源", r"自然资源|国土|规划局|规划资源|规划和自然|规划分局"),
        ("卫健", r"卫健|卫生健康|卫计|卫生局|卫生和计划生育"),
        ("民政", r"民政(?:局|厅|部门|所)"),
        ("水务", r"水务|水利|自来水"),
        ("农业农村", r"农业农村|农业局|畜牧|农委|农业委员会"),
        ("发改", r"发改|发展和改革|发展改革"),
        ("纪委监委", r"纪委|监委|监察委"),
        ("经信", r"经信|工业和信息化|工信"),
    )
}
_LOCAL = re.compile(r"([\u4e00-\u9fff]{2,8}?)(?:街道办事处|街道办|街道|镇人民政府|镇政府|乡人民政府|乡政府|镇|乡)(?![长村])")
_NOT_LOCAL = re.compile(r"^(?:我|该|本|各|全|乡|城|集|村|小|市|县|区|城乡|乡镇|街)")


def reply_units(reply: str) -> tuple[set[str], set[str]]:
    """(the functional unit types, the street office / town names) a reply names in its opening or signature."""
    where = reply[:HEAD_CHARS] + "\n" + reply[-TAIL_CHARS:]
    types = {name for name, rx in UNIT_TYPES.items() if rx.search(where)}
    local = set()
    for m in _LOCAL.finditer(where):
        name = re.split(r"[省市区县]", m.group(1))[-1]  # A3区洋湖街道 → 洋湖
        if len(name) >= 2 and not _NOT_LOCAL.match(name):
            local.add(name)
    return types, local


def unit_type(department: Optional[str]) -> Optional[str]:
    """The `UNIT_TYPES` type of a department name (住建委 → 住建), None when it has none."""
    if not department:
        return None
    return next((name for name, rx in UNIT_TYPES.items() if rx.search(department)), None)


def _text(row: dict) -> str:
    return (row.get("title") or "") + "。" + (row.get("text") or "")


def train_department(rows: Sequence[dict], k: int = 5, seed: int = 0) -> tuple[FieldModel, dict]:
    """The model and its card's settings and metrics (see the module docstring)."""
    from .train import fit_temperature

    labelled = [(r, reply_units(r.get("reply") or "")[0]) for r in rows]
    labelled = [(r, t) for r, t in labelled if t]
    single = np.array([i for i, (_, t) in enumerate(labelled) if len(t) == 1])
    texts = [_text(r) for r, _ in labelled]
    y_all = np.array([sorted(t)[0] for _, t in labelled])
    y = y_all[single]
    single_texts = [texts[i] for i in single]
    folds = _folds(y, k, seed)
    classes = np.array(sorted(set(y)))
    results = []
    for c in SVM_C_GRID:
        oof = oof_scores(single_texts, y, folds, classes, c)
        acc = float(np.mean(classes[oof.argmax(axis=1)] == y))
        logger.info("department: C=%s: cv accuracy %.3f (single-unit messages)", c, acc)
        results.append((acc, c, oof))
    acc, c, oof = max(results, key=lambda r: r[0])
    temperature = fit_temperature(oof, np.searchsorted(classes, y))
    # every message naming a functional unit, predicted by a model trained on the other folds' single-unit messages
    fold_of = np.random.default_rng(seed).integers(0, k, len(labelled))  # messages naming several units: any fold
    for f, (_, b) in enumerate(folds):
        fold_of[single[b]] = f
    right = 0
    for f in range(k):
        train = [i for i in single if fold_of[i] != f]
        test = [i for i in range(len(labelled)) if fold_of[i] == f]
        vec, svm = _fit_rt([texts[i] for i in train], y_all[train], [], 0.0, c)
        pred = svm.predict(vec.transform([texts[i] for i in test]))
        right += sum(p in labelled[i][1] for i, p in zip(test, pred))
    vec, svm = _fit_rt(single_texts, y, [], 0.0, c)
    model = svm_field_model("department", vec, svm, temperature)
    metrics = {
        "cv_accuracy_single_unit": round(acc, 4),
        "cv_department_acc": round(right / len(labelled), 4),
        "messages_naming_a_unit": len(labelled),
        "single_unit_messages": len(single),
        "labels": dict(Counter(y.tolist()).most_common()),
        "grid": [{"svm_c": cc, "cv_accuracy": round(a, 4)} for a, cc, _ in results],
    }
    return model, {"settings": {"svm_c": c, "temperature": temperature}, "metrics": metrics}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classify.train_department", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", required=True, type=Path, help="unlabelled_with_replies.jsonl (title, text, reply)")
    parser.add_argument("--exclude", type=Path, help="a JSON-lines file whose ids are left out (annotated_dev.jsonl)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models" / "data")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    require("sklearn", "train", "training the department model")
    started = time.perf_counter()
    rows = _read_jsonl(args.replies)
    excluded = {str(r["id"]) for r in _read_jsonl(args.exclude)} if args.exclude else set()
    rows = [r for r in rows if str(r.get("id")) not in excluded]
    model, info = train_department(rows, args.folds, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    path = model.save(args.out / "department_linear_v1.npz")
    card = {
        "name": "department_linear_v1",
        "task": "department (classify.fields_linear, stage department.linear.v1)",
        "format_version": 1,
        "trained_with": "python -m classify.train_department",
        "training_data": {"replies": {"file": args.replies.name, "sha256": _sha256(args.replies), "rows": len(rows),
                                      "excluded_ids": len(excluded)},
                          "labels": "unit types named in the reply's opening or signature (classify.train_department)"},
        "features": {"terms": "classify.fields_linear.field_terms", "char_ngram_range": list(NGRAMS),
                     "head_chars": FIELD_HEAD_CHARS, "min_df": MIN_DF, "max_terms": MAX_TERMS,
                     "vocabulary": len(model.vocabulary)},
        "model": {**info["settings"], "weights": "float16"},
        "cv": {"folds": args.folds, "seed": args.seed, **info["metrics"]},
        "model_sha256": _sha256(path),
        "size_bytes": path.stat().st_size,
        "sklearn_version": __import__("sklearn").__version__,
    }  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    m = info["metrics"]
    print(f"department: cv accuracy {m['cv_accuracy_single_unit']:.3f} on single-unit messages, cv department_acc "
          f"{m['cv_department_acc']:.3f} over {m['messages_naming_a_unit']} ({info['settings']}) -> {path} "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
