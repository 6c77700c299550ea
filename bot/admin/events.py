"""Usage events (interviews started/completed, group sessions) in the bot database; /stats reads them."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import aiosqlite

from bot.db import now_iso

logger = logging.getLogger(__name__)

INTERVIEW_STARTED = "interview_started"
INTERVIEW_COMPLETED = "interview_completed"
GROUP_STARTED = "group_started"
GROUP_COMPLETED = "group_completed"


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
    """Appends usage events; a failure to record never breaks the user's flow."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def record(self, kind: str, *, user_id: int | None, chat_id: int | None,
                     data: Mapping[str, Any] | None = None) -> None:
        """Stores one event."""
        try:
            await self.conn.execute(
                "INSERT INTO events(ts, kind, user_id, chat_id, data) VALUES (?, ?, ?, ?, ?)",
                (now_iso(), kind, user_id, chat_id, json.dumps(dict(data or {}), ensure_ascii=False)),
            )
            await self.conn.commit()
        except Exception:  # noqa: BLE001 - statistics are secondary to the interview itself
            logger.exception("could not record event %s", kind)
