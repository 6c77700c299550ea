"""The bot's own database (SQLite under DATA_DIR): group sessions and votes, usage events, the admin audit log,
each private chat's current question message, the scheduler's due jobs, and every finished private diagnosis.

Interview progress lives in the LangGraph checkpointer (checkpoints.sqlite); everything else the bot keeps is
here, in one file with one schema, so `/forget` and the README can say exactly what is stored.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
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
    report TEXT,                      -- report.json of the finished session
    anonymous INTEGER NOT NULL DEFAULT 0,  -- 匿名: no member's name in any group message or the team report
    time_box INTEGER NOT NULL DEFAULT 0    -- seconds each question stays open at most (0: no limit)
);
CREATE UNIQUE INDEX IF NOT EXISTS group_one_active ON group_sessions(chat_id) WHERE status = 'active';

CREATE TABLE IF NOT EXISTS group_participants (
    session_id INTEGER NOT NULL REFERENCES group_sessions(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    joined_at TEXT NOT NULL,
    alias TEXT NOT NULL DEFAULT '',   -- m1, m2 … in joining order: the member's pseudonym in an anonymous session
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
    round INTEGER NOT NULL DEFAULT 1, -- 2 after 🔁 重新投票 (the first round is kept in group_rounds)
    last_joined REAL,                 -- Unix time of the latest member's first vote on it (the grace period)
    deadline REAL,                    -- Unix time its time box ends (NULL: no time box)
    reminded INTEGER NOT NULL DEFAULT 0,  -- 🔔 提醒未投票 was sent (once per question)
    PRIMARY KEY (session_id, idx)
);

CREATE TABLE IF NOT EXISTS group_rounds (
    session_id INTEGER NOT NULL REFERENCES group_sessions(id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    round INTEGER NOT NULL,           -- an earlier round of a question that was voted again after discussion
    votes TEXT NOT NULL,              -- JSON {user id: level}
    PRIMARY KEY (session_id, question_id, round)
);

CREATE TABLE IF NOT EXISTS group_plan (
    session_id INTEGER NOT NULL REFERENCES group_sessions(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,             -- position of the item in the team report's plan
    owner_user_id INTEGER,            -- who took it (认领) or was assigned it; NULL: open
    status TEXT NOT NULL,             -- open / claimed / done
    updated_at TEXT NOT NULL,
    PRIMARY KEY (session_id, idx)
);

CREATE TABLE IF NOT EXISTS chat_messages (
    chat_id INTEGER PRIMARY KEY,      -- a private chat (= the user's id)
    message_id INTEGER NOT NULL,      -- the bot message that shows the current question and its buttons
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS scheduled_jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,               -- what to run (a handler registered with the scheduler)
    key TEXT UNIQUE,                  -- optional: one pending job per key (rescheduling replaces it)
    user_id INTEGER,                  -- whose job it is (deleted by /forget)
    due_at REAL NOT NULL,             -- Unix time
    payload TEXT NOT NULL DEFAULT '{}',
    claimed_by TEXT,                  -- the instance running it, until claimed_until
    claimed_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS scheduled_due ON scheduled_jobs(due_at) WHERE done_at IS NULL;

CREATE TABLE IF NOT EXISTS diagnoses (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,         -- whose private diagnosis it is
    created_at TEXT NOT NULL,         -- the report's created_at (UTC ISO)
    verdict TEXT NOT NULL,
    overall REAL NOT NULL,
    dimensions TEXT NOT NULL,         -- JSON {dimension id: score}: what the benchmark aggregates
    kb_version TEXT NOT NULL DEFAULT '',
    report TEXT NOT NULL,             -- report.json as shown to the user (with its comparison and benchmark)
    digest TEXT NOT NULL,             -- sha256 of the report as built: archiving the same report twice stores it once
    UNIQUE (user_id, digest)
);
CREATE INDEX IF NOT EXISTS diagnoses_user ON diagnoses(user_id, id);

CREATE TABLE IF NOT EXISTS benchmark_optout (
    user_id INTEGER PRIMARY KEY,      -- users whose scores stay out of the benchmark (/benchmark off)
    since TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS seen_updates (
    update_id INTEGER PRIMARY KEY,    -- webhook deliveries already handled (Telegram retries a delivery it doubts)
    seen_at REAL NOT NULL             -- Unix time; rows older than a day are pruned
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


# Columns added after a table first shipped: `CREATE TABLE IF NOT EXISTS` leaves an existing table as it was, so a
# database made by an earlier version gets them here (SQLite's ALTER TABLE ADD COLUMN keeps the rows).
ADDED_COLUMNS = {
    "group_sessions": {"anonymous": "INTEGER NOT NULL DEFAULT 0", "time_box": "INTEGER NOT NULL DEFAULT 0"},
    "group_participants": {"alias": "TEXT NOT NULL DEFAULT ''"},
    "group_questions": {"round": "INTEGER NOT NULL DEFAULT 1", "last_joined": "REAL", "deadline": "REAL",
                        "reminded": "INTEGER NOT NULL DEFAULT 0"},
}


async def migrate(conn: aiosqlite.Connection) -> None:
    """Adds the columns of `ADDED_COLUMNS` that an existing database lacks."""
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in await conn.execute_fetchall(f"PRAGMA table_info({table})")}
        for name, decl in columns.items():
            if name not in have:
                await conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def now_iso() -> str:
    """The current UTC time as stored in the database."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.asynccontextmanager
async def secure_delete(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """While inside, deletions overwrite the freed pages; on exit the write-ahead log is checkpointed."""
    before = (await conn.execute_fetchall("PRAGMA secure_delete"))[0][0]  # type: ignore[index]
    await conn.execute("PRAGMA secure_delete=ON")
    try:
        yield
    finally:
        await conn.execute(f"PRAGMA secure_delete={int(before)}")
        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


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
        await migrate(conn)
        await conn.commit()
        yield conn
    finally:
        await conn.close()


class SeenUpdates:
    """Which webhook updates were handled already, so a delivery Telegram retries is handled once (by whichever
    instance shares this database)."""

    KEEP_SECONDS = 86400.0  # Telegram keeps an undelivered update for 24 hours
    PRUNE_EVERY = 500

    def __init__(self, conn: aiosqlite.Connection, *, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.clock = clock
        self._since_prune = 0

    async def first_time(self, update_id: int) -> bool:
        """Records the update; False when it had been recorded before (a repeated delivery)."""
        cur = await self.conn.execute("INSERT OR IGNORE INTO seen_updates(update_id, seen_at) VALUES (?, ?)",
                                      (update_id, self.clock()))
        self._since_prune += 1
        if self._since_prune >= self.PRUNE_EVERY:
            self._since_prune = 0
            await self.conn.execute("DELETE FROM seen_updates WHERE seen_at < ?", (self.clock() - self.KEEP_SECONDS,))
        await self.conn.commit()
        return cur.rowcount == 1


class QuestionMessages:
    """Which bot message shows each private chat's current question (so its buttons can be taken off later, after a
    restart too, and by any instance)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def get(self, chat_id: int) -> int | None:
        """The message id, or None."""
        rows = list(await self.conn.execute_fetchall("SELECT message_id FROM chat_messages WHERE chat_id = ?",
                                                     (chat_id,)))
        return int(rows[0][0]) if rows else None

    async def set(self, chat_id: int, message_id: int) -> None:
        """Remembers the chat's current question message."""
        await self.conn.execute(
            "INSERT INTO chat_messages(chat_id, message_id, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(chat_id) DO UPDATE SET message_id = excluded.message_id, updated_at = excluded.updated_at",
            (chat_id, message_id, now_iso()))
        await self.conn.commit()

    async def pop(self, chat_id: int) -> int | None:
        """Forgets and returns the chat's current question message."""
        rows = list(await self.conn.execute_fetchall(
            "DELETE FROM chat_messages WHERE chat_id = ? RETURNING message_id", (chat_id,)))
        await self.conn.commit()
        return int(rows[0][0]) if rows else None

    async def forget(self, user_id: int) -> int:
        """Deletes the user's row (their private chat has their id)."""
        return 0 if await self.pop(user_id) is None else 1
