"""The error router: logs with the update id, tells the user, never lets a handler kill polling."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import ErrorEvent, Message

logger = logging.getLogger(__name__)

SORRY = "抱歉，处理这条消息时出错了，请稍后重试，或发送 /help。"


async def handle_error(event: ErrorEvent, bot: Bot) -> bool:
    """Logs the failure and apologises to the user when possible."""
    update = event.update
    if isinstance(event.exception, TelegramForbiddenError):
        logger.info("update %s: %s — carrying on", update.update_id, event.exception.message)
        return True
    logger.error("update %s failed: %r", update.update_id, event.exception, exc_info=event.exception)
    chat_id = None
    thread_id = None  # a forum topic: apologise where the user is
    message = update.message
    if message is None and update.callback_query is not None and isinstance(update.callback_query.message, Message):
        message = update.callback_query.message
    if message is not None:
        chat_id = message.chat.id
        thread_id = message.message_thread_id if message.is_topic_message else None
    if chat_id is not None:
        try:
            await bot.send_message(chat_id, SORRY, message_thread_id=thread_id)
        except Exception:  # noqa: BLE001 - the apology itself failing must not raise again
            logger.warning("could not tell chat %s about the error", chat_id)
    return True


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.errors.register(handle_error)
    return router
