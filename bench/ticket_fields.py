#!/usr/bin/env python3
"""Request type and urgency on the hand-annotated messages: the trained stages against the rule stages.

usage: python bench/ticket_fields.py [--annotated ../shared/eval/tickets/annotated_dev.jsonl] [--limit N] [--ambiguity [--unlabelled unlabelled.jsonl]]

* new stages (request_type.linear.v1, urgency.linear.v1): their models were trained on these 300 messages, so
  their figures are the *cross-validated* ones recorded in the model cards by ``python -m classify.train_fields``
  (out-of-fold predictions, per fold and mean; urgency thresholds tuned by nested CV). Scoring the shipped models
  on the same messages would be in-sample and is not shown.
* old stages (request_type.rules.v2, urgency.rules.v2): run now on the same messages, the text the ticket scorer
  feeds (title + "。" + text), and scored with score_tickets.py's own functions (flat, macro_f1).
* draft ms: the whole ticket with the default stages, per message (p50, p95), this machine.

* ``--ambiguity`` (needs scikit-learn, the ``train`` extra): the request type out of fold again (a model with the shipped
  card's settings trained on the other folds, the SVM's top type), split by whether the annotator's ``notes`` name
  an alternative type (``alt 求助``): how much of the error is the annotator's own second choice. ``--unlabelled``
  adds the weak title-labelled rows as the shipped model was trained.

Last line: request_type_acc=… urgency_acc=… urgent_recall=… request_type_acc_old=… urgency_acc_old=… (+ more).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DIR = ROOT.parent / "shared" / "eval" / "tickets"


def _scorer(directory: Path):
    spec = importlib.util.spec_from_file_location("score_tickets", directory / "score_tickets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _card(name: str) -> dict:
    return json.loads((ROOT / "models" / "data" / f"{name}.json").read_text(encoding="utf-8"))


_ALTERNATIVE = re.compile(r"alt (咨询|求助|投诉|举报|建议|表扬)")


def ambiguity_split(gold: list[dict], unlabelled: Path | None, folds: int = 5) -> dict:
    """Out-of-fold request types (shipped settings) scored on all messages, on those whose notes name an
    alternative type and on the rest, and counted right when they are the alternative."""
    from classify.train_fields import _folds, _read_jsonl, oof_scores, weak_request_types

    settings = _card("request_type_linear_v1")["model"]
    texts = [(g.get("title") or "") + "。" + g["text"] for g in gold]
    spoken = [g.get("spoken") or "" for g in gold]
    y = np.array([g["request_type"] for g in gold])
    alternative = [set(_ALTERNATIVE.findall(g.get("notes") or "")) for g in gold]
    weak = weak_request_types(_read_jsonl(unlabelled), {str(g.get("id")) for g in gold}) if unlabelled else []
    classes = np.array(sorted(set(y) | {lab for _, lab in weak}))
    oof = oof_scores(texts, y, _folds(y, folds, 0), classes, settings["svm_c"], weak,
                     settings["weak_weight"] if weak else 0.0, spoken, settings.get("spoken_weight", 0.0))  # fmt: skip
    pred = classes[oof.argmax(axis=1)]
    right = pred == y
    has_alt = np.array([bool(a) for a in alternative])
    either = np.array([p == g or p in a for p, g, a in zip(pred, y, alternative)])
    return {"n": len(y), "acc": float(right.mean()), "n_alt": int(has_alt.sum()),
            "acc_alt": float(right[has_alt].mean()) if has_alt.any() else float("nan"),
            "acc_no_alt": float(right[~has_alt].mean()) if (~has_alt).any() else float("nan"),
            "acc_either": float(either.mean())}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", type=Path, default=DEFAULT_DIR / "annotated_dev.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N messages (0: all)")
    parser.add_argument("--ambiguity", action="store_true", help="out-of-fold request types split by the annotator's alternative")
    parser.add_argument("--unlabelled", type=Path, default=None, help="weak title-labelled rows for --ambiguity (unlabelled.jsonl)")
    args = parser.parse_args(argv)
    scorer = _scorer(args.annotated.parent)

    from pipeline.base.config import DEFAULT_STAGES, TicketOptions
    from pipeline.ticket import TicketBuilder, default_registry, text_transcript

    gold = [json.loads(line) for line in open(args.annotated, encoding="utf-8") if line.strip()]
    if args.limit:
        gold = gold[: args.limit]
    texts = [(g.get("title") or "") + "。" + g["text"] for g in gold]

    old = TicketBuilder(TicketOptions(stages={"request_type": "request_type.rules.v2", "urgency": "urgency.rules.v2"}))
    builder = TicketBuilder(TicketOptions(stages=dict(DEFAULT_STAGES)), default_registry(), old.segmenter)
    rt_old, ur_old, ms = [], [], []
    for text in texts:
        draft = old.build(text_transcript(text))
        rt_old.append(scorer.flat({"value": draft.request_type.value}) or None)
        ur_old.append(scorer.flat({"value": draft.urgency.value}) or None)
    for text in texts:  # the whole default ticket, timed
        t0 = time.perf_counter()
        builder.build(text_transcript(text))
        ms.append(1000 * (time.perf_counter() - t0))
    g_rt = [g["request_type"] for g in gold]
    g_ur = [g["urgency"] for g in gold]
    urgent = [i for i, g in enumerate(g_ur) if g in ("紧急", "加急")]
    rt_acc_old = float(np.mean([g == p for g, p in zip(g_rt, rt_old)]))
    rt_f1_old = scorer.macro_f1(list(zip(g_rt, rt_old)), scorer.TYPES)
    rt_null_old = float(np.mean([p is None for p in rt_old]))
    ur_acc_old = float(np.mean([g == p for g, p in zip(g_ur, ur_old)]))
    ur_rec_old = float(np.mean([ur_old[i] in ("紧急", "加急") for i in urgent])) if urgent else float("nan")

    rt_cv = _card("request_type_linear_v1")["cv"]
    ur_cv = _card("urgency_linear_v1")["cv"]
    p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)

    rows = [
        ("request type accuracy", f"{rt_cv['cv_accuracy']:.3f} (CV)", f"{rt_acc_old:.3f}"),
        ("  per fold", " ".join(f"{a:.3f}" for a in rt_cv["cv_accuracy_per_fold"]), ""),
        ("  null share", f"{rt_cv['cv_null_rate']:.3f}", f"{rt_null_old:.3f}"),
        ("  macro-F1 (old: score_tickets)", "", f"{rt_f1_old:.3f}"),
        ("urgency accuracy", f"{ur_cv['cv_accuracy']:.3f} (nested CV)", f"{ur_acc_old:.3f}"),
        ("  per fold", " ".join(f"{f['accuracy']:.3f}" for f in ur_cv["cv_per_fold"]), ""),
        ("urgent recall (紧急/加急 caught)", f"{ur_cv['cv_urgent_recall']:.3f}", f"{ur_rec_old:.3f}"),
        ("  per fold", " ".join(f"{f['urgent_recall']:.3f}" for f in ur_cv["cv_per_fold"]), ""),
        ("always 一般 (urgency)", f"{ur_cv['always_一般_accuracy']:.3f}", ""),
    ]
    cpu = os.cpu_count()
    print(f"{len(gold)} annotated messages ({args.annotated.name}); draft timing on {cpu} CPUs, default stages")
    print(f"| {'measure':34} | {'new (linear.v1)':32} | {'old (rules.v2)':14} |")
    print(f"| {'-' * 34} | {'-' * 32} | {'-' * 14} |")
    for name, new, before in rows:
        print(f"| {name:34} | {new:32} | {before:14} |")
    print(f"| {'draft ms p50 / p95 (whole ticket)':34} | {p50:.1f} / {p95:.1f}{'':{32 - len(f'{p50:.1f} / {p95:.1f}')}} | {'':14} |")
    extra = ""
    if args.ambiguity:
        a = ambiguity_split(gold, args.unlabelled)
        print(f"\nrequest type out of fold (shipped settings, SVM top type): {a['acc']:.3f} on {a['n']}; "
              f"{a['acc_no_alt']:.3f} on the {a['n'] - a['n_alt']} whose notes name no alternative type, "
              f"{a['acc_alt']:.3f} on the {a['n_alt']} that do; the annotated or the alternative type: {a['acc_either']:.3f}")
        extra = f" request_type_acc_no_alt={a['acc_no_alt']:.3f} request_type_acc_alt={a['acc_alt']:.3f} n_alt={a['n_alt']}"
    print(
        f"request_type_acc={rt_cv['cv_accuracy']:.3f} urgency_acc={ur_cv['cv_accuracy']:.3f} "
        f"urgent_recall={ur_cv['cv_urgent_recall']:.3f} request_type_acc_old={rt_acc_old:.3f} "
        f"urgency_acc_old={ur_acc_old:.3f} urgent_recall_old={ur_rec_old:.3f} draft_ms_p95={p95:.1f}{extra}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
