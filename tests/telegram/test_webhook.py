"""The webhook as Telegram uses it: real HTTP deliveries to the bot's aiohttp application (`webhook_app`), two
instances on one database (both engines). A delivery is answered only once its update was handled; one whose
instance died before answering is handled when delivered again (by the other instance, once the claim's lease has
lapsed); one stopped by a shutdown is handled at once; a handler error is acknowledged and never handled again; a
press handled that late is not stopped by its expired callback answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiohttp import web

from bot.db import SeenUpdates, open_db
from bot.ops import Metrics
from bot.telegram.app import ServicesGate, webhook_app
from bot.telegram.middlewares import UpdateObserver
from bot.telegram.routers import errors
from bot.telegram.testing import RecordingSession

TOKEN = "123456:TEST"
SECRET = "hook-Secret_1"
USER = {"id": 1001, "is_bot": False, "first_name": "孙八"}


class Clock:
    """A wall clock the test moves (the claims' leases run on it)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Script:
    """What the handlers do: each message is logged when it starts and when it ends; "hold" waits until the test
    lets that instance go (`go[name]`; never, for an instance that dies meanwhile), "boom" fails."""

    log: list[str] = field(default_factory=list)
    go: defaultdict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))

    def router(self, instance: str) -> Router:
        router = Router(name=f"script-{instance}")

        async def handle(message: Message) -> None:
            self.log.append(f"{instance} starts {message.text}")
            if message.text == "boom":
                raise RuntimeError("the handler failed")
            if message.text == "hold":
                await self.go[instance].wait()
            self.log.append(f"{instance} handled {message.text}")

        router.message.register(handle)
        return router

    async def until(self, line: str) -> None:
        """Waits until `line` is in the log."""
        deadline = time.monotonic() + 15
        while line not in self.log:
            assert time.monotonic() < deadline, f"waited for {line!r}: {self.log}"
            await asyncio.sleep(0.01)


@dataclass
class Instance:
    """One bot instance's webhook server."""

    url: str
    metrics: Metrics
    session: RecordingSession
    stop: Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def instance(name: str, database: Path | str, script: Script, clock: Clock) -> AsyncIterator[Instance]:
    """Serves the webhook of an instance (its own database connection) on a free port, as `run_telegram` does."""
    async with open_db(database) as db:
        session = RecordingSession()
        bot = Bot(TOKEN, session=session)
        gate = ServicesGate()
        dp = Dispatcher()
        dp.update.outer_middleware(gate)
        dp.update.outer_middleware(UpdateObserver())
        dp.include_routers(script.router(name), errors.make_router())
        metrics = Metrics()
        gate.provide(seen_updates=SeenUpdates(db, clock=clock), metrics=metrics)
        runner = web.AppRunner(webhook_app(dp, bot, gate, path="/hook", secret=SECRET), shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        stopped = False

        async def stop() -> None:
            nonlocal stopped
            if not stopped:
                stopped = True
                await runner.cleanup()  # handlers still running are cancelled

        try:
            yield Instance(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", metrics, session, stop)
        finally:
            await stop()


def update(update_id: int, text: str) -> dict[str, object]:
    """A private message from the user, as Telegram posts it."""
    return {"update_id": update_id, "message": {"message_id": update_id, "date": int(time.time()),
                                                "chat": {**USER, "type": "private"}, "from": USER, "text": text}}


async def deliver(to: Instance, body: dict[str, object], log: list[str] | None = None,
                  secret: str = SECRET) -> tuple[int, dict[str, str]]:
    """POSTs the update like Telegram; returns the answer's status and headers (noted in `log` when it comes)."""
    async with aiohttp.ClientSession() as http, \
            http.post(to.url, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as response:
        await response.read()
        if log is not None:
            log.append(f"answered {body['update_id']}: {response.status}")
        return response.status, dict(response.headers)


async def test_a_delivery_is_answered_only_once_its_update_was_handled(database: Path | str) -> None:
    script, clock = Script(), Clock()
    async with instance("a", database, script, clock) as a:
        assert (await deliver(a, update(1, "hold"), secret="wrong"))[0] == 401, "the secret is checked first"
        answer = asyncio.create_task(deliver(a, update(1, "hold"), script.log))
        await script.until("a starts hold")
        assert not answer.done(), "no answer while the handler runs"
        script.go["a"].set()
        status, _ = await answer
    assert status == 200
    assert script.log == ["a starts hold", "a handled hold", "answered 1: 200"], "the answer came after the handling"


async def test_a_delivery_whose_instance_died_is_handled_when_telegram_delivers_it_again(
        database: Path | str) -> None:
    script, clock = Script(), Clock()
    async with instance("a", database, script, clock) as a, instance("b", database, script, clock) as b:
        # Instance a takes the delivery and dies before answering: Telegram's connection drops, no 200 came.
        first = asyncio.create_task(deliver(a, update(2, "hold"), script.log))
        await script.until("a starts hold")
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first

        # Telegram delivers it again, through the load balancer to b: a's claim still runs, so "try again later".
        status, headers = await deliver(b, update(2, "hold"), script.log)
        assert status == 429 and 1 <= int(headers["Retry-After"]) <= 5
        assert "b starts hold" not in script.log, "not handled twice while the first delivery may still be at it"

        # Later, a's claim has lapsed (nothing renewed or finished it): b handles the update, then answers.
        clock.now += SeenUpdates.LEASE_SECONDS + 1
        script.go["b"].set()  # b's handling is not held; a stays dead (its handler never goes on)
        script.log.clear()
        assert (await deliver(b, update(2, "hold"), script.log))[0] == 200
        assert script.log[0] == "b starts hold" and script.log[-1] == "answered 2: 200", script.log
        assert "b handled hold" in script.log

        # Any later delivery of it is dropped, on either instance.
        script.log.clear()
        assert (await deliver(a, update(2, "hold")))[0] == 200
        assert (await deliver(b, update(2, "hold")))[0] == 200
        assert not [line for line in script.log if "starts" in line], script.log
        assert b.metrics.duplicates._value.get() == 1 and a.metrics.duplicates._value.get() == 1


async def test_a_delivery_stopped_by_a_shutdown_is_handled_at_once_by_the_next_delivery(
        database: Path | str) -> None:
    script, clock = Script(), Clock()
    async with instance("a", database, script, clock) as a, instance("b", database, script, clock) as b:
        first = asyncio.create_task(deliver(a, update(3, "hold"), script.log))
        await script.until("a starts hold")
        await a.stop()  # a deploy stops instance a: its handler is cancelled and gives its claim up
        with pytest.raises(aiohttp.ClientError):
            await first
        script.go["b"].set()
        assert (await deliver(b, update(3, "hold"), script.log))[0] == 200, "no wait for a's lease"
    assert script.log[-2:] == ["b handled hold", "answered 3: 200"], script.log


async def test_a_handler_error_is_acknowledged_and_not_handled_again(database: Path | str) -> None:
    script, clock = Script(), Clock()
    async with instance("a", database, script, clock) as a:
        assert (await deliver(a, update(4, "boom")))[0] == 200, "a poison update must not come back forever"
        assert any(m.text == errors.SORRY for m in a.session.of(SendMessage)), "the user was told"
        assert (await deliver(a, update(4, "boom")))[0] == 200
    assert script.log == ["a starts boom"], "handled once"


async def test_a_press_handled_late_is_not_stopped_by_its_expired_callback_answer() -> None:
    # A press delivered again after its first instance died is handled after Telegram stopped waiting for its answer.
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import AnswerCallbackQuery

    from bot.telegram.middlewares import LateCallbackAnswers

    async def telegram(bot: Bot, method: object) -> object:
        message = "Bad Request: query is too old and response timeout expired or query ID is invalid" \
            if isinstance(method, AnswerCallbackQuery) else "Bad Request: message text is empty"
        raise TelegramBadRequest(method=method, message=message)  # type: ignore[arg-type]

    late = LateCallbackAnswers()
    assert await late(telegram, None, AnswerCallbackQuery(callback_query_id="1")) is True  # type: ignore[arg-type]
    with pytest.raises(TelegramBadRequest):
        await late(telegram, None, SendMessage(chat_id=1, text=""))  # type: ignore[arg-type]
