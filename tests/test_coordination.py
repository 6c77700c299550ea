"""The coordination seam, in-process and on a real Redis (started by the test): a window shared by every client,
locks that exclude across clients, delivery claims held until done and lapsing with a dead instance; the group pacer
keeps two instances under one limit together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.coordination import Coordinator, LocalCoordinator, RedisCoordinator, SharedSeenUpdates
from tests.servers import redis_server


@pytest.fixture
def redis_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisCoordinator, RedisCoordinator]]:
    """Two instances' coordinators on one Redis."""
    a, b = RedisCoordinator.from_url(redis_url), RedisCoordinator.from_url(redis_url)
    yield a, b
    await a.close()
    await b.close()


async def test_the_window_is_shared_by_two_instances(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    taken = [await c.take_slot("pace:-100", 3, 2.0) for c in (a, b, a)]
    assert all(wait == 0 and slot for wait, slot in taken)
    wait, slot = await b.take_slot("pace:-100", 3, 2.0)
    assert 0 < wait <= 2.0 and slot == "", "the fourth call in the window waits, whichever instance asks"
    assert (await a.take_slot("pace:-200", 3, 2.0))[0] == 0, "another group has its own window"


async def test_a_lock_excludes_across_instances(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    order: list[str] = []

    async def hold(c: RedisCoordinator, name: str) -> None:
        async with c.lock("session:7"):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    await asyncio.gather(hold(a, "a"), hold(b, "b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def claims_hold_until_done_and_lapse_when_their_instance_dies(a: Coordinator, b: Coordinator) -> None:
    """The delivery claims of two instances (`a`, `b`; the same one twice in one process)."""
    lease = 0.5
    one, two = SharedSeenUpdates(a, lease=lease), SharedSeenUpdates(b, lease=lease)
    first = await one.claim(42)
    assert first.status == "claimed"
    busy = await two.claim(42)
    assert busy.status == "busy" and 0 < busy.retry_after <= lease, "the other delivery is told to come back later"
    await one.done(first)
    assert [(await s.claim(42)).status for s in (one, two)] == ["done", "done"], "handled once, on either instance"

    dead = await one.claim(43)  # its instance dies while handling it: nothing marks it done or gives it up
    deadline = time.monotonic() + 10
    while (taken := await two.claim(43)).status == "busy":  # the lease lapses
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert taken.status == "claimed" and taken.owner != dead.owner, "the lapsed claim is taken over"
    await one.release(dead)
    assert (await one.claim(43)).status == "busy", "the dead delivery's claim, given up late, frees nothing"
    await two.done(taken)
    assert (await one.claim(43)).status == "done"

    interrupted = await one.claim(44)  # handling stopped in a live process (shutdown): given up at once
    await one.release(interrupted)
    assert (await two.claim(44)).status == "claimed"


async def test_a_delivery_claim_holds_until_done_across_instances_and_lapses_with_its_instance(pair) -> None:  # type: ignore[no-untyped-def]
    await claims_hold_until_done_and_lapse_when_their_instance_dies(*pair)
    await pair[0].ping()


async def test_an_update_marked_by_an_older_version_stays_handled(pair) -> None:  # type: ignore[no-untyped-def]
    a, _ = pair
    await a.redis.set("siyu:seen:update:7", "1", ex=60)  # the mark an earlier version set
    assert (await SharedSeenUpdates(a).claim(7)).status == "done"


async def test_the_ingest_lock_refuses_and_the_leader_lease_has_one_holder(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    async with a.try_lock("ingest", 60) as taken:
        assert taken
        async with b.try_lock("ingest", 60) as second:
            assert not second, "another instance is refused at once, not queued"
    async with b.try_lock("ingest", 60) as after:
        assert after, "released by its holder"
    assert await a.lead("scheduler", "a", 0.3) and await a.lead("scheduler", "a", 0.3), "the holder renews"
    assert not await b.lead("scheduler", "b", 0.3)
    deadline = time.monotonic() + 10
    while not await b.lead("scheduler", "b", 0.3):  # the holder stopped renewing: the lease lapses
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert not await a.lead("scheduler", "a", 0.3)


async def test_a_swap_returns_what_another_instance_set(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert await a.swap("shown:-100:5", "x", 60) is None
    assert await b.swap("shown:-100:5", "y", 60) == "x"
    assert await a.swap("shown:-100:5", "y", 60) == "y", "the same content twice: the second edit can be skipped"
    local = LocalCoordinator()
    assert await local.swap("k", "x", 60) is None and await local.swap("k", "x", 60) == "x"


async def test_the_local_coordinator_behaves_the_same_in_one_process() -> None:
    c = LocalCoordinator()
    assert [(await c.take_slot("k", 2, 5.0))[0] for _ in range(3)][:2] == [0.0, 0.0]
    assert (await c.take_slot("k", 2, 5.0))[0] > 0
    async with c.lock("x"):
        assert c.lock("x").locked()  # type: ignore[attr-defined]
    await claims_hold_until_done_and_lapse_when_their_instance_dies(c, c)


async def test_two_pacers_on_one_redis_keep_a_group_under_one_limit(pair) -> None:  # type: ignore[no-untyped-def]
    from aiogram.methods import SendMessage

    from bot.telegram.middlewares import GroupPacer

    a, b = pair
    limit, window = 4, 1.0
    sent: list[float] = []

    async def make_request(bot, method):  # type: ignore[no-untyped-def]
        sent.append(time.monotonic())
        return True

    pacers = [GroupPacer(limit=limit, window=window, coordinator=c) for c in (a, b)]
    calls = [pacers[i % 2](make_request, None, SendMessage(chat_id=-100, text=str(i)))  # type: ignore[arg-type]
             for i in range(10)]
    await asyncio.gather(*calls)
    assert len(sent) == 10
    for i in range(len(sent) - limit):
        assert sent[i + limit] - sent[i] >= window * 0.95, "never more than `limit` calls in any window"


async def test_two_instances_count_each_vote_once_under_shared_session_locks(database: Path | str, pair, tmp_path: Path, rubric,  # type: ignore[no-untyped-def]
                                                                             knowledge) -> None:
    from bot.db import open_db
    from bot.group.service import LOBBY, GroupService
    from bot.report.team import Member

    a, b = pair
    members = [Member(i, f"成员{i}") for i in range(1, 6)]
    async with open_db(database) as c1, open_db(database) as c2:
        one = GroupService(c1, rubric=rubric, citer=knowledge, locks=a, grace_seconds=0)
        two = GroupService(c2, rubric=rubric, citer=knowledge, locks=b, grace_seconds=0)
        session = await one.start(-100, members[0])
        await two.advance(session.id, LOBBY)
        presses = [(one if i % 2 else two).vote(session.id, 0, m, i % 3) for i, m in enumerate(members * 2)]
        await asyncio.gather(*presses)
        state = await one.question_state(session.id, 0)
        assert len(state.votes) == 5 and len(state.members) == 5, "each member once, whichever instance counted"
