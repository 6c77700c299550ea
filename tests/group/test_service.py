"""GroupService on a real SQLite database: lobby, votes under concurrency, advancing, the team report, restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import open_db
from bot.group.service import LOBBY, GroupService, SessionExists, StaleGroupAction
from bot.report.team import Member, build_group_report
from tests.conftest import KNOWLEDGE

GUIDANCE = (KNOWLEDGE / "guidance.md").read_text(encoding="utf-8")
CHAT = -100123
ALICE, BOB, CAROL, DAN, EVE = (Member(i, n) for i, n in [(1, "张三"), (2, "李四"), (3, "王五"), (4, "赵六"), (5, "钱七")])


@pytest.fixture
async def groups(database: Path | str, tmp_path: Path, rubric, knowledge) -> AsyncIterator[GroupService]:  # type: ignore[no-untyped-def]
    async with open_db(database) as conn:
        yield GroupService(conn, rubric=rubric, citer=knowledge)


async def test_one_active_session_per_group(groups: GroupService) -> None:
    session = await groups.start(CHAT, ALICE)
    assert session.in_lobby and session.starter_id == ALICE.user_id
    with pytest.raises(SessionExists) as err:
        await groups.start(CHAT, BOB)
    assert err.value.session.id == session.id
    other = await groups.start(-100999, BOB)  # another group is independent
    assert other.id != session.id
    assert await groups.cancel(session.id)
    assert (await groups.start(CHAT, BOB)).id not in (session.id, other.id)


async def test_simultaneous_votes_are_counted_once_each_last_choice_wins(groups: GroupService) -> None:
    session = await groups.start(CHAT, ALICE)
    opened = (await groups.advance(session.id, LOBBY)).opened
    assert opened is not None and opened.index == 0
    members = [ALICE, BOB, CAROL, DAN, EVE]
    # Everyone presses twice at the same moment; the second press is each member's final choice.
    levels = opened.question.max_level + 1
    presses = [groups.vote(session.id, 0, m, 0) for m in members] + [groups.vote(session.id, 0, m, i % levels)
                                                                      for i, m in enumerate(members)]
    await asyncio.gather(*presses)
    state = await groups.question_state(session.id, 0)
    assert state.votes == {m.user_id: i % levels for i, m in enumerate(members)}
    assert state.all_voted and len(state.members) == 5  # voting joined them


async def test_a_closed_question_takes_no_more_votes_and_double_next_advances_once(groups: GroupService) -> None:
    session = await groups.start(CHAT, ALICE)
    await groups.advance(session.id, LOBBY)
    await groups.vote(session.id, 0, ALICE, 2)
    results = await asyncio.gather(groups.advance(session.id, 0), groups.advance(session.id, 0),
                                   return_exceptions=True)
    assert sum(isinstance(r, StaleGroupAction) for r in results) == 1
    with pytest.raises(StaleGroupAction):
        await groups.vote(session.id, 0, BOB, 1)  # question 1 is closed
    with pytest.raises(StaleGroupAction):
        await groups.vote(session.id, 1, BOB, 9)  # no such level
    assert (await groups.question_state(session.id, 0)).votes == {ALICE.user_id: 2}


async def test_skip_counts_as_unknown_and_end_reports_what_was_asked(groups: GroupService, rubric) -> None:  # type: ignore[no-untyped-def]
    session = await groups.start(CHAT, ALICE)
    await groups.advance(session.id, LOBBY)
    await groups.vote(session.id, 0, ALICE, 2)
    await groups.vote(session.id, 0, BOB, 0)
    paused = await groups.advance(session.id, 0)
    assert paused.paused, "a divided question waits for the controller: discuss, then 🔁 or ⏭"
    await groups.advance(session.id, 0)
    await groups.vote(session.id, 1, ALICE, 2)
    await groups.advance(session.id, 1, skip=True)
    done = await groups.end(session.id)
    assert done.report is not None and done.session.status == "finished"
    data = done.report.to_json()
    assert [q["question_id"] for q in data["questions"]] == [q.id for q in rubric.questions[:3]]
    assert data["questions"][1]["unanswered"] and data["questions"][1]["votes"] == {}
    assert data["questions"][0]["votes"] == {"1": 2, "2": 0} and data["questions"][0]["disagreement"]
    assert await groups.active(CHAT) is None
    last = await groups.last_report(CHAT)
    assert last is not None and last[0] == session.id and last[1].to_json()["participants"] == data["participants"]


async def test_session_survives_a_restart(database: Path | str, tmp_path: Path, rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    path = database
    async with open_db(path) as conn:
        groups = GroupService(conn, rubric=rubric, citer=knowledge)
        session = await groups.start(CHAT, ALICE)
        await groups.join(session.id, BOB)
        await groups.advance(session.id, LOBBY)
        await groups.set_question_message(session.id, 0, 77)
        await groups.vote(session.id, 0, BOB, 2)
    async with open_db(path) as conn:
        groups = GroupService(conn, rubric=rubric, citer=knowledge)
        active = await groups.active(CHAT)
        assert active is not None and active.id == session.id and active.index == 0
        state = await groups.current(session.id)
        assert state is not None and state.message_id == 77 and state.votes == {BOB.user_id: 2}
        assert [m.name for m in state.members] == ["张三", "李四"]
        outcome = await groups.vote(session.id, 0, ALICE, 1)
        assert outcome.state.all_voted


def test_team_report_contract_disagreement_band_and_verbatim_citations(rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    qs = rubric.questions
    votes = {q.id: {1: q.max_level, 2: q.max_level, 3: 0} for q in qs}  # Carol disagrees on everything
    votes[qs[0].id] = {1: 1, 2: 1, 3: 1}  # ...except the first question
    report = build_group_report(rubric, votes, [ALICE, BOB, CAROL, DAN], knowledge)
    data = json.loads(json.dumps(report.to_json(), ensure_ascii=False))
    for key in ("verdict", "overall", "dimensions", "risks", "gaps", "answers", "kb_version", "closing"):
        assert key in data  # the private schema
    assert {p["user_id"]: p["answered"] for p in data["participants"]} == {1: 20, 2: 20, 3: 20, 4: 0}
    assert {"user_id", "name", "answered"} <= set(data["participants"][0])  # the contract (fields only added)
    assert data["participants"][0]["questions"] == [q.id for q in qs]  # which questions each member answered
    first = data["questions"][0]
    assert first["votes"] == {"1": 1, "2": 1, "3": 1} and first["spread"] == 0 and not first["disagreement"]
    assert all(q["disagreement"] and q["spread"] == qs[i + 1].max_level for i, q in enumerate(data["questions"][1:]))
    assert len(report.disagreements()) == 19
    for dim in data["team"]["dimensions"]:
        assert dim["min"] <= dim["mean"] <= dim["max"] and dim["members"] == 3
    assert data["team"]["turnout"]["voted"] == 3 and data["team"]["turnout"]["participants"] == 4
    assert data["gaps"], "Carol's answers leave gaps"
    for gap in data["gaps"]:
        assert gap["quote"] and gap["quote"] in GUIDANCE and gap["quote_section"] == gap["section"]


async def test_forget_removes_votes_participation_and_report_entries(groups: GroupService) -> None:
    session = await groups.start(CHAT, ALICE)
    await groups.advance(session.id, LOBBY)
    await groups.vote(session.id, 0, ALICE, 2)
    await groups.vote(session.id, 0, BOB, 0)
    await groups.end(session.id)
    assert await groups.forget(BOB.user_id) == 1
    assert not await groups.is_member(session.id, BOB.user_id)
    data = (await groups.report(session.id)).to_json()  # type: ignore[union-attr]
    assert all(p["user_id"] != BOB.user_id for p in data["participants"])
    assert all("2" not in q["votes"] for q in data["questions"])


async def test_a_group_upgraded_to_a_supergroup_keeps_its_session(groups: GroupService) -> None:
    session = await groups.start(-555, ALICE)
    await groups.migrate(-555, -100555)
    assert await groups.active(-555) is None
    moved = await groups.active(-100555)
    assert moved is not None and moved.id == session.id


def test_a_session_ended_early_lists_gaps_only_among_the_questions_asked(rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    asked = rubric.questions[:3]
    votes = {q.id: {1: 0, 2: 0} for q in asked}
    report = build_group_report(rubric, votes, [ALICE, BOB], knowledge)
    assert {g.question_id for g in report.gaps} == {q.id for q in asked}
    assert report.verdict == "not_ready" and len(report.questions) == 3
