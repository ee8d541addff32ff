"""Train the summary's clause selector (`summarize.train`) with the calls drafted by the default ticket stages.

    python bench/train_summary_selector.py ../shared/eval/tickets/annotated_dev.jsonl \
        --titles ../shared/eval/tickets/unlabelled.jsonl --folds 5

Writes ``summarize/data/selector_v1.npz`` and its card ``selector_v1.json``; prints the cross-validated ROUGE-L per
fold, per half and on all calls. Needs scikit-learn (``pip install 'hotline[train]'``).

The shipped request-type model was trained on the same annotated calls, so on them it is right ~99 % of the time
and only ~67 % on calls it never saw. The summary depends on it (来电人咨询 or 反映, questions first in a
consultation), so here every call's request type is the one predicted by a request-type model trained, with the
shipped model's settings, on the other folds' messages (folds: `summarize.train.fold_of`, as the selector's CV):
the selector learns, and is measured, with the request types it will meet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classify.train_fields import _fit_rt, weak_request_types  # noqa: E402
from models.registry import resolve_classifier  # noqa: E402
from pipeline.base.config import DEFAULT_STAGES, TicketOptions  # noqa: E402
from pipeline.base.types import TicketField  # noqa: E402
from pipeline.ticket import TicketBuilder, text_transcript  # noqa: E402
from summarize.train import fold_of, main  # noqa: E402

# the fields the summary stage sees in production; the summary itself is not drafted here
_BUILDER = TicketBuilder(TicketOptions(stages={**DEFAULT_STAGES, "summary": "summarize.extractive.v1"}))
_OOF: dict[str, str] = {}  # spoken text -> out-of-fold request type


def out_of_fold_request_types(annotated: Path, titles: Path | None, folds: int = 5) -> dict[str, str]:
    """spoken -> the request type a model trained without the call's fold predicts for it."""
    import numpy as np

    rows = [json.loads(line) for line in annotated.read_text(encoding="utf-8").splitlines() if line.strip()]
    card = json.loads(resolve_classifier("request_type_linear_v1").with_suffix(".json").read_text(encoding="utf-8"))
    settings = card["model"]
    weak = []
    if titles is not None and settings.get("weak_weight", 0) > 0:
        messages = [json.loads(line) for line in titles.read_text(encoding="utf-8").splitlines() if line.strip()]
        weak = weak_request_types(messages, {str(r["id"]) for r in rows})
    out = {}
    for f in range(folds):
        train = [r for r in rows if fold_of(str(r["id"]), folds) != f]
        test = [r for r in rows if fold_of(str(r["id"]), folds) == f and r.get("spoken")]
        vec, svm = _fit_rt([r["title"] + "。" + r["text"] for r in train], np.array([r["request_type"] for r in train]),
                           weak, settings["weak_weight"], settings["svm_c"],
                           [r.get("spoken") or "" for r in train], settings.get("spoken_weight", 0.0))  # fmt: skip
        out.update({r["spoken"]: str(p) for r, p in zip(test, svm.predict(vec.transform([r["spoken"] for r in test])))})
    right = sum(out.get(r.get("spoken")) == r["request_type"] for r in rows if r.get("spoken"))
    print(f"request types out of fold: {right}/{len(out)} right on the spoken calls")
    return out


def draft(spoken: str):
    transcript = text_transcript(spoken)
    fields = {name: field for name, field in _BUILDER.build(transcript).fields() if name != "summary"}
    if spoken in _OOF:
        fields["request_type"] = TicketField(_OOF[spoken], 0.8)
    return _BUILDER.analyze(transcript), fields


if __name__ == "__main__":
    args = sys.argv[1:]
    titles = Path(args[args.index("--titles") + 1]) if "--titles" in args else None
    _OOF.update(out_of_fold_request_types(Path(args[0]), titles))
    note = {"request_type": "out of fold: a request-type model with the shipped settings trained on the other folds"}
    raise SystemExit(main(draft=draft, notes=note))
