"""Ticket benchmark: category classifier accuracy, location accuracy and ticket drafting time.

    python bench/tickets.py [--eval FILE.jsonl] [--model category_linear_v1] [--draft-limit 300]

Category (stage ``category.linear.v1`` as shipped, keyword fallback included; a None value counts as wrong):

* default: the fixed held-out part of ``../shared/eval/tickets/labelled_segmented.jsonl`` that training never
  sees: rows with ``classify.train.is_held_out(text)`` (sha256 of the last 40 normalised characters < 20 % of
  the hash range; 1,351 of 6,962 rows). Scored on
  - ``segmented``: the text as stored (jieba words separated by spaces, stop words and punctuation removed);
  - ``raw proxy``: the same text with the spaces removed. Labelled raw messages (punctuation, function words)
    are not available to us (a sealed acceptance set has them), so this checks only that word boundaries
    are not needed; function words and punctuation are removed by the feature path's stop-word step;
  - ``speech proxy``: no labelled call transcripts exist, so each held-out message becomes a short, noisy
    "transcript": de-spaced, punctuation removed, a window of 40–80 characters at a random position, then
    each character deleted with probability 0.04 or replaced with probability 0.06 by a character drawn
    from the held-out texts' character frequencies (about 10 % character errors, as a CER stand-in; the
    random generator is seeded from the text, so the proxy is the same on every run).
* ``--eval FILE.jsonl``: every row of FILE (``text``, ``category``), as given.

Location: stage ``location`` of the default ticket stages on ``tests/fixtures/location_real.jsonl`` (when it
exists): a row is right when both ``district`` and ``road`` equal the LocationField's parts (whitespace removed,
None == None).

Location on real messages (``--spoken``'s annotated file): ``score_tickets.py``'s own ``location_scores`` for the
default location stage and for ``location.spacy.v1`` (the stage before LAC's named places) side by side, on the
messages as ``score_tickets.py --inputs`` writes them (title + 。 + text) and on their spoken versions:
``location_hit`` (of the messages with a gold primary place, the share whose location names it) and
``false_claims`` (of the messages naming no place, the share that get one anyway).

Drafting time: ``TicketBuilder`` with the default stages but ``category.linear.v1`` for the category,
``build(text_transcript(text))`` on de-spaced held-out texts (after a warm-up), median and p95 per call.

Summary (``--spoken``, default ``../shared/eval/tickets/annotated_dev.jsonl``; ``bench/summary_metrics.py`` has
the measures): every message's ``spoken`` version drafted by the same builder (default summary stage) and scored
with ``score_tickets.py``'s own ``rouge_l`` (character ROUGE-L F1 against the operator-style ``summary``, frame words
dropped), next to the lead-60 baseline (the first 60 characters of the call) in the same run. Also on the two fixed
halves of the set (``sha256(id)`` even: half A, the one the stage was developed on; odd: half B, checked at the end),
the faithfulness share, ``request_named``, the recognition errors of ``spoken_asr_errors`` copied into the summary or
corrected, and the summary stage's own time per call (p50, p95). For ``summarize.structured.v1`` also the same stage
with the position rule its learned clause selector replaced, and the selector's cross-validated ROUGE-L from its card
(the in-sample figure is not the honest one: the shipped selector was trained on these calls).

Request type and urgency: the shipped models (``classify/train_fields.py``) are trained on the annotated messages,
so their cross-validated accuracy is read from their cards (``request_type_acc_cv``, ``urgency_acc_cv``);
``bench/ticket_fields.py`` recomputes it. ``category_raw_acc`` and ``category_speech_acc`` are the raw and speech
proxies above.

Department (``--replies``, default ``../shared/eval/tickets/unlabelled_with_replies.jsonl``; ``bench/department_eval.py``
has the measure): ``department_acc`` (the drafted department's unit type is one the government reply names) for the
default stage and the category table (``department_acc_base``), and the default model's cross-validated figure
from its card (``department_acc_cv``: the model was trained on these messages).

The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classify.linear import load_linear_model, make_category_linear, normalize, read_card  # noqa: E402
from classify.train import is_held_out, read_labelled_jsonl  # noqa: E402
from models.registry import resolve_classifier  # noqa: E402
from pipeline.base.config import DEFAULT_STAGES, TicketOptions  # noqa: E402
from pipeline.ticket import TicketBuilder, text_transcript  # noqa: E402
from pipeline.base.types import TextDoc  # noqa: E402
from bench.department_eval import DEFAULT_REPLIES, department_report  # noqa: E402
from bench.summary_metrics import load_scorer, percentile, summary_report  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "eval" / "tickets" / "labelled_segmented.jsonl"
DEFAULT_SPOKEN = REPO.parent / "shared" / "eval" / "tickets" / "annotated_dev.jsonl"
LOCATION_FIXTURE = REPO / "tests" / "fixtures" / "location_real.jsonl"
BASELINE_LOCATION = "location.spacy.v1"  # the location stage before LAC's named places, run beside the default
_NON_WORD = re.compile(r"[^\w]")


def speech_proxy(text: str, alphabet: list[str], cum_weights: list[float]) -> str:
    """A short noisy window of `text` (see the module docstring), deterministic per text."""
    rng = random.Random(int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big"))
    s = _NON_WORD.sub("", normalize(text))
    length = rng.randint(40, 80)
    if len(s) > length:
        start = rng.randint(0, len(s) - length)
        s = s[start : start + length]
    out = []
    for ch in s:
        r = rng.random()
        if r < 0.04:
            continue
        if r < 0.10:
            ch = rng.choices(alphabet, cum_weights=cum_weights)[0]
        out.append(ch)
    return "".join(out)


def doc_of(text: str) -> TextDoc:
    """A TextDoc without word tokens (category.linear.v1 cuts the text itself)."""
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(() for _ in transcript.segments))


def score(stage, texts: list[str], gold: list[str]) -> tuple[list[str], float]:
    pred = []
    for text in texts:
        value = stage(doc_of(text), {}).value
        pred.append(value if value is not None else "(unknown)")
    return pred, sum(p == g for p, g in zip(pred, gold)) / max(len(gold), 1)


def macro_f1(gold: list[str], pred: list[str]) -> float:
    f1s = []
    for c in sorted(set(gold)):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / max(len(f1s), 1)


def print_confusion(gold: list[str], pred: list[str]) -> None:
    labels = sorted(set(gold))
    cols = labels + sorted(set(pred) - set(labels))
    counts = Counter(zip(gold, pred))
    print("| true \\ predicted | " + " | ".join(cols) + " | recall |")
    print("|---" * (len(cols) + 2) + "|")
    for g in labels:
        n = sum(counts[(g, p)] for p in cols)
        print(f"| {g} | " + " | ".join(str(counts[(g, p)]) for p in cols) + f" | {counts[(g, g)] / max(n, 1):.3f} |")


def location_accuracy(builder: TicketBuilder, path: Path) -> tuple[int, int]:
    def norm(v):
        return None if v is None else re.sub(r"\s+", "", v)

    right = total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        parts = getattr(builder.build(text_transcript(row["text"])).location, "parts", None)
        district = norm(parts.district) if parts is not None else None
        road = norm(parts.road) if parts is not None else None
        total += 1
        right += district == norm(row.get("district")) and road == norm(row.get("road"))
    return right, total


def annotated_location(path: Path, stages: tuple[str, ...]) -> dict[str, tuple[float, str, float, str]]:
    """`score_tickets.py`'s location_hit and false_claims of each location stage on the annotated messages
    (title + 。 + text, as ``score_tickets.py --inputs`` writes them) and on their spoken versions:
    {"<stage> messages" | "<stage> spoken": (hit, "hits/n", false, "claims/n")}."""
    scorer = load_scorer(path.parent / "score_tickets.py")
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    gold = {r["id"]: r for r in rows}
    out = {}
    for name in stages:
        builder = TicketBuilder(TicketOptions(stages={**DEFAULT_STAGES, "location": name}))
        for kind, text_of in (("messages", lambda r: r["title"] + "。" + r["text"]), ("spoken", lambda r: r["spoken"])):
            tickets = {r["id"]: {"location": builder.build(text_transcript(text_of(r))).location.value} for r in rows}
            out[f"{name} {kind}"] = scorer.location_scores(gold, tickets)
    return out


def card_cv(model: str) -> float:
    """The 5-fold cross-validated accuracy in a shipped model's card (NaN when the card has none)."""
    card = read_card(resolve_classifier(model).with_suffix(".json"))
    return float(card.get("cv", {}).get("cv_accuracy", float("nan")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled file whose held-out part is scored by default")
    ap.add_argument("--eval", type=Path, help="score every row of this labelled JSON-lines file (text, category) instead")
    ap.add_argument("--model", default="category_linear_v1", help="shipped classifier name or .npz path")
    ap.add_argument("--location-fixture", type=Path, default=LOCATION_FIXTURE)
    ap.add_argument("--draft-limit", type=int, default=300, help="texts timed for drafting (0 = all)")
    ap.add_argument("--spoken", type=Path, default=DEFAULT_SPOKEN, help="annotated messages with spoken versions and reference summaries")
    ap.add_argument("--replies", type=Path, default=DEFAULT_REPLIES, help="messages with government replies (department)")
    args = ap.parse_args(argv)

    model_path = resolve_classifier(args.model)
    clf = load_linear_model(model_path)
    stage = make_category_linear(model=args.model)
    if args.eval:
        rows = list(read_labelled_jsonl(args.eval))
        source = f"{args.eval} (all {len(rows)} rows)"
    else:
        rows = [r for r in read_labelled_jsonl(args.data) if is_held_out(r.text)]
        source = f"{args.data} held-out part ({len(rows)} rows, classify.train.is_held_out)"
    texts = [r.text for r in rows]
    gold = [r.category for r in rows]

    print(
        f"Ticket benchmark — {time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    size = model_path.stat().st_size
    print(
        f"classifier {args.model}: {model_path.name}, {size / 1e6:.2f} MB, {len(clf.vocabulary)} terms, classes {', '.join(clf.classes)}"
    )
    print(f"eval set: {source}")
    card = clf.card.get("metrics", {}) if clf.card else {}
    if card.get("baseline"):
        b = card["baseline"]
        print(
            f"baseline from the card ({b.get('kind')}): cv acc {b.get('cv_accuracy', float('nan')):.4f}, "
            f"held-out acc {b.get('held_out_accuracy', float('nan')):.4f}, macro-F1 {b.get('held_out_macro_f1', float('nan')):.4f}"
        )
    unknown_classes = sorted(set(gold) - set(clf.classes))
    if unknown_classes:
        print(
            f"note: {len([g for g in gold if g in unknown_classes])} rows have categories the model has no class for: {', '.join(unknown_classes)}"
        )

    t0 = time.perf_counter()
    pred, acc = score(stage, texts, gold)
    per_call_ms = (time.perf_counter() - t0) * 1000 / max(len(texts), 1)
    f1 = macro_f1(gold, pred)
    print(f"\ncategory ({'as given' if args.eval else 'segmented'}): accuracy {acc:.4f}, macro-F1 {f1:.4f}, "
          f"unknown {pred.count('(unknown)')}, classifier {per_call_ms:.2f} ms/call")  # fmt: skip
    print_confusion(gold, pred)
    raw_acc = sp_acc = float("nan")
    if not args.eval:
        raw = [re.sub(r"\s+", "", t) for t in texts]
        raw_pred, raw_acc = score(stage, raw, gold)
        chars = Counter(c for t in raw for c in _NON_WORD.sub("", normalize(t)))
        alphabet = sorted(chars)
        cum, total = [], 0
        for c in alphabet:
            total += chars[c]
            cum.append(total)
        speech = [speech_proxy(t, alphabet, cum) for t in texts]
        sp_pred, sp_acc = score(stage, speech, gold)
        print(
            f"raw proxy (de-spaced): accuracy {raw_acc:.4f}, macro-F1 {macro_f1(gold, raw_pred):.4f} (segmented - raw = {acc - raw_acc:+.4f})"
        )
        print(f"speech proxy (40-80 chars, ~10% char errors, median {statistics.median(len(s) for s in speech):.0f} chars): "
              f"accuracy {sp_acc:.4f}, macro-F1 {macro_f1(gold, sp_pred):.4f}")  # fmt: skip
        for s, g, p in list(zip(speech, gold, sp_pred))[:3]:
            print(f"  e.g. {s!r} gold {g} predicted {p}")

    builder = TicketBuilder(TicketOptions(stages={**DEFAULT_STAGES, "category": "category.linear.v1"}))
    loc = "n/a"
    if args.location_fixture.is_file():
        right, n = location_accuracy(builder, args.location_fixture)
        loc = f"{right / max(n, 1):.4f}"
        print(f"\nlocation ({DEFAULT_STAGES['location']}) on {args.location_fixture.name}: district+road {right}/{n} = {loc}")
    else:
        print(f"\nlocation: no fixture at {args.location_fixture}")
    located = {}
    if args.spoken.is_file():
        stages = (DEFAULT_STAGES["location"], BASELINE_LOCATION)
        located = annotated_location(args.spoken, stages)
        print(f"\nlocation on {args.spoken.name} (score_tickets.py: hit among messages naming a place, false among those naming none)")
        print("| stage | messages: hit | false places | spoken: hit | false places |")
        print("|---|---|---|---|---|")
        for name in stages:
            m, sp = located[f"{name} messages"], located[f"{name} spoken"]
            print(f"| {name} | {m[0]:.3f} ({m[1]}) | {m[2]:.3f} ({m[3]}) | {sp[0]:.3f} ({sp[1]}) | {sp[2]:.3f} ({sp[3]}) |")

    draft_texts = [re.sub(r"\s+", "", t) for t in texts]
    if args.draft_limit:
        draft_texts = draft_texts[: args.draft_limit]
    builder.build(text_transcript("我家楼下的路灯坏了好几天了，在张杨路500号。"))  # warm-up
    times = []
    for t in draft_texts:
        t0 = time.perf_counter()
        builder.build(text_transcript(t))
        times.append((time.perf_counter() - t0) * 1000)
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    median_chars = statistics.median(len(t) for t in draft_texts)
    print(f"\ndrafting ({len(times)} texts, median {median_chars:.0f} chars): p50 {p50:.1f} ms, p95 {p95:.1f} ms per call")
    summary = ""
    if args.spoken.is_file():
        print()
        summary = " " + summary_report(builder, args.spoken)
    else:
        print(f"\nsummary: no annotated file at {args.spoken}")
    department = ""
    if args.replies.is_file():
        print()
        department = " " + department_report(args.replies)
    else:
        print(f"\ndepartment: no replies file at {args.replies}")
    fields_cv = " ".join(f"{key}_acc_cv={card_cv(name):.4f}" for key, name in (("request_type", "request_type_linear_v1"),
                                                                             ("urgency", "urgency_linear_v1")))  # fmt: skip
    print(f"\nrequest type and urgency: the shipped models are trained on the 300 annotated messages, so scoring them "
          f"there is in-sample; their cards' 5-fold cross-validated accuracy instead: {fields_cv}")  # fmt: skip
    where = f" category_raw_acc={raw_acc:.4f} category_speech_acc={sp_acc:.4f} {fields_cv}"
    if located:
        m, sp = located[f"{DEFAULT_STAGES['location']} messages"], located[f"{DEFAULT_STAGES['location']} spoken"]
        b = located[f"{BASELINE_LOCATION} messages"]
        where += (f" location_hit={m[0]:.3f} false_claims={m[2]:.3f} location_hit_spoken={sp[0]:.3f} "
                 f"false_claims_spoken={sp[2]:.3f} location_hit_base={b[0]:.3f} false_claims_base={b[2]:.3f}")  # fmt: skip
    print(f"category_acc={acc:.4f} category_macro_f1={f1:.4f} location_acc={loc}{where} draft_ms_p50={p50:.1f} draft_ms_p95={p95:.1f}"
          f"{summary}{department}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
