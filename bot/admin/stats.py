"""Usage statistics for /stats, read from the `events` table: interviews, completion, scores, gaps, group sessions.

* started / completed: private interviews begun (a /restart counts as a new start) and finished in the window;
* completion rate: of the interviews started in the window, the share that the same user finished before starting
  another one (so it never exceeds 100 % when interviews started before the window finish inside it);
* mean score per dimension and the most common gaps: over the private interviews completed in the window (group
  sessions are counted, not scored, here);
* group sessions: started and completed in the window.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.admin.events import GROUP_COMPLETED, GROUP_STARTED, INTERVIEW_COMPLETED, INTERVIEW_STARTED
from bot.db import Database

TOP_GAPS = 5


@dataclass(frozen=True)
class DimensionMean:
    """The mean score of one dimension."""

    id: str
    title: str
    mean: float
    n: int


@dataclass(frozen=True)
class GapCount:
    """How often a question was a gap."""

    question_id: str
    section: str
    missing: str
    count: int


@dataclass(frozen=True)
class PeriodStats:
    """Usage over the last `days` days."""

    days: int
    started: int
    completed: int
    completion_rate: float | None  # None when nothing was started
    dimensions: tuple[DimensionMean, ...]
    gaps: tuple[GapCount, ...]
    groups_started: int
    groups_completed: int


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


async def period_stats(conn: Database, *, days: int, now: datetime | None = None) -> PeriodStats:
    """The statistics of the last `days` days (up to `now`, default the current time)."""
    end = now or datetime.now(UTC)
    since = _iso(end - timedelta(days=days))
    rows = await conn.execute_fetchall(
        "SELECT ts, kind, user_id, data FROM events WHERE ts >= ? AND ts <= ? ORDER BY ts, id", (since, _iso(end)))
    counts: Counter[str] = Counter(r["kind"] for r in rows)

    # Cohort completion: walk each user's events in time order; a start is completed by the next completion.
    open_start: dict[int, bool] = {}
    finished_starts = 0
    for r in rows:
        if r["user_id"] is None:
            continue
        if r["kind"] == INTERVIEW_STARTED:
            open_start[r["user_id"]] = True
        elif r["kind"] == INTERVIEW_COMPLETED and open_start.pop(r["user_id"], False):
            finished_starts += 1
    started = counts[INTERVIEW_STARTED]
    rate = finished_starts / started if started else None

    scores: dict[str, list[float]] = defaultdict(list)
    titles: dict[str, str] = {}
    gaps: Counter[str] = Counter()
    gap_info: dict[str, tuple[str, str]] = {}
    for r in rows:
        if r["kind"] != INTERVIEW_COMPLETED:
            continue
        try:
            data = json.loads(r["data"] or "{}")
        except ValueError:
            continue
        for dim, score in (data.get("dimensions") or {}).items():
            if isinstance(score, int | float):
                scores[dim].append(float(score))
        titles.update(data.get("dimension_titles") or {})
        for gap in data.get("gaps") or []:
            qid = str(gap.get("question_id", ""))
            if qid:
                gaps[qid] += 1
                gap_info[qid] = (str(gap.get("section", "")), str(gap.get("missing", "")))
    dimensions = tuple(DimensionMean(d, titles.get(d, d), round(sum(v) / len(v), 1), len(v))
                       for d, v in scores.items())
    top = tuple(GapCount(q, gap_info[q][0], gap_info[q][1], n) for q, n in gaps.most_common(TOP_GAPS))
    return PeriodStats(days=days, started=started, completed=counts[INTERVIEW_COMPLETED], completion_rate=rate,
                       dimensions=dimensions, gaps=top, groups_started=counts[GROUP_STARTED],
                       groups_completed=counts[GROUP_COMPLETED])


async def usage_stats(conn: Database, *, now: datetime | None = None) -> tuple[PeriodStats, ...]:
    """The statistics of the last 7 and the last 30 days."""
    return (await period_stats(conn, days=7, now=now), await period_stats(conn, days=30, now=now))
