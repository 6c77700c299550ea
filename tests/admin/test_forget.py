"""/forget's service: nothing of the user is left in checkpoints.sqlite or bot.sqlite, nor in the files' bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.db import now_iso
from bot.services import open_services
from tests.conftest import finish_interview

SECRET = "我们的秘密答案 MARKER-7f3a"  # a free-text answer only user 1 ever typed


def raw(folder: Path) -> bytes:
    """The bytes of both databases, write-ahead logs included."""
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir())
                    if p.name.startswith(("checkpoints.sqlite", "bot.sqlite")))


def count(path: Path, sql: str, *args: object) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchone()[0]


async def test_forget_deletes_everything_of_the_user_and_nothing_else(settings) -> None:  # type: ignore[no-untyped-def]
    folder = settings.data_dir
    cp_path, db_path = settings.checkpoint_path, settings.db_path
    async with open_services(settings, first_start=False) as services:
        db, interview, audit, service = services.db, services.interview, services.audit, services.privacy
        await services.question_messages.set(1, 77)  # user 1's current question message
        await services.scheduler.schedule("remind", due_at=0.0, user_id=1, payload={"note": "MARKER-job"})

        for user in (1, 2):
            await finish_interview(interview, f"chat:{user}", SECRET if user == 1 else "还没有，完全没做")
        await interview.start(f"chat:{1}", fresh=True)  # a second, unfinished interview
        # A group session of user 2 in which user 1 voted.
        await db.execute("INSERT INTO group_sessions(id, chat_id, starter_id, starter_name, status, created_at) "
                         "VALUES (1, -100, 2, '二号', 'active', ?)", (now_iso(),))
        for user in (1, 2):
            await db.execute("INSERT INTO group_participants(session_id, user_id, name, joined_at) VALUES (1, ?, ?, ?)", (user, f"成员{user}", now_iso()))
            await db.execute("INSERT INTO group_votes VALUES (1, 'goal_purpose', ?, 1, ?)", (user, now_iso()))
        await db.commit()
        await audit.refused(user_id=1, user_name="一号 MARKER-name", action="kb")
        await audit.record(user_id=3, user_name="管理员", action="reingest", result="v1 -> v2")
        assert count(cp_path, "SELECT count(*) FROM checkpoints WHERE thread_id = 'chat:1'") > 0
        assert b"MARKER-7f3a" in raw(folder) and b"MARKER-name" in raw(folder) and b"MARKER-job" in raw(folder)

        forgotten = await service.forget(1)

        assert forgotten.events == 3 and forgotten.group_votes == 1 and forgotten.audit_rows == 1
        assert await interview.last_report("chat:1") is None and await interview.current("chat:1") is None
        assert await interview.last_report("chat:2") is not None  # other users keep everything
    assert count(cp_path, "SELECT count(*) FROM checkpoints WHERE thread_id = 'chat:1'") == 0
    assert count(cp_path, "SELECT count(*) FROM writes WHERE thread_id = 'chat:1'") == 0
    assert count(cp_path, "SELECT count(*) FROM checkpoints WHERE thread_id = 'chat:2'") > 0
    assert count(db_path, "SELECT count(*) FROM events WHERE user_id = 1 OR chat_id = 1") == 0
    assert count(db_path, "SELECT count(*) FROM events WHERE user_id = 2") == 2
    assert count(db_path, "SELECT count(*) FROM audit WHERE user_id = 1") == 0
    assert count(db_path, "SELECT count(*) FROM audit WHERE user_id = 3") == 1
    assert count(db_path, "SELECT count(*) FROM group_votes WHERE user_id = 1") == 0
    assert count(db_path, "SELECT count(*) FROM group_participants WHERE user_id = 1") == 0
    assert count(db_path, "SELECT count(*) FROM group_votes WHERE user_id = 2") == 1
    assert count(db_path, "SELECT count(*) FROM chat_messages WHERE chat_id = 1") == 0
    assert count(db_path, "SELECT count(*) FROM scheduled_jobs WHERE user_id = 1") == 0
    # Not only the rows: the deleted text is gone from the files (secure_delete, write-ahead logs checkpointed).
    assert b"MARKER-7f3a" not in raw(folder) and SECRET.encode() not in raw(folder)
    assert b"MARKER-name" not in raw(folder) and b"MARKER-job" not in raw(folder)
