"""The bot database: a file made by an earlier version gains the columns added since, keeping its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.db import ADDED_COLUMNS, open_db


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
