"""The bot's own database (SQLite under DATA_DIR): group sessions and votes, usage events, the admin audit log.

Interview progress lives in the LangGraph checkpointer (checkpoints.sqlite); everything else the bot keeps is
here, in one file with one schema, so `/forget` and the README can say exactly what is stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,                 -- UTC ISO time
    kind TEXT NOT NULL,               -- interview_started / interview_completed / group_started / group_completed
    user_id INTEGER,                  -- whose action it was (NULL for none)
    chat_id INTEGER,
    data TEXT NOT NULL DEFAULT '{}'   -- JSON: verdict, overall, dimension scores, gap question ids ...
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS events_user ON events(user_id);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    user_name TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,             -- kb / ingest / reingest / rollback / rubric / stats / audit ...
    detail TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '',
    ok INTEGER NOT NULL DEFAULT 1     -- 0 for refused or failed actions
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts);

CREATE TABLE IF NOT EXISTS group_sessions (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    topic_id INTEGER,                 -- message_thread_id of a forum topic
    starter_id INTEGER NOT NULL,
    starter_name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,             -- active / finished / cancelled
    question_index INTEGER NOT NULL DEFAULT 0,
    intro_message_id INTEGER,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    report TEXT                       -- report.json of the finished session
);
CREATE UNIQUE INDEX IF NOT EXISTS group_one_active ON group_sessions(chat_id) WHERE status = 'active';

CREATE TABLE IF NOT EXISTS group_participants (
    session_id INTEGER NOT NULL REFERENCES group_sessions(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    joined_at TEXT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);

CREATE TABLE IF NOT EXISTS group_questions (
    session_id INTEGER NOT NULL REFERENCES group_sessions(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    question_id TEXT NOT NULL,
    message_id INTEGER,
    status TEXT NOT NULL,             -- open / closed / skipped
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    PRIMARY KEY (session_id, idx)
);

CREATE TABLE IF NOT EXISTS group_votes (
    session_id INTEGER NOT NULL REFERENCES group_sessions(id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    level INTEGER NOT NULL,
    voted_at TEXT NOT NULL,
    PRIMARY KEY (session_id, question_id, user_id)   -- one vote per member and question: last choice wins
);
"""


def now_iso() -> str:
    """The current UTC time as stored in the database."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.asynccontextmanager
async def open_db(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """The database connection (WAL, foreign keys on, schema created), closed on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.executescript(SCHEMA)
        await conn.commit()
        yield conn
    finally:
        await conn.close()
