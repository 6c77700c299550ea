"""Team sessions as meetings run them (service level, on a clock the test moves): late joiners and the grace
period, discuss-and-re-vote once, 🔔 once per question, time boxes, anonymity, and the team plan's owners."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import open_db
from bot.group.service import CLOSE_JOB, DEADLINE_JOB, LOBBY, GroupService, StaleGroupAction
from bot.report.team import Member
from bot.scheduler import Job, Scheduler
from tests.test_scheduler import Clock

HOST, LI, WANG, ZHAO = (Member(i, n) for i, n in [(1, "张三"), (2, "李四"), (3, "王五"), (4, "赵六")])
CHAT = -100555
GRACE = 20.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def setup(database: Path | str, tmp_path: Path, rubric, knowledge, clock) -> AsyncIterator[tuple[GroupService, Scheduler, list[Job]]]:  # type: ignore[no-untyped-def]
    ran: list[Job] = []
    async with open_db(database) as conn:
        scheduler = Scheduler(conn, clock=clock)
        groups = GroupService(conn, rubric=rubric, citer=knowledge, scheduler=scheduler, grace_seconds=GRACE)

        async def due(job: Job) -> None:
            ran.append(job)
            await groups.close_due(job.payload["s"], job.payload["i"], job.payload["r"],
                                   deadline=job.kind == DEADLINE_JOB)

        scheduler.register(CLOSE_JOB, due)
        scheduler.register(DEADLINE_JOB, due)
        yield groups, scheduler, ran


async def _begin(groups: GroupService, *members: Member, **options: object) -> int:
    session = await groups.start(CHAT, HOST)
    if options:
        await groups.set_options(session.id, **options)  # type: ignore[arg-type]
    for m in members:
        await groups.join(session.id, m)
    await groups.advance(session.id, LOBBY)
    return session.id


async def test_the_host_alone_never_closes_a_question_and_late_joiners_can_vote(setup, clock) -> None:  # type: ignore[no-untyped-def]
    groups, scheduler, _ = setup
    sid = await _begin(groups)  # only the host pressed 加入 before 开始答题
    outcome = await groups.vote(sid, 0, HOST, 2)
    assert outcome.closes_at is None, "one voter: the question stays open"
    clock.now += 10 * GRACE
    await scheduler.run_due()
    assert (await groups.question_state(sid, 0)).status == "open"
    # 李四 arrives late and votes: now two voters, everyone joined has voted — the grace period starts.
    outcome = await groups.vote(sid, 0, LI, 2)
    assert outcome.joined and outcome.closes_at == clock.now + GRACE
    clock.now += GRACE - 1
    # 王五 joins within the grace period: it starts again from his vote.
    outcome = await groups.vote(sid, 0, WANG, 2)
    assert outcome.closes_at == clock.now + GRACE
    clock.now += GRACE - 1
    await scheduler.run_due()
    assert (await groups.question_state(sid, 0)).status == "open", "within the grace period of the last new voter"
    clock.now += 1
    await scheduler.run_due()
    assert (await groups.question_state(sid, 0)).status == "closed"
    assert (await groups.current(sid)).index == 1  # type: ignore[union-attr]
    # Joining during the session counts from the open question on: 王五 answered question 1 only so far.
    assert await groups.member_votes(sid, WANG.user_id) == {groups.rubric.questions[0].id: 2}


async def test_a_joined_member_who_has_not_voted_holds_the_question_open_until_the_host_moves_on(setup, clock) -> None:  # type: ignore[no-untyped-def]
    groups, scheduler, _ = setup
    sid = await _begin(groups, LI, WANG)
    await groups.vote(sid, 0, HOST, 1)
    await groups.vote(sid, 0, LI, 1)
    clock.now += 10 * GRACE
    await scheduler.run_due()
    state = await groups.question_state(sid, 0)
    assert state.status == "open" and [m.name for m in state.waiting] == ["王五"], "the message says who is expected"
    adv = await groups.advance(sid, 0)  # ⏭ 下一题 closes it at once
    assert adv.opened is not None and adv.opened.index == 1


async def test_a_divided_question_pauses_and_can_be_voted_again_once(setup, clock) -> None:  # type: ignore[no-untyped-def]
    groups, scheduler, _ = setup
    sid = await _begin(groups, LI, WANG)
    q = groups.rubric.questions[0]
    for m, level in ((HOST, q.max_level), (LI, q.max_level), (WANG, 0)):
        await groups.vote(sid, 0, m, level)
    clock.now += GRACE
    await scheduler.run_due()
    state = await groups.question_state(sid, 0)
    assert state.status == "closed" and state.can_revote and (await groups.current(sid)).index == 0  # type: ignore[union-attr]
    again = await groups.revote(sid, 0)
    assert again.status == "open" and again.round == 2 and again.votes == {}
    with pytest.raises(StaleGroupAction):
        await groups.revote(sid, 0)  # open again: nothing to re-vote
    for m in (HOST, LI, WANG):
        await groups.vote(sid, 0, m, q.max_level if m is not WANG else 0)
    clock.now += GRACE
    await scheduler.run_due()
    state = await groups.question_state(sid, 0)
    assert state.status == "closed" and not state.can_revote, "only once"
    with pytest.raises(StaleGroupAction):
        await groups.revote(sid, 0)
    assert (await groups.current(sid)).index == 1, "the second round moves on by itself"  # type: ignore[union-attr]
    report = (await groups.end(sid)).report
    assert report is not None
    first = report.questions[0]
    assert first.discussed and first.first_spread == q.max_level and first.rounds[0] == {
        "1": q.max_level, "2": q.max_level, "3": 0}
    assert first.votes == {"1": q.max_level, "2": q.max_level, "3": 0}, "scored on the last round"


async def test_a_reminder_once_per_question(setup) -> None:  # type: ignore[no-untyped-def]
    groups, _, _ = setup
    sid = await _begin(groups, LI, WANG)
    await groups.vote(sid, 0, HOST, 1)
    waiting = await groups.remind(sid, 0)
    assert [m.name for m in waiting] == ["李四", "王五"]
    with pytest.raises(StaleGroupAction):
        await groups.remind(sid, 0)
    assert (await groups.question_state(sid, 0)).reminded


async def test_a_time_box_closes_the_question_at_its_deadline_whatever_the_count(setup, clock) -> None:  # type: ignore[no-untyped-def]
    groups, scheduler, ran = setup
    sid = await _begin(groups, LI, time_box=60)
    state = await groups.question_state(sid, 0)
    assert state.deadline == clock.now + 60
    await groups.vote(sid, 0, HOST, 1)  # one voter of two: would stay open without the time box
    clock.now += 59
    await scheduler.run_due()
    assert (await groups.question_state(sid, 0)).status == "open"
    clock.now += 1
    await scheduler.run_due()
    assert (await groups.question_state(sid, 0)).status == "closed" and ran[-1].kind == DEADLINE_JOB
    nxt = await groups.question_state(sid, 1)
    assert nxt.status == "open" and nxt.deadline == clock.now + 60
    with pytest.raises(StaleGroupAction):
        await groups.set_options(sid, time_box=90)  # lobby only


async def test_an_anonymous_report_names_nobody(setup, clock) -> None:  # type: ignore[no-untyped-def]
    groups, _, _ = setup
    sid = await _begin(groups, LI, WANG, anonymous=True)
    q = groups.rubric.questions[0]
    for m, level in ((HOST, q.max_level), (LI, 1), (WANG, 0)):
        await groups.vote(sid, 0, m, level)
    report = (await groups.end(sid)).report
    assert report is not None and report.anonymous
    data = report.to_json()
    assert data["anonymous"] is True
    assert [p["name"] for p in data["participants"]] == ["成员 1", "成员 2", "成员 3"]
    assert [p["user_id"] for p in data["participants"]] == ["m1", "m2", "m3"]
    assert set(data["questions"][0]["votes"]) == {"m1", "m2", "m3"}
    text = str(data)
    assert all(name not in text for name in ("张三", "李四", "王五")), "no member name anywhere"
    assert await groups.member_votes(sid, LI.user_id) == {q.id: 1}, "the personal copy still has their own answers"


async def test_plan_items_are_claimed_assigned_done_and_freed_by_forget(setup) -> None:  # type: ignore[no-untyped-def]
    groups, _, _ = setup
    sid = await _begin(groups, LI, WANG)
    for m in (HOST, LI, WANG):
        await groups.vote(sid, 0, m, 0)
    report = (await groups.end(sid)).report
    assert report is not None and len(report.plan) >= 1
    with pytest.raises(StaleGroupAction):
        await groups.claim(sid, 0, ZHAO)  # did not take part
    report = await groups.claim(sid, 0, LI)
    assert report.owner_of(0).owner_user_id == LI.user_id and report.owner_of(0).status == "claimed"
    with pytest.raises(StaleGroupAction):
        await groups.complete(sid, 0, WANG.user_id)  # only the owner marks it done
    report = await groups.assign(sid, 0, WANG.user_id)
    assert report.owner_of(0).owner_name == "王五"
    report = await groups.complete(sid, 0, WANG.user_id)
    item = report.to_json()["plan"][0]
    assert item["owner_user_id"] == WANG.user_id and item["status"] == "done"
    assert {"step", "section", "item", "owner_role", "done_when", "quote_section"} <= set(item)
    await groups.forget(WANG.user_id)
    after = await groups.report(sid)
    assert after is not None
    item = after.to_json()["plan"][0]
    assert item["owner_user_id"] is None and item["status"] == "open", "a forgotten owner frees the item"
    with pytest.raises(StaleGroupAction):
        await groups.claim(sid, 99, LI)
