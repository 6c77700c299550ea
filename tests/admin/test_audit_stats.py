"""The audit log and the usage statistics, on a fresh bot database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.admin.audit import NOT_ADMIN, AuditLog
from bot.admin.events import GROUP_COMPLETED, GROUP_STARTED, INTERVIEW_COMPLETED, INTERVIEW_STARTED
from bot.admin.stats import period_stats, usage_stats
from bot.db import Database, open_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(database: Path | str, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_db(database) as conn:
        yield conn


async def add(db: Database, days_ago: float, kind: str, user: int | None, data: dict | None = None) -> None:
    ts = (NOW - timedelta(days=days_ago)).isoformat(timespec="seconds")
    await db.execute("INSERT INTO events(ts, kind, user_id, chat_id, data) VALUES (?, ?, ?, ?, ?)",
                     (ts, kind, user, user, json.dumps(data or {}, ensure_ascii=False)))
    await db.commit()


def summary(goal: float, users: float, gaps: list[str]) -> dict:
    return {"verdict": "partly", "overall": 50, "dimensions": {"goal": goal, "users": users},
            "dimension_titles": {"goal": "战略目标", "users": "用户洞察"},
            "gaps": [{"question_id": q, "section": "4.1", "missing": f"缺 {q}"} for q in gaps], "kb_version": "v1"}


async def test_audit_lists_newest_first_and_forget_keeps_admin_actions(db: Database) -> None:
    audit = AuditLog(db)
    await audit.record(user_id=1, user_name="管理员", action="reingest", result="v1 -> v2")
    await audit.record(user_id=1, user_name="管理员", action="upload", detail="bad.md", result="refused: empty",
                       ok=False)
    await audit.refused(user_id=2, user_name="路人", action="kb", detail="/kb")
    await audit.refused(user_id=1, user_name="管理员", action="stats")  # refused before being made an admin
    rows = await audit.last(20)
    assert [r.action for r in rows] == ["stats", "kb", "upload", "reingest"]
    assert rows[1].result == NOT_ADMIN and not rows[1].ok and rows[3].ok

    assert await audit.forget(2) == 1
    assert await audit.forget(1) == 1  # only the refusal; the admin actions are the accountability record
    assert [(r.user_id, r.action) for r in await audit.last(20)] == [(1, "upload"), (1, "reingest")]
    assert len(await audit.last(1)) == 1


async def test_stats_count_scores_and_gaps_per_window(db: Database) -> None:
    await add(db, 1, INTERVIEW_STARTED, 10)
    await add(db, 0.9, INTERVIEW_COMPLETED, 10, summary(80, 40, ["goal_kpi", "user_persona"]))
    await add(db, 2, INTERVIEW_STARTED, 11)  # never finished
    await add(db, 3, INTERVIEW_STARTED, 12)
    await add(db, 2.5, INTERVIEW_COMPLETED, 12, summary(60, 20, ["user_persona"]))
    await add(db, 20, INTERVIEW_STARTED, 13)
    await add(db, 19, INTERVIEW_COMPLETED, 13, summary(10, 10, ["goal_kpi"]))
    await add(db, 40, INTERVIEW_STARTED, 14)  # outside both windows
    await add(db, 8.5, INTERVIEW_STARTED, 15)  # started before the 7-day window, finished inside it
    await add(db, 6, INTERVIEW_COMPLETED, 15, summary(100, 100, []))
    await add(db, 5, GROUP_STARTED, 10)
    await add(db, 25, GROUP_STARTED, 11)
    await add(db, 4, GROUP_COMPLETED, 10, {"participants": 3})

    week, month = await usage_stats(db, now=NOW)
    assert (week.days, week.started, week.completed, week.groups_started, week.groups_completed) == (7, 3, 3, 1, 1)
    assert week.completion_rate == pytest.approx(2 / 3)  # a completion of an earlier start does not count
    means = {d.id: (d.title, d.mean, d.n) for d in week.dimensions}
    assert means == {"goal": ("战略目标", 80.0, 3), "users": ("用户洞察", 53.3, 3)}
    assert [(g.question_id, g.count) for g in week.gaps] == [("user_persona", 2), ("goal_kpi", 1)]
    assert week.gaps[0].missing == "缺 user_persona"

    assert (month.started, month.completed, month.groups_started) == (5, 4, 2)
    assert month.completion_rate == pytest.approx(4 / 5)
    assert [(g.question_id, g.count) for g in month.gaps] == [("goal_kpi", 2), ("user_persona", 2)]


async def test_stats_of_an_empty_database(db: Database) -> None:
    stats = await period_stats(db, days=7, now=NOW)
    assert stats.started == stats.completed == 0 and stats.completion_rate is None
    assert stats.dimensions == () and stats.gaps == ()
