"""Re-diagnosis reminders (30 / 60 / 90 天后提醒我复诊) as due rows of the scheduler: they survive restarts, are sent
once, and are deleted with the user's other data by /forget (the scheduler is a Forgetter).

One pending reminder per user: choosing another period replaces it. The front end registers the sender
(`on_due`), because only it can reach the user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.scheduler import Job, Scheduler

KIND = "rediagnose"
PERIODS = (30, 60, 90)  # days offered under the report


@dataclass(frozen=True)
class Reminder:
    """A pending re-diagnosis reminder."""

    user_id: int
    days: int
    due_at: float  # Unix time

    @property
    def due_date(self) -> str:
        """The due day, as shown to the user (UTC)."""
        return datetime.fromtimestamp(self.due_at, UTC).strftime("%Y-%m-%d")


def _key(user_id: int) -> str:
    return f"{KIND}:{user_id}"


class Reminders:
    """Schedules, lists and cancels users' re-diagnosis reminders; `day_seconds` scales a day (tests shorten it)."""

    def __init__(self, scheduler: Scheduler, *, day_seconds: float = 86400.0) -> None:
        self.scheduler = scheduler
        self.day_seconds = day_seconds

    def on_due(self, send: Callable[[Reminder], Awaitable[None]]) -> None:
        """Calls `send(reminder)` when a reminder falls due (once; a failing send is retried by the scheduler)."""

        async def run(job: Job) -> None:
            await send(_reminder(job))

        self.scheduler.register(KIND, run)

    async def remind(self, user_id: int, days: int) -> Reminder:
        """Schedules the user's reminder in `days` days (replacing a pending one)."""
        if days not in PERIODS:
            raise ValueError(f"reminders are offered for {PERIODS} days, not {days}")
        due = self.scheduler.clock() + days * self.day_seconds
        await self.scheduler.schedule(KIND, due_at=due, payload={"days": days}, key=_key(user_id), user_id=user_id)
        return Reminder(user_id, days, due)

    async def pending(self, user_id: int) -> list[Reminder]:
        """The user's reminders not yet due (a due one is being sent, or retried after a failed send)."""
        now = self.scheduler.clock()
        return [_reminder(j) for j in await self.scheduler.pending(user_id=user_id) if j.kind == KIND and j.due_at > now]

    async def cancel(self, user_id: int) -> bool:
        """Drops the user's pending reminder; False when there was none."""
        return await self.scheduler.cancel(_key(user_id))


def _reminder(job: Job) -> Reminder:
    return Reminder(int(job.user_id or 0), int(job.payload.get("days", 0)), job.due_at)
