"""The scheduler seam: due rows in the bot database, run once, across restarts and instances, never after /forget."""

from __future__ import annotations

from pathlib import Path

from bot.db import open_db
from bot.scheduler import LEASE_SECONDS, MAX_ATTEMPTS, Job, Scheduler


class Clock:
    """A clock the test moves by hand (no waiting)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_due_job_runs_once_and_survives_a_restart(database: Path | str, tmp_path: Path) -> None:
    clock, ran = Clock(), []

    async def remind(job: Job) -> None:
        ran.append((job.kind, job.payload["text"], job.user_id))

    async with open_db(database) as conn:
        first = Scheduler(conn, owner="a", clock=clock)
        await first.schedule("remind", due_at=clock.now + 60, payload={"text": "复诊"}, user_id=7)
        assert await first.run_due() == 0  # not due yet
    # The process restarts: a new connection and scheduler on the same file.
    async with open_db(database) as conn:
        second = Scheduler(conn, owner="b", clock=clock)
        second.register("remind", remind)
        clock.now += 61
        assert await second.run_due() == 1
        assert await second.run_due() == 0  # done: never again
        assert ran == [("remind", "复诊", 7)]
        assert await second.pending() == []


async def test_two_instances_never_run_the_same_job(database: Path | str, tmp_path: Path) -> None:
    clock, ran = Clock(), []

    async def job_ran(job: Job) -> None:
        ran.append(job.id)

    async with open_db(database) as a_conn, open_db(database) as b_conn:
        a, b = Scheduler(a_conn, owner="a", clock=clock), Scheduler(b_conn, owner="b", clock=clock)
        for s in (a, b):
            s.register("k", job_ran)
        ids = [await a.schedule("k", due_at=clock.now) for _ in range(5)]
        done = await a.run_due() + await b.run_due()
        assert done == 5 and sorted(ran) == sorted(ids)


async def test_a_failing_job_is_retried_then_given_up(database: Path | str, tmp_path: Path) -> None:
    clock, calls = Clock(), []

    async def flaky(job: Job) -> None:
        calls.append(job.attempts)
        raise RuntimeError("the Bot API is down")

    async with open_db(database) as conn:
        s = Scheduler(conn, clock=clock)
        s.register("k", flaky)
        await s.schedule("k", due_at=clock.now)
        for _ in range(MAX_ATTEMPTS + 2):
            await s.run_due()
            clock.now += LEASE_SECONDS + 1
        assert len(calls) == MAX_ATTEMPTS and await s.pending() == []


async def test_rescheduling_a_key_replaces_it_and_forget_deletes_a_users_jobs(database: Path | str, tmp_path: Path) -> None:
    clock = Clock()
    async with open_db(database) as conn:
        s = Scheduler(conn, clock=clock)
        await s.schedule("remind", due_at=clock.now + 10, key="remind:7", user_id=7)
        await s.schedule("remind", due_at=clock.now + 20, key="remind:7", user_id=7)
        await s.schedule("remind", due_at=clock.now + 30, key="remind:8", user_id=8)
        assert [j.due_at - clock.now for j in await s.pending(user_id=7)] == [20]
        assert await s.next_due() == clock.now + 20
        assert await s.forget(7) == 1
        assert [j.user_id for j in await s.pending()] == [8]
        assert await s.cancel("remind:8") and not await s.cancel("remind:8")
