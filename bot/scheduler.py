"""Things that must happen later (reminders, grace periods, time boxes) as due rows in the bot database.

A job is a row of `scheduled_jobs` (kind, due time, JSON payload). One loop per process claims due rows and runs
the handler registered for their kind. A claim is one conditional UPDATE with a lease (`claimed_by`,
`claimed_until`), so two instances sharing a database never run a job twice, and a job whose instance died while
running it is run again once the lease has passed. A job survives restarts because it lives in the database; a
failing handler is retried later (`RETRY_SECONDS`), up to `MAX_ATTEMPTS`.

With several instances (`REDIS_URL`) one of them leads: only the leader polls the table on its timer (a lease in
Redis it renews every pass; another instance takes over when it lapses). Any instance still runs the due jobs at
once when it has just scheduled one itself, so a short grace period does not wait for the leader's next poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.coordination import Coordinator
from bot.db import Database

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
LEADER_TTL = 15.0  # seconds the leader lease lasts without renewal (a dead leader is replaced after this)
RETRY_SECONDS = 30.0
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Job:
    """A due job handed to its handler."""

    id: int
    kind: str
    key: str | None
    user_id: int | None
    due_at: float
    payload: dict[str, Any]
    attempts: int


Handler = Callable[[Job], Awaitable[None]]


class Scheduler:
    """Stores jobs with a due time and runs them when due, once, across restarts and instances."""

    def __init__(self, conn: Database, *, owner: str | None = None,
                 clock: Callable[[], float] = time.time, leader: Coordinator | None = None) -> None:
        self.conn = conn
        self.owner = owner or uuid.uuid4().hex[:12]
        self.leader = leader  # shared leader lease of the timed polls (None: this process always polls)
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Handler) -> None:
        """Runs `handler` for due jobs of `kind`."""
        self._handlers[kind] = handler

    async def schedule(self, kind: str, *, due_at: float, payload: Mapping[str, Any] | None = None,
                       key: str | None = None, user_id: int | None = None) -> int:
        """Adds a job (a pending job with the same key is replaced); returns its id."""
        data = json.dumps(dict(payload or {}), ensure_ascii=False)
        if key is not None:
            await self.conn.execute("DELETE FROM scheduled_jobs WHERE key = ? AND done_at IS NULL", (key,))
            await self.conn.execute("UPDATE scheduled_jobs SET key = NULL WHERE key = ?", (key,))
        rows = await self.conn.execute_fetchall(
            "INSERT INTO scheduled_jobs(kind, key, user_id, due_at, payload) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (kind, key, user_id, due_at, data))
        await self.conn.commit()
        self._wake.set()
        return int(rows[0][0])

    async def cancel(self, key: str) -> bool:
        """Drops the pending job with this key; False when there was none."""
        cur = await self.conn.execute("DELETE FROM scheduled_jobs WHERE key = ? AND done_at IS NULL", (key,))
        await self.conn.commit()
        return cur.rowcount > 0

    async def pending(self, *, user_id: int | None = None) -> list[Job]:
        """Jobs not yet done, soonest first (optionally one user's)."""
        sql = ("SELECT id, kind, key, user_id, due_at, payload, attempts FROM scheduled_jobs WHERE done_at IS NULL"
               + (" AND user_id = ?" if user_id is not None else "") + " ORDER BY due_at")
        rows = await self.conn.execute_fetchall(sql, (user_id,) if user_id is not None else ())
        return [_job(r) for r in rows]

    async def forget(self, user_id: int) -> int:
        """Deletes every job of the user (a reminder is never sent to someone who asked to be forgotten)."""
        cur = await self.conn.execute("DELETE FROM scheduled_jobs WHERE user_id = ?", (user_id,))
        await self.conn.commit()
        return cur.rowcount

    async def _claim(self, now: float) -> list[Job]:
        rows = await self.conn.execute_fetchall(
            "SELECT id, kind, key, user_id, due_at, payload, attempts FROM scheduled_jobs "
            "WHERE done_at IS NULL AND due_at <= ? AND (claimed_until IS NULL OR claimed_until < ?) "
            "ORDER BY due_at LIMIT 50", (now, now))
        claimed = []
        for row in rows:
            cur = await self.conn.execute(
                "UPDATE scheduled_jobs SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1 "
                "WHERE id = ? AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)",
                (self.owner, now + LEASE_SECONDS, row[0], now))
            if cur.rowcount == 1:  # another instance may have claimed it between the read and this write
                claimed.append(_job(row))
        await self.conn.commit()
        return claimed

    async def run_due(self) -> int:
        """Runs every job that is due now; returns how many ran successfully."""
        done = 0
        for job in await self._claim(self.clock()):
            handler = self._handlers.get(job.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for {job.kind}")
                await handler(job)
            except Exception:  # noqa: BLE001 - one failing job must not stop the others
                logger.exception("scheduled job %s (%s) failed", job.id, job.kind)
                give_up = job.attempts + 1 >= MAX_ATTEMPTS
                await self.conn.execute(
                    "UPDATE scheduled_jobs SET claimed_by = NULL, claimed_until = ?, done_at = ? WHERE id = ?",
                    (self.clock() + RETRY_SECONDS, self.clock() if give_up else None, job.id))
            else:
                await self.conn.execute("UPDATE scheduled_jobs SET done_at = ? WHERE id = ?", (self.clock(), job.id))
                done += 1
            await self.conn.commit()
        return done

    async def next_due(self) -> float | None:
        """When the soonest pending job is due (None: nothing pending)."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT MIN(CASE WHEN claimed_until > due_at THEN claimed_until ELSE due_at END) FROM scheduled_jobs"
            " WHERE done_at IS NULL"))
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def leads(self, poll: float) -> bool:
        """Whether this instance runs the timed polls now (takes or renews the leader lease)."""
        if self.leader is None:
            return True
        try:
            return await self.leader.lead("scheduler", self.owner, max(LEADER_TTL, 3 * poll))
        except Exception:  # noqa: BLE001 - Redis unreachable: poll anyway (claims keep every job single)
            logger.warning("scheduler leader lease unavailable; polling anyway", exc_info=True)
            return True

    async def run_forever(self, *, poll: float = 5.0) -> None:
        """Runs due jobs until cancelled; sleeps until the next due time (at most `poll` s: other instances add jobs).
        A timed pass runs only on the leader; a pass woken by this instance's own `schedule` runs here."""
        woken = True
        while True:
            try:
                if woken or await self.leads(poll):
                    await self.run_due()
                nxt = await self.next_due()
            except Exception:  # noqa: BLE001 - the loop outlives a passing database error
                logger.exception("scheduler pass failed")
                nxt = None
            delay = poll if nxt is None else min(poll, max(0.0, nxt - self.clock()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
                woken = True
            except TimeoutError:
                woken = False

def _job(row: Any) -> Job:
    return Job(id=int(row[0]), kind=str(row[1]), key=row[2], user_id=row[3], due_at=float(row[4]),
               payload=json.loads(row[5] or "{}"), attempts=int(row[6]))
