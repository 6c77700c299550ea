"""The interview's checkpointer: LangGraph's SQLite saver, called inline from the event loop.

`AsyncSqliteSaver` sends every statement through aiosqlite's worker thread; with a hundred users answering at
once those hops queue up (p50 11 ms, p99 79 ms per answer in bench/interview_bench.py). A WAL-mode SQLite write
with synchronous=NORMAL takes tens of microseconds, so running the synchronous `SqliteSaver` inline is both
simpler and faster (p50 ~2 ms). The file, its schema and its durability are LangGraph's own.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver

logger = logging.getLogger(__name__)


class InlineSqliteSaver(SqliteSaver):
    """`SqliteSaver` whose async API runs the same synchronous code inline (no thread hop)."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Reads the latest (or the given) checkpoint of a thread."""
        return self.get_tuple(config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,  # noqa: A002
                    before: RunnableConfig | None = None, limit: int | None = None,
                    ) -> AsyncIterator[CheckpointTuple]:
        """Lists checkpoints, newest first."""
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        """Saves a checkpoint."""
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        """Saves pending writes of a task."""
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Deletes every checkpoint of a thread."""
        self.delete_thread(thread_id)


def connect(path: Path) -> sqlite3.Connection:
    """A WAL-mode SQLite connection with synchronous=NORMAL (safe against a crashed process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def open_saver(path: Path) -> Iterator[InlineSqliteSaver]:
    """An InlineSqliteSaver on `path`, closed when the generator is closed."""
    conn = connect(path)
    try:
        saver = InlineSqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def secure_delete(checkpointer: Any) -> AsyncIterator[None]:
    """While inside, deletions overwrite the freed pages; on exit the write-ahead log is checkpointed, so deleted
    text leaves the file and not only the tables. LangGraph's Postgres saver VACUUMs its tables on exit instead
    (see bot.postgres); another checkpointer is left as it is."""
    conn = getattr(checkpointer, "conn", None)
    if not isinstance(conn, sqlite3.Connection):
        from bot.postgres import is_postgres_saver, scrub_saver  # imported late: psycopg only when it is in use

        if is_postgres_saver(checkpointer):
            async with scrub_saver(checkpointer):
                yield
            return
        yield
        return
    # secure_delete zeroes the freed content; it is switched on only while deleting (it costs every write).
    before = conn.execute("PRAGMA secure_delete").fetchone()[0]
    conn.execute("PRAGMA secure_delete=ON")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA secure_delete={int(before)}")
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:  # busy: the log is checkpointed later in any case; the rows are already deleted
            logger.warning("could not checkpoint the checkpointer's write-ahead log", exc_info=True)
