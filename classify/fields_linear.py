"""request_type.linear.v1 and urgency.linear.v1: ticket fields from small trained linear models, numpy only at run time.

Features (`field_terms`, the same function at training and at run time): the text of every segment joined with
"。", normalised (NFKC, lower case, whitespace removed; punctuation is kept: "？" and "吗？" say 咨询), then

* the character n-grams (``ngram_min``..``ngram_max``, 1–3 for the shipped models) of the whole text;
* the same n-grams of its *head*, prefixed with ``^``: the first clause up to 。 ! ? (at most ``head_chars``
  characters). A written message's title or a caller's first sentence usually says what they want
  ("咨询…", "投诉…", "建议…"), so the same words weigh differently there.

TF-IDF (``1 + log tf`` times the idf of the training data, L2-normalised), class scores ``x @ W + b`` and
probabilities ``softmax(temperature * scores)``, the temperature fitted on cross-validated scores.

The models are trained by ``python -m classify.train_fields`` (recipe and data in that module's docstring) and
shipped as ``models/data/request_type_linear_v1.npz`` and ``urgency_linear_v1.npz`` with a JSON card each
(training data sha256, cross-validated accuracy per fold); ``models.registry.CLASSIFIERS`` holds their sha256.

Stages:
    request_type.linear.v1: 咨询/求助/投诉/举报/建议/表扬, the most probable type; None when its probability is
        below ``min_confidence`` (0.3 by default; chance is 1/6); the top-3 (type, probability) as candidates and
        the n-grams that pushed the type up most as evidence. The cue rules (request_type.rules.v2) are one
        signal: when the model is unsure (top probability below ``rules_below``, chosen by cross-validation) and the
        rules find a type, theirs is taken (the training messages are web posts; short calls often say less).
    urgency.linear.v1: 紧急/加急/一般 as an `UrgencyField` (priority and time limit from ``priority_table.csv`` as in
        urgency.rules.v2). A binary model gives the probability that the message is urgent (紧急 or 加急); at or
        above ``threshold`` (the model's own, tuned by cross-validation, unless given) the message is urgent, and the
        cue rules of urgency.rules.v1 (one signal) choose the level: 紧急 when they find a 紧急 cue, else 加急. A
        紧急 cue alone (gas, fire, people trapped, collapse) also makes the message urgent when the model's
        probability is at least ``cue_threshold``, and two or more distinct 紧急 cues always do (a safety floor:
        the 300 training messages are web posts, rarely about gas or fire).
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Optional, Union

import numpy as np

from pipeline.base.config import check_number
from pipeline.base.errors import ModelError
from pipeline.base.types import TextDoc, TicketField, UrgencyField

from .linear import _floor4, evidence_for, model_terms, npz_lines, read_card, softmax, tfidf
from .matching import has_chinese
from .request_type import REQUEST_TYPES, make_request_type_rules_v2
from .urgency import _level, load_priority_table, load_urgency_cues

logger = logging.getLogger(__name__)

__all__ = [
    "FieldModel", "field_terms", "doc_text", "load_field_model", "make_request_type_linear", "make_urgency_linear",
]  # fmt: skip

PathLike = Union[str, Path]
FORMAT_VERSION = 1
HEAD_PREFIX = "^"  # head n-grams start with it; the normalised text has no "^" of its own (removed by `_clean`)
MAX_TEXT_CHARS = 4_000  # longer input is cut: a message or a call says what it wants early
_SPACE = re.compile(r"\s+")
_HEAD_END = re.compile(r"[。.!?;；]")
_EVIDENCE_TERMS = 3
STRONG_CUE_CONFIDENCE = 0.85  # urgency.rules.v1's confidence with two or more distinct 紧急 cues


def _clean(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text).lower()).replace(HEAD_PREFIX, "")


def field_terms(text: str, ngram_min: int = 1, ngram_max: int = 3, head_chars: int = 40) -> list[str]:
    """Every term of `text` with repeats: character n-grams of the normalised text, then those of its head."""
    norm = _clean(text)[:MAX_TEXT_CHARS]
    head = _HEAD_END.split(norm, 1)[0][:head_chars] if head_chars > 0 else ""
    out = [norm[i : i + k] for k in range(ngram_min, ngram_max + 1) for i in range(len(norm) - k + 1)]
    out.extend(HEAD_PREFIX + head[i : i + k] for k in range(ngram_min, ngram_max + 1) for i in range(len(head) - k + 1))
    return out


def doc_text(doc: TextDoc) -> str:
    """The text a field model reads: the segments joined with "。"."""
    return "。".join(seg.text for seg in doc.segments)


@dataclass(frozen=True)
class FieldModel:
    """A trained linear model over `field_terms` TF-IDF features.

    Attributes:
        task: "request_type" or "urgency".
        classes: class names in the column order of `weights` (urgency: "一般", "urgent").
        vocabulary: term -> row of `weights` / index of `idf`.
        idf, weights, bias: the TF-IDF idf, (terms, classes) weights and per-class bias.
        temperature: softmax scale of the scores.
        ngram_min, ngram_max, head_chars: feature settings (see `field_terms`).
        threshold: the urgent-probability threshold tuned by cross-validation (urgency only; nan otherwise).
        cue_threshold: the urgent probability above which a 紧急 cue alone makes a message urgent (nan otherwise).
    """

    task: str
    classes: tuple[str, ...]
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    temperature: float
    ngram_min: int
    ngram_max: int
    head_chars: int
    threshold: float = math.nan
    cue_threshold: float = math.nan
    card: Mapping = field(default_factory=dict)
    source: str = "<memory>"

    def terms(self, text: str) -> list[str]:
        return field_terms(text, self.ngram_min, self.ngram_max, self.head_chars)

    def vectorize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(indices, L2-normalised TF-IDF values) of the known terms of `text`."""
        return tfidf(self.vocabulary, self.idf, self.terms(text))

    def probabilities(self, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        scores = values @ self.weights[idx] + self.bias if len(idx) else self.bias.copy()
        return softmax(scores, self.temperature)

    def top_terms(self, idx: np.ndarray, values: np.ndarray, column: int, n: int = _EVIDENCE_TERMS) -> list[tuple[str, float]]:
        """The terms of 2+ characters pushing class `column` up most (head terms as their plain text), largest first."""
        if not len(idx):
            return []
        w = self.weights[idx]
        push = values * (w[:, column] - w.mean(axis=1))
        inverse = model_terms(self)
        best: dict[str, float] = {}
        for i in np.argsort(-push, kind="stable"):
            if push[i] <= 0 or len(best) >= n:
                break
            term = inverse[int(idx[i])].removeprefix(HEAD_PREFIX)
            if len(term) >= 2 and term not in best:
                best[term] = float(push[i])
        return list(best.items())

    def save(self, path: PathLike) -> Path:
        """Write the ``.npz`` (weights as float16); the JSON card is written by the trainer."""
        path = Path(path)
        terms = model_terms(self)
        np.savez_compressed(
            path,
            format_version=np.array(FORMAT_VERSION),
            task=np.frombuffer(self.task.encode("utf-8"), dtype=np.uint8),
            vocabulary=np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8),
            idf=self.idf.astype(np.float32),
            weights=self.weights.astype(np.float16),
            bias=self.bias.astype(np.float32),
            classes=np.frombuffer("\n".join(self.classes).encode("utf-8"), dtype=np.uint8),
            settings=np.array([self.ngram_min, self.ngram_max, self.head_chars], dtype=np.int64),
            temperature=np.array(self.temperature, dtype=np.float64),
            thresholds=np.array([self.threshold, self.cue_threshold], dtype=np.float64),
        )
        return path


@lru_cache(maxsize=8)
def load_field_model(path: PathLike) -> FieldModel:
    """Load a ``.npz`` written by `FieldModel.save` (and its ``.json`` card beside it, if any).

    Raises:
        ModelError: the file is missing, unreadable or not a field model of this format (names the file).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            if version != FORMAT_VERSION:
                raise ModelError(f"field model {str(path)!r} has format version {version}, this code reads {FORMAT_VERSION}")
            terms = npz_lines(z["vocabulary"])
            lo, hi, head = (int(x) for x in z["settings"])
            threshold, cue_threshold = (float(x) for x in z["thresholds"])
            card = read_card(path.with_suffix(".json"))
            model = FieldModel(
                task=z["task"].tobytes().decode("utf-8"),
                classes=tuple(npz_lines(z["classes"])),
                vocabulary=MappingProxyType({t: i for i, t in enumerate(terms)}),
                idf=z["idf"].astype(np.float32),
                weights=z["weights"].astype(np.float32),
                bias=z["bias"].astype(np.float32),
                temperature=float(z["temperature"]),
                ngram_min=lo,
                ngram_max=hi,
                head_chars=head,
                threshold=threshold,
                cue_threshold=cue_threshold,
                card=MappingProxyType(card),
                source=str(path),
            )
    except ModelError:
        raise
    except FileNotFoundError:
        raise ModelError(f"field model file {str(path)!r} does not exist") from None
    except (OSError, KeyError, ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"cannot load field model {str(path)!r}: {type(e).__name__}: {e}") from None
    v, k = len(model.vocabulary), len(model.classes)
    if k < 2 or model.weights.shape != (v, k) or model.idf.shape != (v,) or model.bias.shape != (k,):
        raise ModelError(f"inconsistent field model {str(path)!r}: {v} terms, {k} classes, weights {model.weights.shape}")
    return model


def _load(model: PathLike, task: str) -> FieldModel:
    from models.registry import resolve_classifier

    clf = load_field_model(resolve_classifier(model))
    if clf.task != task:
        raise ModelError(f"field model {clf.source!r} is a {clf.task!r} model, not a {task!r} model")
    return clf


def make_request_type_linear(
    model: PathLike = "request_type_linear_v1",
    min_confidence: float = 0.3,
    top_k: int = 3,
    rules_below: Optional[float] = None,
    cues: Optional[PathLike] = None,
):
    """Build request_type.linear.v1.

    Args:
        model: a shipped model name (``models.registry.CLASSIFIERS``) or the path of a ``.npz`` written by
            ``python -m classify.train_fields``.
        min_confidence: below this top probability the value is None (unknown); the candidates are kept.
        top_k: how many (type, probability) candidates to report.
        rules_below: where the model's top probability is below this and request_type.rules.v2 finds a type, the
            rules' type (with its confidence and evidence) is taken; None: the model's own (chosen by
            cross-validation, in its card), 0: never.
        cues: path of a cue table for the rules signal instead of the shipped ``request_type_cues.csv``.

    Raises:
        ConfigError: an option out of range (names it).
        ModelError: the model cannot be found or loaded, or is not a request-type model.
    """
    check_number("request_type.linear.v1.min_confidence", min_confidence, 0.0, 1.0)
    check_number("request_type.linear.v1.top_k", top_k, 1, integer=True)
    if rules_below is not None:
        check_number("request_type.linear.v1.rules_below", rules_below, 0.0, 1.0)
    clf = _load(model, "request_type")
    below = float(rules_below) if rules_below is not None else (0.0 if math.isnan(clf.threshold) else clf.threshold)
    rules = make_request_type_rules_v2(cues) if below > 0 else None
    unknown = [c for c in clf.classes if c not in REQUEST_TYPES]
    if unknown:
        raise ModelError(f"field model {clf.source!r} has classes that are not request types: {', '.join(unknown)}")

    def request_type(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        if not has_chinese(doc):
            return TicketField.unknown()
        idx, values = clf.vectorize(doc_text(doc))
        if not len(idx):
            return TicketField.unknown()
        probs = clf.probabilities(idx, values)
        order = np.argsort(-probs, kind="stable")
        candidates = tuple((clf.classes[i], _floor4(float(probs[i]))) for i in order[:top_k])
        best, p_best = candidates[0]
        if rules is not None and p_best < below:
            stated = rules(doc, fields)
            if stated.value is not None:
                return TicketField(stated.value, stated.confidence, stated.evidence, candidates)
        if p_best < min_confidence:
            return TicketField.unknown(p_best, candidates)
        evidence = evidence_for(doc, clf.top_terms(idx, values, int(order[0])))
        return TicketField(best, p_best, evidence, candidates)

    return request_type


def make_urgency_linear(
    model: PathLike = "urgency_linear_v1",
    threshold: Optional[float] = None,
    cue_threshold: Optional[float] = None,
    cues: Optional[PathLike] = None,
    table: Optional[PathLike] = None,
):
    """Build urgency.linear.v1.

    Args:
        model: a shipped model name (``models.registry.CLASSIFIERS``) or the path of a ``.npz`` written by
            ``python -m classify.train_fields``.
        threshold: urgent probability from which a message is urgent; None: the model's own (tuned by
            cross-validation, recorded in its card).
        cue_threshold: urgent probability from which a 紧急 cue alone makes a message urgent; None: the model's own.
        cues: path of an urgency cue table (level,pattern) instead of the shipped one (the level signal).
        table: path of a priority table instead of the shipped ``priority_table.csv``.

    Returns:
        A stage returning an `UrgencyField` (level, confidence, evidence, priority, time limit); unknown when the
        call has no Chinese text.

    Raises:
        ConfigError: an option out of range (names it).
        ModelError: the model cannot be found or loaded, or is not an urgency model.
    """
    if threshold is not None:
        check_number("urgency.linear.v1.threshold", threshold, 0.0, 1.0)
    if cue_threshold is not None:
        check_number("urgency.linear.v1.cue_threshold", cue_threshold, 0.0, 1.0)
    clf = _load(model, "urgency")
    if clf.classes != ("一般", "urgent"):
        raise ModelError(f"field model {clf.source!r} has classes {clf.classes}, expected ('一般', 'urgent')")
    t_model = clf.threshold if threshold is None else float(threshold)
    t_cue = clf.cue_threshold if cue_threshold is None else float(cue_threshold)
    if not (0.0 <= t_model <= 1.0 and 0.0 <= t_cue <= 1.0):
        raise ModelError(f"field model {clf.source!r} has no thresholds; pass threshold and cue_threshold")
    matcher = load_urgency_cues(cues)
    priorities = load_priority_table(table)

    def urgency(doc: TextDoc, fields: Mapping[str, TicketField]) -> UrgencyField:
        if not has_chinese(doc):
            return UrgencyField(None, 0.0)
        idx, values = clf.vectorize(doc_text(doc))
        p = float(clf.probabilities(idx, values)[1])
        cue = _level(matcher, doc, 0.5)
        strong = cue.value == "紧急" and cue.confidence >= STRONG_CUE_CONFIDENCE
        urgent = p >= t_model or (cue.value == "紧急" and p >= t_cue) or strong
        if urgent:
            level = "紧急" if cue.value == "紧急" else "加急"
            confidence = _floor4(max(p, cue.confidence if cue.value == level else 0.0))
            evidence = cue.evidence if cue.value in ("紧急", "加急") else evidence_for(doc, clf.top_terms(idx, values, 1))
        else:
            level, confidence, evidence = "一般", _floor4(1.0 - p), ()
        request_type = fields.get("request_type")
        row = priorities.lookup(level, request_type.value if request_type is not None else None)
        candidates = ((level, confidence),)
        return UrgencyField(level, confidence, evidence, candidates, row.priority, row.time_limit_hours)

    return urgency


def urgent_probability(clf: FieldModel, text: str) -> float:
    """The urgency model's probability that `text` is urgent (training and benchmarks)."""
    idx, values = clf.vectorize(text)
    return float(clf.probabilities(idx, values)[1])

