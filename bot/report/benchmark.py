"""Where a diagnosis stands among the other users of this bot (pure): a percentile band per dimension.

* the peers are the other users' latest diagnoses only, opted-out users excluded (the caller selects them);
* below `min_users` peers nothing is shown but a one-line reason — a distribution of a handful of companies says
  little and could point at someone;
* percentile = the share of peers scoring lower, ties counting half; bands: 前 25% (≥ 75), 中上 (50–75),
  中下 (25–50), 后 25% (< 25); the quartiles p25 / p50 / p75 show the spread, never a single peer's score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import quantiles

from bot.report.model import Benchmark, BenchmarkDimension, DimensionScore

BANDS = ((75.0, "前 25%"), (50.0, "中上（前 50%）"), (25.0, "中下（后 50%）"), (0.0, "后 25%"))
OPTED_OUT = "你已关闭与其他用户的对比（发送 /benchmark on 可重新开启）。"


def too_few(users: int, min_users: int) -> str:
    """The one-line reason the benchmark is omitted."""
    return f"与其他用户的对比需要至少 {min_users} 位用户完成诊断，目前有 {users} 位，暂不显示。"


def band(percentile: float) -> str:
    """The band a percentile falls in."""
    return next(label for floor, label in BANDS if percentile >= floor)


def percentile_of(score: float, others: Sequence[float]) -> float:
    """Share of `others` below `score` (ties count half), 0–100."""
    if not others:
        return 0.0
    below = sum(1 for v in others if v < score) + 0.5 * sum(1 for v in others if v == score)
    return round(100 * below / len(others), 1)


def benchmark(dimensions: Sequence[DimensionScore], peers: Sequence[Mapping[str, float]], *,
              min_users: int) -> Benchmark:
    """The distribution of the peers' scores per dimension, and where these `dimensions` stand in it."""
    if len(peers) < max(1, min_users):
        return Benchmark(users=len(peers), omitted=too_few(len(peers), min_users))
    rows = []
    for d in dimensions:
        values = sorted(float(p[d.id]) for p in peers if d.id in p)
        if len(values) < max(2, min_users):
            continue  # a dimension added to the rubric recently: too few peers answered it
        p25, p50, p75 = quantiles(values, n=4, method="inclusive")
        pct = percentile_of(d.score, values)
        rows.append(BenchmarkDimension(d.id, d.score, pct, band(pct), round(p25, 1), round(p50, 1), round(p75, 1)))
    return Benchmark(users=len(peers), dimensions=tuple(rows))
