"""End-to-end: the scale-out mode — two bot instances in webhook mode behind nginx, on PostgreSQL (DATABASE_URL),
Redis (REDIS_URL) and a Chroma server (CHROMA_URL), every server started by the test on 127.0.0.1; the Bot API test
server delivers through nginx and enforces the group flood limit (scaled down in time).

One instance is killed (SIGKILL) while it handles a press of a private interview, and the press takes effect through
the other (delivered again, handled once the dead instance's claim lapsed); a 5-member team session votes through both;
its report is compared with the same session run on the embedded bot; an upload confirmed on one instance is
answered by the other; /forget leaves no row of the user in PostgreSQL and no key in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from bot.db import TABLES
from bot.postgres import CHECKPOINT_TABLES
from tests.botapi import BotAPIServer, SentMessage, SimUser
from tests.e2e.conftest import STARTED
from tests.e2e.harness import (
    BOT_USERNAME,
    NEW_DOC,
    TOKEN,
    BotProcess,
    free_port,
    group_bot_env,
    group_server_options,
    is_question,
)
from tests.servers import chroma_server, new_database, nginx_server, redis_server

TIMEOUT = 150  # generous: two bots, PostgreSQL, Redis, Chroma and nginx share a slow 2-core machine
WINDOW = 8  # Telegram's 20 messages a minute per group, in 8 seconds
GROUP = -1009876543210
ADMIN = 9001
SECRET = "scale-Out_1"
_databases = itertools.count(1)


@pytest.fixture
def server_options() -> dict[str, object]:
    """The group flood limit enforced, scaled to the window."""
    return group_server_options(WINDOW)


@dataclass
class Cluster:
    """Two instances behind nginx and the servers they share."""

    bots: list[BotProcess]
    ports: list[int]
    database_url: str
    redis_url: str
    front: int  # nginx

    async def metric(self, i: int, line: str) -> float:
        """A sample of instance i's /metrics (0 when absent)."""
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{self.ports[i]}/metrics") as r:
            text = await r.text()
        found = re.search(rf"^{re.escape(line)} ([0-9.e+]+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    async def ready(self, server: BotAPIServer, i: int) -> None:
        """Waits until instance i's /readyz is 200 (database, checkpointer, Chroma and Redis all answer)."""
        async def ok() -> bool:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with aiohttp.ClientSession() as http, \
                        http.get(f"http://127.0.0.1:{self.ports[i]}/readyz") as r:
                    return r.status == 200
            return False

        await server.wait_for(ok, TIMEOUT, description=f"instance {i} ready")


@pytest.fixture
async def cluster(server: BotAPIServer, postgres_url: str, tmp_path: Path,
                  request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    database = new_database(postgres_url, f"scale{next(_databases)}")
    with redis_server(tmp_path) as redis_url, chroma_server(tmp_path) as chroma_url:
        ports = [free_port(), free_port()]
        with nginx_server(ports) as front:
            shared = {"WEBHOOK_URL": f"http://127.0.0.1:{front}/webhook", "WEBHOOK_SECRET": SECRET,
                      "WEBHOOK_HOST": "127.0.0.1", "DATABASE_URL": database, "REDIS_URL": redis_url,
                      "CHROMA_URL": chroma_url, "UPLOADS_DIR": str(tmp_path / "uploads"), "ADMIN_IDS": str(ADMIN),
                      **group_bot_env(WINDOW, GROUP_GRACE_SECONDS="1")}
            bots = [BotProcess(server, tmp_path / f"data{i}", tmp_path / f"bot-{i}.log", WEBHOOK_PORT=str(port),
                               **shared) for i, port in enumerate(ports)]
            request.node.stash.setdefault(STARTED, []).extend(bots)
            try:
                # Both start at once on an empty Chroma server: one builds the knowledge base, the other waits.
                await asyncio.gather(*(b.start() for b in bots))
                cluster = Cluster(bots, ports, database, redis_url, front)
                for i in range(2):
                    await cluster.ready(server, i)
                yield cluster
            finally:
                for b in bots:
                    await b.stop()


async def press(server: BotAPIServer, user: SimUser, message: SentMessage, button: str | int | None = None, *,
                data: str | None = None) -> str:
    """Presses a button and waits for the bot's callback answer; returns its text."""
    query = user.press(message, button, callback_data=data)
    return (await server.wait_for_callback_answer(query, timeout=TIMEOUT)).text or ""


def team(server: BotAPIServer) -> list[SimUser]:
    users = [server.user(2000 + i, first_name=name) for i, name in enumerate(["张三", "李四", "王五", "赵六", "钱七"])]
    server.add_group(GROUP, "增长团队", members=users, admins=[users[0]], type="supergroup")
    return users


def closed(n: int):  # type: ignore[no-untyped-def]
    return lambda m: f"第 {n}/20 题" in m.text and "已结束" in m.text and not m.buttons


async def team_session(server: BotAPIServer) -> dict[str, Any]:
    """Five members join and vote on three questions (all at once); the host ends; returns the exported report."""
    users = team(server)
    host = users[0]
    sent = host.send(f"/diagnose@{BOT_USERNAME}", GROUP)
    lobby = await server.wait_for_message(GROUP, lambda m: "🙋 加入" in m.button_texts, after=sent, timeout=TIMEOUT)
    for member in users[1:]:
        assert "已加入" in await press(server, member, lobby, "🙋 加入")
    await server.wait_for_message(GROUP, lambda m: m.message_id == lobby.message_id and "已加入（5）" in m.text,
                                  timeout=TIMEOUT)
    await press(server, host, lobby, "开始答题")
    for n in range(1, 4):
        message = await server.wait_for_message(GROUP, is_question(n), timeout=TIMEOUT)
        options = [b.data for b in message.flat_buttons if b.data.startswith("gv1:")]
        choices = [options[0], options[0], options[1], options[0], options[1]]  # close together: no pause
        queries = [u.press(message, callback_data=c) for u, c in zip(users, choices, strict=True)]
        for q in queries:
            await server.wait_for_callback_answer(q, timeout=TIMEOUT)
        await server.wait_for_message(GROUP, closed(n), timeout=TIMEOUT)
    message = await server.wait_for_message(GROUP, is_question(4), timeout=TIMEOUT)
    await press(server, host, message, "结束")
    await server.wait_for_message(GROUP, lambda m: m.photo is not None, timeout=TIMEOUT)
    sent = host.send("/export", GROUP)
    docs = await server.wait_for_messages(GROUP, 3, lambda m: m.document is not None, after=sent, timeout=TIMEOUT)
    return dict(json.loads(next(d for d in docs if d.document.filename.endswith(".json")).document.data))


VOLATILE = {"created_at", "finished_at", "session_id", "session", "generated_at", "started_at"}


def comparable(value: Any) -> Any:
    """The report without what differs between any two runs: times and the session's id."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def pg_rows_of(url: str, user_id: int) -> dict[str, int]:
    """Rows that name the user, per table (bot tables and LangGraph's)."""
    found: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)).fetchall()]
            for column in {"user_id", "owner", "owner_user_id", "starter_id", "chat_id"} & set(columns):
                n = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s".encode(), (user_id,)).fetchone()
                found[f"{table}.{column}"] = int(n[0]) if n else 0
        for table in CHECKPOINT_TABLES:
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE thread_id LIKE %s".encode(),
                             (f"%{user_id}%",)).fetchone()
            found[table] = int(n[0]) if n else 0
    return found


def waiting_on_a_lock(url: str) -> tuple[int, int] | None:
    """(backend pid, client port) of a statement of the database's that waits for a lock, if any."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()").fetchone()
    return (int(row[0]), int(row[1])) if row else None


def owner_of_port(port: int, bots: list[BotProcess]) -> BotProcess:
    """The bot process whose TCP socket is bound to local `port` (Linux: /proc/net/tcp and each process's fds)."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    sockets.add(f"socket:[{fields[9]}]")
    for bot in bots:
        assert bot.proc is not None
        for fd in Path(f"/proc/{bot.proc.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in sockets:
                    return bot
    raise AssertionError(f"no bot process holds local port {port}")


async def kill_while_handling(server: BotAPIServer, cluster: Cluster, act: Callable[[], object]) -> BotProcess:
    """Does `act` (a press) while the checkpoint table is locked, SIGKILLs the instance whose handler then waits on
    it, and lets the table go (the dead instance's statement is ended first: it never runs); returns that instance."""
    with psycopg.connect(cluster.database_url) as lock:
        lock.execute("LOCK TABLE checkpoints IN ACCESS EXCLUSIVE MODE")
        act()
        backend, port = await server.wait_for(lambda: waiting_on_a_lock(cluster.database_url), TIMEOUT,
                                              description="the press's handler waiting on the checkpoint table")
        victim = owner_of_port(port, cluster.bots)
        assert await victim.stop(sig=signal.SIGKILL) == -signal.SIGKILL
        with psycopg.connect(cluster.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        lock.rollback()
    return victim


async def test_two_instances_behind_nginx_share_interviews_teams_guidance_and_forget(
        server: BotAPIServer, cluster: Cluster, data_dir: Path, tmp_path: Path) -> None:
    # 1. A private interview alternates between the instances; one is killed in the middle; no answer is lost.
    user = server.user(1501, first_name="孙八")
    sent = user.send("/diagnose")
    await server.wait_for_message(user.chat_id, is_question(1), after=sent, timeout=TIMEOUT)
    for n in range(1, 7):
        message = await server.wait_for_message(user.chat_id, is_question(n), timeout=TIMEOUT)
        await press(server, user, message, 0)
    presses = [await cluster.metric(i, 'bot_updates_total{type="callback_query"}') for i in range(2)]
    assert all(p > 0 for p in presses), f"nginx spread the presses over both instances: {presses}"
    # Killed while it handles the answer to question 7: the test holds the checkpoint table, so the handler waits
    # on PostgreSQL before it has written anything; the instance that took the press is SIGKILLed there. It never
    # answered the delivery, so the Bot API test server delivers the press again, through nginx to the other
    # instance, which handles it once the dead one's claim has lapsed.
    message = await server.wait_for_message(user.chat_id, is_question(7), timeout=TIMEOUT)
    victim = await kill_while_handling(server, cluster, lambda: user.press(message, 0))
    survivor = 1 - cluster.bots.index(victim)
    press_id = server.updates[-1]["update_id"]
    await server.wait_for_message(user.chat_id, is_question(8), timeout=TIMEOUT)
    await server.wait_for(lambda: any(d.update_id == press_id and d.ok for d in server.webhook_deliveries), TIMEOUT,
                          description="the press's delivery confirmed")
    outcomes = [d.status for d in server.webhook_deliveries if d.update_id == press_id]
    assert outcomes[0] == 502 and 429 in outcomes and outcomes[-1] == 200, \
        f"no answer from the killed instance, 'later' while its claim ran, then handled: {outcomes}"
    assert await cluster.metric(survivor, 'bot_updates_total{type="callback_query"}') > presses[survivor]
    late = [c for c in server.errors if c.method == "answerCallbackQuery"]
    assert all("query is too old" in (c.description or "") for c in late), \
        "only the late press's notice is refused (Telegram stopped waiting for it), and the press went on"
    for n in range(8, 21):
        message = await server.wait_for_message(user.chat_id, is_question(n), timeout=TIMEOUT)
        await press(server, user, message, 0)
    await server.wait_for_message(user.chat_id, lambda m: m.photo is not None, timeout=TIMEOUT)
    sent = user.send("/export")
    docs = await server.wait_for_messages(user.chat_id, 3, lambda m: m.document is not None, after=sent,
                                          timeout=TIMEOUT)
    private = json.loads(next(d for d in docs if d.document.filename.endswith(".json")).document.data)
    assert len(private["answers"]) == 20 and all(a["via"] == "option" for a in private["answers"]), \
        "every answer given before and after the kill is in the report"
    await victim.start()
    await cluster.ready(server, cluster.bots.index(victim))

    # Telegram delivers an update again when it doubts a delivery: through nginx the two deliveries reach the two
    # instances, and the update is handled once.
    who = {"id": user.id, "is_bot": False, "first_name": "孙八"}
    update = {"update_id": 990001, "message": {
        "message_id": 990001, "date": int(time.time()), "chat": {**who, "type": "private"}, "from": who,
        "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(f"http://127.0.0.1:{cluster.front}/webhook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                assert r.status == 200
    await server.wait_for(lambda: any("<b>命令</b>" in m.html for m in server.messages(user.chat_id)), TIMEOUT,
                          description="the /help answer")

    async def duplicates() -> float:
        return sum([await cluster.metric(i, "bot_duplicate_updates_total") for i in range(2)])

    await server.wait_for(duplicates, TIMEOUT, description="the repeated delivery counted")
    assert await duplicates() == 1
    assert sum("<b>命令</b>" in m.html for m in server.messages(user.chat_id)) == 1, "handled once"

    # 2. A team session votes through both instances: each vote once, the group limit held across instances,
    #    and the report is the embedded mode's report of the same session.
    before = [await cluster.metric(i, 'bot_updates_total{type="callback_query"}') for i in range(2)]
    scaled = await team_session(server)
    after = [await cluster.metric(i, 'bot_updates_total{type="callback_query"}') for i in range(2)]
    assert all(a > b for a, b in zip(after, before, strict=True)), "both instances took votes"
    assert server.flood.rejected == 0, "the two instances kept the group under one limit together"
    voted = [q for q in scaled["questions"] if q["votes"]]
    assert len(voted) == 3 and all(len(q["votes"]) == 5 for q in voted), ("each member's vote counted once", voted)
    async with BotAPIServer(token=TOKEN, bot_username=BOT_USERNAME, **group_server_options(WINDOW)) as alone:
        embedded = BotProcess(alone, data_dir, tmp_path / "bot-embedded.log", **group_bot_env(
            WINDOW, GROUP_GRACE_SECONDS="1"))
        await embedded.start()
        try:
            reference = await team_session(alone)
        finally:
            await embedded.stop()
    assert comparable(scaled) == comparable(reference)

    # 3. An upload previewed and confirmed through nginx (either instance) is answered by both.
    admin = server.user(ADMIN, first_name="管理员")
    sent = admin.send_document(None, "fission.md", NEW_DOC)
    preview = await server.wait_for_message(admin.chat_id, lambda m: "导入为新版本" in m.button_texts, after=sent,
                                            timeout=TIMEOUT)
    admin.press(preview, "导入为新版本")
    await server.wait_for_message(admin.chat_id, lambda m: "导入完成" in m.text, timeout=TIMEOUT)
    asked = [await cluster.metric(i, 'bot_updates_total{type="message"}') for i in range(2)]
    for _ in range(2):  # nginx sends consecutive deliveries to alternate instances
        sent = user.send("/ask 裂变海报怎么设计")
        reply = await server.wait_for_message(user.chat_id, lambda m: "裂变海报设计" in m.text, after=sent,
                                              timeout=TIMEOUT)
        assert "裂变海报设计" in reply.text.split("\n\n")[1], "the new document's passage, on either instance"
    answered = [await cluster.metric(i, 'bot_updates_total{type="message"}') for i in range(2)]
    assert all(a > b for a, b in zip(answered, asked, strict=True)), "each instance answered one of the questions"

    # 4. /forget: no row of the user in PostgreSQL (VACUUMed), no key naming them in Redis.
    assert sum(pg_rows_of(cluster.database_url, user.id).values()) > 0
    sent = user.send("/forget")
    prompt = await server.wait_for_message(user.chat_id, lambda m: "确认删除我的数据" in m.button_texts, after=sent,
                                           timeout=TIMEOUT)
    user.press(prompt, "确认删除我的数据")
    await server.wait_for_message(user.chat_id, lambda m: "已删除你的全部数据" in m.text, timeout=TIMEOUT)
    left = pg_rows_of(cluster.database_url, user.id)
    assert sum(left.values()) == 0, left
    with psycopg.connect(cluster.database_url) as conn:
        vacuumed = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL").fetchall()}
    assert {"events", "diagnoses", "checkpoints", "checkpoint_writes"} <= vacuumed
    import redis

    keys = redis.Redis.from_url(cluster.redis_url).keys("*")
    assert not [k for k in keys if str(user.id).encode() in k], keys
    server.assert_no_errors(except_methods=["answerCallbackQuery"] if late else ())
