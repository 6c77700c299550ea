"""The reader's decision, learned from the labelled answers: which option an answer means, or none, and how sure.

Each voice of the reader becomes a few numbers per option: the e5 similarity of the answer to the option's examples
(its gap to the best, whether it is the best and by how much), the rules' score for the level and their confidence,
the question's own phrases found, how close the general cues point, how close in readiness the labelled answers
to other questions that it is most like are (people say "还在摸索" of anything), the answer's shape (split,
reservation). One more
alternative, "no option", gets the answer's own numbers: how much closer it is to a labelled vague, off-topic or
side-question message than to any option, whether any cue was read, how much of it the rules understood. A
conditional logit — one weight per feature, shared by every question — turns them into a probability for each option
and for "no option". The reader records the most likely option when its probability reaches the model's threshold,
or a lower agreement threshold when the hand-set rules (reader.py) read the same option, and asks again otherwise.

The weights are fitted by `python -m bench.reader_eval --fit` on the labelled answers (knowledge/answers/): every set's
features computed by a reader that has not seen that set (leave one set out), ambiguous answers left out of the fit.
The two thresholds are those reading the most clear answers right while keeping the misreads over all answers, pooled
over the sets each read by a model fitted without it, at most 2%. Both are kept in knowledge/reader_model.yaml with the sets they were fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot import logit
from bot.errors import RubricError

DEFAULT_MODEL = Path(__file__).resolve().parent.parent.parent / "knowledge" / "reader_model.yaml"

LEVEL_FEATURES = ("e5_gap", "e5_best", "e5_margin_best", "rules_gap", "rules_best", "rules_confidence_best",
                  "rules_evidence_best", "rules_sure_best", "phrase_hit", "cue_closeness", "shape_allowed",
                  "split_end", "reserved_top", "position", "lowest", "peer_closeness")
NONE_FEATURES = ("bias", "non_answer_gap", "near_question", "near_vague", "near_offtopic", "e5_top",
                 "rules_confidence", "rules_evidence", "no_cue", "coverage", "split", "e5_margin")
FEATURES = LEVEL_FEATURES + NONE_FEATURES
_SCALE = 20.0  # cosine gaps are hundredths: scaled to the rules' units


@dataclass(frozen=True)
class Voices:
    """What each voice of the reader says about one answer to one question."""

    e5: dict[int, float]  # per level: the answer's best cosine similarity to the option's label and examples
    rules_scores: dict[int, float]
    rules_level: int
    rules_confidence: float
    rules_evidence: float
    rules_sure: bool
    hits: dict[int, float]  # the question's own phrases found, per level
    cue: float | None  # readiness implied by general cues, 0–1
    coverage: float  # how much of the answer the rules read
    mixed: bool
    reservation: bool
    allowed: dict[int, bool]  # what the answer's shape admits
    near: float  # cosine similarity to the closest labelled non-answer
    near_kind: str  # its kind (vague, offtopic, question; "" without any)
    top: int  # the question's highest level
    # Per level: how close the labelled answers to *other* questions that this answer is most like are to it, in
    # readiness (their level over their question's top; 1 = the same). None without them.
    peers: dict[int, float] | None = None

    @property
    def levels(self) -> list[int]:
        return sorted(self.e5)


def features(v: Voices) -> np.ndarray:
    """One row per level (ascending), then the "no option" row; columns as FEATURES."""
    e5_top = max(v.e5.values())
    ranked = sorted(v.e5.values(), reverse=True)
    e5_margin = ranked[0] - ranked[1] if len(ranked) > 1 else ranked[0]
    e5_best = max(v.e5, key=lambda lv: v.e5[lv])
    r_top = max(v.rules_scores.values())
    width = len(NONE_FEATURES)
    rows = []
    for lv in v.levels:
        rb = lv == v.rules_level
        rows.append([(v.e5[lv] - e5_top) * _SCALE, float(lv == e5_best), e5_margin * _SCALE * (lv == e5_best),
                     v.rules_scores.get(lv, r_top) - r_top, float(rb), v.rules_confidence * rb,
                     min(v.rules_evidence, 1.5) * rb, float(v.rules_sure and rb), v.hits.get(lv, 0.0),
                     0.0 if v.cue is None else 1.0 - abs(v.cue - lv / v.top), float(v.allowed.get(lv, True)),
                     float(v.mixed and lv in (0, v.top)), float(v.reservation and lv == v.top), lv / v.top,
                     float(lv == 0), v.peers.get(lv, 0.0) if v.peers else 0.0, *([0.0] * width)])
    kind = v.near_kind if v.near >= e5_top else ""
    rows.append([*([0.0] * len(LEVEL_FEATURES)), 1.0, (v.near - e5_top) * _SCALE, float(kind == "question"),
                 float(kind == "vague"), float(kind == "offtopic"), (e5_top - 0.9) * _SCALE, v.rules_confidence,
                 min(v.rules_evidence, 1.5), float(v.cue is None), v.coverage, float(v.mixed), e5_margin * _SCALE])
    return np.asarray(rows, dtype=np.float64)


def fit(samples: Sequence[tuple[np.ndarray, int]], *, l2: float = 0.1) -> tuple[float, ...]:
    """The weights maximising the likelihood of each sample's target row (an index into its feature rows; the last
    row is "no option"), with an L2 penalty."""
    return logit.fit(samples, len(FEATURES), l2=l2)


@dataclass(frozen=True)
class ReaderModel:
    """Fitted weights (one per FEATURES name) and the probability an option needs to be recorded."""

    weights: tuple[float, ...]
    threshold: float
    fitted_on: tuple[str, ...] = ()  # the labelled sets it was fitted on
    rows: int = 0  # how many labelled answers those sets held
    # Between this and `threshold`, the option is recorded when the hand-set rules read the same one (> 1: never).
    agree_threshold: float = 1.01

    def probabilities(self, v: Voices) -> dict[int | None, float]:
        """Per level, and None for "no option"."""
        p = logit.softmax(features(v) @ np.asarray(self.weights))
        return {**{lv: float(p[i]) for i, lv in enumerate(v.levels)}, None: float(p[-1])}

    def decide(self, v: Voices, hand: int | None = None) -> tuple[int | None, float]:
        """The level to record (None: ask again) and its probability; `hand`: the hand-set rules' reading."""
        return self.choose(self.probabilities(v), hand)

    def wants_second_opinion(self, probs: dict[int | None, float]) -> bool:
        """Whether the most likely option is likely enough to be recorded only if the hand-set rules agree."""
        best = max(probs, key=lambda k: probs[k])
        return best is not None and self.agree_threshold <= probs[best] < self.threshold

    def choose(self, probs: dict[int | None, float], hand: int | None = None) -> tuple[int | None, float]:
        """The most likely option if its probability reaches the threshold, or the agreement threshold with the
        hand-set rules reading the same option; else None (ask again)."""
        best = max(probs, key=lambda k: probs[k])
        p = probs[best]
        if best is not None and (p >= self.threshold or (hand == best and p >= self.agree_threshold)):
            return best, p
        return None, p

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> ReaderModel:
        """Reads a model file; one fitted with other features is refused (refit it)."""
        data = logit.read_model(path, what="reader model")
        try:
            weights = logit.weights_from(data, FEATURES, refit="python -m bench.reader_eval --fit")
            return cls(weights, float(data["threshold"]), tuple(str(s) for s in data.get("fitted_on", ())),
                       int(data.get("rows", 0)), float(data.get("agree_threshold", 1.01)))
        except (KeyError, TypeError, ValueError) as e:
            raise RubricError([f"cannot read the reader model ({e.__class__.__name__}: {e})"], path=str(path)) from e

    def save(self, path: Path) -> None:
        """Writes the model as YAML (never ingested as guidance)."""
        logit.write_model(path, {"fitted_on": list(self.fitted_on), "rows": self.rows,
                                 "threshold": round(float(self.threshold), 4),
                                 "agree_threshold": round(float(self.agree_threshold), 4),
                                 "weights": logit.named(FEATURES, self.weights)},
                          source="the labelled answers of knowledge/answers/", command="python -m bench.reader_eval --fit",
                          module="bot/interview/calibration.py")
