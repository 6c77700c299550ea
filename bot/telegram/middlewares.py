"""Request middleware: waits out 429s and retries network errors with backoff (aiogram does neither by itself)."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

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

