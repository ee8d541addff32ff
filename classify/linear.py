"""category.linear.v1: the top-level ticket category from a trained linear model, numpy-only at run time.

One feature path serves every input — jieba-segmented training text, typed messages with punctuation, short
speech transcripts:

1. ``normalize``: Unicode NFKC (full-width digits and letters → ASCII), lower case, every whitespace removed
   (so "路灯 坏 了" and "路灯坏了" become the same string);
2. the model's own jieba tokenizer (``pipeline.base.segmenter.JiebaSegmenter``, hotline user dictionary) cuts that
   string; tokens without a letter, digit or Han character (punctuation) and the model's stop words are dropped.
   The stop words are function words that the training corpus had already removed (的, 了, 我们, 但是 …), so a
   raw message is reduced to what the segmented training text looked like;
3. terms: the character n-grams (``char_ngram_min``..``char_ngram_max``) of the kept tokens joined together,
   plus each kept token as a word term (stored with a leading space, which no character n-gram can contain);
4. TF-IDF: ``(1 + log tf) * idf``, L2-normalised; class scores ``x @ W + b``; probabilities
   ``softmax(temperature * scores)`` with the temperature fitted on cross-validated scores (``classify.train``).

The artifact (``models/data/category_linear_v1.npz`` + ``.json`` card, see ``models.registry.CLASSIFIERS``) holds
the vocabulary, idf, float16 weights, bias, classes, temperature, feature settings and stop words. It is
trained by ``classify.train.train_from_jsonl`` (``hotline train-classifier``).

Classes without training rows: the model knows only the classes it was trained on (7 for the shipped one);
the taxonomy has 15 top-level classes. The keyword stage (``category.keywords.v1``) is run as well, and its
answer replaces the model's when it names a class the model does not know, its confidence is at least
``fallback_min_keyword_confidence`` (0.6: about one full-weight lexicon word) and the model's top probability is
below ``fallback_max_model_probability`` (0.5) (see `fallback_applies`). The model must be unsure because the
platform that labelled the training data filed many such topics under the trained classes (户口 questions under
卫生计生, broadband under 商贸旅游, 低保 under 劳动和社会保障): on the held-out part, where every row is one of
the trained classes, the rule fires on 2 of 1,349 rows; on clear out-of-domain calls ("楼下有人打架",
"我家被小偷偷了，派出所也不管", "手机信号太差了") the model's top probability is 0.2–0.5 and the rule fires.

Probabilities are calibrated: on the held-out part, rows with top probability 0.9+ are 97.5 % right, 0.7–0.9
78 %, 0.5–0.7 67 %, below 0.3 20 %; short noisy transcripts (bench/tickets.py's speech proxy) follow the same
curve. Below ``min_confidence`` (0.25) the value is None and the candidates are kept.
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from pipeline.base.config import check_number
from pipeline.base.errors import ModelError
from pipeline.base.types import Evidence, TextDoc, TicketField

from .category import make_category_keywords
from .matching import has_chinese

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureSettings",
    "Featurizer",
    "LinearModel",
    "Prediction",
    "fallback_applies",
    "load_linear_model",
    "make_category_linear",
    "model_terms",
    "normalize",
    "npz_lines",
    "read_card",
    "softmax",
    "terms_by_index",
    "tfidf",
]

PathLike = Union[str, Path]

FORMAT_VERSION = 1
WORD_PREFIX = " "  # word terms start with a space; character n-grams never contain whitespace
MAX_TEXT_CHARS = 20_000  # longer input is cut (with a warning): a call transcript is far shorter
MAX_EVIDENCE_TERMS = 5
_SPACE = re.compile(r"\s+")
_CONTENT = re.compile(r"\w")  # a letter, digit or Han character (Python's \w is Unicode-aware)


def normalize(text: str) -> str:
    """NFKC, lower case, no whitespace: the first step of the feature path for every input."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """How text becomes terms (stored in the artifact, so training and inference agree).

    Attributes:
        char_ngram_min: shortest character n-gram.
        char_ngram_max: longest character n-gram.
        words: add the kept jieba tokens as word terms.
        stop_words: jieba tokens dropped before the n-grams are taken.
    """

    char_ngram_min: int = 1
    char_ngram_max: int = 4
    words: bool = True
    stop_words: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not (isinstance(self.char_ngram_min, int) and isinstance(self.char_ngram_max, int)):
            raise TypeError(f"char n-gram bounds must be integers, got {self.char_ngram_min!r}..{self.char_ngram_max!r}")
        if not 1 <= self.char_ngram_min <= self.char_ngram_max <= 8:
            raise ValueError(
                f"char n-gram bounds must satisfy 1 <= min <= max <= 8, got {self.char_ngram_min}..{self.char_ngram_max}"
            )

    def describe(self) -> dict:
        """The settings as JSON-able values (the stop words by count)."""
        return {
            "normalize": "NFKC, lower case, whitespace removed",
            "tokenizer": "pipeline.base.segmenter.JiebaSegmenter (hotline user dictionary)",
            "char_ngram_range": [self.char_ngram_min, self.char_ngram_max],
            "words": self.words,
            "stop_words": len(self.stop_words),
            "tf": "1 + log(count)",
            "norm": "l2",
        }


def _shared_segmenter():
    from pipeline.base.segmenter import shared_segmenter

    return shared_segmenter()


class Featurizer:
    """Text → terms, the same code for training and inference.

    Args:
        settings: the feature settings.
        segmenter: anything with ``cut(text) -> list[str]``; default: one shared `JiebaSegmenter`.
    """

    def __init__(self, settings: FeatureSettings, segmenter=None):
        self.settings = settings
        self._segmenter = segmenter if segmenter is not None else _shared_segmenter()

    def tokens(self, text: str) -> list[str]:
        """The kept jieba tokens of the normalised text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        norm = normalize(text)
        if not norm:
            return []
        stop = self.settings.stop_words
        return [t for t in self._segmenter.cut(norm) if t not in stop and _CONTENT.search(t)]

    def terms(self, text: str) -> list[str]:
        """Every term of `text`, with repeats (character n-grams first, then word terms)."""
        return self.terms_of(self.tokens(text))

    def terms_of(self, kept: Sequence[str]) -> list[str]:
        """The terms of already kept tokens (see `tokens`)."""
        joined = "".join(kept)
        lo, hi = self.settings.char_ngram_min, self.settings.char_ngram_max
        n = len(joined)
        out = [joined[i : i + k] for k in range(lo, hi + 1) for i in range(n - k + 1)]
        if self.settings.words:
            out.extend(WORD_PREFIX + t for t in kept)
        return out


@dataclass(frozen=True, slots=True)
class Prediction:
    """Class probabilities of one text, best first, and the words that pushed the best class up."""

    ranked: tuple[tuple[str, float], ...]
    top_words: tuple[tuple[str, float], ...] = ()  # (kept jieba token, contribution), largest first
    known_terms: int = 0  # distinct terms of the text found in the vocabulary (0: the scores are the bias alone)


@dataclass(frozen=True)
class LinearModel:
    """A trained linear classifier over TF-IDF terms.

    Attributes:
        classes: the class names, in the column order of `weights`.
        vocabulary: term → row of `weights` / index of `idf`.
        idf: inverse document frequency per term (float32).
        weights: (terms, classes) coefficients (float32 in memory, float16 in the file).
        bias: per-class intercept.
        temperature: the softmax scale of the scores.
        settings: how text becomes terms.
        card: the artifact's JSON card (training data, split, metrics).
        source: the file it was loaded from.
    """

    classes: tuple[str, ...]
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    temperature: float
    settings: FeatureSettings
    card: Mapping = field(default_factory=dict)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        v, k = len(self.vocabulary), len(self.classes)
        if k < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {k} in {self.source}")
        if self.idf.shape != (v,) or self.weights.shape != (v, k) or self.bias.shape != (k,):
            raise ValueError(
                f"inconsistent classifier {self.source}: {v} terms and {k} classes, but idf {self.idf.shape}, "
                f"weights {self.weights.shape}, bias {self.bias.shape}"
            )

    def vectorize(self, terms: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(indices, L2-normalised TF-IDF values) of the known terms."""
        return tfidf(self.vocabulary, self.idf, terms)

    def scores_of(self, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        return values @ self.weights[idx] + self.bias if len(idx) else self.bias.copy()

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        return softmax(scores, self.temperature)

    def predict(self, text: str, featurizer: "Featurizer", n_words: int = MAX_EVIDENCE_TERMS) -> Prediction:
        """Probabilities of every class for `text`, best first, and the `n_words` kept jieba tokens that push the
        best class up most (a token's push: its word term plus the character n-grams inside it, each weighted
        by its TF-IDF value times its weight for the best class minus the mean weight of the classes)."""
        tokens = featurizer.tokens(text)
        terms = featurizer.terms_of(tokens)
        idx, values = self.vectorize(terms)
        probs = self.probabilities(self.scores_of(idx, values))
        order = np.argsort(-probs, kind="stable")
        ranked = tuple((self.classes[i], float(probs[i])) for i in order)
        if not len(idx) or n_words <= 0:
            return Prediction(ranked, (), len(idx))
        w = self.weights[idx]
        contrib = values * (w[:, int(order[0])] - w.mean(axis=1))
        inverse = model_terms(self)
        push = {inverse[int(i)]: float(c) for i, c in zip(idx, contrib)}
        lo, hi = self.settings.char_ngram_min, self.settings.char_ngram_max
        scored = {}
        for tok in dict.fromkeys(tokens):
            grams = {tok[i : i + k] for k in range(lo, hi + 1) for i in range(len(tok) - k + 1)}
            scored[tok] = push.get(WORD_PREFIX + tok, 0.0) + sum(push.get(g, 0.0) for g in grams)
        best = sorted(((t, c) for t, c in scored.items() if c > 0), key=lambda tc: -tc[1])
        return Prediction(ranked, tuple(best[:n_words]), len(idx))

    def save(self, path: PathLike) -> Path:
        """Write the ``.npz`` (weights as float16) and return its path. The JSON card is written by the trainer."""
        path = Path(path)
        terms = model_terms(self)
        if any("\n" in t for t in terms):
            raise ValueError("a term contains a newline; terms are built from whitespace-free text")
        np.savez_compressed(
            path,
            format_version=np.array(FORMAT_VERSION),
            vocabulary=np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8),
            idf=self.idf.astype(np.float32),
            weights=self.weights.astype(np.float16),
            bias=self.bias.astype(np.float32),
            classes=np.frombuffer("\n".join(self.classes).encode("utf-8"), dtype=np.uint8),
            stop_words=np.frombuffer("\n".join(sorted(self.settings.stop_words)).encode("utf-8"), dtype=np.uint8),
            settings=np.array(
                [self.settings.char_ngram_min, self.settings.char_ngram_max, int(self.settings.words)], dtype=np.int64
            ),
            temperature=np.array(self.temperature, dtype=np.float64),
        )
        return path


def tfidf(vocabulary: Mapping[str, int], idf: np.ndarray, terms: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(indices, L2-normalised TF-IDF values: ``1 + log tf`` times idf) of the terms in `vocabulary`; shared by
    every linear model of the package (category here, request type and urgency in `fields_linear`)."""
    pairs = [(vocabulary[t], c) for t, c in Counter(terms).items() if t in vocabulary]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
    tf = np.fromiter((c for _, c in pairs), dtype=np.float32, count=len(pairs))
    values = (1.0 + np.log(tf)) * idf[idx]
    norm = float(np.sqrt(np.dot(values, values)))
    return idx, values / norm if norm > 0 else values


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = temperature * (scores - scores.max())
    e = np.exp(z)
    return e / e.sum()


def terms_by_index(vocabulary: Mapping[str, int]) -> list[str]:
    """The vocabulary as a list: the term of each row."""
    inv = [""] * len(vocabulary)
    for t, i in vocabulary.items():
        inv[i] = t
    return inv


def model_terms(model) -> Sequence[str]:
    """`terms_by_index(model.vocabulary)` of a frozen model, built on first use and kept on the model."""
    terms = model.__dict__.get("_terms")
    if terms is None:
        terms = terms_by_index(model.vocabulary)
        object.__setattr__(model, "_terms", terms)
    return terms


def npz_lines(arr: np.ndarray) -> list[str]:
    """A list of strings stored in a ``.npz`` as newline-joined UTF-8 bytes."""
    text = arr.tobytes().decode("utf-8")
    return text.split("\n") if text else []


@lru_cache(maxsize=4)
def load_linear_model(path: PathLike) -> LinearModel:
    """Load a ``.npz`` classifier written by `LinearModel.save` (and its ``.json`` card beside it, if any).

    Raises:
        ModelError: the file is missing, unreadable or not a classifier of this format (names the file).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            if version != FORMAT_VERSION:
                raise ModelError(f"classifier {str(path)!r} has format version {version}, this code reads {FORMAT_VERSION}")
            terms = npz_lines(z["vocabulary"])
            lo, hi, words = (int(x) for x in z["settings"])
            settings = FeatureSettings(lo, hi, bool(words), frozenset(npz_lines(z["stop_words"])))
            model = LinearModel(
                classes=tuple(npz_lines(z["classes"])),
                vocabulary=MappingProxyType({t: i for i, t in enumerate(terms)}),
                idf=z["idf"].astype(np.float32),
                weights=z["weights"].astype(np.float32),
                bias=z["bias"].astype(np.float32),
                temperature=float(z["temperature"]),
                settings=settings,
                card=MappingProxyType(read_card(path.with_suffix(".json"))),
                source=str(path),
            )
    except ModelError:
        raise
    except FileNotFoundError:
        raise ModelError(f"classifier file {str(path)!r} does not exist") from None
    except (OSError, KeyError, ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"cannot load classifier {str(path)!r}: {type(e).__name__}: {e}") from None
    if len(set(model.classes)) != len(model.classes):
        raise ModelError(f"classifier {str(path)!r} repeats a class: {', '.join(model.classes)}")
    logger.debug("loaded classifier %s: %d terms, classes %s", path, len(terms), ", ".join(model.classes))
    return model


def read_card(path: Path) -> dict:
    """A model's JSON card ({} when there is none); ModelError naming the file when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read classifier card {str(path)!r}: {e}") from None


def fallback_applies(
    keyword: TicketField, model_classes: Sequence[str], model_top_probability: float, min_keyword: float, max_model: float
) -> bool:
    """The lexicon fallback rule: the keyword stage's category replaces the model's when it is a class the model
    was not trained on, the keyword confidence is >= `min_keyword` and the model's top probability < `max_model`."""
    return (
        keyword.value is not None
        and keyword.value not in model_classes
        and keyword.confidence >= min_keyword
        and model_top_probability < max_model
    )


def _find(doc: TextDoc, term: str, taken: list[tuple[int, int, int]]) -> Optional[Evidence]:
    """The first occurrence of `term` in a segment (case-insensitively) that overlaps no span taken before."""
    for seg in doc.segments:
        hay = seg.text.lower()
        if len(hay) != len(seg.text):
            hay = seg.text
        start = hay.find(term)
        while start >= 0:
            end = start + len(term)
            if not any(s == seg.id and start < e and b < end for s, b, e in taken):
                taken.append((seg.id, start, end))
                return Evidence(seg.id, start, end, seg.text[start:end])
            start = hay.find(term, start + 1)
    return None


def evidence_for(doc: TextDoc, words: Sequence[tuple[str, float]]) -> tuple[Evidence, ...]:
    """Spans of `doc` where the top contributing words occur (each word once, no overlaps, at most
    `MAX_EVIDENCE_TERMS`), in text order.
    A word that does not occur verbatim (after NFKC normalisation changed it) is skipped."""
    taken: list[tuple[int, int, int]] = []
    found: list[Evidence] = []
    for word, _ in words:
        if len(found) >= MAX_EVIDENCE_TERMS:
            break
        ev = _find(doc, word, taken)
        if ev is not None:
            found.append(ev)
    return tuple(sorted(found, key=lambda e: (e.segment_id, e.start_char)))


def _floor4(p: float) -> float:
    """`p` rounded down to 4 decimals, within [0, 1] (so rounded probabilities never sum above 1)."""
    return min(1.0, max(0.0, math.floor(p * 10_000) / 10_000))


def make_category_linear(
    model: PathLike = "category_linear_v1",
    min_confidence: float = 0.25,
    top_k: int = 3,
    fallback: bool = True,
    fallback_min_keyword_confidence: float = 0.6,
    fallback_max_model_probability: float = 0.5,
    taxonomy: Optional[PathLike] = None,
    lexicon: Optional[PathLike] = None,
):
    """Build the stage.

    Args:
        model: a shipped classifier name (``models.registry.CLASSIFIERS``) or the path of a ``.npz`` written by
            ``hotline train-classifier``.
        min_confidence: below this top probability the value is None (unknown); the candidates are kept.
        top_k: how many ranked (category, probability) candidates to report.
        fallback: use the keyword lexicon for categories the model has no training rows for.
        fallback_min_keyword_confidence: the keyword stage's confidence needed for the fallback.
        fallback_max_model_probability: the fallback applies only when the model's top probability is lower.
        taxonomy: taxonomy CSV for the keyword fallback (None: the shipped one).
        lexicon: hand lexicon CSV for the keyword fallback (None: the shipped one).

    Returns:
        A stage whose value is a top-level category, with probabilities as candidates and the top contributing
        words of the text as evidence.

    Raises:
        ConfigError: an option is out of range (names it).
        ModelError: the classifier cannot be found or loaded.
    """
    check_number("category.linear.v1.min_confidence", min_confidence, 0.0, 1.0)
    check_number("category.linear.v1.fallback_min_keyword_confidence", fallback_min_keyword_confidence, 0.0, 1.0)
    check_number("category.linear.v1.fallback_max_model_probability", fallback_max_model_probability, 0.0, 1.0)
    check_number("category.linear.v1.top_k", top_k, 1, integer=True)
    from models.registry import resolve_classifier

    clf = load_linear_model(resolve_classifier(model))
    featurizer = Featurizer(clf.settings)
    keywords = make_category_keywords(taxonomy, lexicon, min_confidence=0.0, top_k=top_k) if fallback else None

    def category(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        text = "\n".join(seg.text for seg in doc.segments)
        if len(text) > MAX_TEXT_CHARS:
            logger.warning("category.linear.v1: text of %d characters cut to %d", len(text), MAX_TEXT_CHARS)
            text = text[:MAX_TEXT_CHARS]
        if not has_chinese(doc):
            return TicketField.unknown()  # the model reads Chinese; English or digits alone say nothing
        pred = clf.predict(text, featurizer)
        if pred.known_terms == 0:
            return TicketField.unknown()
        best, p_best = pred.ranked[0]
        if keywords is not None:
            kw = keywords(doc, fields)
            if fallback_applies(kw, clf.classes, p_best, fallback_min_keyword_confidence, fallback_max_model_probability):
                rest = [(c, _floor4(p * (1.0 - kw.confidence))) for c, p in pred.ranked[: top_k - 1]]
                candidates = tuple(sorted([(kw.value, _floor4(kw.confidence)), *rest], key=lambda cp: -cp[1]))
                logger.debug(
                    "category.linear.v1: keyword fallback to %s (%.3f) over %s (%.3f)", kw.value, kw.confidence, best, p_best
                )
                return TicketField(kw.value, _floor4(kw.confidence), kw.evidence, candidates)
        candidates = tuple((c, _floor4(p)) for c, p in pred.ranked[:top_k])
        confidence = _floor4(p_best)
        if p_best < min_confidence:
            return TicketField.unknown(confidence, candidates)
        return TicketField(best, confidence, evidence_for(doc, pred.top_words), candidates)

    return category
