"""The interview's checkpointer: LangGraph's SQLite saver, called inline from the event loop.

`AsyncSqliteSaver` sends every statement through aiosqlite's worker thread; with a hundred users answering at
once those hops queue up (p50 11 ms, p99 79 ms per answer in bench/interview_bench.py). A WAL-mode SQLite write
with synchronous=NORMAL takes tens of microseconds, so running the synchronous `SqliteSaver` inline is both
simpler and faster (p50 ~2 ms). The file, its schema and its durability are LangGraph's own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver


class InlineSqliteSaver(SqliteSaver):
    """`SqliteSaver` whose async API runs the same synchronous code inline (no thread hop)."""

    async def aget_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:  # type: ignore[override]
        """Reads the latest (or the given) checkpoint of a thread."""
        return self.get_tuple(config)  # type: ignore[arg-type]

    async def alist(self, config: dict[str, Any] | None, *, filter: dict[str, Any] | None = None,  # noqa: A002
                    before: dict[str, Any] | None = None, limit: int | None = None,
                    ) -> AsyncIterator[CheckpointTuple]:  # type: ignore[override]
        """Lists checkpoints, newest first."""
        for item in self.list(config, filter=filter, before=before, limit=limit):  # type: ignore[arg-type]
            yield item

    async def aput(self, config: dict[str, Any], checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> dict[str, Any]:  # type: ignore[override]
        """Saves a checkpoint."""
        return self.put(config, checkpoint, metadata, new_versions)  # type: ignore[arg-type,return-value]

    async def aput_writes(self, config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:  # type: ignore[override]
        """Saves pending writes of a task."""
        self.put_writes(config, writes, task_id, task_path)  # type: ignore[arg-type]

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
