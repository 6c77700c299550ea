"""Fake Telegram Bot API server for end-to-end tests.

Typical use::

    async with BotAPIServer(token="123456:TEST", bot_username="readiness_bot") as server:
        bot = Bot(server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base)))
        user = server.user(1001, first_name="Alice")
        sent = user.send("/start")
        reply = await server.wait_for_message(user.chat_id, after=sent)
"""

from __future__ import annotations

from .entities import (
    EntityParseError,
    ParsedText,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
    parse_text,
    utf16_len,
)
from .flood import FloodControl, FloodLimits
from .models import ApiCall, ApiError, Button, CallbackAnswer, SentMessage, StoredFile, Undelivered, WebhookDelivery
from .server import MB, BotAPIServer, Params, SimUser, image_size

__all__ = [
    "MB",
    "ApiCall",
    "ApiError",
    "BotAPIServer",
    "Button",
    "CallbackAnswer",
    "EntityParseError",
    "FloodControl",
    "FloodLimits",
    "Params",
    "ParsedText",
    "SentMessage",
    "SimUser",
    "StoredFile",
    "Undelivered",
    "WebhookDelivery",
    "image_size",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "utf16_len",
]
