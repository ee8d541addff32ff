"""Train the clause selector of ``summarize.structured.v1`` (`summarize.selector`) on calls with reference summaries.

    python bench/train_summary_selector.py ANNOTATED.jsonl --titles MESSAGES.jsonl [--out summarize/data/selector_v1.npz] [--folds 5]

ANNOTATED.jsonl has one call a line with ``id``, ``spoken`` (the call as transcribed) and ``summary`` (the work-order
summary an operator wrote), e.g. ``../shared/eval/tickets/annotated_dev.jsonl``. Needs scikit-learn
(``pip install 'hotline[train]'``); the stage itself runs on numpy alone.

1. Each call is drafted by the default ticket stages (the summary stage sees the same fields as in production) and
   its candidate clauses are taken as the stage takes them (`summarize.structured.content_candidates`).
2. Labels: a clause is positive when a greedy search that knows the reference keeps it: clauses are added while one
   raises the character ROUGE-L F1 of <what> against the reference's part before 诉求 (at most `ORACLE_CHARS`).
3. A logistic regression (L2, `C`) on the standardised `summarize.selector.FEATURES`; then the selection threshold
   is the one of `THRESHOLDS` whose summaries score best on the training calls (full summaries, character ROUGE-L F1
   with the frame words dropped, as ``score_tickets.py`` computes it).
4. ``--folds K``: K-fold cross-validation by call (folds by sha256 of the id): every call is summarised by a model
   trained and tuned without it; the out-of-fold ROUGE-L is printed per fold and overall. The shipped model is then
   trained on all calls.
5. ``--titles FILE``: the `lexical` features come from a title model trained on written messages and the titles
   their writers gave them (`fit_lexical`), not on the annotated calls. The same messages give each frequent word
   the share of messages holding it whose title keeps it (`title_keep_rates`; function words only, by jieba's
   dictionary: `FUNCTION_TAGS`); compression drops the words kept less often than `drop_below` (`Selector.dropped`). Steps 1-4 run for each value of `DROP_BELOW`, and the one
   with the best cross-validated ROUGE-L is shipped (each value's figure is printed and kept in the card).

Writes the selector (.npz: numbers and the feature names) and beside it a card (.json: its sha256, the data hashes,
the cross-validated ROUGE-L).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .selector import FEATURES, LEXICAL_BUCKETS, MODEL_FILE, Selector, clause_features, lexical_grams
from .structured import Part, build_structured_summary, content_candidates

__all__ = ["Call", "cross_validate", "fit", "main", "oracle_labels", "prepare", "rouge_l"]

ORACLE_CHARS = 80
DROP_BELOW = (0.0, 0.03, 0.05)
MIN_COUNT = 100  # a word is dropped only when at least this many messages hold it (frequent words: mostly function words)
THRESHOLDS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5)
BUDGETS = (34, 42, 50)
C = 0.3
_FRAME = re.compile(r"来电人反映|市民反映|来电反映|反映|诉求|[^\u4e00-\u9fffA-Za-z0-9]")


def rouge_l(candidate: str, reference: str) -> float:
    """Character ROUGE-L F1 after dropping punctuation and the frame words (as ``score_tickets.rouge_l``)."""
    a, b = _FRAME.sub("", candidate), _FRAME.sub("", reference)
    if not a or not b:
        return 0.0
    return 2 * _lcs(a, b) / (len(a) + len(b))


def _lcs(a: str, b: str) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


@dataclass
class Call:
    id: str
    doc: object
    fields: dict
    reference: str
    parts: list[Part]
    x: np.ndarray  # (len(parts), len(FEATURES))
    y: np.ndarray  # (len(parts),) 0/1


def oracle_labels(texts: Sequence[str], reference: str, limit: int = ORACLE_CHARS) -> np.ndarray:
    """1 for the clauses a greedy search with the reference in hand keeps (see the module docstring)."""
    ref = _FRAME.sub("", reference.split("诉求：", 1)[0])
    picked: list[int] = []
    best = 0.0
    while ref:
        choice = None
        for i in range(len(texts)):
            if i in picked:
                continue
            text = "".join(texts[j] for j in sorted(picked + [i]))
            if len(text) > limit:
                continue
            score = 2 * _lcs(text, ref) / (len(text) + len(ref))
            if score > best:
                best, choice = score, i
        if choice is None:
            break
        picked.append(choice)
    y = np.zeros(len(texts))
    y[picked] = 1.0
    return y


def title_keep_rates(messages: Sequence[dict], min_count: int = MIN_COUNT) -> dict[str, float]:
    """word -> (messages whose title holds it + 0.15) / (messages whose text holds it + 1), for the words of at
    least `min_count` messages' texts (segmented with the product's segmenter)."""
    from pipeline.base.segmenter import shared_segmenter

    cut = shared_segmenter().cut
    held: Counter = Counter()
    kept: Counter = Counter()
    for msg in messages:
        title = msg.get("title") or ""
        if not title:
            continue
        for word in set(cut(msg.get("text") or "")):
            held[word] += 1
            kept[word] += word in title
    tags = _dictionary_tags()
    return {w: (kept[w] + 0.15) / (n + 1) for w, n in held.items()
            if n >= min_count and _HAN_WORD.search(w) and tags.get(w) in FUNCTION_TAGS}  # fmt: skip


_HAN_WORD = re.compile(r"[\u4e00-\u9fff]")
# jieba's dictionary parts of speech a dropped word may have: adverbs, pronouns, conjunctions, prepositions, locative
# words, particles, modal and other function words. Nouns, verbs, adjectives, numbers and time words (去年, 上午) carry
# facts and are never dropped, however rarely titles keep them.
FUNCTION_TAGS = frozenset({"d", "r", "c", "p", "f", "u", "y", "zg", "k", "ud", "uz", "ug", "uj", "ul", "uv", "e", "o"})


def _dictionary_tags() -> dict[str, str]:
    """word -> part of speech in jieba's own dictionary (the first tag it lists)."""
    import jieba.posseg

    jieba.posseg.dt.initialize()
    return dict(jieba.posseg.dt.word_tag_tab)


def prepare(rows: Sequence[dict], draft: Callable[[str], tuple], lexical: Optional[np.ndarray] = None,
            drop: frozenset = frozenset()) -> list[Call]:
    """Collect every call's candidate clauses, features and labels; `draft(spoken)` gives the call's (TextDoc,
    fields) as the ticket builder drafts them before the summary (``bench/train_summary_selector.py`` passes the
    default stages: summarize may not import the orchestration layer)."""
    calls = []
    for row in rows:
        doc, fields = draft(row["spoken"])
        parts, cands, consult = content_candidates(doc, fields, drop=drop)
        x = clause_features(cands, consult, lexical) if cands else np.zeros((0, len(FEATURES)))
        y = oracle_labels([p.text for p in parts], row["summary"])
        calls.append(Call(str(row["id"]), doc, fields, row["summary"], parts, x, y))
    return calls


def _score(calls: Sequence[Call], selector: Selector) -> list[float]:  # selector.dropped: as the calls were prepared
    stage = build_structured_summary(what_chars=selector.what_chars, selector_model=selector)
    return [rouge_l(stage(c.doc, c.fields).value or "", c.reference) for c in calls]


def fit(calls: Sequence[Call], c: float = C, thresholds: Sequence[float] = THRESHOLDS,
        budgets: Sequence[int] = BUDGETS, lexical: Optional[np.ndarray] = None,
        drop: tuple[str, ...] = (), drop_below: float = 0.0) -> Selector:
    """A selector trained on `calls`: logistic regression, then the threshold and the <what> budget whose summaries
    score best on the same calls."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([k.x for k in calls if len(k.x)])
    y = np.concatenate([k.y for k in calls if len(k.x)])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    lr = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
    base = dict(weights=lr.coef_[0].astype(np.float64), intercept=float(lr.intercept_[0]), mean=mean, scale=scale,
                lexical=lexical, dropped=drop, drop_below=drop_below)
    grid = [(t, b) for b in budgets for t in thresholds]
    scored = {(t, b): statistics.fmean(_score(calls, Selector(**base, threshold=t, what_chars=b))) for t, b in grid}
    t, b = max(grid, key=lambda k: (round(scored[k], 6), -abs(k[0]), -k[1]))
    return Selector(**base, threshold=float(t), what_chars=int(b))


_SPLIT = re.compile(r"[，,。！？!?；;：:\n…、]+")
TITLE_SHARE = 0.5
TITLE_C = 1.0


def fit_lexical(messages: Sequence[dict], c: float = TITLE_C) -> np.ndarray:
    """The title model: a logistic regression on the hashed character unigrams and bigrams (`lexical_grams`) of the
    clauses of written messages, a clause positive when at least `TITLE_SHARE` of its characters occur, in order, in
    the message's own title (the citizen's one-line summary). Returns its (LEXICAL_BUCKETS,) weights."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    rows, cols, vals, y = [], [], [], []
    for msg in messages:
        title = _FRAME.sub("", msg.get("title") or "")
        if not title:
            continue
        for piece in _SPLIT.split(msg.get("text") or "")[:30]:
            clause = _FRAME.sub("", piece)
            if len(clause) < 2:
                continue
            grams = lexical_grams(clause)
            rows += [len(y)] * len(grams)
            cols += grams
            vals += [1.0 / np.sqrt(len(grams))] * len(grams)
            y.append(_lcs(clause, title) / len(clause) >= TITLE_SHARE)
    x = csr_matrix((vals, (rows, cols)), shape=(len(y), LEXICAL_BUCKETS))
    x.sum_duplicates()
    lr = LogisticRegression(C=c, max_iter=1000).fit(x, np.array(y))
    print(f"title model: {len(y)} clauses of {len(messages)} messages, {np.mean(y):.3f} positive")
    return lr.coef_[0].astype(np.float16).astype(np.float32)  # as shipped


def _half(call_id: str) -> str:
    """The bench's fixed halves: "A" when sha256(id) is even."""
    return "A" if int(hashlib.sha256(call_id.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "B"


def fold_of(call_id: str, k: int) -> int:
    return int(hashlib.sha256(call_id.encode("utf-8")).hexdigest(), 16) % k


def cross_validate(calls: Sequence[Call], k: int = 5, c: float = C, lexical: Optional[np.ndarray] = None,
                   drop: tuple[str, ...] = (), drop_below: float = 0.0) -> dict[str, float]:
    """Out-of-fold ROUGE-L of each call (id -> score), every call summarised by a model that never saw it."""
    out: dict[str, float] = {}
    for f in range(k):
        train = [x for x in calls if fold_of(x.id, k) != f]
        test = [x for x in calls if fold_of(x.id, k) == f]
        selector = fit(train, c, lexical=lexical, drop=drop, drop_below=drop_below)
        scores = _score(test, selector)
        out.update({x.id: s for x, s in zip(test, scores)})
        print(f"  fold {f + 1}/{k}: {len(test)} calls, ROUGE-L {statistics.fmean(scores):.4f} (threshold {selector.threshold}, "
              f"budget {selector.what_chars})")
    return out


def main(argv: Optional[Sequence[str]] = None, draft: Optional[Callable[[str], tuple]] = None,
         notes: Optional[dict] = None) -> int:
    """The command line (``bench/train_summary_selector.py`` runs it with the default ticket stages as `draft`;
    `notes` go into the card: how the fields were drafted)."""
    if draft is None:
        raise SystemExit("run bench/train_summary_selector.py: the calls are drafted by the ticket builder")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="JSON lines with id, spoken, summary")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / MODEL_FILE)
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (0: none)")
    ap.add_argument("--titles", type=Path, help="written messages with their titles (JSON lines: text, title) for the "
                    "title model; rows whose id or text is in DATA are left out")
    ap.add_argument("-C", type=float, default=C, help="inverse L2 strength of the logistic regression")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("spoken") and r.get("summary")]
    print(f"{len(rows)} calls from {args.data} (sha256 {hashlib.sha256(args.data.read_bytes()).hexdigest()[:16]})")
    lexical, rates = None, {}
    if args.titles:
        ids, texts = {str(r["id"]) for r in rows}, {r.get("text") for r in rows}
        messages = [json.loads(line) for line in args.titles.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = [m for m in messages if str(m.get("id")) not in ids and m.get("text") not in texts]
        print(f"{len(kept)} of {len(messages)} messages of {args.titles} for the title model "
              f"(sha256 {hashlib.sha256(args.titles.read_bytes()).hexdigest()[:16]})")
        lexical = fit_lexical(kept)
        rates = title_keep_rates(kept)
    card: dict = {"data_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(), "calls": len(rows), "C": args.C,
                  **(notes or {})}
    if args.titles:
        card["titles_sha256"] = hashlib.sha256(args.titles.read_bytes()).hexdigest()
    best = None
    for below in DROP_BELOW if rates else (0.0,):
        drop = tuple(sorted(w for w, r in rates.items() if r < below))
        calls = prepare(rows, draft, lexical, frozenset(drop))
        print(f"drop_below {below}: {len(drop)} words dropped; {sum(len(c.y) for c in calls)} candidate clauses, "
              f"{int(sum(c.y.sum() for c in calls))} kept by the oracle")
        cv = None
        if args.folds > 1:
            oof = cross_validate(calls, args.folds, args.C, lexical, drop, below)
            halves = {h: [v for k, v in oof.items() if _half(k) == h] for h in "AB"}
            cv = {"folds": args.folds, "rouge_l": round(statistics.fmean(oof.values()), 4),
                  **{f"rouge_l_{h.lower()}": round(statistics.fmean(v), 4) for h, v in halves.items() if v}}
            card.setdefault("cv_by_drop_below", {})[str(below)] = cv["rouge_l"]
            print(f"cross-validated ROUGE-L ({args.folds} folds, all {len(oof)} calls, drop_below {below}): "
                  f"{cv['rouge_l']:.4f}; " + ", ".join(f"half {h} ({len(v)}) {statistics.fmean(v):.4f}" for h, v in halves.items() if v))
        if best is None or (cv is not None and cv["rouge_l"] > best[0]):
            best = (cv["rouge_l"] if cv else 0.0, below, drop, calls, cv)
    _, below, drop, calls, cv = best
    if cv is not None:
        card["cv"] = cv
    selector = fit(calls, args.C, lexical=lexical, drop=drop, drop_below=below)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    selector.save(args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    card.update(sha256=digest, features=len(FEATURES), lexical_buckets=LEXICAL_BUCKETS if lexical is not None else 0,
                threshold=selector.threshold, what_chars=selector.what_chars, drop_below=below, dropped_words=len(drop))
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 {digest}), threshold {selector.threshold}, "
          f"budget {selector.what_chars}")
    for name, w in sorted(zip(FEATURES, selector.weights), key=lambda t: -abs(t[1])):
        print(f"  {name:>18} {w:+.3f}")
    return 0


