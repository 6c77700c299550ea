"""Operations without a server: readiness says which dependency failed; the metrics count what the rooms emit."""

from __future__ import annotations

import asyncio
import json
import logging

from bot.ops import JsonFormatter, Metrics, Readiness, TeeSink
from bot.ports import InterviewCompleted, InterviewStarted


async def test_readiness_names_the_failing_and_the_slow_check(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import bot.ops

    monkeypatch.setattr(bot.ops, "CHECK_SECONDS", 0.2)
    readiness = Readiness()

    async def fine() -> None:
        return None

    async def broken() -> None:
        raise ConnectionError("refused")

    async def hung() -> None:
        await asyncio.Event().wait()

    readiness.add("database", fine)
    readiness.add("chroma", broken)
    readiness.add("redis", hung)
    results = {r.name: r for r in await readiness.run()}
    assert results["database"].ok and not results["chroma"].ok and not results["redis"].ok
    assert "refused" in results["chroma"].detail and "Timeout" in results["redis"].detail


async def test_metrics_count_events_passed_on_by_the_tee(services) -> None:  # type: ignore[no-untyped-def]
    metrics = Metrics()
    seen: list[object] = []

    class Log:
        async def emit(self, event: object) -> None:
            seen.append(event)

    tee = TeeSink(Log(), metrics)
    await tee.emit(InterviewStarted(1))
    await tee.emit(InterviewCompleted(1, {}))
    text = metrics.exposition().decode()
    assert 'bot_events_total{kind="interview_started"} 1.0' in text
    assert 'bot_events_total{kind="interview_completed"} 1.0' in text
    assert 'bot_events_total{kind="group_completed"} 0.0' in text, "every series exists from the start"
    assert len(seen) == 2
    metrics.ingest_run("reingest", "created")
    assert 'bot_ingest_runs_total{action="reingest",status="created"} 1.0' in metrics.exposition().decode()
    assert Metrics().exposition() != metrics.exposition(), "one registry per bot, not a process-wide one"


async def test_the_root_counts_ingest_runs_and_interviews(services) -> None:  # type: ignore[no-untyped-def]
    from bot.interview.service import private_thread

    await services.interview.start(private_thread(77))
    await services.guidance.reingest(created_by="test")
    text = services.metrics.exposition().decode()
    assert 'bot_events_total{kind="interview_started"} 1.0' in text
    assert 'bot_ingest_runs_total{action="reingest",status="unchanged"} 1.0' in text
    assert all(c.ok for c in await services.readiness.run())


def test_json_logs_are_one_object_a_line() -> None:
    record = logging.LogRecord("bot.x", logging.WARNING, __file__, 1, "问题 %s", ("甲",), None)
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "问题 甲" and data["level"] == "WARNING" and data["ts"].endswith("Z")
