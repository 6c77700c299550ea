"""Every finished private diagnosis, kept per user in the bot database: `/history`, the comparison with the last
one, the benchmark over everyone's latest scores, and the opt-out from it.

`archive` is the `ReportArchive` the interview calls when a report is built: it adds the comparison with the
user's previous diagnosis and the benchmark, stores the result and returns it — once per report (idempotent on
a digest of the report as built, so a retried completion stores nothing twice).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.db import Database, now_iso, secure_delete
from bot.report.benchmark import OPTED_OUT, benchmark
from bot.report.compare import with_previous
from bot.report.model import Benchmark, Report

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of /history."""

    id: int
    created_at: str
    verdict: str
    overall: float
    kb_version: str


class DiagnosisHistory:
    """The `diagnoses` table: one row per finished private diagnosis (a `ReportArchive` and a `Forgetter`)."""

    def __init__(self, conn: Database, *, benchmark_min_users: int = 20) -> None:
        self.conn = conn
        self.benchmark_min_users = benchmark_min_users

    async def archive(self, user_id: int, report: Mapping[str, Any]) -> dict[str, Any]:
        """Stores a new diagnosis with its comparison and benchmark and returns that report.json (the stored one
        when this report was archived before)."""
        digest = hashlib.sha256(json.dumps(report, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        rows = list(await self.conn.execute_fetchall(
            "SELECT report FROM diagnoses WHERE user_id = ? AND digest = ?", (user_id, digest)))
        if rows:
            return dict(json.loads(rows[0]["report"]))
        now = Report.from_json(report)
        enriched = with_previous(now, await self.latest(user_id))
        enriched = replace(enriched, benchmark=await self.benchmark_for(user_id, enriched))
        data = enriched.to_json()
        await self.conn.execute(
            "INSERT INTO diagnoses(user_id, created_at, verdict, overall, dimensions, kb_version, report,"
            " digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (user_id, enriched.created_at, enriched.verdict, enriched.overall,
             json.dumps({d.id: d.score for d in enriched.dimensions}), enriched.kb_version,
             json.dumps(data, ensure_ascii=False), digest))
        await self.conn.commit()
        return data

    async def benchmark_for(self, user_id: int, report: Report) -> Benchmark:
        """Where the report stands among the other users' latest diagnoses (or why that is not shown)."""
        if not await self.benchmark_enabled(user_id):
            return Benchmark(users=0, omitted=OPTED_OUT)
        rows = await self.conn.execute_fetchall(
            "SELECT d.dimensions FROM diagnoses d"
            " JOIN (SELECT user_id, MAX(id) AS id FROM diagnoses GROUP BY user_id) latest ON d.id = latest.id"
            " WHERE d.user_id != ? AND d.user_id NOT IN (SELECT user_id FROM benchmark_optout)", (user_id,))
        peers = [json.loads(r["dimensions"]) for r in rows]
        return benchmark(report.dimensions, peers, min_users=self.benchmark_min_users)

    async def entries(self, user_id: int, *, limit: int = 20) -> list[HistoryEntry]:
        """The user's diagnoses, newest first."""
        rows = await self.conn.execute_fetchall(
            "SELECT id, created_at, verdict, overall, kb_version FROM diagnoses WHERE user_id = ?"
            " ORDER BY id DESC LIMIT ?", (user_id, limit))
        return [HistoryEntry(r["id"], r["created_at"], r["verdict"], r["overall"], r["kb_version"]) for r in rows]

    async def get(self, user_id: int, entry_id: int) -> Report | None:
        """One of the user's diagnoses (None when it is not theirs or gone)."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT report FROM diagnoses WHERE id = ? AND user_id = ?", (entry_id, user_id)))
        return Report.from_json(json.loads(rows[0]["report"])) if rows else None

    async def latest(self, user_id: int) -> Report | None:
        """The user's most recent diagnosis."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT report FROM diagnoses WHERE user_id = ? ORDER BY id DESC LIMIT 1", (user_id,)))
        return Report.from_json(json.loads(rows[0]["report"])) if rows else None

    async def benchmark_enabled(self, user_id: int) -> bool:
        """False after /benchmark off."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT 1 FROM benchmark_optout WHERE user_id = ?", (user_id,)))
        return not rows

    async def set_benchmark(self, user_id: int, enabled: bool) -> None:
        """/benchmark on|off: whether the user's scores count (and a benchmark is shown to them)."""
        if enabled:
            await self.conn.execute("DELETE FROM benchmark_optout WHERE user_id = ?", (user_id,))
        else:
            await self.conn.execute("INSERT INTO benchmark_optout(user_id, since) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                    (user_id, now_iso()))
        await self.conn.commit()

    async def forget(self, user_id: int) -> int:
        """Deletes the user's diagnoses (and so their part of everyone's benchmark) and their opt-out."""
        async with secure_delete(self.conn):
            cur = await self.conn.execute("DELETE FROM diagnoses WHERE user_id = ?", (user_id,))
            await self.conn.execute("DELETE FROM benchmark_optout WHERE user_id = ?", (user_id,))
            await self.conn.commit()
        return cur.rowcount
