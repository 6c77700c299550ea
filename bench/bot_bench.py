"""Telegram bot benchmark beside a minimal aiogram echo bot, in the same run, against the Bot API test server.

    python -m bench.bot_bench [--users 100] [--burst 1000] [--modes embedded,scale-out-1,scale-out-2]

For each bot: boot time (process start → first getUpdates or setWebhook), reaction latency (update enqueued → the
bot's first Bot API call for that chat) for N simulated users acting at a human pace (~0.5 s between actions),
throughput at saturation (a burst of messages answered per second), and resident memory (VmRSS / peak VmHWM, the
largest instance). The real bot's users run the interview: /diagnose, then option buttons.

Modes of the real bot: `embedded` (long polling, SQLite, embedded Chroma: the default deployment) and
`scale-out-N` (N instances in webhook mode behind nginx on PostgreSQL, Redis and a Chroma server, all started here
on 127.0.0.1 as the end-to-end test does; needs Debian's postgresql, redis-server and nginx).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.botapi import BotAPIServer  # noqa: E402

TOKEN = "123456:BENCH"


def _mem(pid: int) -> tuple[float, float]:
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class CallMonitor:
    """One task reads the server's call log and resolves, per chat, the time of the bot's first call after an
    action — so 100 waiting users cost one scan, not 100 (the driver must not be the bottleneck)."""

    def __init__(self, server: BotAPIServer) -> None:
        self.server = server
        self.index = 0
        self.pending: dict[int, tuple[float, asyncio.Future[float]]] = {}
        self.task = asyncio.create_task(self._run())

    def expect(self, chat_id: int, since: float) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending[chat_id] = (since, fut)
        return fut

    async def _run(self) -> None:
        while True:
            await self.server.wait_for(lambda: len(self.server.calls) > self.index, 3600)
            calls = self.server.calls[self.index:]
            self.index += len(calls)
            for call in calls:
                waiting = self.pending.get(call.chat_id)
                if waiting and call.started >= waiting[0] and not waiting[1].done():
                    waiting[1].set_result(call.started)
                    del self.pending[call.chat_id]


async def _until(cond, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Cheap polling wait (every 50 ms) for the driver's own bookkeeping."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("benchmark step timed out")
        await asyncio.sleep(0.05)


async def measure(kind: str, cmds: list[tuple[list[str], dict[str, str]]], users: int,
                  burst: int) -> dict[str, float]:
    """Boots the bot's processes (one, or several behind one webhook URL) against a fresh test server and measures."""
    async with BotAPIServer(token=TOKEN, bot_username="bench_bot", flood_enabled=False,
                            clock=time.monotonic) as server:
        t0 = time.monotonic()
        procs = [subprocess.Popen(cmd, cwd=ROOT, env=dict(env, BOT_TOKEN=TOKEN, BOT_API_BASE=server.base),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for cmd, env in cmds]
        try:
            def started() -> list[float]:
                return [c.started for c in server.calls if c.method in ("getUpdates", "setWebhook")]

            await server.wait_for(lambda: len(started()) >= len(procs), 300, description="every process started")
            boot = max(started()[:len(procs)]) - t0
            await asyncio.sleep(float(os.environ.get("BENCH_SETTLE", "0")))
            sims = [server.user(5000 + i, first_name=f"u{i}") for i in range(users)]
            latencies: list[float] = []
            monitor = CallMonitor(server)

            async def act(user, i: int) -> None:  # type: ignore[no-untyped-def]
                await asyncio.sleep(0.5 * i / users)  # spread the users over the first half second
                steps = 6
                for step in range(steps):
                    since = time.monotonic()
                    first_call = monitor.expect(user.chat_id, since)
                    if kind == "echo":
                        user.send(f"消息 {step}")
                    elif step == 0:
                        user.send("/diagnose")
                    else:
                        msg = server.last_message(user.chat_id)
                        options = [b for b in msg.flat_buttons if b.data.startswith("a1:")]
                        user.press(msg, callback_data=options[0].data)
                    first = await asyncio.wait_for(first_call, 120)
                    latencies.append((first - since) * 1000)
                    # wait for the bot to finish reacting, then a human pause
                    if kind == "echo":
                        await _until(lambda n=step: len(server.messages(user.chat_id)) > n)
                    else:
                        await _until(lambda n=step: f"第 {n + 1}/" in (
                            (server.last_message(user.chat_id) or SimpleNamespace(text="")).text or ""))
                    await asyncio.sleep(0.5)

            await asyncio.gather(*(act(u, i) for i, u in enumerate(sims)))
            # Saturation: a burst of messages, answered per second.
            before = len(server.calls_to("sendMessage"))
            t_burst = time.monotonic()
            for i in range(burst):
                sims[i % users].send("/help" if kind != "echo" else "hi")
            await server.wait_for(lambda: len(server.calls_to("sendMessage")) - before >= burst, 300,
                                  description="the burst to be answered")
            throughput = burst / (time.monotonic() - t_burst)
            monitor.task.cancel()
            mems = [_mem(proc.pid) for proc in procs]
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
    return {"boot_s": boot, "p50_ms": statistics.median(latencies), "p99_ms": _pct(latencies, 99),
            "throughput": throughput, "rss_mb": max(m[0] for m in mems), "peak_rss_mb": max(m[1] for m in mems),
            "n": len(latencies)}


@contextlib.contextmanager
def scale_out(tmp: Path, instances: int, env: dict[str, str]) -> Iterator[list[tuple[list[str], dict[str, str]]]]:
    """PostgreSQL, Redis, a Chroma server and nginx in front of `instances` webhook ports; yields the commands."""
    from tests.servers import chroma_server, new_database, nginx_server, postgres_server, redis_server

    ports = [_free_port() for _ in range(instances)]
    with postgres_server() as pg, redis_server(tmp) as redis_url, chroma_server(tmp) as chroma_url, \
            nginx_server(ports) as front:
        shared = dict(env, WEBHOOK_URL=f"http://127.0.0.1:{front}/webhook", WEBHOOK_SECRET="bench-Secret",
                      WEBHOOK_HOST="127.0.0.1", DATABASE_URL=new_database(pg, "bench"), REDIS_URL=redis_url,
                      CHROMA_URL=chroma_url, UPLOADS_DIR=str(tmp / "uploads"))
        subprocess.run([sys.executable, "ingest.py"], cwd=ROOT, env=dict(shared, DATA_DIR=str(tmp / "ingest")),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield [([sys.executable, "-m", "bot", "run"], dict(shared, DATA_DIR=str(tmp / f"data{i}"),
                                                            WEBHOOK_PORT=str(port)))
               for i, port in enumerate(ports)]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main_async(users: int, burst: int, modes: list[str], *, first_start: bool = False) -> None:
    """Runs the echo bot, then the real bot in each mode, and prints them with ratios."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", LOG_LEVEL="WARNING",
               PYTHONPATH=str(ROOT))
    results = {"echo bot": await measure("echo", [([sys.executable, "-m", "bench.echo_bot"], env)], users, burst)}
    for mode in modes:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            if mode == "embedded":
                data = tmp / "data"
                subprocess.run([sys.executable, "ingest.py"], cwd=ROOT, env=dict(env, DATA_DIR=str(data)), check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if not first_start:  # as after a restart: the reader's examples were embedded by an earlier start
                    subprocess.run([sys.executable, "-c", "from bot.config import load_settings; from bot.services "
                                    "import warm_reader; warm_reader(load_settings())"], cwd=ROOT,
                                   env=dict(env, DATA_DIR=str(data)), check=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                cmds = [([sys.executable, "-m", "bot", "run"], dict(env, DATA_DIR=str(data)))]
                results[mode] = await measure("bot", cmds, users, burst)
            else:
                with scale_out(tmp, int(mode.rsplit("-", 1)[1]), env) as cmds:
                    results[mode] = await measure("bot", cmds, users, burst)
    echo = results["echo bot"]
    print(f"{'':<14}{'boot s':>8}{'p50 ms':>9}{'p99 ms':>9}{'upd/s':>8}{'RSS MB':>8}{'peak MB':>9}")
    for name, m in results.items():
        print(f"{name:<14}{m['boot_s']:>8.2f}{m['p50_ms']:>9.1f}{m['p99_ms']:>9.1f}{m['throughput']:>8.0f}"
              f"{m['rss_mb']:>8.0f}{m['peak_rss_mb']:>9.0f}")
    for name, ours in results.items():
        if name == "echo bot":
            continue
        print(f"{name}: boot {ours['boot_s'] / echo['boot_s']:.2f}x (target ≤ 1.5x), "
              f"p50 {ours['p50_ms'] / echo['p50_ms']:.2f}x (target ≤ 5x); p99 {ours['p99_ms']:.0f} ms (target ≤ 150), "
              f"throughput {ours['throughput']:.0f}/s (target ≥ 300), peak RSS {ours['peak_rss_mb']:.0f} MB (≤ 350)")


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--modes", default="embedded", help="comma-separated: embedded, scale-out-1, scale-out-2")
    parser.add_argument("--first-start", action="store_true",
                        help="embedded: the bot's very first start (it embeds the reader's examples meanwhile)")
    args = parser.parse_args()
    asyncio.run(main_async(args.users, args.burst, [m.strip() for m in args.modes.split(",") if m.strip()],
                           first_start=args.first_start))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
