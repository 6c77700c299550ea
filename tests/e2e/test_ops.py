"""End-to-end: the operations side of the webhook server — liveness, readiness, Prometheus metrics, JSON logs —
and a webhook delivery Telegram repeats is handled once (the real bot process, the Bot API test server)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest

from tests.botapi import BotAPIServer
from tests.e2e.harness import StartBot, free_port
from tests.servers import redis_server

TIMEOUT = 90
SECRET = "ops-Secret_1"


def _update(update_id: int, user_id: int, text: str) -> dict[str, object]:
    who = {"id": user_id, "is_bot": False, "first_name": "孙八"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "chat": {**who, "type": "private"}, "from": who,
        "text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}}


@pytest.fixture(params=["embedded", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The embedded mode, and with REDIS_URL (a redis-server the test starts): its checks and its seen marks."""
    if request.param == "embedded":
        yield {}
        return
    with redis_server(tmp_path) as url:
        yield {"REDIS_URL": url}


async def test_health_readiness_metrics_json_logs_and_a_repeated_delivery(server: BotAPIServer, start_bot: StartBot,
                                                                         shared: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_bot(WEBHOOK_URL=f"{base}/tg-hook", WEBHOOK_SECRET=SECRET, WEBHOOK_HOST="127.0.0.1",
                           WEBHOOK_PORT=str(port), LOG_FORMAT="json", **shared)
    async with aiohttp.ClientSession() as http:
        async def get(path: str) -> tuple[int, str]:
            async with http.get(base + path) as r:
                return r.status, await r.text()

        status, body = await get("/healthz")
        assert status == 200 and json.loads(body) == {"status": "ok"}
        ready: dict[str, object] = {}

        async def is_ready() -> bool:
            status, body = await get("/readyz")
            ready.update(json.loads(body))
            return status == 200

        await server.wait_for(is_ready, TIMEOUT, description="/readyz to turn 200")
        expected = {"database": True, "checkpointer": True, "chroma": True} | ({"redis": True} if shared else {})
        assert {c["name"]: c["ok"] for c in ready["checks"]} == expected  # type: ignore[union-attr]

        user = server.user(1010, first_name="孙八")
        sent = user.send("/diagnose")
        await server.wait_for_message(user.chat_id, lambda m: "第 1/20 题" in m.text, after=sent, timeout=TIMEOUT)

        # Telegram delivers an update again when it doubts the first delivery: it is handled once.
        update = _update(987654, user.id, "/help")
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for _ in range(2):
            async with http.post(f"{base}/tg-hook", json=update, headers=headers) as r:
                assert r.status == 200
        await server.wait_for(lambda: sum("<b>命令</b>" in m.html for m in server.messages(user.chat_id)) >= 1,
                              TIMEOUT, description="the /help answer")
        async with http.post(f"{base}/tg-hook", json=_update(987655, user.id, "/help"),
                             headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
            assert r.status == 401, "a delivery without the secret is refused"

        async def metrics_show_the_duplicate() -> bool:
            return "bot_duplicate_updates_total 1.0" in (await get("/metrics"))[1]

        await server.wait_for(metrics_show_the_duplicate, TIMEOUT, description="the duplicate counted")
        status, text = await get("/metrics")
    assert status == 200
    assert sum("<b>命令</b>" in m.html for m in server.messages(user.chat_id)) == 1, "handled once"
    assert 'bot_updates_total{type="message"} 2.0' in text
    assert 'bot_events_total{kind="interview_started"} 1.0' in text
    assert 'bot_handler_seconds_bucket{le="10.0",type="message"} 2.0' in text
    assert "bot_api_429_total" in text and "bot_ingest_runs_total" in text
    assert await proc.stop() == 0, proc.log()
    log = proc.log_path.read_text(encoding="utf-8")  # the whole log: its tail may be all /readyz polls
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(rec["logger"] == "bot.telegram.app" and "webhook on" in rec["message"] for rec in lines), proc.log()
    assert all({"ts", "level", "logger", "message"} <= set(rec) for rec in lines)
    server.assert_no_errors()
