"""Scoring (pure functions): dimension scores, overall score, the chapter-6 verdict, risk flags and ranked gaps.

Thresholds (documented in the README):
* a question's readiness is level / max_level; a skipped question ("unknown") counts as 0 — readiness that
  cannot be confirmed is not readiness — but its gap is marked as a *possible* gap with low confidence;
* dimension score = weighted mean readiness of its questions × 100; overall = weighted mean over all questions;
* verdict: **ready** (已准备好) when overall ≥ 75, every dimension ≥ 60 and no risk flag is raised;
  **not_ready** (尚未准备好) when overall < 50 or any dimension < 30; otherwise **partly** (基本具备，需补课);
* a risk flag (chapter 2's failure scenarios) is raised when the weighted readiness of its questions is < 0.5;
* gaps: every question below its top level; severity high ≥ 0.67 shortfall, medium ≥ 0.34, otherwise low
  (shortfall = 1 − readiness); known gaps first, most severe first and, within a severity, by weight × shortfall;
  unknown (skipped / unclear) gaps after all known ones, by weight — so severity and rank always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.interview.rubric import Question, Rubric

READY_OVERALL = 75.0
READY_MIN_DIMENSION = 60.0
NOT_READY_OVERALL = 50.0
NOT_READY_DIMENSION = 30.0
RISK_THRESHOLD = 0.5

VERDICT_LABELS = {"ready": "已准备好", "partly": "基本具备，需补课", "not_ready": "尚未准备好"}
SEVERITY_LABELS = {"high": "严重", "medium": "中等", "low": "轻微"}
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class GapScore:
    """A question that is not fully in place."""

    question: Question
    readiness: float
    priority: float  # weight × shortfall
    severity: str  # high / medium / low
    unknown: bool  # skipped: a possible gap, lower confidence
    level: float | None = None  # the level answered (a team's mean may be fractional); None when unknown


@dataclass(frozen=True)
class Scores:
    """Everything the report needs from the answers."""

    dimensions: dict[str, float]
    overall: float
    verdict: str
    risks: dict[str, bool]
    gaps: tuple[GapScore, ...]


def readiness(question: Question, level: int | None) -> float:
    """0–1 readiness of one answer (None = skipped/unknown → 0)."""
    if level is None:
        return 0.0
    return max(0, min(level, question.max_level)) / question.max_level


def _weighted(rubric: Rubric, answers: Mapping[str, int | None], qids: list[str]) -> float:
    total = sum(rubric.question(q).weight for q in qids)
    if total == 0:
        return 0.0
    return sum(rubric.question(q).weight * readiness(rubric.question(q), answers.get(q)) for q in qids) / total


def dimension_scores(rubric: Rubric, answers: Mapping[str, int | None]) -> dict[str, float]:
    """0–100 per dimension."""
    return {
        d.id: round(100 * _weighted(rubric, answers, [q.id for q in rubric.questions if q.dimension == d.id]), 1)
        for d in rubric.dimensions
    }


def overall_score(rubric: Rubric, answers: Mapping[str, int | None]) -> float:
    """0–100 over all questions, by weight."""
    return round(100 * _weighted(rubric, answers, [q.id for q in rubric.questions]), 1)


def risk_flags(rubric: Rubric, answers: Mapping[str, int | None]) -> dict[str, bool]:
    """Which failure scenarios of chapter 2 the answers point to."""
    return {r.id: _weighted(rubric, answers, list(r.questions)) < RISK_THRESHOLD for r in rubric.risks}


def verdict(overall: float, dimensions: Mapping[str, float], risks: Mapping[str, bool]) -> str:
    """ready / partly / not_ready, by the thresholds in the module docstring."""
    if overall < NOT_READY_OVERALL or any(v < NOT_READY_DIMENSION for v in dimensions.values()):
        return "not_ready"
    if overall >= READY_OVERALL and all(v >= READY_MIN_DIMENSION for v in dimensions.values()) and not any(
        risks.values()
    ):
        return "ready"
    return "partly"


def ranked_gaps(rubric: Rubric, answers: Mapping[str, int | None]) -> tuple[GapScore, ...]:
    """Questions below their top level, most important first (weight × shortfall, then interview order)."""
    gaps = []
    for q in rubric.questions:
        level = answers.get(q.id)
        r = readiness(q, level)
        if r >= 1.0:
            continue
        shortfall = 1.0 - r
        severity = "high" if shortfall >= 0.67 else "medium" if shortfall >= 0.34 else "low"
        gaps.append(GapScore(q, r, q.weight * shortfall, severity, level is None, level))
    order = {q.id: i for i, q in enumerate(rubric.questions)}
    # Confirmed gaps are the firmer advice: all of them before the unknowns, which are listed apart (待确认).
    return tuple(sorted(gaps, key=lambda g: (g.unknown, SEVERITY_RANK[g.severity], -g.priority,
                                             order[g.question.id])))


def score(rubric: Rubric, answers: Mapping[str, int | None]) -> Scores:
    """All scores at once."""
    dims = dimension_scores(rubric, answers)
    overall = overall_score(rubric, answers)
    risks = risk_flags(rubric, answers)
    return Scores(dims, overall, verdict(overall, dims, risks), risks, ranked_gaps(rubric, answers))
