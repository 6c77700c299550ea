"""Test tooling that ships with the adapter: a recording Bot API session and a client that feeds real updates.

    client = BotClient(dispatcher)
    await client.send("/start")
    await client.click("开始诊断")

Every request goes through the real aiogram Bot and Dispatcher; the session answers like Telegram would
(Message objects for sends and edits) and fails loudly on a method it was not taught.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
    User,
)

BOT_ID = 42


@dataclass
class Recorded:
    """One request the bot made."""

    method: TelegramMethod[Any]
    result: Any


@dataclass
class RecordingSession(BaseSession):
    """A Bot API session that records requests and answers them in memory."""

    requests: list[Recorded] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        super().__init__()

    def _message(self, chat_id: int | str, text: str | None = None, markup: Any = None,
                 message_id: int | None = None, **extra: Any) -> Message:
        return Message(
            message_id=message_id or next(self._ids), date=datetime.now(UTC),
            chat=Chat(id=int(chat_id), type="private" if int(chat_id) > 0 else "supergroup"),
            from_user=User(id=BOT_ID, is_bot=True, first_name="bot"), text=text,
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None, **extra,
        )

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None) -> Any:
        """Answers like Telegram; unknown methods fail the test."""
        result: Any
        if isinstance(method, SendMessage):
            result = self._message(method.chat_id, method.text, method.reply_markup)
        elif isinstance(method, EditMessageText):
            result = self._message(method.chat_id or 0, method.text, method.reply_markup,
                                   message_id=method.message_id)
        elif isinstance(method, SendPhoto):
            result = self._message(method.chat_id, None, None, caption=method.caption,
                                   photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)])
        elif isinstance(method, SendDocument):
            result = self._message(method.chat_id, None, None, caption=method.caption,
                                   document=Document(file_id="d", file_unique_id="d"))
        elif isinstance(method, GetMe):
            result = User(id=BOT_ID, is_bot=True, first_name="bot", username="readiness_bot")
        elif isinstance(method, (AnswerCallbackQuery, EditMessageReplyMarkup, DeleteMessage, SendChatAction,
                                 SetMyCommands)):
            result = True
        else:
            raise AssertionError(f"unexpected Bot API call {type(method).__name__}")
        self.requests.append(Recorded(method, result))
        return result

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,
                             chunk_size: int = 65536, raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        """Not used by these tests."""
        raise AssertionError("unexpected download")
        yield b""  # pragma: no cover

    async def close(self) -> None:
        """Nothing to close."""

    def of(self, kind: type) -> list[Any]:
        """Recorded requests of one method type."""
        return [r.method for r in self.requests if isinstance(r.method, kind)]


class BotClient:
    """Acts as one user in a private chat: sends messages and presses buttons through the real dispatcher."""

    def __init__(self, dispatcher: Dispatcher, *, user_id: int = 1001, first_name: str = "测试用户") -> None:
        self.dp = dispatcher
        self.session = RecordingSession()
        self.bot = Bot("42:TEST", session=self.session)
        self.user = User(id=user_id, is_bot=False, first_name=first_name)
        self.chat = Chat(id=user_id, type="private")
        self._updates = itertools.count(1)
        self._messages = itertools.count(1)

    async def send(self, text: str) -> None:
        """The user sends a text message."""
        message = Message(message_id=next(self._messages), date=datetime.now(UTC), chat=self.chat,
                          from_user=self.user, text=text)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._updates), message=message))

    def last_keyboard_message(self) -> Recorded:
        """The latest request that carried an inline keyboard."""
        for r in reversed(self.session.requests):
            markup = getattr(r.method, "reply_markup", None)
            if isinstance(markup, InlineKeyboardMarkup) and isinstance(r.result, Message):
                return r
        raise AssertionError("the bot has not sent any buttons")

    def keyboard_with(self, text: str) -> Recorded:
        """The latest request whose inline keyboard has a button containing `text` (an older message's button)."""
        for r in reversed(self.session.requests):
            markup = getattr(r.method, "reply_markup", None)
            if isinstance(markup, InlineKeyboardMarkup) and isinstance(r.result, Message) and any(
                    text in b.text for row in markup.inline_keyboard for b in row):
                return r
        raise AssertionError(f"the bot has not sent a button {text!r}")

    async def click(self, text: str | None = None, *, data: str | None = None,
                    message_id: int | None = None, on: Recorded | None = None) -> str:
        """Presses a button of the latest keyboard, or of `on` (by text, or raw/forged `data`); returns the query id."""
        recorded = on or self.last_keyboard_message()
        if data is None:
            markup = recorded.method.reply_markup
            buttons = [b for row in markup.inline_keyboard for b in row]
            matches = [b for b in buttons if text is not None and (b.text == text or text in b.text)]
            if not matches:
                raise AssertionError(f"no button {text!r} in {[b.text for b in buttons]}")
            data = matches[0].callback_data
        query_id = f"q{next(self._updates)}"
        message = recorded.result if message_id is None else self.session._message(self.chat.id, "old",
                                                                                    message_id=message_id)
        query = CallbackQuery(id=query_id, from_user=self.user, chat_instance="ci", data=data, message=message)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._updates), callback_query=query))
        return query_id

    def answers_to(self, query_id: str) -> list[AnswerCallbackQuery]:
        """The bot's answers to one callback query."""
        return [m for m in self.session.of(AnswerCallbackQuery) if m.callback_query_id == query_id]

    def texts(self) -> list[str]:
        """Every text the bot sent or edited, in order."""
        return [m.text for m in self.session.of(SendMessage) + self.session.of(EditMessageText)]

    def last_text(self) -> str:
        """The text of the bot's most recent send or edit."""
        for r in reversed(self.session.requests):
            if isinstance(r.method, (SendMessage, EditMessageText)):
                return r.method.text
        raise AssertionError("the bot has not sent any text")
