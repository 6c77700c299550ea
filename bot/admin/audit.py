"""The audit log of admin actions (table `audit` in the bot database): who did what, when, and the result."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.db import Database, now_iso

logger = logging.getLogger(__name__)

# The result of an admin command tried by someone who is not an admin. /forget deletes these rows (they are about
# the user, not an admin action); rows of actions taken as an admin are kept as the accountability record.
NOT_ADMIN = "refused: not an admin"
MAX_FIELD = 500  # characters kept of detail and result


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    ts: str
    user_id: int
    user_name: str
    action: str
    detail: str
    result: str
    ok: bool


class AuditLog:
    """Appends and lists admin actions."""

    def __init__(self, conn: Database) -> None:
        self.conn = conn

    async def record(self, *, user_id: int, user_name: str, action: str, detail: str = "", result: str = "",
                     ok: bool = True) -> None:
        """Stores one action; a failure to write is logged, never raised into the admin's reply."""
        try:
            await self.conn.execute(
                "INSERT INTO audit(ts, user_id, user_name, action, detail, result, ok) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), user_id, user_name[:100], action, detail[:MAX_FIELD], result[:MAX_FIELD], int(ok)),
            )
            await self.conn.commit()
        except Exception:  # noqa: BLE001 - the action itself already happened; losing the row must not hide it
            logger.exception("could not write audit row for %s by %s", action, user_id)

    async def refused(self, *, user_id: int, user_name: str, action: str, detail: str = "") -> None:
        """Records an admin command tried by a non-admin."""
        await self.record(user_id=user_id, user_name=user_name, action=action, detail=detail, result=NOT_ADMIN,
                          ok=False)

    async def last(self, n: int = 20) -> list[AuditEntry]:
        """The latest `n` rows, newest first."""
        rows = await self.conn.execute_fetchall(
            "SELECT ts, user_id, user_name, action, detail, result, ok FROM audit ORDER BY id DESC LIMIT ?", (n,))
        return [AuditEntry(r["ts"], r["user_id"], r["user_name"], r["action"], r["detail"], r["result"], bool(r["ok"]))
                for r in rows]

    async def forget(self, user_id: int) -> int:
        """Deletes the user's refused attempts (not their admin actions); returns the number of rows deleted."""
        cur = await self.conn.execute("DELETE FROM audit WHERE user_id = ? AND result = ?", (user_id, NOT_ADMIN))
        await self.conn.commit()
        return cur.rowcount
