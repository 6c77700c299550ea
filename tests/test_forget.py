"""/forget's service: nothing of the user is left in checkpoints.sqlite or bot.sqlite, nor in the files' bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.admin.audit import AuditLog
from bot.admin.events import EventLog
from bot.admin.forget import ForgetService
from bot.db import now_iso, open_db
from bot.group.service import GroupService
from bot.interview.graph import build_graph
from bot.interview.service import Finished, InterviewService, QuestionStep
from bot.wiring import interview_event_hook, open_checkpointer

SECRET = "我们的秘密答案 MARKER-7f3a"  # a free-text answer only user 1 ever typed


def raw(folder: Path) -> bytes:
    """The bytes of both databases, write-ahead logs included."""
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir())
                    if p.name.startswith(("checkpoints.sqlite", "bot.sqlite")))


def count(path: Path, sql: str, *args: object) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchone()[0]


async def test_forget_deletes_everything_of_the_user_and_nothing_else(tmp_path: Path, rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    cp_path, db_path = tmp_path / "checkpoints.sqlite", tmp_path / "bot.sqlite"
    async with open_checkpointer(cp_path) as saver, open_db(db_path) as db:
        events, audit = EventLog(db), AuditLog(db)
        graph = build_graph(rubric=rubric, checkpointer=saver, citer=knowledge)
        interview = InterviewService(graph=graph, rubric=rubric, on_event=interview_event_hook(events))
        groups = GroupService(db, rubric=rubric, citer=knowledge, events=events)
        service = ForgetService(db, interview=interview, groups=groups, audit=audit)

        for user in (1, 2):
            step = await interview.start(f"chat:{user}")
            step = await interview.answer_text(f"chat:{user}", SECRET if user == 1 else "还没有，完全没做")
            while isinstance(step, QuestionStep):
                step = await interview.skip(f"chat:{user}")
            assert isinstance(step, Finished)
        await interview.start(f"chat:{1}", fresh=True)  # a second, unfinished interview
        # A group session of user 2 in which user 1 voted.
        await db.execute("INSERT INTO group_sessions(id, chat_id, starter_id, starter_name, status, created_at) "
                         "VALUES (1, -100, 2, '二号', 'active', ?)", (now_iso(),))
        for user in (1, 2):
            await db.execute("INSERT INTO group_participants VALUES (1, ?, ?, ?)", (user, f"成员{user}", now_iso()))
            await db.execute("INSERT INTO group_votes VALUES (1, 'goal_purpose', ?, 1, ?)", (user, now_iso()))
        await db.commit()
        await audit.refused(user_id=1, user_name="一号 MARKER-name", action="kb")
        await audit.record(user_id=3, user_name="管理员", action="reingest", result="v1 -> v2")
        assert count(cp_path, "SELECT count(*) FROM checkpoints WHERE thread_id = 'chat:1'") > 0
        assert b"MARKER-7f3a" in raw(tmp_path) and b"MARKER-name" in raw(tmp_path)  # the check below can fail

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
    # Not only the rows: the deleted text is gone from the files (secure_delete, write-ahead logs checkpointed).
    assert b"MARKER-7f3a" not in raw(tmp_path) and SECRET.encode() not in raw(tmp_path)
    assert b"MARKER-name" not in raw(tmp_path)
