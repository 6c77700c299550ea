"""Scoring is pure: properties over all answer combinations, and the documented thresholds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.interview.scoring import (
    NOT_READY_OVERALL,
    READY_OVERALL,
    dimension_scores,
    overall_score,
    ranked_gaps,
    risk_flags,
    score,
    verdict,
)


def _answers(rubric, draw_levels):  # type: ignore[no-untyped-def]
    return {q.id: lvl for q, lvl in zip(rubric.questions, draw_levels, strict=True)}


def level_lists(rubric):  # type: ignore[no-untyped-def]
    return st.tuples(*[st.one_of(st.none(), st.integers(0, q.max_level)) for q in rubric.questions])


def test_all_ready_is_ready_and_has_no_gaps(rubric) -> None:
    answers = {q.id: q.max_level for q in rubric.questions}
    s = score(rubric, answers)
    assert s.overall == 100 and s.verdict == "ready" and not any(s.risks.values()) and s.gaps == ()


def test_nothing_done_is_not_ready_with_every_risk(rubric) -> None:
    answers = {q.id: 0 for q in rubric.questions}
    s = score(rubric, answers)
    assert s.overall == 0 and s.verdict == "not_ready" and all(s.risks.values())
    assert len(s.gaps) == len(rubric.questions)
    assert [g.priority for g in s.gaps] == sorted((g.priority for g in s.gaps), reverse=True)


def test_skipped_counts_as_unknown_gap(rubric) -> None:
    answers = {q.id: q.max_level for q in rubric.questions}
    skipped = rubric.questions[3].id
    answers[skipped] = None
    gaps = ranked_gaps(rubric, answers)
    assert [g.question.id for g in gaps] == [skipped] and gaps[0].unknown


def test_verdict_thresholds() -> None:
    dims = {"a": 80.0, "b": 70.0}
    assert verdict(READY_OVERALL, dims, {"r": False}) == "ready"
    assert verdict(READY_OVERALL, dims, {"r": True}) == "partly"
    assert verdict(NOT_READY_OVERALL - 0.1, dims, {}) == "not_ready"
    assert verdict(70, {"a": 90, "b": 20}, {}) == "not_ready"
    assert verdict(60, dims, {}) == "partly"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_better_answer_never_lowers_a_score(rubric, data) -> None:  # type: ignore[no-untyped-def]
    levels = data.draw(level_lists(rubric))
    answers = _answers(rubric, levels)
    i = data.draw(st.integers(0, len(rubric.questions) - 1))
    q = rubric.questions[i]
    current = answers[q.id]
    better_level = data.draw(st.integers(0 if current is None else current, q.max_level))
    better = dict(answers, **{q.id: better_level})
    before, after = dimension_scores(rubric, answers), dimension_scores(rubric, better)
    assert all(after[d] >= before[d] for d in before)
    assert overall_score(rubric, better) >= overall_score(rubric, answers)
    # A raised risk flag can only be lowered by a better answer, never raised.
    rb, ra = risk_flags(rubric, answers), risk_flags(rubric, better)
    assert all(rb[r] or not ra[r] for r in rb)
    order = ["not_ready", "partly", "ready"]
    assert order.index(score(rubric, better).verdict) >= order.index(score(rubric, answers).verdict)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_scores_are_bounded(rubric, data) -> None:  # type: ignore[no-untyped-def]
    answers = _answers(rubric, data.draw(level_lists(rubric)))
    s = score(rubric, answers)
    assert 0 <= s.overall <= 100
    assert all(0 <= v <= 100 for v in s.dimensions.values())
