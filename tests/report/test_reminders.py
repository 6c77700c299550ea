"""Re-diagnosis reminders: one pending per user, due after the chosen days, sent once across a restart, never after
/forget (scheduler rows on a clock the test moves)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.db import open_db
from bot.report.reminders import Reminder, Reminders
from bot.scheduler import Scheduler
from tests.test_scheduler import Clock

DAY = 10.0  # a scaled day


async def test_a_reminder_is_sent_once_after_its_days_and_survives_a_restart(database: Path | str, tmp_path: Path) -> None:
    clock, sent = Clock(), []

    async def send(reminder: Reminder) -> None:
        sent.append((reminder.user_id, reminder.days))

    async with open_db(database) as conn:
        reminders = Reminders(Scheduler(conn, clock=clock), day_seconds=DAY)
        await reminders.remind(7, 60)
        chosen = await reminders.remind(7, 30)  # another choice replaces the first
        assert chosen.due_at == clock.now + 30 * DAY
        assert [(r.days, r.due_at) for r in await reminders.pending(7)] == [(30, chosen.due_at)]
    async with open_db(database) as conn:  # the bot restarted
        scheduler = Scheduler(conn, clock=clock)
        reminders = Reminders(scheduler, day_seconds=DAY)
        reminders.on_due(send)
        clock.now += 30 * DAY - 1
        assert await scheduler.run_due() == 0 and sent == []
        clock.now += 1
        assert await scheduler.run_due() == 1
        assert await scheduler.run_due() == 0
        assert sent == [(7, 30)] and await reminders.pending(7) == []


async def test_cancel_and_forget_mean_nothing_is_ever_sent(database: Path | str, tmp_path: Path) -> None:
    clock, sent = Clock(), []

    async def send(reminder: Reminder) -> None:
        sent.append(reminder.user_id)

    async with open_db(database) as conn:
        scheduler = Scheduler(conn, clock=clock)
        reminders = Reminders(scheduler, day_seconds=DAY)
        reminders.on_due(send)
        await reminders.remind(7, 90)
        await reminders.remind(8, 90)
        assert await reminders.cancel(7) and not await reminders.cancel(7)
        await scheduler.forget(8)  # what /forget does
        clock.now += 100 * DAY
        assert await scheduler.run_due() == 0 and sent == []


async def test_only_the_offered_periods(database: Path | str, tmp_path: Path) -> None:
    async with open_db(database) as conn:
        with pytest.raises(ValueError):
            await Reminders(Scheduler(conn)).remind(7, 1)
