"""category.keywords.v1: the top-level ticket category by keyword votes.

Two sources of keywords vote for a top-level category of the taxonomy: words derived from the taxonomy's own
second- and third-level names (weight 0.5, split over the categories that share a word), and a hand lexicon of
colloquial hotline words (``category_lexicon.csv``: 噪音 → 环境保护, 拖欠工资 → 劳动和社会保障 …).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, Optional

from pipeline.base.config import check_number
from pipeline.base.types import TextDoc, TicketField

from .matching import Cue, CueMatcher, evidence_of, strength
from .resources import PathLike, data_path, parse_weight, read_table
from .taxonomy import Taxonomy, load_taxonomy

logger = logging.getLogger(__name__)

__all__ = ["CategoryLexicon", "load_category_lexicon", "make_category_keywords"]

TAXONOMY_WEIGHT = 0.5  # weight of a word taken from the taxonomy's names
MAX_REPEATS = 3  # a word said more often than this adds nothing more


@dataclass(frozen=True)
class CategoryLexicon:
    """Keyword → {top-level category: weight}, and the matcher that finds the keywords."""

    taxonomy: Taxonomy
    weights: Mapping[str, Mapping[str, float]]
    matcher: CueMatcher


@lru_cache(maxsize=4)
def load_category_lexicon(taxonomy: Optional[PathLike] = None, lexicon: Optional[PathLike] = None) -> CategoryLexicon:
    """Merge the taxonomy's keywords with the hand lexicon (columns category, word, weight).

    Raises:
        ValueError: a lexicon row names a category that is not a top-level class of the taxonomy.
    """
    tax = load_taxonomy(taxonomy)
    weights: dict[str, dict[str, float]] = defaultdict(dict)
    owners: dict[str, list[str]] = defaultdict(list)
    for category, words in tax.keywords().items():
        for word in words:
            owners[word].append(category)
    for word, categories in owners.items():
        for category in categories:
            weights[word][category] = TAXONOMY_WEIGHT / len(categories)
    file = data_path("category_lexicon.csv", lexicon)
    top = set(tax.top_level)
    for row in read_table(file, ("category", "word", "weight")):
        if row["category"] not in top:
            raise ValueError(f"unknown category {row['category']!r} in {row.where()}; the taxonomy {tax.source!r} has {', '.join(tax.top_level)}")
        if not row["word"]:
            raise ValueError(f"empty word in {row.where()}")
        weight = parse_weight(row)
        weights[row["word"]][row["category"]] = max(weight, weights[row["word"]].get(row["category"], 0.0))
    matcher = CueMatcher([Cue(word, word, 1.0, literal=True) for word in sorted(weights)], str(file))
    frozen = MappingProxyType({w: MappingProxyType(dict(c)) for w, c in weights.items()})
    logger.debug("category lexicon: %d keywords for %d categories", len(frozen), len(top))
    return CategoryLexicon(tax, frozen, matcher)


def make_category_keywords(
    taxonomy: Optional[PathLike] = None, lexicon: Optional[PathLike] = None, min_confidence: float = 0.3, top_k: int = 3
):
    """Build the stage.

    Args:
        taxonomy: path of a taxonomy CSV (一级分类,二级分类,三级分类) instead of the shipped one.
        lexicon: path of a hand lexicon CSV (category,word,weight) instead of the shipped one.
        min_confidence: below this the value is None (unknown); the candidates are kept.
        top_k: how many ranked candidates to report.

    Returns:
        A stage whose value is a top-level category, with normalised `candidates` and the matched words as evidence.
    """
    check_number("category.keywords.v1.min_confidence", min_confidence, 0.0, 1.0)
    check_number("category.keywords.v1.top_k", top_k, 1, integer=True)
    lex = load_category_lexicon(taxonomy, lexicon)
    order = {c: i for i, c in enumerate(lex.taxonomy.top_level)}

    def category(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        hits = list(lex.matcher.scan(doc))
        if not hits:
            return TicketField.unknown()
        repeats = Counter(hit.text for hit in hits)
        scores: dict[str, float] = defaultdict(float)
        for word, n in repeats.items():
            for cat, weight in lex.weights[word].items():
                scores[cat] += weight * min(n, MAX_REPEATS)
        total = sum(scores.values())
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
        best, best_score = ranked[0]
        confidence = round(strength(best_score) * best_score / total, 4)
        candidates = tuple((cat, round(score / total, 4)) for cat, score in ranked[:top_k])
        if confidence < min_confidence:
            return TicketField.unknown(confidence, candidates)
        evidence = evidence_of(hit for hit in hits if best in lex.weights[hit.text])
        return TicketField(best, confidence, evidence, candidates)

    return category
