"""Operations: liveness, readiness and Prometheus metrics of a running bot, and JSON logs.

* `Metrics` owns one Prometheus registry per bot (not the process-global one, so tests and several bots in one
  process never share counters); it is also an `EventSink`, counting interviews and team sessions from the events
  the rooms emit, and the ingest observer of the guidance service;
* `Readiness` runs the named checks the composition root registers (database, checkpointer, Chroma …), each with a
  time limit, and says which failed;
* `JsonFormatter` writes one JSON object per log line (`LOG_FORMAT=json`), for log collectors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bot.ports import EventKind, UsageEvent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text exposition format
CHECK_SECONDS = 3.0  # a readiness check slower than this counts as failed


class Metrics:
    """The bot's Prometheus metrics (`/metrics`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter("bot_updates_total", "Telegram updates received, by type", ["type"], registry=r)
        self.duplicates = Counter("bot_duplicate_updates_total", "Updates delivered again and not handled twice",
                                  registry=r)
        self.handler_seconds = Histogram(
            "bot_handler_seconds", "Time from receiving an update to the end of its handling", ["type"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.api_errors = Counter("bot_api_errors_total", "Bot API calls answered with an error", ["method", "code"],
                                  registry=r)
        self.api_429 = Counter("bot_api_429_total", "Bot API calls answered 429 Too Many Requests", ["method"],
                               registry=r)
        self.events = Counter("bot_events_total", "Interviews and team sessions started and completed", ["kind"],
                              registry=r)
        self.ingests = Counter("bot_ingest_runs_total", "Knowledge-base ingest runs, by action and outcome",
                               ["action", "status"], registry=r)
        for kind in EventKind:  # present at 0 from the start, so a dashboard sees the series
            self.events.labels(kind=str(kind))

    async def emit(self, event: UsageEvent) -> None:
        """Counts a usage event (interview started / completed, team session started / completed)."""
        self.events.labels(kind=str(event.kind)).inc()

    def ingest_run(self, action: str, status: str) -> None:
        """Counts an ingest run: upload / reingest / rollback, and created / unchanged / failed …"""
        self.ingests.labels(action=action, status=status).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


class TeeSink:
    """An `EventSink` that hands every event to several sinks (the event log and the metrics)."""

    def __init__(self, *sinks: object) -> None:
        self.sinks = sinks

    async def emit(self, event: UsageEvent) -> None:
        """Passes the event on to each sink."""
        for sink in self.sinks:
            await sink.emit(event)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CheckResult:
    """One readiness check."""

    name: str
    ok: bool
    detail: str
    seconds: float


class Readiness:
    """Named readiness checks; `/readyz` is 200 only when every one passes."""

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], Awaitable[object]]] = {}

    def add(self, name: str, check: Callable[[], Awaitable[object]]) -> None:
        """Registers a check: an awaitable that raises when the dependency is not usable."""
        self._checks[name] = check

    async def run(self) -> list[CheckResult]:
        """Runs every check concurrently, each within CHECK_SECONDS."""

        async def one(name: str, check: Callable[[], Awaitable[object]]) -> CheckResult:
            start = time.perf_counter()
            try:
                await asyncio.wait_for(check(), timeout=CHECK_SECONDS)
            except Exception as e:  # noqa: BLE001 - any failure means not ready; the detail says which
                return CheckResult(name, False, f"{type(e).__name__}: {e}"[:200], time.perf_counter() - start)
            return CheckResult(name, True, "ok", time.perf_counter() - start)

        return list(await asyncio.gather(*(one(n, c) for n, c in self._checks.items())))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        data = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


JsonFormatter.converter = time.gmtime  # type: ignore[assignment]
