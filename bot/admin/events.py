"""Usage events (interviews started/completed, group sessions) in the bot database; /stats reads them."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.db import Database, now_iso
from bot.ports import (
    EventKind,
    GroupCompleted,
    GroupStarted,
    InterviewCompleted,
    InterviewStarted,
    UsageEvent,
)

logger = logging.getLogger(__name__)

INTERVIEW_STARTED = EventKind.INTERVIEW_STARTED
INTERVIEW_COMPLETED = EventKind.INTERVIEW_COMPLETED
GROUP_STARTED = EventKind.GROUP_STARTED
GROUP_COMPLETED = EventKind.GROUP_COMPLETED


def report_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """What /stats needs of a report.json: verdict, overall, dimension scores, gap question ids, kb version."""
    return {
        "verdict": report.get("verdict"),
        "overall": report.get("overall"),
        "dimensions": {d["id"]: d["score"] for d in report.get("dimensions", [])},
        "dimension_titles": {d["id"]: d["title"] for d in report.get("dimensions", [])},
        "gaps": [{"question_id": g["question_id"], "section": g["section"], "missing": g["missing"]}
                 for g in report.get("gaps", []) if not g.get("unknown")],
        "kb_version": report.get("kb_version"),
    }


class EventLog:
    """Stores the usage events the interview and group rooms emit (an `EventSink`); a failure to record never
    breaks the user's flow."""

    def __init__(self, conn: Database) -> None:
        self.conn = conn

    async def emit(self, event: UsageEvent) -> None:
        """Stores an event the interview or group room emitted (a report is stored as its summary)."""
        match event:
            case InterviewStarted(user_id=user):
                await self.record(event.kind, user_id=user, chat_id=user)
            case InterviewCompleted(user_id=user, report=report):
                await self.record(event.kind, user_id=user, chat_id=user, data=report_summary(report))
            case GroupStarted(starter_id=starter, chat_id=chat):
                await self.record(event.kind, user_id=starter, chat_id=chat)
            case GroupCompleted(starter_id=starter, chat_id=chat, report=report):
                await self.record(event.kind, user_id=starter, chat_id=chat, data={
                    **report_summary(report), "participants": len(report.get("participants", []))})

    async def record(self, kind: EventKind, *, user_id: int | None, chat_id: int | None,
                     data: Mapping[str, Any] | None = None) -> None:
        """Stores one event row."""
        try:
            await self.conn.execute(
                "INSERT INTO events(ts, kind, user_id, chat_id, data) VALUES (?, ?, ?, ?, ?)",
                (now_iso(), kind, user_id, chat_id, json.dumps(dict(data or {}), ensure_ascii=False)),
            )
            await self.conn.commit()
        except Exception:  # noqa: BLE001 - statistics are secondary to the interview itself
            logger.exception("could not record event %s", kind)

    async def forget(self, user_id: int) -> int:
        """Deletes the user's events (their contribution to /stats); returns how many."""
        cur = await self.conn.execute("DELETE FROM events WHERE user_id = ? OR chat_id = ?", (user_id, user_id))
        await self.conn.commit()
        return cur.rowcount
