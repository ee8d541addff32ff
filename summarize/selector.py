"""The learned clause selector of ``summarize.structured.v1``: which of the caller's clauses make <what>.

Each candidate clause (after the greetings, fillers and the request are gone) is described by the numbers in
`FEATURES`: where it stands in the call, how long it is, whether the classifiers cited it, whether it names a place,
a number, a problem, a negation, a question, whether it repeats an earlier clause or shares words with the rest of
the call … (`clause_features`, no lexicon beyond the cue lists below). A logistic model scores them; the clauses are
taken from the best score down while their score is above the model's `threshold` and they fit the character
budget, and are written in the caller's order (`Selector.choose`).

The model is trained by ``summarize/train.py`` (clause labels: the clauses a greedy search with the reference summary
in hand would keep) and shipped as ``summarize/data/selector_v1.npz``: numbers and the feature names only, read
with numpy (``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

__all__ = ["FEATURES", "Selector", "clause_features", "load_selector", "model_sha256"]

MODEL_FILE = "selector_v1.npz"

FEATURES = (
    "bias_free_one",  # a constant (the standardiser leaves it at 0: the intercept is separate)
    "position",  # index / (n - 1)
    "first",
    "second",
    "last",
    "index_capped",  # min(index, 10) / 10
    "n_parts",  # min(n, 20) / 20
    "length",  # compressed length / 20
    "short",  # compressed length <= 4
    "long",  # compressed length >= 16
    "kept_share",  # compressed length / clause length
    "cited",  # holds words the category / urgency / request-type stages cited
    "place",  # overlaps the location stage's evidence
    "consult",
    "consult_question",
    "question",
    "weak_request",
    "strong_request",
    "digit",
    "problem",
    "negation",
    "contrast",
    "time",
    "hedge",
    "self",  # the caller about themself (我是 …, 我家 …)
    "party",  # a third party (他们, 开发商, 物业 …)
    "repeat",  # share of its character bigrams already in an earlier clause
    "central",  # share of its character bigrams found in the other clauses
    "sentence_position",
    "sentence_first",
    "lexical",  # the title model's log-odds that the clause's words make a title (`lexical_scores`)
    "lexical_rel",  # the same minus the call's best
)
LEXICAL_BUCKETS = 1 << 15

_DIGIT = re.compile(r"[0-9]")
_PROBLEM = re.compile(
    r"坏|损|破|故障|不亮|不通|堵|漏|渗|积水|吵|噪|扰民|油烟|臭|脏|乱|违|偷|拖欠|欠|停水|停电|危险|隐患|占|垃圾|收费|"
    r"骗|态度|不管|没人管|无人|不处理|污染|排放|投诉|举报|问题|影响|严重|安全|纠纷|推诿|拒绝|不给|不退|不让|强行|私自|"
    r"擅自|非法|腐败|克扣|超标|倒塌|裂|塌|淹|水管|断"
)
_NEGATION = re.compile(r"不|没|无|未|别")
_CONTRAST = re.compile(r"^(?:但是|但|可是|可|结果|却|然而|而且|还|又|现在|至今)")
_TIME = re.compile(r"年|月|号|日|天|点钟|小时|星期|礼拜|早上|晚上|半夜|凌晨|以前|之前|最近|一直|至今")
_HEDGE = re.compile(r"好像|可能|听说|觉得|感觉|不知道|不清楚|不好说|应该|估计|据说|也许")
_SELF = re.compile(r"^(?:我|我们|我家|本人)|^(?:是|在).{0,6}(?:业主|住户|居民|村民|职工|员工|学生|家长)$")
_PARTY = re.compile(r"他们|他|她|开发商|物业|公司|老板|商家|店|单位|学校|医院|厂|工地|施工方|房东|中介|政府|部门|街道|社区|村委")
_QUESTION = re.compile(r"怎么|如何|多少|什么|哪里|哪个|哪些|是否|能不能|可不可以|能否|有没有|吗|呢|何时|几时|为什么|为啥|要不要|算不算")


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the features need of one candidate clause."""

    text: str  # compressed
    raw: str  # the clause as said
    sentence: int
    sentence_first: bool
    cited: bool
    place: bool
    kind: str  # "content", "weak", "request"


def _bigrams(text: str) -> set[str]:
    return {text[k : k + 2] for k in range(len(text) - 1)} or {text}


_NOT_WORD = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9]")


def lexical_grams(text: str) -> list[int]:
    """The hashed character unigrams and bigrams of `text` (punctuation dropped): bucket = crc32(utf-8) mod
    `LEXICAL_BUCKETS`."""
    t = _NOT_WORD.sub("", text)
    grams = list(t) + [t[k : k + 2] for k in range(len(t) - 1)]
    return [zlib.crc32(g.encode("utf-8")) & (LEXICAL_BUCKETS - 1) for g in grams]


def lexical_score(text: str, table: Optional[np.ndarray]) -> float:
    """Sum of the table's weights over the clause's hashed n-grams / sqrt(count) (as the title model was trained)."""
    if table is None:
        return 0.0
    idx = lexical_grams(text)
    return float(table[idx].astype(np.float64).sum() / np.sqrt(len(idx))) if idx else 0.0


def clause_features(cands: Sequence[Candidate], consult: bool, lexical: Optional[np.ndarray] = None) -> np.ndarray:
    """The (len(cands), len(FEATURES)) feature matrix of a call's candidate clauses (`lexical`: the title model's
    weight table, None: its two features are 0)."""
    n = len(cands)
    lex = [lexical_score(c.text, lexical) for c in cands]
    top = max(lex) if lex else 0.0
    grams = [_bigrams(c.text) for c in cands]
    sentences = sorted({c.sentence for c in cands})
    s_last = max(len(sentences) - 1, 1)
    s_rank = {s: k for k, s in enumerate(sentences)}
    out = np.zeros((n, len(FEATURES)), dtype=np.float64)
    counts = Counter(b for g in grams for b in g)  # in how many clauses each bigram is (linear in the call)
    earlier: set[str] = set()
    for i, c in enumerate(cands):
        g = grams[i]
        repeat = len(g & earlier) / len(g)
        central = sum(counts[b] > 1 for b in g) / len(g)
        earlier |= g
        length = len(c.text)
        question = bool(_QUESTION.search(c.raw) or c.raw.endswith("？"))
        out[i] = (
            1.0,
            i / max(n - 1, 1),
            i == 0,
            i == 1,
            i == n - 1 and n > 1,
            min(i, 10) / 10,
            min(n, 20) / 20,
            length / 20,
            length <= 4,
            length >= 16,
            length / max(len(c.raw), 1),
            c.cited,
            c.place,
            consult,
            consult and question,
            question,
            c.kind == "weak",
            c.kind == "request",
            bool(_DIGIT.search(c.text)),
            bool(_PROBLEM.search(c.text)),
            bool(_NEGATION.search(c.text)),
            bool(_CONTRAST.search(c.raw)),
            bool(_TIME.search(c.text)),
            bool(_HEDGE.search(c.raw)),
            bool(_SELF.search(c.raw)),
            bool(_PARTY.search(c.text)),
            repeat,
            central,
            s_rank[c.sentence] / s_last,
            c.sentence_first,
            lex[i],
            lex[i] - top,
        )
    return out


def pick_clauses(texts: Sequence[str], ranked: Sequence[int], budget: int, keep=None) -> list[int]:
    """Indices of the clauses to use, in the caller's order: taken in `ranked` order while `keep(i)` holds (after
    the first), each that fits `budget` characters (clauses joined by "，"); a clause whose words a chosen one
    holds is skipped; the first is always used (cut to the budget if it alone is longer)."""
    picked: list[int] = []
    used = 0
    for i in ranked:
        if picked and keep is not None and not keep(i):
            break
        text = texts[i]
        if any(text in texts[j] or texts[j] in text for j in picked):
            continue
        cost = len(text) + (1 if picked else 0)
        if used + cost > budget:
            if picked:
                continue
            cost = budget
        picked.append(i)
        used += cost
    return sorted(picked)


@dataclass(frozen=True)
class Selector:
    """A logistic clause scorer with its standardiser and the selection rule's threshold."""

    weights: np.ndarray  # (len(FEATURES),)
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float  # a clause below it is left out (the best one is always kept)
    lexical: Optional[np.ndarray] = None  # (LEXICAL_BUCKETS,) the title model's weights (`lexical_score`)
    what_chars: int = 34  # the <what> budget tuned with the threshold
    features: tuple[str, ...] = FEATURES
    dropped: tuple[str, ...] = ()  # words compression drops: those citizens' titles keep less often than drop_below
    drop_below: float = 0.0  # the title-keep rate under which a frequent word is dropped (tuned with the threshold)

    def __post_init__(self) -> None:
        if tuple(self.features) != FEATURES:
            raise ValueError(f"selector features {self.features} are not this code's {FEATURES}")
        for name in ("weights", "mean", "scale"):
            if getattr(self, name).shape != (len(FEATURES),):
                raise ValueError(f"selector {name} has shape {getattr(self, name).shape}, want ({len(FEATURES)},)")
        if self.lexical is not None and self.lexical.shape != (LEXICAL_BUCKETS,):
            raise ValueError(f"selector lexical table has shape {self.lexical.shape}, want ({LEXICAL_BUCKETS},)")

    def features_of(self, cands: Sequence[Candidate], consult: bool) -> np.ndarray:
        return clause_features(cands, consult, self.lexical)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Log-odds that each clause belongs in the summary."""
        return ((x - self.mean) / self.scale) @ self.weights + self.intercept

    def choose(self, texts: Sequence[str], scores: Sequence[float], budget: int) -> list[int]:
        """Indices of the clauses to use, in the caller's order: from the best score down, those above `threshold`
        that fit `budget` characters (joined by "，"); a clause whose words another chosen one holds is skipped;
        the best clause is always used (cut to the budget if it alone is longer)."""
        ranked = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
        return pick_clauses(texts, ranked, budget, keep=lambda i: scores[i] >= self.threshold)

    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        with path.open("wb") as fh:
            np.savez(
                fh, weights=self.weights.astype(np.float64), intercept=np.float64(self.intercept),
                mean=self.mean.astype(np.float64), scale=self.scale.astype(np.float64),
                threshold=np.float64(self.threshold), what_chars=np.int64(self.what_chars), features=np.array(FEATURES),
                lexical=(np.zeros(LEXICAL_BUCKETS) if self.lexical is None else self.lexical).astype(np.float16),
                dropped=np.array(sorted(self.dropped), dtype=str), drop_below=np.float64(self.drop_below),
            )  # fmt: skip
        return path


def read_selector(path: Union[str, Path]) -> Selector:
    with np.load(path, allow_pickle=False) as z:
        return Selector(
            weights=z["weights"].astype(np.float64), intercept=float(z["intercept"]), mean=z["mean"].astype(np.float64),
            scale=z["scale"].astype(np.float64), threshold=float(z["threshold"]),
            lexical=z["lexical"].astype(np.float32), what_chars=int(z["what_chars"]), features=tuple(str(s) for s in z["features"]),
            dropped=tuple(str(w) for w in z["dropped"]) if "dropped" in z else (),
            drop_below=float(z["drop_below"]) if "drop_below" in z else 0.0,
        )  # fmt: skip


def _shipped() -> Path:
    return Path(str(resources.files("summarize") / "data" / MODEL_FILE))


@lru_cache(maxsize=4)
def load_selector(path: Optional[str] = None) -> Selector:
    """The shipped selector (`MODEL_FILE` in the package data), or the one at `path`."""
    return read_selector(path or _shipped())


def model_sha256(path: Optional[Union[str, Path]] = None) -> str:
    return hashlib.sha256(Path(path or _shipped()).read_bytes()).hexdigest()
