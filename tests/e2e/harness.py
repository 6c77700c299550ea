"""Starting the real bot process against the in-repo Bot API test server (helpers for end-to-end tests).

The fixtures that use these live in tests/e2e/conftest.py: `server`, `bot`, `start_bot`, and the two a module
overrides to change them, `server_options` and `bot_env`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.botapi import BotAPIServer, SentMessage
from tests.conftest import KNOWLEDGE, ROOT

TOKEN = "123456:TEST"
BOT_USERNAME = "readiness_bot"
GUIDANCE = (KNOWLEDGE / "guidance.md").read_text(encoding="utf-8")
# A guidance document an admin uploads in the tests: two sections the article does not have.
NEW_DOC = """---
title: 社群裂变活动手册
---
# 社群裂变活动手册

## 裂变海报设计 {#fission.poster}

裂变海报要把利益点写在第一屏：一句话说清楚用户扫码进群能得到什么，再配上倒计时和名额限制，制造紧迫感。

## 裂变活动风控 {#fission.risk}

裂变活动要提前设置防刷规则：同一设备只计一次邀请，异常账号的助力不计入奖励，并准备好奖品发放的客服话术。
""".encode()


class BotProcess:
    """`python -m bot run` as a child process, pointed at the test server with BOT_API_BASE."""

    def __init__(self, server: BotAPIServer, data_dir: Path, log_path: Path, **env: str) -> None:
        self.server = server
        self.data_dir = data_dir
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, *, timeout: float = 120) -> BotProcess:
        """Starts the bot and waits until it polls (or has set its webhook)."""
        env = dict(os.environ, BOT_TOKEN=TOKEN, BOT_API_BASE=self.server.base, DATA_DIR=str(self.data_dir),
                   HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", LOG_LEVEL="INFO",
                   PYTHONPATH=str(ROOT), **self.env)
        if "WEBHOOK_URL" not in self.env:
            env.pop("WEBHOOK_URL", None)
        polls_before = len(self.server.calls_to("getUpdates"))
        hooks_before = len(self.server.calls_to("setWebhook", ok=True))
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        proc = self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            await self.server.wait_for(
                lambda: len(self.server.calls_to("getUpdates")) > polls_before
                or len(self.server.calls_to("setWebhook", ok=True)) > hooks_before
                or proc.poll() is not None,
                timeout, description="the bot to start polling (or set its webhook)")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- bot log ---\n{self.log()}") from e
        if proc.poll() is not None:
            raise AssertionError(f"the bot exited with {proc.returncode}\n--- bot log ---\n{self.log()}")
        return self

    async def stop(self, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        """Sends `sig` (SIGTERM: a clean exit; SIGKILL: a crash) and returns the exit code (kill after `timeout`)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        for _ in range(int(timeout * 10)):
            if self.proc.poll() is not None:
                return self.proc.returncode
            await asyncio.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        raise AssertionError(f"the bot did not stop on {sig.name}\n--- bot log ---\n{self.log()}")

    async def restart(self, *, sig: signal.Signals = signal.SIGTERM) -> int:
        """Stops the bot with `sig`, starts it again and waits until it polls; returns the old process's exit code."""
        code = await self.stop(sig=sig)
        await self.start()
        return code

    def log(self) -> str:
        """What the bot printed (stdout and stderr), the last 6,000 characters."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:] if self.log_path.exists() else ""


StartBot = Callable[..., Awaitable[BotProcess]]
"""The `start_bot` fixture: `await start_bot(ADMIN_IDS="1")` starts one more bot process with those variables."""


def is_question(n: int) -> Callable[[SentMessage], object]:
    """Matches question `n` while its buttons are still on it."""
    return lambda m: f"第 {n}/20 题" in m.text and m.buttons


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_server_options(window: float) -> dict[str, object]:
    """The test server for group sessions: privacy mode on, Telegram's 20 messages per group scaled to `window` s."""
    from tests.botapi import FloodLimits

    limits = FloodLimits(group_limit=20, group_window=window, private_rate=100, private_burst=100, global_limit=1000)
    return {"privacy_mode": True, "flood_limits": limits}


def group_bot_env(window: float, **extra: str) -> dict[str, str]:
    """The bot paces itself to the same scaled limit; `extra` adds timers (grace period, time-box scale)."""
    return {"GROUP_RATE_LIMIT": "20", "GROUP_RATE_WINDOW": str(window), "GROUP_EDIT_INTERVAL": "0.5", **extra}
