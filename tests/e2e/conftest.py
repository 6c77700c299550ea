"""End-to-end fixtures: the Bot API test server on 127.0.0.1 and the real bot process against it.

    server        the test server (options from `server_options`)
    bot           the bot, started with `bot_env` and polling; stopped after the test
    start_bot     starts another bot process with its own environment (e.g. webhook mode); stopped after the test

A module changes them by overriding `server_options` (privacy mode, flood limits) or `bot_env` (ADMIN_IDS, group
rate limits). When a test fails, the log of every bot process it started is added to the report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest

from tests.botapi import BotAPIServer
from tests.e2e.harness import BOT_USERNAME, TOKEN, BotProcess, StartBot

STARTED = pytest.StashKey[list[BotProcess]]()


@pytest.fixture
def server_options() -> dict[str, Any]:
    """Keyword arguments of the test server beyond token and username: private chats, flood control off."""
    return {"flood_enabled": False}


@pytest.fixture
def bot_env() -> dict[str, str]:
    """Environment variables of the bot process beyond token, API base and data dir."""
    return {}


@pytest.fixture
async def server(server_options: dict[str, Any]) -> AsyncIterator[BotAPIServer]:
    """The Bot API test server on 127.0.0.1."""
    async with BotAPIServer(token=TOKEN, bot_username=BOT_USERNAME, **server_options) as srv:
        yield srv


@pytest.fixture
async def start_bot(server: BotAPIServer, data_dir: Path, tmp_path: Path,
                    request: pytest.FixtureRequest) -> AsyncIterator[StartBot]:
    """Starts `python -m bot run` with extra environment variables and waits until it polls; stops each after."""
    started = request.node.stash.setdefault(STARTED, [])

    async def start(**env: str) -> BotProcess:
        name = "bot.log" if not started else f"bot-{len(started) + 1}.log"
        proc = BotProcess(server, data_dir, tmp_path / name, **env)
        started.append(proc)
        return await proc.start()

    yield start
    for proc in started:
        await proc.stop()


@pytest.fixture
async def bot(start_bot: StartBot, bot_env: dict[str, str]) -> BotProcess:
    """The bot, polling the test server."""
    return await start_bot(**bot_env)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Adds each started bot's output to the report of a failed test."""
    report = yield
    if report.failed:
        for proc in item.stash.get(STARTED, []):
            report.sections.append((f"bot output ({proc.log_path.name})", proc.log()))
    return report
