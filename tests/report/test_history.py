"""Every diagnosis is kept: /history, the comparison with the previous one (private and group), the benchmark over
other users' latest scores with its threshold and opt-out, and /forget."""

from __future__ import annotations

from dataclasses import replace

from bot.group.service import LOBBY
from bot.interview.service import Finished, private_thread
from bot.report.build import build_report
from bot.report.model import Report
from bot.report.team import Member, build_group_report

USER = 4242


async def _diagnose(services, user_id: int, level_of) -> Report:  # type: ignore[no-untyped-def]
    """Runs a whole private interview by buttons; returns the report the user is shown."""
    interview = services.interview
    thread = private_thread(user_id)
    step = await interview.start(thread, fresh=True)
    while not isinstance(step, Finished):
        step = await interview.answer_option(thread, step.question.id, level_of(step.question))
    return step.report


async def test_a_second_diagnosis_is_compared_with_the_first_and_both_are_kept(services) -> None:  # type: ignore[no-untyped-def]
    first = await _diagnose(services, USER, lambda q: 0)
    assert first.previous is None and "previous" not in first.to_json()
    improved = {"goal_purpose", "goal_kpi", "goal_boundary", "org_roles"}
    second = await _diagnose(services, USER, lambda q: q.max_level if q.id in improved else 0)

    prev = second.previous
    assert prev is not None and prev.created_at == first.created_at and prev.overall == first.overall
    assert second.dimension_change("strategy") == 100.0 and second.dimension_change("content") == 0.0
    closed = {g.missing for g in first.gaps if g.question_id in improved}
    assert set(prev.gaps_closed) == closed and not prev.new_gaps
    data = second.to_json()
    assert {"created_at", "overall", "dimensions"} <= set(data["previous"])
    assert {"id", "score"} <= set(data["previous"]["dimensions"][0])

    history = services.history
    entries = await history.entries(USER)
    assert [e.created_at for e in entries] == [second.created_at, first.created_at]
    assert (await history.get(USER, entries[1].id)) == first
    assert await history.get(USER + 1, entries[1].id) is None, "only the user's own"
    assert (await services.interview.last_report(private_thread(USER))) == second, "the checkpoint agrees"


async def test_archiving_the_same_report_twice_stores_it_once(services, rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    report = build_report(rubric, {q.id: {"level": 0} for q in rubric.questions}, knowledge)
    once = await services.history.archive(USER, report.to_json())
    again = await services.history.archive(USER, report.to_json())
    assert once == again and len(await services.history.entries(USER)) == 1


async def test_forget_removes_the_history_and_the_benchmark_contribution(services, rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    await _diagnose(services, USER, lambda q: 0)
    await services.history.set_benchmark(USER, False)
    await services.privacy.forget(USER)
    assert await services.history.entries(USER) == []
    assert await services.history.benchmark_enabled(USER), "the opt-out row is gone too"
    rows = await services.db.execute_fetchall("SELECT COUNT(*) FROM diagnoses WHERE user_id = ?", (USER,))
    assert rows[0][0] == 0


def _report(rubric, knowledge, level: int) -> Report:  # type: ignore[no-untyped-def]
    return build_report(rubric, {q.id: {"level": min(level, q.max_level)} for q in rubric.questions}, knowledge)


async def test_the_benchmark_appears_only_from_the_threshold_and_never_names_anyone(services, rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    history = services.history
    history.benchmark_min_users = 5
    levels = [0, 1, 1, 2, 3]
    for uid, level in enumerate(levels[:4], start=100):
        await history.archive(uid, replace(_report(rubric, knowledge, level), created_at=f"2026-01-0{uid - 99}").to_json())
    # A user's later diagnoses replace their earlier one: still 4 distinct users.
    await history.archive(100, replace(_report(rubric, knowledge, 1), created_at="2026-02-01").to_json())
    below = Report.from_json(await history.archive(USER, _report(rubric, knowledge, 1).to_json()))
    assert below.benchmark is not None and not below.benchmark.dimensions
    assert "至少 5 位" in below.benchmark.omitted and "目前有 4 位" in below.benchmark.omitted

    await history.archive(104, replace(_report(rubric, knowledge, levels[4]), created_at="2026-01-05").to_json())
    await history.set_benchmark(103, False)  # opted out: not counted
    blocked = Report.from_json(await history.archive(USER, replace(_report(rubric, knowledge, 1),
                                                                   created_at="2026-03-01").to_json()))
    assert blocked.benchmark is not None and blocked.benchmark.users == 4 and blocked.benchmark.omitted
    await history.set_benchmark(103, True)
    shown = Report.from_json(await history.archive(USER, replace(_report(rubric, knowledge, 1),
                                                                 created_at="2026-03-02").to_json()))
    bm = shown.benchmark
    assert bm is not None and bm.users == 5 and not bm.omitted and len(bm.dimensions) == len(rubric.dimensions)
    for d in bm.dimensions:
        assert d.p25 <= d.p50 <= d.p75 and 0 <= d.percentile <= 100 and d.band
    data = shown.to_json()["benchmark"]
    assert set(data) == {"users", "dimensions", "omitted"}, "aggregates only: no user, no single score"
    assert {"id", "score", "percentile", "band", "p25", "p50", "p75"} == set(data["dimensions"][0])

    await history.set_benchmark(USER, False)
    own = Report.from_json(await history.archive(USER, replace(_report(rubric, knowledge, 1),
                                                               created_at="2026-03-03").to_json()))
    assert own.benchmark is not None and "/benchmark on" in own.benchmark.omitted


async def test_a_second_group_session_is_compared_with_the_first(services, rubric) -> None:  # type: ignore[no-untyped-def]
    groups = services.groups
    members = [Member(1, "张三"), Member(2, "李四")]
    reports = []
    for level in (0, 9):
        session = await groups.start(-100, members[0])
        for m in members:
            await groups.join(session.id, m)
        await groups.advance(session.id, LOBBY)
        for index, q in enumerate(rubric.questions):
            for m in members:
                await groups.vote(session.id, index, m, min(level, q.max_level))
            advance = await groups.advance(session.id, index)
        assert advance.report is not None
        reports.append(advance.report)
    first, second = reports
    assert first.previous is None and second.previous is not None
    assert second.previous.created_at == first.created_at and second.previous.overall == first.overall
    assert second.overall > first.overall and len(second.previous.gaps_closed) == len(first.gaps)
    history = await groups.history(-100)
    assert [e.overall for e in history] == [second.overall, first.overall]
    assert (await groups.session_report(-100, history[1].id)) == first
    assert await groups.session_report(-999, history[1].id) is None


def test_a_team_report_round_trips_with_its_typed_parts(rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    from bot.report.model import TeamReport, report_from_json

    votes = {q.id: {1: q.max_level, 2: 0} for q in rubric.questions}
    report = build_group_report(rubric, votes, [Member(1, "张三"), Member(2, "李四")], knowledge)
    data = report.to_json()
    assert data["kind"] == "group" and data["plan"]
    again = report_from_json(data)
    assert isinstance(again, TeamReport) and again == report and again.to_json() == data
