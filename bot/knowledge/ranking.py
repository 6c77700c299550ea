"""Whether to answer a question, and which of the candidate sections answers it first, learned from the labelled
questions.

Search's fused score adds its voices with fixed weights. The ranker instead reads, for each of the best few sections
(by fused score), what every voice said of it — BM25 over the words, the headings and the character bigrams, the
dense similarity raw and corrected for hubness, the labelled question most like the question that this section
answers (by bigrams, and by meaning: the cosine of the nearest one, against the best candidate's), whether its document is the one the question is closest to — and what kind of section it is (a document's
lead, a chapter's intro, a summary, a subsection: e5 and BM25 both favour leads and summaries that touch everything).
A conditional logit over these (bot/logit.py) orders the candidates.

Before that, the gate decides whether the guidance covers the question at all, from what search knows of it: the
dense margin (how much closer the question is to the best document than everyday questions are), the topic evidence
and vocabulary coverage of its words, how like it is to a labelled question that is answered and to one labelled
"not covered" (by bigrams and by meaning; also to one labelled "not covered" against other documents, a weaker
hint), and what the best candidates look like. A logistic model of these gives the probability that the
question is covered; it is answered at or above the gate's threshold — the one answering the most in-scope questions
plus refusing the most off-topic ones on labelled sets the fit never saw.

Nothing in it names a document or a section: the same weights order the sections of any guidance an admin uploads.
Both are fitted by `python -m bench.retrieval_eval --fit` on the labelled questions (knowledge/questions/), every set's
evidence computed by a knowledge base without that set's labelled questions, and kept in knowledge/search_model.yaml
with the embedding model they were fitted for (the cosine features are its: a knowledge base embedded by another
model uses the hand-set rules) and the sets they were fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot import logit
from bot.errors import RubricError

DEFAULT_MODEL = Path(__file__).resolve().parent.parent.parent / "knowledge" / "search_model.yaml"
CANDIDATES = 8  # sections the ranker orders (the best by fused score)
FEATURES = ("fused_gap", "words", "headings", "bigrams", "dense", "cosine_gap", "adjusted_gap", "labelled",
            "labelled_best", "lead", "chapter", "summary", "closest_document", "first", "second", "meaning_gap",
            "meaning_best")
_SCALE = 20.0  # cosine gaps are hundredths: scaled to the other voices' units


@dataclass(frozen=True)
class SectionEvidence:
    """What each voice of search says about one candidate section (its best chunk's values)."""

    doc: str
    section: str
    chunk: int  # the index of its best chunk by fused score
    fused: float
    words: float  # BM25 over the chunk's words, max-normalised
    headings: float
    bigrams: float
    dense: float  # the dense similarity, hub-corrected and min-max normalised
    cosine: float  # the raw cosine similarity
    adjusted: float  # the hub-corrected cosine
    labelled: float  # the most similar labelled question answered by this section (0: none)
    meaning: float = 0.0  # the same by meaning: the cosine of the nearest labelled question it answers (0: none)

    @property
    def key(self) -> tuple[str, str]:
        return self.doc, self.section


def features(cands: Sequence[SectionEvidence]) -> np.ndarray:
    """One row per candidate (in fused order), columns as FEATURES."""
    top = max(c.fused for c in cands)
    cos = max(c.cosine for c in cands)
    adj = max(c.adjusted for c in cands)
    best_labelled = max(c.labelled for c in cands)
    closest = max(cands, key=lambda c: c.cosine).doc
    # A section without labelled questions (a document uploaded since) says nothing by meaning: 0, not a gap.
    meant = max(c.meaning for c in cands)
    rows = []
    for i, c in enumerate(cands):
        s = c.section
        rows.append([c.fused - top, c.words, c.headings, c.bigrams, c.dense, (c.cosine - cos) * _SCALE,
                     (c.adjusted - adj) * _SCALE, c.labelled, float(c.labelled > 0 and c.labelled >= best_labelled),
                     float(s == "0"), float("." not in s and s != "0"), float(s.endswith(".sum")),
                     float(c.doc == closest), float(i == 0), float(i == 1),
                     (c.meaning - meant) * _SCALE if c.meaning > 0 else 0.0, float(c.meaning > 0 and c.meaning >= meant)])
    return np.asarray(rows, dtype=np.float64)


def target(cands: Sequence[SectionEvidence], accepted: set[tuple[str, str]]) -> int | None:
    """The first candidate that answers the question (None: none of them does)."""
    return next((i for i, c in enumerate(cands) if c.key in accepted), None)


def fit(samples: Sequence[tuple[np.ndarray, int]], *, l2: float = 0.1) -> tuple[float, ...]:
    """Ranker weights from (features, labelled candidate) samples."""
    return logit.fit(samples, len(FEATURES), l2=l2)


def fit_gate(samples: Sequence[tuple[np.ndarray, int]], *, l2: float = 0.1) -> tuple[float, ...]:
    """Gate weights from (gate features, 0 answer / 1 refuse) samples."""
    return logit.fit(samples, len(GATE_FEATURES), l2=l2)


@dataclass(frozen=True)
class SectionRanker:
    """Fitted weights, one per FEATURES name."""

    weights: tuple[float, ...]

    def order(self, cands: Sequence[SectionEvidence]) -> list[SectionEvidence]:
        """The candidates, the likeliest answer first (ties keep the fused order)."""
        if len(cands) < 2:
            return list(cands)
        scores = features(cands) @ np.asarray(self.weights)
        return [cands[i] for i in sorted(range(len(cands)), key=lambda i: (-scores[i], i))]


GATE_FEATURES = ("bias", "margin", "evidence", "coverage", "like_not_covered", "like_covered", "not_covered_lead",
                 "english", "labelled", "words", "cosine", "meant_not_covered", "meant_covered",
                 "meant_not_covered_lead", "meant_elsewhere_not_covered")


@dataclass(frozen=True)
class CoverageEvidence:
    """What search knows, before answering, about whether the guidance covers a question."""

    margin: float  # the dense margin (best document's)
    evidence: float  # topic evidence of the question's words
    coverage: float  # vocabulary coverage
    like_not_covered: float  # similarity of the nearest labelled question labelled "not covered"
    like_covered: float  # ... and of the nearest one that is answered
    english: bool
    candidates: Sequence[SectionEvidence]
    # By meaning (cosines to the labelled questions; 0 without their vectors): the nearest "not covered" one that
    # holds for these documents, the nearest answered one, the nearest "not covered" judged against other documents.
    meant_not_covered: float = 0.0
    meant_covered: float = 0.0
    meant_elsewhere: float = 0.0


def _meant(cosine: float) -> float:
    """A cosine to a labelled question on the other features' scale (0: no such label)."""
    return (cosine - 0.9) * _SCALE if cosine else 0.0


def gate_features(e: CoverageEvidence) -> np.ndarray:
    """Two alternatives: answer (the features), refuse (zeros)."""
    top = e.candidates[0] if e.candidates else None
    row = [1.0, e.margin * _SCALE, min(e.evidence, 20.0) / 10.0, e.coverage, e.like_not_covered, e.like_covered,
           e.like_not_covered - e.like_covered, float(e.english), max((c.labelled for c in e.candidates), default=0.0),
           top.words if top else 0.0, ((top.cosine if top else 0.0) - 0.8) * _SCALE,
           *(_meant(x) for x in (e.meant_not_covered, e.meant_covered)),
           (e.meant_not_covered - e.meant_covered) * _SCALE if e.meant_not_covered and e.meant_covered else 0.0,
           _meant(e.meant_elsewhere)]
    return np.asarray([row, [0.0] * len(row)], dtype=np.float64)


@dataclass(frozen=True)
class AnswerGate:
    """Whether to answer: the probability that the guidance covers the question, against a threshold."""

    weights: tuple[float, ...]
    threshold: float

    def probability(self, e: CoverageEvidence) -> float:
        return self.probability_of(gate_features(e))

    def probability_of(self, x: np.ndarray) -> float:
        """From gate features already computed."""
        return float(logit.softmax(x @ np.asarray(self.weights))[0])

    def answers(self, e: CoverageEvidence) -> bool:
        return self.probability(e) >= self.threshold


@dataclass(frozen=True)
class SearchModel:
    """The ranker and the gate, fitted together for one embedding model (their cosine features are its)."""

    ranker: SectionRanker
    gate: AnswerGate
    model_id: str = ""
    fitted_on: tuple[str, ...] = ()
    rows: int = 0

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> SearchModel:
        """Reads a model file; one fitted with other features is refused (refit it)."""
        refit = "python -m bench.retrieval_eval --fit"
        data = logit.read_model(path, what="search model")
        try:
            ranker = logit.weights_from(data["ranker"], FEATURES, refit=refit)
            gate = logit.weights_from(data["gate"], GATE_FEATURES, refit=refit)
            threshold = float(data["gate"]["threshold"])
            return cls(SectionRanker(ranker), AnswerGate(gate, threshold), str(data.get("model_id", "")),
                       tuple(str(s) for s in data.get("fitted_on", ())), int(data.get("rows", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise RubricError([f"cannot read the search model ({e.__class__.__name__}: {e})"], path=str(path)) from e

    def save(self, path: Path) -> None:
        """Writes the model as YAML (never ingested as guidance)."""
        logit.write_model(path, {
            "model_id": self.model_id, "fitted_on": list(self.fitted_on), "rows": self.rows,
            "ranker": {"weights": logit.named(FEATURES, self.ranker.weights)},
            "gate": {"threshold": round(float(self.gate.threshold), 4),
                     "weights": logit.named(GATE_FEATURES, self.gate.weights)},
        }, source="the labelled questions of knowledge/questions/", command="python -m bench.retrieval_eval --fit",
            module="bot/knowledge/ranking.py")
