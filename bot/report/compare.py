"""A diagnosis compared with the one before (pure): per-dimension change, gaps closed, new gaps.

A gap is *closed* when a question that was a confirmed gap then is fully in place now, and *new* when a question
that was not a confirmed gap then (in place, unknown or not asked) is one now; a confirmed gap that became unknown
(待确认) is neither, because nothing was confirmed. A change of less than `STEADY` points shows as →.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from bot.report.model import Previous, PreviousDimension, Report

R = TypeVar("R", bound=Report)
STEADY = 3.0  # points: smaller changes are shown as steady (→)


def arrow(change: float | None) -> str:
    """↑ / ↓ / → for a score change ('' when there is nothing to compare)."""
    if change is None:
        return ""
    return "↑" if change >= STEADY else "↓" if change <= -STEADY else "→"


def change_text(change: float | None) -> str:
    """「↑ +12」 / 「→ 0」 / 「↓ -8」."""
    return "" if change is None else f"{arrow(change)} {change:+.0f}"


def compare(before: Report, now: Report) -> Previous:
    """What `now` says about `before`."""
    was = {g.question_id: g for g in before.known_gaps}
    still = {g.question_id: g for g in now.gaps}  # a gap that became unknown is neither closed nor new
    return Previous(
        created_at=before.created_at,
        overall=before.overall,
        dimensions=tuple(PreviousDimension(d.id, d.score) for d in before.dimensions),
        verdict=before.verdict,
        gaps_closed=tuple(g.missing for qid, g in was.items() if qid not in still),
        new_gaps=tuple(g.missing for g in now.known_gaps if g.question_id not in was),
    )


def with_previous(now: R, before: Report | None) -> R:
    """`now` carrying its comparison with `before` (unchanged when there is no earlier diagnosis)."""
    return now if before is None else replace(now, previous=compare(before, now))
