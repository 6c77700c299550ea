"""/forget: deletes everything the bot keeps about one user.

That is: the private interview's checkpoints (answers, progress, reports) in checkpoints.sqlite; the user's usage
events (their contribution to /stats); their group votes and participation; and their refused admin attempts
in the audit log. Admin actions they took as an admin stay in the audit log (the accountability record).
Deleted rows are overwritten (SQLite `secure_delete`) and the write-ahead logs are checkpointed, so the text is
gone from the files too, not only from the tables.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

from bot.db import Database, secure_delete
from bot.ports import Forgetter

logger = logging.getLogger(__name__)


class Forgotten(NamedTuple):
    """What /forget deleted."""

    events: int
    group_votes: int
    audit_rows: int


class ForgetService:
    """Asks every service that keeps data about users to delete one user's; the bot database's freed pages are
    overwritten (the checkpointer's owner, the interview service, does the same for its file)."""

    def __init__(self, conn: Database, *, interview: Forgetter, events: Forgetter, groups: Forgetter,
                 audit: Forgetter, others: Sequence[Forgetter] = ()) -> None:
        self.conn = conn
        self.interview = interview
        self.events = events
        self.groups = groups
        self.audit = audit
        self.others = tuple(others)

    async def forget(self, user_id: int) -> Forgotten:
        """Deletes the user's checkpoints, events, group votes, refused admin attempts and pending jobs."""
        await self.interview.forget(user_id)
        async with secure_delete(self.conn):
            events = await self.events.forget(user_id)
            votes = await self.groups.forget(user_id)
            audit_rows = await self.audit.forget(user_id)
            for other in self.others:
                await other.forget(user_id)
        logger.info("forgot a user: %d events, %d group votes, %d audit rows", events, votes, audit_rows)
        return Forgotten(events=events, group_votes=votes, audit_rows=audit_rows)
