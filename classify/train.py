"""Training recipe of the category classifier (``hotline train-classifier DATA.jsonl``).

Needs scikit-learn (``pip install 'hotline[train]'``), imported only inside the training functions; the trained
model runs on numpy alone (``classify.linear``).

Input: JSON lines with at least ``text`` and ``category`` (other keys are ignored). The text may be raw
(punctuated) or word-segmented: both go through the same feature path (``classify.linear.Featurizer``).

Recipe (``train_from_jsonl``):

1. split: a row is *held out* when ``sha256(normalize(text)[-40:])`` taken as an integer is below 20 % of the
   hash range (`is_held_out`). The key is the message's last 40 characters after normalisation (NFKC, lower case,
   no whitespace), so a message posted twice under different titles falls on one side. The held-out part
   is never used for training or for choosing settings; it is only scored at the end.
2. features: character 1–4-grams and jieba words of the stop-word-stripped text, TF-IDF (sublinear tf, smooth
   idf, L2), terms in at least ``min_df`` training rows.
3. model: NB-SVM (Wang & Manning 2012): per class, features scaled by the log-count ratio of the class against
   the rest, a linear SVM one-vs-rest; the scaling folds into one weight matrix. The SVM's C is chosen by
   stratified, duplicate-grouped cross-validation on the training part (vocabulary and idf from the whole
   training part). Each fit keeps the ``max_terms`` terms with the largest weight and refits on them (inside
   every fold too, so the cross-validated numbers include that cut).
4. probabilities: softmax of the class scores times a temperature fitted (maximum likelihood) on the
   cross-validated scores of the chosen C.
5. the baseline — plain TF-IDF character 1–3-grams of the de-spaced text with a linear SVM — is scored the same
   way, in the same run, and written to the card next to the model's own numbers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from pipeline.base.deps import require

from .linear import FeatureSettings, Featurizer, LinearModel, normalize

logger = logging.getLogger(__name__)

__all__ = [
    "HELD_OUT_PERCENT",
    "LabelledText",
    "TrainReport",
    "default_stop_words",
    "derive_stop_words",
    "is_held_out",
    "read_labelled_jsonl",
    "split_held_out",
    "train_from_jsonl",
]

PathLike = Union[str, Path]
HELD_OUT_PERCENT = 20
SPLIT_KEY_CHARS = 40
STOP_WORDS_FILE = "category_linear_v1.stopwords.txt"


def _import_sklearn():
    return require("sklearn", "train", "training the classifier")


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    category: str
    line: int  # 1-based line in the source file


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What `train_from_jsonl` wrote and measured (accuracy / macro-F1 are None where not measured)."""

    model_path: Path
    card_path: Path
    classes: tuple[str, ...]
    train_rows: int
    held_out_rows: int
    terms: int
    size_bytes: int
    svm_c: float
    temperature: float
    cv_accuracy: Optional[float]
    cv_macro_f1: Optional[float]
    held_out_accuracy: Optional[float]
    held_out_macro_f1: Optional[float]
    baseline_cv_accuracy: Optional[float]
    baseline_held_out_accuracy: Optional[float]
    baseline_held_out_macro_f1: Optional[float]
    seconds: float


def split_key(text: str) -> str:
    return normalize(text)[-SPLIT_KEY_CHARS:]


def is_held_out(text: str, percent: int = HELD_OUT_PERCENT) -> bool:
    """Whether `text` belongs to the fixed held-out part (see the module docstring): deterministic, the same on
    every machine and Python version."""
    digest = hashlib.sha256(split_key(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < percent * (1 << 64) // 100


def split_held_out(rows: Sequence[LabelledText]) -> tuple[list[LabelledText], list[LabelledText]]:
    """(training rows, held-out rows) by `is_held_out`."""
    train, held = [], []
    for row in rows:
        (held if is_held_out(row.text) else train).append(row)
    return train, held


def read_labelled_jsonl(path: PathLike) -> tuple[LabelledText, ...]:
    """Read labelled rows, one JSON object per line with a "text" and a "category" (blank lines are skipped).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line is not a JSON object, or lacks a non-empty string text or category (names the file
            and line), or the file has no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training data {str(path)!r} does not exist")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{str(path)!r} line {lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{str(path)!r} line {lineno}: expected a JSON object, got {type(obj).__name__}")
            for key in ("text", "category"):
                value = obj.get(key)
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f"{str(path)!r} line {lineno}: missing or empty {key!r} (a non-empty string is required)")
            rows.append(LabelledText(obj["text"], obj["category"].strip(), lineno))
    if not rows:
        raise ValueError(f"training data {str(path)!r} has no rows")
    return tuple(rows)


def default_stop_words() -> frozenset[str]:
    """The stop words shipped with the model (``models/data/category_linear_v1.stopwords.txt``)."""
    from importlib import resources

    path = Path(str(resources.files("models") / "data" / STOP_WORDS_FILE))
    words = [w.strip() for w in path.read_text(encoding="utf-8").splitlines()]
    return frozenset(w for w in words if w and not w.startswith("#"))


def derive_stop_words(
    raw_texts: Iterable[str], segmented_texts: Iterable[str], segmenter=None, min_docs: int = 30, max_ratio: float = 0.05
) -> frozenset[str]:
    """The words a segmented corpus had removed: jieba tokens (of the normalised text, cut the same way on both
    sides) found in at least `min_docs` raw texts whose document rate in the segmented texts is below
    `max_ratio` times their rate in the raw texts. How the shipped list was made (raw: unlabelled.jsonl,
    segmented: labelled_segmented.jsonl of the TipDM 2020 messages; `segmenter` None: the shared JiebaSegmenter)."""
    plain = Featurizer(FeatureSettings(), segmenter)

    def doc_freq(texts: Iterable[str]) -> tuple[Counter, int]:
        df: Counter = Counter()
        n = 0
        for text in texts:
            df.update(set(plain.tokens(text)))
            n += 1
        return df, max(n, 1)

    rdf, nr = doc_freq(raw_texts)
    sdf, ns = doc_freq(segmented_texts)
    return frozenset(w for w, n in rdf.items() if n >= min_docs and sdf.get(w, 0) / ns < max_ratio * n / nr)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _NBSVM:
    """NB-SVM, one-vs-rest, with the log-count-ratio scaling folded into `coef` ((terms, classes))."""

    def __init__(self, c: float):
        self.c = c

    def fit(self, x, y: np.ndarray) -> "_NBSVM":
        from sklearn.svm import LinearSVC

        self.classes = np.unique(y)
        binary = (x > 0).astype(np.float32)
        coefs, biases = [], []
        for cls in self.classes:
            pos = y == cls
            p = 1.0 + np.asarray(binary[pos].sum(axis=0)).ravel()  # add-one smoothing of the term counts
            q = 1.0 + np.asarray(binary[~pos].sum(axis=0)).ravel()
            r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
            svm = LinearSVC(C=self.c, random_state=0).fit(x.multiply(r).tocsr(), pos)
            coefs.append(r * svm.coef_.ravel())
            biases.append(float(svm.intercept_[0]))
        self.coef = np.array(coefs, dtype=np.float32).T
        self.bias = np.array(biases, dtype=np.float32)
        return self

    def scores(self, x) -> np.ndarray:
        return np.asarray(x @ self.coef) + self.bias


class _PrunedNBSVM:
    """NB-SVM fitted on all terms, cut to the `max_terms` terms with the largest weight, refitted on those
    (rows re-normalised, as the numpy inference normalises over the kept terms only)."""

    def __init__(self, c: float, max_terms: int):
        self.c, self.max_terms = c, max_terms

    def fit(self, x, y: np.ndarray) -> "_PrunedNBSVM":
        from sklearn.preprocessing import normalize as l2_normalize

        if x.shape[1] <= self.max_terms:
            self.keep = np.arange(x.shape[1])
            self.model = _NBSVM(self.c).fit(x, y)
        else:
            full = _NBSVM(self.c).fit(x, y)
            self.keep = np.sort(np.argsort(-np.abs(full.coef).max(axis=1), kind="stable")[: self.max_terms])
            self.model = _NBSVM(self.c).fit(l2_normalize(x[:, self.keep]), y)
        self.classes = self.model.classes
        return self

    def scores(self, x) -> np.ndarray:
        from sklearn.preprocessing import normalize as l2_normalize

        return self.model.scores(l2_normalize(x[:, self.keep]))


def _folds(y: np.ndarray, groups: np.ndarray, n_folds: int, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold

    return list(StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))


def _oof_scores(x, y: np.ndarray, folds, make) -> np.ndarray:
    out = np.zeros((len(y), len(np.unique(y))), dtype=np.float64)
    for a, b in folds:
        model = make().fit(x[a], y[a])
        cols = np.searchsorted(np.unique(y), model.classes)
        out[np.ix_(b, cols)] = model.scores(x[b])
    return out


def _metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return float(accuracy_score(y_true, y_pred)), float(f1_score(y_true, y_pred, average="macro"))


def fit_temperature(scores: np.ndarray, y_index: np.ndarray) -> float:
    """The softmax scale T maximising the likelihood of the true classes under softmax(T * scores)."""
    best_t, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(np.log(0.1), np.log(100.0), 200)):
        z = t * (scores - scores.max(axis=1, keepdims=True))
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y_index)), y_index]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def _baseline(train: Sequence[LabelledText], held: Sequence[LabelledText], folds, y: np.ndarray) -> dict:
    """Plain TF-IDF character 1–3-grams of the de-spaced text + LinearSVC (default C)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    docs = [normalize(r.text) for r in train]
    pred = np.empty(len(y), dtype=object)
    for a, b in folds:
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
        svm = LinearSVC(random_state=0).fit(vec.fit_transform([docs[i] for i in a]), y[a])
        pred[b] = svm.predict(vec.transform([docs[i] for i in b]))
    out = dict(zip(("cv_accuracy", "cv_macro_f1"), _metrics(y, pred)))
    if held:
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
        svm = LinearSVC(random_state=0).fit(vec.fit_transform(docs), y)
        held_pred = svm.predict(vec.transform([normalize(r.text) for r in held]))
        out.update(zip(("held_out_accuracy", "held_out_macro_f1"), _metrics([r.category for r in held], held_pred)))
    return out


def train_from_jsonl(
    path: PathLike,
    out_dir: PathLike,
    *,
    name: str = "category_linear_v1",
    hold_out: bool = True,
    c_grid: Sequence[float] = (0.5, 1.0, 2.0),
    cv_folds: int = 5,
    max_terms: int = 100_000,
    min_df: int = 2,
    char_ngram: tuple[int, int] = (1, 4),
    stop_words: Optional[Iterable[str]] = None,
    baseline: bool = True,
    seed: int = 0,
) -> TrainReport:
    """Train the category classifier on a labelled JSON-lines file and write ``<out_dir>/<name>.npz`` and its
    card ``<name>.json``.

    Args:
        path: JSON lines with ``text`` and ``category``.
        out_dir: where the model files are written (created if missing).
        name: file stem of the model; pass the ``.npz`` path as the stage's ``model`` option to use it.
        hold_out: keep the fixed held-out part (`is_held_out`) out of training and score it at the end;
            False trains on every row (no held-out numbers).
        c_grid: SVM C values tried by cross-validation.
        cv_folds: cross-validation folds (fewer when a class has fewer rows; none when a class has one row).
        max_terms: the number of terms kept in the model (largest weights).
        min_df: a term must occur in at least this many training rows.
        char_ngram: shortest and longest character n-gram.
        stop_words: words removed before the n-grams are taken (None: the shipped list).
        baseline: also score the plain character n-gram SVM baseline (slower).
        seed: seed of the cross-validation folds.

    Returns:
        A TrainReport with the files written and the metrics measured.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: bad rows (names the file and line), fewer than 2 categories, or a bad option.
        ImportError: scikit-learn is not installed (says what to install).
    """
    _import_sklearn()
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = time.perf_counter()
    path = Path(path)
    if not (isinstance(max_terms, int) and max_terms >= 1):
        raise ValueError(f"max_terms must be an integer >= 1, got {max_terms!r}")
    if not c_grid or any(not (isinstance(c, (int, float)) and c > 0) for c in c_grid):
        raise ValueError(f"c_grid must be positive numbers, got {c_grid!r}")
    rows = read_labelled_jsonl(path)
    train, held = split_held_out(rows) if hold_out else (list(rows), [])
    counts = Counter(r.category for r in train)
    if len(counts) < 2:
        found = ", ".join(sorted(counts)) or "none"
        raise ValueError(f"training data {str(path)!r} needs at least 2 categories in its training part, found {found}")
    settings = FeatureSettings(
        char_ngram[0], char_ngram[1], True, frozenset(stop_words) if stop_words is not None else default_stop_words()
    )
    featurizer = Featurizer(settings)
    logger.info("training on %d rows (%d held out) from %s: %s", len(train), len(held), path, dict(counts))

    terms = [featurizer.terms(r.text) for r in train]
    y = np.array([r.category for r in train])
    classes = np.unique(y)
    groups = np.array([int.from_bytes(hashlib.sha256(split_key(r.text).encode()).digest()[:4], "big") for r in train])
    vec = TfidfVectorizer(analyzer=lambda t: t, min_df=min(min_df, len(train)), sublinear_tf=True, dtype=np.float32)
    x = vec.fit_transform(terms)
    if x.shape[1] == 0:
        raise ValueError(f"training data {str(path)!r} gives no terms in at least {min_df} rows")

    n_folds = min(cv_folds, min(counts.values()))
    folds = _folds(y, groups, n_folds, seed) if n_folds >= 2 else []
    best_c, best, best_oof = float(c_grid[0]), (-1.0, -1.0), None
    for c in c_grid if folds else ():
        oof = _oof_scores(x, y, folds, lambda c=c: _PrunedNBSVM(c, max_terms))
        acc, f1 = _metrics(y, classes[oof.argmax(axis=1)])
        logger.info("NB-SVM C=%s: cv accuracy %.4f, macro-F1 %.4f", c, acc, f1)
        if (acc, f1) > best:
            best_c, best, best_oof = float(c), (acc, f1), oof
    cv_acc, cv_f1 = best if best_oof is not None else (None, None)
    temperature = fit_temperature(best_oof, np.searchsorted(classes, y)) if best_oof is not None else 1.0
    model_fit = _PrunedNBSVM(best_c, max_terms).fit(x, y)
    keep = model_fit.keep

    vocab_terms = vec.get_feature_names_out()[keep]
    model = LinearModel(
        classes=tuple(str(c) for c in model_fit.classes),
        vocabulary={str(t): i for i, t in enumerate(vocab_terms)},
        idf=vec.idf_[keep].astype(np.float32),
        weights=model_fit.model.coef.astype(np.float16).astype(np.float32),
        bias=model_fit.model.bias,
        temperature=temperature,
        settings=settings,
        source=f"<training {path.name}>",
    )
    ho_acc = ho_f1 = None
    confusion = None
    if held:
        pred = [model.predict(r.text, featurizer, n_words=0).ranked[0][0] for r in held]
        ho_acc, ho_f1 = _metrics([r.category for r in held], pred)
        confusion = _confusion([r.category for r in held], pred, model.classes)
    base = _baseline(train, held, folds, y) if baseline and folds else {}

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = model.save(out / f"{name}.npz")
    card = {
        "name": name,
        "task": "top-level ticket category (classify.linear, stage category.linear.v1)",
        "format_version": 1,
        "trained_with": "classify.train.train_from_jsonl (hotline train-classifier)",
        "training_data": {"file": path.name, "sha256": _sha256(path), "rows": len(rows)},
        "split": {
            "rule": f"held out iff sha256(normalize(text)[-{SPLIT_KEY_CHARS}:]) as a 64-bit integer < {HELD_OUT_PERCENT}% of 2**64",
            "hold_out": hold_out,
            "train_rows": len(train),
            "held_out_rows": len(held),
            "class_counts_train": dict(sorted(counts.items())),
        },
        "features": {**settings.describe(), "min_df": min_df, "max_terms": max_terms, "terms": len(vocab_terms)},
        "model": {"kind": "NB-SVM one-vs-rest (log-count ratio scaling folded into the weights)", "svm_c": best_c,
                  "c_grid": list(c_grid), "cv_folds": n_folds, "weights": "float16", "temperature": temperature},
        "metrics": {
            "cv_accuracy": cv_acc, "cv_macro_f1": cv_f1, "held_out_accuracy": ho_acc, "held_out_macro_f1": ho_f1,
            "held_out_confusion": confusion,
            "baseline": {"kind": "TF-IDF char 1-3 of the de-spaced text + LinearSVC(C=1)", **base},
        },
        "model_sha256": _sha256(model_path),
        "size_bytes": model_path.stat().st_size,
        "sklearn_version": __import__("sklearn").__version__,
    }  # fmt: skip
    card_path = out / f"{name}.json"
    card_path.write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    report = TrainReport(
        model_path=model_path,
        card_path=card_path,
        classes=model.classes,
        train_rows=len(train),
        held_out_rows=len(held),
        terms=len(vocab_terms),
        size_bytes=model_path.stat().st_size,
        svm_c=best_c,
        temperature=temperature,
        cv_accuracy=cv_acc,
        cv_macro_f1=cv_f1,
        held_out_accuracy=ho_acc,
        held_out_macro_f1=ho_f1,
        baseline_cv_accuracy=base.get("cv_accuracy"),
        baseline_held_out_accuracy=base.get("held_out_accuracy"),
        baseline_held_out_macro_f1=base.get("held_out_macro_f1"),
        seconds=round(time.perf_counter() - started, 1),
    )
    logger.info("wrote %s: %s", model_path, {k: v for k, v in asdict(report).items() if "accuracy" in k or "f1" in k})
    return report


def _confusion(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict[str, dict[str, int]]:
    """true class -> {predicted class: count} (non-zero cells only)."""
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for t, p in zip(y_true, y_pred):
        table[t][p] = table[t].get(p, 0) + 1
    return {c: dict(sorted(table[c].items())) for c in classes if c in table}
