"""Middlewares: requests wait out 429s and retry network errors with backoff (aiogram does neither by itself) and
are paced per group; a callback query answered too late does not stop its handler; Bot API errors and updates are
counted for /metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, Update

if TYPE_CHECKING:
    from bot.coordination import Coordinator
    from bot.ops import Metrics

logger = logging.getLogger(__name__)


class RetryMiddleware(BaseRequestMiddleware):
    """Retries a request after `retry_after` on 429, and with exponential backoff on network/5xx errors."""

    def __init__(self, *, max_retries: int = 8, max_wait: float = 60.0, base_delay: float = 0.5) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.base_delay = base_delay

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        """Sends the request, retrying what Telegram asks to retry."""
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as e:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                wait = min(float(e.retry_after), self.max_wait)
                logger.warning("429 on %s: waiting %.1f s (attempt %d)", type(method).__name__, wait, attempt)
                await asyncio.sleep(wait)
            except (TelegramNetworkError, TelegramServerError) as e:
                if isinstance(method, GetUpdates):
                    raise  # the polling loop has its own backoff
                attempt += 1
                if attempt > self.max_retries:
                    raise
                wait = min(self.base_delay * 2 ** (attempt - 1), self.max_wait)
                logger.warning("%s on %s: retrying in %.1f s", type(e).__name__, type(method).__name__, wait)
                await asyncio.sleep(wait)



class LateCallbackAnswers(BaseRequestMiddleware):
    """A callback query answered after Telegram stopped waiting for it ("query is too old") is let go: the press
    still takes effect, only its little notice is lost.

    It happens when a press is handled late — delivered again after the instance that first took it died — and
    the handler must go on past `query.answer()` to record the press and show what follows.
    """

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        """Sends the request; an expired callback answer counts as sent."""
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as e:
            if not (isinstance(method, AnswerCallbackQuery) and "query is too old" in e.message):
                raise
            logger.info("callback query %s answered too late: carrying on", method.callback_query_id)
            return True  # type: ignore[return-value]  # what answerCallbackQuery returns


# Methods Telegram counts against a group's ~20 messages a minute (edits included, in practice).
PACED_METHODS = frozenset({
    "sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage", "forwardMessage",
    "editMessageText", "editMessageReplyMarkup", "editMessageCaption",
})


class GroupPacer(BaseRequestMiddleware):
    """Keeps the bot under a group's message limit: at most `limit` counted calls per chat in any `window`.

    A call that would exceed the limit waits for a slot instead of drawing a 429; private chats are not paced. The
    window is kept by the `coordinator`: in this process by default, in Redis (REDIS_URL) so that it is the group's
    across every instance of the bot.
    """

    def __init__(self, *, limit: int = 20, window: float = 60.0, coordinator: Coordinator | None = None) -> None:
        from bot.coordination import LocalCoordinator

        self.limit = limit
        self.window = window
        self.coordinator: Coordinator = coordinator or LocalCoordinator()
        self._locks: dict[int, asyncio.Lock] = {}

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        """Waits for a free slot in the chat's window, then sends."""
        chat_id = getattr(method, "chat_id", None)
        if not (isinstance(chat_id, int) and chat_id < 0 and method.__api_method__ in PACED_METHODS):
            return await make_request(bot, method)
        key = f"pace:{chat_id}"
        async with self._locks.setdefault(chat_id, asyncio.Lock()):  # FIFO: calls leave in the order they asked
            while True:
                wait, slot = await self.coordinator.take_slot(key, self.limit, self.window)
                if not wait:
                    break
                logger.info("group %s: %d messages in the last %.0f s, waiting %.1f s", chat_id, self.limit,
                            self.window, wait)
                await asyncio.sleep(max(wait, 0.01))
        try:
            return await make_request(bot, method)
        finally:
            # Telegram counts the call when it arrives, a little after the slot was taken.
            await self.coordinator.restamp(key, slot)


class ApiMetrics(BaseRequestMiddleware):
    """Counts Bot API errors and 429s in the metrics, once they are there (the session exists before them)."""

    def __init__(self) -> None:
        self.metrics: Metrics | None = None

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        """Sends the request; an error answer is counted by method and code."""
        try:
            return await make_request(bot, method)
        except TelegramAPIError as e:
            if self.metrics is not None:
                name = type(method).__name__
                code = "429" if isinstance(e, TelegramRetryAfter) else str(getattr(e, "status_code", "") or
                                                                         type(e).__name__)
                self.metrics.api_errors.labels(method=name, code=code).inc()
                if isinstance(e, TelegramRetryAfter):
                    self.metrics.api_429.labels(method=name).inc()
            raise


class UpdateObserver(BaseMiddleware):
    """Counts every update and times its handling (a webhook delivery Telegram repeats is dropped before it gets
    here: `bot.telegram.app.WebhookHandler`).

    Sits after the services gate (it needs `metrics` from the handler data).
    """

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        """Runs the handler and records the time it took."""
        metrics: Metrics | None = data.get("metrics")
        kind = getattr(event, "event_type", "unknown") if isinstance(event, Update) else type(event).__name__
        start = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            if metrics is not None:
                metrics.updates.labels(type=kind).inc()
                metrics.handler_seconds.labels(type=kind).observe(time.perf_counter() - start)


class PinResponseTypes(BaseRequestMiddleware):
    """Keeps each method's `Response[...]` model alive.

    aiogram builds `Response[method.__returning__]` for every answer; pydantic caches parametrised models only
    weakly, and these classes sit in reference cycles, so each cyclic garbage collection dropped them and the next
    answer rebuilt a pydantic model class (~2 % of the bot's busy time under load, by py-spy). One strong
    reference per method makes every later lookup a cache hit.
    """

    def __init__(self) -> None:
        self._pinned: dict[type, object] = {}

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        """Pins the method's response model, then sends the request."""
        kind = type(method)
        if kind not in self._pinned:
            self._pinned[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await make_request(bot, method)
