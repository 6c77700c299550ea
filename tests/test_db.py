"""The bot database: a file made by an earlier version gains the columns added since, keeping its rows; the claims of
webhook deliveries (claimed, done, a dead instance's claim lapsing), on both engines."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.db import ADDED_COLUMNS, SeenUpdates, open_db


async def test_an_older_database_gains_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE group_sessions (id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, topic_id INTEGER,
            starter_id INTEGER NOT NULL, starter_name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
            question_index INTEGER NOT NULL DEFAULT 0, intro_message_id INTEGER, created_at TEXT NOT NULL,
            finished_at TEXT, report TEXT);
        CREATE TABLE group_participants (session_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
            name TEXT NOT NULL DEFAULT '', joined_at TEXT NOT NULL, PRIMARY KEY (session_id, user_id));
        CREATE TABLE group_questions (session_id INTEGER NOT NULL, idx INTEGER NOT NULL, question_id TEXT NOT NULL,
            message_id INTEGER, status TEXT NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT,
            PRIMARY KEY (session_id, idx));
        INSERT INTO group_sessions(chat_id, starter_id, status, created_at) VALUES (-1, 7, 'finished', 'then');
    """)
    old.commit()
    old.close()
    async with open_db(path) as conn:
        for table, columns in ADDED_COLUMNS.items():
            have = {row[1] for row in await conn.execute_fetchall(f"PRAGMA table_info({table})")}
            assert set(columns) <= have, table
        rows = list(await conn.execute_fetchall("SELECT starter_id, anonymous, time_box FROM group_sessions"))
        assert [tuple(r) for r in rows] == [(7, 0, 0)]
    async with open_db(path) as conn:  # opening again changes nothing
        assert len(list(await conn.execute_fetchall("PRAGMA table_info(group_sessions)"))) == 13


class Clock:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_delivery_claims_its_update_until_done_and_a_dead_instances_claim_lapses(database: Path | str) -> None:
    clock = Clock()
    lease = SeenUpdates.LEASE_SECONDS
    async with open_db(database) as one, open_db(database) as two:  # two instances on one database
        a, b = SeenUpdates(one, clock=clock), SeenUpdates(two, clock=clock)
        first = await a.claim(42)
        assert first.status == "claimed"
        busy = await b.claim(42)
        assert busy.status == "busy" and busy.retry_after == lease, "the other delivery is told to come back later"
        await a.done(first)
        assert [(await s.claim(42)).status for s in (a, b)] == ["done", "done"], "handled once, on either instance"

        dead = await a.claim(43)  # its instance dies while handling it: nothing marks it done or gives it up
        clock.now += lease - 1
        assert (await b.claim(43)).retry_after == 1
        clock.now += 2
        taken = await b.claim(43)
        assert taken.status == "claimed" and taken.owner != dead.owner, "the lapsed claim is taken over"
        await a.release(dead)
        assert (await a.claim(43)).status == "busy", "the dead delivery's claim, given up late, frees nothing"
        await b.done(taken)
        assert (await a.claim(43)).status == "done"

        interrupted = await a.claim(44)  # handling stopped in a live process (shutdown): given up at once
        await a.release(interrupted)
        assert (await b.claim(44)).status == "claimed"

        columns = {row[1] for row in await one.execute_fetchall("PRAGMA table_info(seen_updates)")} \
            if one.dialect == "sqlite" else {row[0] for row in await one.execute_fetchall(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'seen_updates'")}
        assert columns == {"update_id", "seen_at", "claimed_until", "claimed_by"}, "update ids only: nothing to forget"


async def test_an_update_an_older_version_handled_stays_handled(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE seen_updates (update_id INTEGER PRIMARY KEY, seen_at REAL NOT NULL);
        INSERT INTO seen_updates VALUES (7, 999999.0);
    """)
    old.commit()
    old.close()
    async with open_db(path) as conn:
        seen = SeenUpdates(conn, clock=Clock())
        assert (await seen.claim(7)).status == "done"
        assert (await seen.claim(8)).status == "claimed"
