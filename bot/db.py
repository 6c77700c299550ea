"""The bot's own database (SQLite under DATA_DIR, or PostgreSQL with DATABASE_URL): group sessions and votes, usage events, the admin audit log,
each private chat's current question message, the scheduler's due jobs, every finished private diagnosis, and
guidance uploads waiting for their confirm button (so any instance can confirm them).

Interview progress lives in the LangGraph checkpointer (checkpoints.sqlite); everything else the bot keeps is
here, in one file with one schema, so `/forget` and the README can say exactly what is stored.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from bot.coordination import Claim

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
    update_id INTEGER PRIMARY KEY,    -- webhook updates claimed or handled (Telegram delivers again one it doubts)
    seen_at REAL NOT NULL,            -- Unix time of the claim or of the handling; rows older than a day are pruned
    claimed_until REAL,               -- a delivery handles it until then (later: its instance died); NULL: handled
    claimed_by TEXT                   -- that delivery's random token: only it gives its claim up
);

CREATE TABLE IF NOT EXISTS pending_uploads (
    token TEXT PRIMARY KEY,           -- in the confirm button of a previewed guidance upload
    owner INTEGER NOT NULL,           -- the admin who sent it (only they can confirm it)
    filename TEXT NOT NULL,
    data BLOB NOT NULL,               -- the validated file, until confirmed, discarded or expired (an hour)
    since REAL NOT NULL               -- Unix time of the preview
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
# database made by an earlier version gets them here (ALTER TABLE ADD COLUMN keeps the rows, on both engines).
ADDED_COLUMNS = {
    "group_sessions": {"anonymous": "INTEGER NOT NULL DEFAULT 0", "time_box": "INTEGER NOT NULL DEFAULT 0"},
    "group_participants": {"alias": "TEXT NOT NULL DEFAULT ''"},
    "group_questions": {"round": "INTEGER NOT NULL DEFAULT 1", "last_joined": "REAL", "deadline": "REAL",
                        "reminded": "INTEGER NOT NULL DEFAULT 0"},
    "seen_updates": {"claimed_until": "REAL", "claimed_by": "TEXT"},  # the rows kept so far are handled ones (NULL)
}

TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))


class IntegrityError(Exception):
    """A constraint refused a write (the same exception on both engines)."""


class Cursor(Protocol):
    """What a write tells: how many rows it changed."""

    @property
    def rowcount(self) -> int: ...


class Database(Protocol):
    """The bot database: SQLite under DATA_DIR (embedded) or PostgreSQL (DATABASE_URL), one schema, one SQL.

    Statements use `?` placeholders and SQL both engines speak (`ON CONFLICT … DO …`, `RETURNING`); rows are read by
    index or column name. Callers `commit()` after writes (PostgreSQL runs in autocommit: each statement is its own
    transaction, as the single shared SQLite connection in practice was too).
    """

    dialect: str  # "sqlite" or "postgresql"

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Runs one statement."""
        ...

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Runs one statement and returns its rows."""
        ...

    async def commit(self) -> None:
        """Makes the writes so far durable."""
        ...

    async def rollback(self) -> None:
        """Drops uncommitted writes."""
        ...

    def scrubbing(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Deletions inside leave no readable copy behind, as far as the engine allows (see `secure_delete`)."""
        ...


class SqliteDatabase:
    """The embedded engine: one aiosqlite connection (WAL, foreign keys on)."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._scrub_depth = 0

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Runs one statement."""
        try:
            return await self.conn.execute(sql, params)
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Runs one statement and returns its rows."""
        try:
            return list(await self.conn.execute_fetchall(sql, params))
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e

    async def commit(self) -> None:
        """Commits the open transaction."""
        await self.conn.commit()

    async def rollback(self) -> None:
        """Rolls the open transaction back."""
        await self.conn.rollback()

    @contextlib.asynccontextmanager
    async def scrubbing(self) -> AsyncIterator[None]:
        """While inside, deletions overwrite the freed pages (`secure_delete`); on exit the write-ahead log is
        checkpointed, so deleted text leaves the file and not only the tables."""
        self._scrub_depth += 1
        if self._scrub_depth > 1:
            try:
                yield
            finally:
                self._scrub_depth -= 1
            return
        before = (await self.conn.execute_fetchall("PRAGMA secure_delete"))[0][0]  # type: ignore[index]
        await self.conn.execute("PRAGMA secure_delete=ON")
        try:
            yield
        finally:
            self._scrub_depth -= 1
            await self.conn.execute(f"PRAGMA secure_delete={int(before)}")
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def migrate(self) -> None:
        """Creates the schema and adds the columns of `ADDED_COLUMNS` that an existing database lacks."""
        await self.conn.executescript(SCHEMA)
        for table, columns in ADDED_COLUMNS.items():
            have = {row[1] for row in await self.conn.execute_fetchall(f"PRAGMA table_info({table})")}
            for name, decl in columns.items():
                if name not in have:
                    await self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        await self.conn.commit()


def now_iso() -> str:
    """The current UTC time as stored in the database."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def secure_delete(db: Database) -> contextlib.AbstractAsyncContextManager[None]:
    """Deletions inside leave no readable copy: SQLite overwrites the freed pages and checkpoints its log;
    PostgreSQL VACUUMs the bot's tables on exit, so no query, index or snapshot can reach the dead rows (their bytes
    may stay in free page space, old WAL segments and backups until overwritten — see the README)."""
    return db.scrubbing()


def is_postgres_url(target: Path | str) -> bool:
    """Whether a database target names a PostgreSQL server (DATABASE_URL) rather than an SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


@contextlib.asynccontextmanager
async def open_db(target: Path | str) -> AsyncIterator[Database]:
    """The bot database, schema created and migrated, closed on exit: an SQLite file (WAL, foreign keys on), or
    PostgreSQL when `target` is a postgresql:// URL."""
    if is_postgres_url(target):
        from bot.postgres import open_postgres  # imported late: psycopg only in the scale-out mode

        async with open_postgres(str(target)) as pg:
            yield pg
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        db = SqliteDatabase(conn)
        await db.migrate()
        yield db
    finally:
        await conn.close()


class SeenUpdates:
    """The claims of webhook deliveries, so that each update is handled once by whichever instance shares this
    database, and one whose instance died while handling it is handled when Telegram delivers it again.

    A delivery claims its update id for `lease` seconds before handling it, and marks it done once handled (a
    handler error included). Another delivery of a done update is dropped; one of an update claimed by a delivery
    still within its lease is told to come back later; a claim whose lease ran out (its instance died: nothing marked
    it done or gave it up) is taken over. Only update ids are kept, a day (how long Telegram keeps an update).
    """

    KEEP_SECONDS = 86400.0  # Telegram keeps an undelivered update for 24 hours
    # Longer than a live delivery can take to be answered (aiogram answers after 55 s at the latest, Telegram waits
    # about 60 s), so only a dead instance's claim lapses.
    LEASE_SECONDS = 60.0
    PRUNE_EVERY = 500

    def __init__(self, conn: Database, *, clock: Callable[[], float] = time.time,
                 lease: float = LEASE_SECONDS) -> None:
        self.conn = conn
        self.clock = clock
        self.lease = lease
        self._since_prune = 0

    async def claim(self, update_id: int) -> Claim:
        """Claims the update for this delivery (`claimed`), or tells it was handled (`done`) or is being handled
        (`busy`, with the seconds left of that claim's lease) by another delivery."""
        now, owner = self.clock(), secrets.token_hex(8)
        cur = await self.conn.execute(
            "INSERT INTO seen_updates(update_id, seen_at, claimed_until, claimed_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(update_id) DO UPDATE SET seen_at = excluded.seen_at, claimed_until = excluded.claimed_until, "
            "claimed_by = excluded.claimed_by WHERE seen_updates.claimed_until < ?",
            (update_id, now, now + self.lease, owner, now))
        claimed = cur.rowcount == 1
        held = [] if claimed else list(await self.conn.execute_fetchall(
            "SELECT claimed_until FROM seen_updates WHERE update_id = ?", (update_id,)))
        self._since_prune += 1
        if self._since_prune >= self.PRUNE_EVERY:
            self._since_prune = 0
            await self.conn.execute("DELETE FROM seen_updates WHERE seen_at < ?", (now - self.KEEP_SECONDS,))
        await self.conn.commit()
        key = str(update_id)
        if claimed:
            return Claim(key, "claimed", owner=owner)
        if held and held[0][0] is None:
            return Claim(key, "done")
        until = float(held[0][0]) if held else now + 1.0  # gone meanwhile (pruned): ask again in a second
        return Claim(key, "busy", retry_after=max(until - now, 0.0))

    async def done(self, claim: Claim) -> None:
        """Marks the update handled: later deliveries of it are dropped."""
        await self.conn.execute(
            "INSERT INTO seen_updates(update_id, seen_at) VALUES (?, ?) ON CONFLICT(update_id) DO UPDATE SET "
            "seen_at = excluded.seen_at, claimed_until = NULL, claimed_by = NULL", (int(claim.key), self.clock()))
        await self.conn.commit()

    async def release(self, claim: Claim) -> None:
        """Gives the claim up (its handling was interrupted in a live process): the next delivery handles the update
        at once. A claim taken over or marked done since is left alone."""
        await self.conn.execute("DELETE FROM seen_updates WHERE update_id = ? AND claimed_by = ?",
                                (int(claim.key), claim.owner))
        await self.conn.commit()


class QuestionMessages:
    """Which bot message shows each private chat's current question (so its buttons can be taken off later, after a
    restart too, and by any instance)."""

    def __init__(self, conn: Database) -> None:
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
