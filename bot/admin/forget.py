"""/forget: deletes everything the bot keeps about one user.

That is: the private interview's checkpoints (answers, progress, reports) in checkpoints.sqlite; the user's usage
events (their contribution to /stats); their group votes and participation; and their refused admin attempts
in the audit log. Admin actions they took as an admin stay in the audit log (the accountability record).
Deleted rows are overwritten (SQLite `secure_delete`) and the write-ahead logs are checkpointed, so the text is
gone from the files too, not only from the tables.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.admin.audit import AuditLog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forgotten:
    """What /forget deleted."""

    events: int
    group_votes: int
    audit_rows: int


def private_thread(user_id: int) -> str:
    """The interview thread of a user's private chat (as the Telegram adapter names it)."""
    return f"chat:{user_id}"


class ForgetService:
    """Deletes a user's data from the checkpointer and the bot database."""

    def __init__(self, conn: aiosqlite.Connection, *, interview: Any, groups: Any, audit: AuditLog) -> None:
        self.conn = conn
        self.interview = interview
        self.groups = groups
        self.audit = audit

    async def forget(self, user_id: int) -> Forgotten:
        """Deletes the user's checkpoints, events, group votes and refused admin attempts."""
        checkpoints = getattr(self.interview.graph.checkpointer, "conn", None)
        if not isinstance(checkpoints, sqlite3.Connection):
            checkpoints = None
        # secure_delete zeroes the freed content; it is switched on only while deleting (it costs every write).
        cp_before = 0
        if checkpoints is not None:
            cp_before = checkpoints.execute("PRAGMA secure_delete").fetchone()[0]
            checkpoints.execute("PRAGMA secure_delete=ON")
        db_before = (await self.conn.execute_fetchall("PRAGMA secure_delete"))[0][0]  # type: ignore[index]
        await self.conn.execute("PRAGMA secure_delete=ON")
        try:
            await self.interview.forget(private_thread(user_id))
            cur = await self.conn.execute("DELETE FROM events WHERE user_id = ? OR chat_id = ?", (user_id, user_id))
            events = cur.rowcount
            await self.conn.commit()
            votes = await self.groups.forget_user(user_id)
            audit_rows = await self.audit.forget(user_id)
        finally:
            if checkpoints is not None:
                checkpoints.execute(f"PRAGMA secure_delete={int(cp_before)}")
                _checkpoint_wal(checkpoints)
            await self.conn.execute(f"PRAGMA secure_delete={int(db_before)}")
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        logger.info("forgot a user: %d events, %d group votes, %d audit rows", events, votes, audit_rows)
        return Forgotten(events=events, group_votes=votes, audit_rows=audit_rows)


def _checkpoint_wal(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:  # busy: the log is checkpointed later in any case; the rows are already deleted
        logger.warning("could not checkpoint the checkpointer's write-ahead log", exc_info=True)
