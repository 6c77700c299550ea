"""Test tooling that ships with the adapter: a recording Bot API session and a client that feeds real updates.

    client = BotClient(dispatcher)                  # one user in a private chat
    await client.send("/start")
    await client.click("开始诊断")

    group = GroupClient(dispatcher, -100777, members={1: "Alice", 2: "Bob", 3: "管理员"}, admins={3})
    alice, bob, admin = group.members               # a team in a group chat (getChatMember answered)
    await group.command(alice, "/diagnose")
    assert "只有发起人或群管理员" in await group.press(bob, "开始答题")

Every request goes through the real aiogram Bot and Dispatcher; the session answers like Telegram would
(Message objects for sends and edits) and fails loudly on a method it was not taught.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Iterable, Mapping
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
    GetChatMember,
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
    ChatMemberMember,
    ChatMemberOwner,
    Document,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
    User,
)

from bot.telegram.callbacks import GroupVoteCb

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
            markup = getattr(recorded.method, "reply_markup", None)
            assert isinstance(markup, InlineKeyboardMarkup), "that message has no inline keyboard"
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
                return str(r.method.text)
        raise AssertionError("the bot has not sent any text")


@dataclass
class GroupSession(RecordingSession):
    """The recording session, also answering getChatMember (`admins` are the group's owners)."""

    admins: set[int] = field(default_factory=set)

    async def make_request(self, bot: Bot, method: Any, timeout: int | None = None) -> Any:
        """Answers getChatMember from `admins`; everything else like the recording session."""
        if isinstance(method, GetChatMember):
            user = User(id=method.user_id, is_bot=False, first_name="x")
            result: Any = (ChatMemberOwner(user=user, is_anonymous=False)
                           if method.user_id in self.admins else ChatMemberMember(user=user))
            self.requests.append(Recorded(method, result))
            return result
        return await super().make_request(bot, method, timeout)


class GroupClient:
    """Several members of one group acting through the same dispatcher: commands and button presses."""

    def __init__(self, dispatcher: Dispatcher, chat_id: int, *, members: Mapping[int, str],
                 admins: Iterable[int] = (), title: str = "团队") -> None:
        self.dp = dispatcher
        self.session = GroupSession(admins=set(admins))
        self.bot = Bot("42:TEST", session=self.session)
        self.chat = Chat(id=chat_id, type="supergroup", title=title)
        self.members = [User(id=user_id, is_bot=False, first_name=name) for user_id, name in members.items()]
        self._ids = itertools.count(1)

    async def command(self, member: User, text: str) -> None:
        """The member sends a command (e.g. "/diagnose") to the group."""
        assert text.startswith("/"), f"not a command: {text!r}"
        message = Message(message_id=next(self._ids), date=datetime.now(UTC), chat=self.chat, from_user=member,
                          text=text)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._ids), message=message))

    async def press(self, member: User, button: str | None = None, *, data: str | None = None,
                    message: Message | None = None) -> str:
        """Presses a button (by text, or raw `data`) of `message` or the latest keyboard; returns the answer text."""
        message = message or self.keyboard_messages()[-1]
        if data is None:
            buttons = [b for row in message.reply_markup.inline_keyboard for b in row]  # type: ignore[union-attr]
            matches = [b.callback_data for b in buttons if button and button in b.text]
            if not matches:
                raise AssertionError(f"no button {button!r} in {[b.text for b in buttons]}")
            data = matches[0]
        query_id = f"q{next(self._ids)}"
        query = CallbackQuery(id=query_id, from_user=member, chat_instance="ci", data=data, message=message)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._ids), callback_query=query))
        answers = [m for m in self.session.of(AnswerCallbackQuery) if m.callback_query_id == query_id]
        assert len(answers) == 1, "every press is answered exactly once"
        return answers[0].text or ""

    def keyboard_messages(self) -> list[Message]:
        """The messages the bot sent with buttons, in order."""
        return [r.result for r in self.session.requests
                if isinstance(r.method, SendMessage) and isinstance(r.method.reply_markup, InlineKeyboardMarkup)]

    def vote_options(self, message: Message) -> list[str]:
        """The callback data of a question's vote buttons, in the order shown."""
        prefix = GroupVoteCb.__prefix__ + GroupVoteCb.__separator__
        rows = message.reply_markup.inline_keyboard  # type: ignore[union-attr]
        return [data for row in rows if (data := row[0].callback_data) and data.startswith(prefix)]

    def edits_of(self, message_id: int) -> list[EditMessageText]:
        """The bot's edits of one message, in order."""
        return [m for m in self.session.of(EditMessageText) if m.message_id == message_id]

    async def settle(self) -> None:
        """Waits for the coalesced edits (vote counts) the bot has pending."""
        await self.dp["group_view"].tallies.drain()
