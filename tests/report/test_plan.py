"""Gaps in the words of the level answered, gap order, and the action plan (steps, de-duplication, owners, the
ready company's plan)."""

from __future__ import annotations

import pytest

from bot.interview.rubric import OWNER_ROLES, Rubric
from bot.report.build import build_report
from bot.report.model import Report
from tests.conftest import KNOWLEDGE

GUIDANCE = (KNOWLEDGE / "guidance.md").read_text(encoding="utf-8")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _answers(rubric: Rubric, level_of=lambda q: 0, **overrides):  # type: ignore[no-untyped-def]
    answers = {q.id: {"level": level_of(q), "text": "", "via": "option"} for q in rubric.questions}
    for qid, level in overrides.items():
        answers[qid] = {"level": level, "text": "", "via": "skip" if level is None else "option"}
    return answers


def _partial(rubric: Rubric, qid: str) -> int:
    """The level of the question's first partial option (the second option listed)."""
    return rubric.question(qid).options[1].level


def test_a_partial_answer_gets_the_gap_text_of_its_level(rubric: Rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    """「理解但没预留」 must not read "尚未接受慢启动…"; 「梳理了一部分」 must not read "尚未梳理…"."""
    report = build_report(rubric, _answers(rubric, lambda q: q.max_level,
                                           mindset_patience=_partial(rubric, "mindset_patience"),
                                           channel_map=_partial(rubric, "channel_map")), knowledge)
    gaps = {g.question_id: g for g in report.gaps}
    for qid in ("mindset_patience", "channel_map"):
        q = rubric.question(qid)
        gap = gaps[qid]
        assert gap.missing != q.gap.missing and gap.todo != q.gap.todo, qid
        assert gap.answer_label == q.options[1].label
        assert gap.quote in GUIDANCE and gap.quote_section == q.section
    assert gaps["mindset_patience"].missing.startswith("已")  # acknowledges what exists


def test_every_partial_option_has_its_own_text_and_the_worst_keeps_the_general_one(rubric: Rubric) -> None:
    for q in rubric.questions:
        partial = [o.level for o in q.options[1:-1]]
        assert sorted(dict(q.gap.levels)) == sorted(partial), q.id
        assert q.gap.for_level(0).missing == q.gap.missing and q.gap.for_level(None).todo == q.gap.todo
        texts = {q.gap.for_level(level).missing for level in partial} | {q.gap.missing}
        assert len(texts) == len(partial) + 1, f"{q.id}: each level says something different"


def test_known_gaps_come_most_severe_first_and_unknowns_after_them(rubric: Rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    first, second = rubric.questions[0].id, rubric.questions[1].id
    levels = {q.id: (q.max_level if i % 3 == 0 else q.options[1].level if i % 3 == 1 else 0)
              for i, q in enumerate(rubric.questions)}
    answers = _answers(rubric, lambda q: levels[q.id], **{first: None, second: None})
    report = build_report(rubric, answers, knowledge)
    kinds = [g.unknown for g in report.gaps]
    assert kinds == sorted(kinds), "all unknown (待确认) gaps after the known ones"
    assert {g.question_id for g in report.pending_gaps} == {first, second}
    severities = [SEVERITY_ORDER[g.severity] for g in report.known_gaps]
    assert severities == sorted(severities), "a 中等 gap never stands above a 严重 one"
    assert {g.severity for g in report.known_gaps} >= {"high", "medium"}


def test_the_plan_has_one_item_per_piece_of_pre_work_in_the_guidance_order(rubric: Rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    report = build_report(rubric, _answers(rubric), knowledge)  # nothing in place
    gap_items = [p for p in report.plan if p.kind == "gap"]
    sections = [p.section for p in gap_items]
    assert len(sections) == len(set(sections)) == len({g.section for g in report.gaps}), "one item per section"
    strategy = next(p for p in gap_items if p.section == "4.1")
    assert set(strategy.questions) == {"goal_purpose", "goal_kpi", "goal_boundary"}
    assert len(strategy.tasks) == 3 and strategy.owner_role == "管理层"
    assert [p.step for p in report.plan] == sorted(p.step for p in report.plan)
    step_of = {p.section: p.step for p in gap_items}
    for section in ("4.1", "4.2", "6.1", "5.1", "5.2", "5.3", "5.4", "6.4"):
        assert step_of[section] == 1, section
    for section in ("4.3", "4.4", "6.3"):
        assert step_of[section] == 2, section
    for section in ("4.5", "6.2"):
        assert step_of[section] == 3, section
    for p in report.plan:
        assert p.owner_role in OWNER_ROLES and p.done_when and p.item
        assert p.quote in GUIDANCE and p.quote_section == p.section, p.section
    assert not any(p.kind == "watch" for p in report.plan), "a company with gaps works on them first"


def test_plan_steps_live_in_the_rubric(rubric: Rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    moved = replace(rubric.plan.sections["4.3"], step=3)
    plan = replace(rubric.plan, entries=tuple(moved if e.section == "4.3" else e for e in rubric.plan.entries))
    report = build_report(replace(rubric, plan=plan), _answers(rubric), knowledge)
    assert next(p for p in report.plan if p.section == "4.3").step == 3


def test_an_unknown_answer_becomes_a_confirmation_after_the_known_gaps_of_its_step(rubric: Rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    answers = _answers(rubric, lambda q: q.max_level, research_competitor=None, research_behavior=0)
    report = build_report(rubric, answers, knowledge)
    kinds = [(p.section, p.kind) for p in report.plan if p.kind != "watch"]
    assert kinds == [("5.1", "gap"), ("5.3", "confirm")]
    confirm = report.plan[1]
    assert confirm.tasks[0].startswith("先确认：") and confirm.severity == ""


def test_a_ready_company_gets_what_to_keep_doing_and_watch(rubric: Rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    report = build_report(rubric, _answers(rubric, lambda q: q.max_level), knowledge)
    assert report.verdict == "ready" and not report.gaps
    assert report.plan, "a ready company's plan is never empty"
    assert {p.kind for p in report.plan} == {"watch"}
    assert {p.section for p in report.plan} >= {"2.1", "2.2", "2.3", "7"}
    for p in report.plan:
        assert p.quote and p.quote in GUIDANCE and p.quote_section == p.section


def test_the_plan_round_trips_through_report_json(rubric: Rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    report = build_report(rubric, _answers(rubric), knowledge)
    data = report.to_json()
    for item in data["plan"]:
        assert {"step", "section", "item", "owner_role", "done_when", "quote_section"} <= set(item)
    assert {p["section"] for p in data["plan"]} <= {g["section"] for g in data["gaps"]}
    assert "previous" not in data, "absent when there is no earlier diagnosis"
    assert Report.from_json(data) == report


@pytest.mark.parametrize("bad, reason", [
    ({"step": 4}, "step must be 1, 2 or 3"),
    ({"owner_role": "市场部"}, "owner_role"),
    ({"done_when": ""}, "item and done_when"),
])
def test_an_invalid_plan_entry_is_refused(bad, reason) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from bot.errors import RubricError
    from bot.interview.rubric import parse_rubric

    data = yaml.safe_load((KNOWLEDGE / "rubric.yaml").read_text(encoding="utf-8"))
    data["plan"]["sections"]["4.1"].update(bad)
    with pytest.raises(RubricError, match=reason):
        parse_rubric(data)
