"""Starting the real bot process against the in-repo Bot API test server (helpers for end-to-end tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.botapi import BotAPIServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST"


class BotProcess:
    """`python -m bot` as a child process, pointed at the test server with BOT_API_BASE."""

    def __init__(self, server: BotAPIServer, data_dir: Path, log_path: Path, **env: str) -> None:
        self.server = server
        self.data_dir = data_dir
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, *, timeout: float = 120) -> BotProcess:
        """Starts the bot and waits until it polls."""
        env = dict(os.environ, BOT_TOKEN=TOKEN, BOT_API_BASE=self.server.base, DATA_DIR=str(self.data_dir),
                   HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", LOG_LEVEL="INFO",
                   PYTHONPATH=str(ROOT), **self.env)
        if "WEBHOOK_URL" not in self.env:
            env.pop("WEBHOOK_URL", None)
        polls_before = len(self.server.calls_to("getUpdates"))
        hooks_before = len(self.server.calls_to("setWebhook", ok=True))
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            await self.server.wait_for(
                lambda: len(self.server.calls_to("getUpdates")) > polls_before
                or len(self.server.calls_to("setWebhook", ok=True)) > hooks_before
                or self.proc.poll() is not None,
                timeout, description="the bot to start polling (or set its webhook)")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- bot log ---\n{self.log()}") from e
        if self.proc.poll() is not None:
            raise AssertionError(f"the bot exited with {self.proc.returncode}\n--- bot log ---\n{self.log()}")
        return self

    async def stop(self, *, timeout: float = 60) -> int:
        """SIGTERM, then wait for a clean exit (kill after `timeout`)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        for _ in range(int(timeout * 10)):
            if self.proc.poll() is not None:
                return self.proc.returncode
            await asyncio.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        raise AssertionError(f"the bot did not stop on SIGTERM\n--- bot log ---\n{self.log()}")

    def log(self) -> str:
        """What the bot printed."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:] if self.log_path.exists() else ""
