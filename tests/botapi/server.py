"""A fake Telegram Bot API server for end-to-end tests of a bot.

The server speaks the Bot API over HTTP (aiohttp, bound to ``127.0.0.1`` on a free port), so a
real bot - e.g. an aiogram ``Bot`` with
``AiohttpSession(api=TelegramAPIServer.from_base(server.base))`` - talks to it unchanged.  It
enforces Telegram's server-side rules (text and caption limits after entity parsing, HTML and
MarkdownV2 parsing errors, inline keyboard limits, "message is not modified", callback query
expiry, flood limits with 429, blocked users, kicked bots, upload limits, webhook/polling
conflicts, group privacy mode) and answers with the exact error descriptions Telegram uses.

Tests act as Telegram users through :class:`SimUser` (``server.user(...)``) and read what the
bot did through :meth:`BotAPIServer.messages`, :attr:`BotAPIServer.calls` and the ``wait_for*``
helpers, which are event driven and explain on timeout what the bot actually sent.

The server must run in the event loop of the test (``await server.start()`` or
``async with BotAPIServer(...) as server``); the simulation methods of :class:`SimUser` are
plain synchronous calls that enqueue updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import itertools
import json
import logging
import mimetypes
import re
import secrets
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.serving import Serving

from .entities import (
    EntityParseError,
    ParsedText,
    UnsupportedParseMode,
    parse_text,
    strip_parsed,
    utf16_len,
)
from .flood import FloodControl, FloodLimits
from .models import (
    ApiCall,
    ApiError,
    CallbackAnswer,
    SentMessage,
    StoredFile,
    Undelivered,
    WebhookDelivery,
)

__all__ = ["BotAPIServer", "Params", "SimUser", "MB"]

log = logging.getLogger(__name__)

MB = 1024 * 1024

# Exact descriptions (see shared/TELEGRAM_LIMITS.md).
ERR_UNAUTHORIZED = "Unauthorized"
ERR_METHOD_NOT_FOUND = "Not Found: method not found"
ERR_CHAT_NOT_FOUND = "Bad Request: chat not found"
ERR_CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
ERR_CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
ERR_BLOCKED = "Forbidden: bot was blocked by the user"
ERR_TEXT_EMPTY = "Bad Request: message text is empty"
ERR_EDIT_TEXT_EMPTY = "Bad Request: text must be non-empty"
ERR_TEXT_TOO_LONG = "Bad Request: message is too long"
ERR_EDIT_TEXT_TOO_LONG = "Bad Request: MESSAGE_TOO_LONG"
ERR_CAPTION_TOO_LONG = "Bad Request: message caption is too long"
ERR_PARSE_ENTITIES = "Bad Request: can't parse entities: "
ERR_PARSE_MODE = "Bad Request: unsupported parse_mode"
ERR_BUTTON_DATA = "Bad Request: BUTTON_DATA_INVALID"
ERR_TEXT_BUTTONS = "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
ERR_MARKUP_TOO_LONG = "Bad Request: reply markup is too long"
ERR_MARKUP_JSON = "Bad Request: can't parse reply keyboard markup JSON object"
ERR_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
ERR_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
ERR_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
ERR_REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
ERR_CANT_EDIT = "Bad Request: message can't be edited"
ERR_CANT_DELETE = "Bad Request: message can't be deleted"
ERR_NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
ERR_NO_CAPTION_TO_EDIT = "Bad Request: there is no caption in the message to edit"
ERR_MESSAGE_ID_EMPTY = "Bad Request: message identifier is not specified"
ERR_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
ERR_ANSWER_TOO_LONG = "Bad Request: MESSAGE_TOO_LONG"
ERR_FILE_TOO_BIG = "Bad Request: file is too big"
ERR_FILE_EMPTY = "Bad Request: file must be non-empty"
ERR_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
ERR_INVALID_FILE_ID = "Bad Request: invalid file_id"
ERR_IMAGE_FAILED = "Bad Request: IMAGE_PROCESS_FAILED"
ERR_PHOTO_DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"
ERR_THREAD_NOT_FOUND = "Bad Request: message thread not found"
ERR_BOT_COMMAND = "Bad Request: BOT_COMMAND_INVALID"
ERR_TOO_MANY_COMMANDS = "Bad Request: BOT_COMMANDS_TOO_MUCH"
ERR_SECRET_CHARS = "Bad Request: secret token contains unallowed characters"
ERR_WEBHOOK_HTTPS = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
ERR_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
ERR_CONFLICT_POLL = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
ERR_USER_NOT_FOUND = "Bad Request: user not found"
ERR_NO_ADMINS_PRIVATE = "Bad Request: there are no administrators in the private chat"
ERR_CHAT_ACTION = "Bad Request: wrong parameter action in request"

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "callback_game",
    "pay",
    "copy_text",
)
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
        "reply_parameters",
        "link_preview_options",
        "media",
        "message_ids",
        "menu_button",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "message_thread_id",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "until_date",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "show_alert",
        "drop_pending_updates",
        "disable_content_type_detection",
        "has_spoiler",
        "disable_web_page_preview",
        "show_caption_above_media",
        "allow_paid_broadcast",
        "revoke_messages",
        "only_if_banned",
    }
)
_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")
_BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

MessageRef = int | SentMessage | dict


# --------------------------------------------------------------------------- request params


@dataclass
class UploadedPart:
    """A file part of a multipart request."""

    filename: str | None
    data: bytes
    content_type: str | None


class Params:
    """Request parameters normalised from multipart, urlencoded, query-string or JSON bodies.

    JSON-typed fields (``reply_markup``, ``entities`` ...) are decoded when they arrive as
    strings, well-known integer and boolean fields are converted; everything else stays as sent.
    """

    def __init__(self, values: dict[str, Any], files: dict[str, UploadedPart] | None = None) -> None:
        self.files: dict[str, UploadedPart] = dict(files or {})
        self.bad_json: set[str] = set()
        self.values: dict[str, Any] = {}
        for key, value in values.items():
            self.values[key] = self._normalise(key, value)

    def _normalise(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if key in _JSON_FIELDS:
                if value == "":
                    return None
                try:
                    return json.loads(value)
                except ValueError:
                    self.bad_json.add(key)
                    return value
            if key in _INT_FIELDS and re.fullmatch(r"\s*-?\d+\s*", value):
                return int(value)
            if key in _BOOL_FIELDS and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
        return value

    def present(self, name: str) -> bool:
        """Whether ``name`` was sent with a non-empty value."""
        value = self.values.get(name)
        return value is not None and value != ""

    def get(self, name: str, default: Any = None) -> Any:
        """The normalised value."""
        value = self.values.get(name)
        return default if value is None else value

    def get_str(self, name: str, default: str | None = None) -> str | None:
        """The value as a string (JSON values re-encoded)."""
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def get_int(self, name: str, default: int | None = None, *, required: str | None = None) -> int | None:
        """The value as an int; ``required`` is the error description when it is missing."""
        value = self.values.get(name)
        if value is None or value == "":
            if required is not None:
                raise ApiError(400, required)
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise ApiError(400, f"Bad Request: invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        """The value as a bool (``"true"``/``"false"``/``1``/``0``)."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return bool(value)
        return str(value).strip().lower() in ("true", "1", "yes", "on")

    def get_json(self, name: str, error: str) -> Any:
        """The decoded JSON value (``None`` if absent); ``error`` if it is not valid JSON."""
        if name in self.bad_json:
            raise ApiError(400, error)
        return self.values.get(name)


# --------------------------------------------------------------------------- chats and users


@dataclass(eq=False)
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    is_forum: bool = False
    user: SimUser | None = None
    creator: int | None = None
    admins: set[int] = field(default_factory=set)
    members: set[int] = field(default_factory=set)
    bot_status: str = "member"  # member | administrator | kicked | left
    started: bool = False
    blocked: bool = False
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    sent: dict[int, SentMessage] = field(default_factory=dict)
    topics: set[int] = field(default_factory=set)
    next_message_id: int = 1
    privacy_mode: bool | None = None

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def new_message_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid

    def to_dict(self) -> dict[str, Any]:
        if self.type == "private" and self.user is not None:
            data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        data = {"id": self.id, "type": self.type, "title": self.title or ""}
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class _Query:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    created: float
    answered: bool = False


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Poll:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    terminated: bool = False


@dataclass
class _InjectedError:
    remaining: int
    error_code: int
    description: str
    method: str | None
    chat_id: int | None
    retry_after: int | None


class SimUser:
    """A simulated Telegram user.  Obtain one with :meth:`BotAPIServer.user`.

    Every action enqueues the update Telegram would send to the bot (subject to group privacy
    mode) and returns immediately; nothing is awaited.
    """

    def __init__(
        self,
        server: BotAPIServer,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> None:
        self.server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code

    def __repr__(self) -> str:
        return f"SimUser({self.id}, {self.first_name!r})"

    @property
    def chat_id(self) -> int:
        """Id of this user's private chat with the bot (equal to the user id)."""
        return self.id

    def to_dict(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def send(
        self,
        text: str,
        chat: int | None = None,
        *,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Send a text message (to the private chat unless ``chat`` is given); returns the
        ``Message`` dict.  A leading ``/command`` gets a ``bot_command`` entity."""
        return self.server._user_message(
            self, chat, text=text, reply_to=reply_to, thread_id=thread_id, entities=entities
        )

    def send_document(
        self,
        chat: int | None,
        filename: str,
        data: bytes,
        caption: str | None = None,
        *,
        mime_type: str | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """Send a document (``chat=None`` = private chat); returns the ``Message`` dict whose
        ``document.file_id`` the bot can pass to getFile."""
        stored = self.server._store_file(data, filename=filename, mime_type=mime_type, kind="document", by_bot=False)
        return self.server._user_message(
            self, chat, document=stored, caption=caption, reply_to=reply_to, thread_id=thread_id
        )

    def send_photo(
        self,
        chat: int | None,
        data: bytes,
        caption: str | None = None,
        *,
        width: int = 640,
        height: int = 480,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """Send a photo (bytes are not checked); returns the ``Message`` dict."""
        stored = self.server._store_file(data, filename=None, mime_type="image/jpeg", kind="photo", by_bot=False)
        stored.width, stored.height = width, height
        return self.server._user_message(
            self, chat, photo=stored, caption=caption, reply_to=reply_to, thread_id=thread_id
        )

    def edit(self, message: dict[str, Any], text: str) -> dict[str, Any]:
        """Edit one of this user's text messages; enqueues an ``edited_message`` update."""
        return self.server._user_edit(self, message, text)

    def press(
        self,
        message: SentMessage | dict[str, Any] | int,
        button: str | int | None = None,
        *,
        callback_data: str | None = None,
        chat: int | None = None,
    ) -> str:
        """Press an inline button of a bot message; returns the callback query id.

        ``button``: the button text (exact, or a unique substring), or its index in the flattened
        keyboard; alternatively ``callback_data=``.  ``message`` may be a :class:`SentMessage`, a
        message dict or a message id (in ``chat``, default the private chat).  Raises
        ``LookupError`` if the message or button does not exist (as the user could not press it).
        """
        sent = self.server._resolve_sent(message, chat if chat is not None else self.id)
        if sent.deleted:
            raise LookupError(f"message {sent.message_id} in chat {sent.chat_id} was deleted")
        raw_button = sent.find_button(button, callback_data=callback_data)
        if "callback_data" not in raw_button:
            raise LookupError(f"button {raw_button!r} has no callback_data; it cannot be pressed")
        return self.server._callback_query(self, sent.chat_id, sent.message_id, raw_button["callback_data"])

    def press_raw(self, chat: int | None, message_id: int, data: str | None) -> str:
        """Send a callback query with arbitrary (forged) data for any message id."""
        return self.server._callback_query(self, chat if chat is not None else self.id, message_id, data)

    def join(self, chat: int) -> dict[str, Any]:
        """Join a group; enqueues the ``new_chat_members`` service message."""
        return self.server._member_change(self, chat, joined=True)

    def leave(self, chat: int) -> dict[str, Any]:
        """Leave a group; enqueues the ``left_chat_member`` service message."""
        return self.server._member_change(self, chat, joined=False)

    def block_bot(self) -> None:
        """Block the bot (same as ``server.block_user(user.id)``)."""
        self.server.block_user(self.id)

    def unblock_bot(self) -> None:
        """Unblock the bot."""
        self.server.unblock_user(self.id)


# --------------------------------------------------------------------------- the server

Handler = Callable[[Params], Awaitable[Any]]


class BotAPIServer(Serving):
    """Fake Bot API server; see the module docstring.

    Main knobs (all plain attributes, changeable while running):

    * ``privacy_mode`` - group privacy mode (default on); per chat via :meth:`set_privacy_mode`.
    * ``flood`` - :class:`~tests.botapi.flood.FloodControl` (``flood.force_429(n)``,
      ``flood.configure(...)``, ``flood.enabled``).
    * ``callback_ttl`` - seconds a callback query can be answered (default 15).
    * ``max_photo_size`` / ``max_document_size`` / ``max_download_size`` - upload limits.
    * ``strict_html_entities`` - reject unknown named HTML entities such as ``&nbsp;``.
    * ``clock`` - monotonic clock used for flood control and callback expiry.
    * ``webhook_retry_delay`` - seconds before a failed webhook delivery is tried again (doubling, at most 2 s;
      Telegram starts at 1 s and doubles up to a minute), unless the webhook answered with ``Retry-After``.
    * ``webhook_timeout`` - seconds a delivery waits for the webhook's answer (Telegram's: about 60).

    Webhook deliveries follow Telegram's rules: up to ``max_connections`` (setWebhook, default 40) at once, one at
    a time per queue (a chat's messages, one user's button presses), so a later update of a queue waits until the
    one before it is confirmed; only a 2xx answer confirms an update - a non-2xx answer, a dropped connection or a
    timeout delivers it again. Every attempt is kept in :attr:`webhook_deliveries`.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "test_bot",
        bot_id: int | None = None,
        bot_name: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        privacy_mode: bool = True,
        flood_enabled: bool = True,
        flood_limits: FloodLimits | None = None,
        callback_ttl: float = 15.0,
        clock: Callable[[], float] | None = None,
        max_photo_size: int = 10 * MB,
        max_document_size: int = 50 * MB,
        max_download_size: int = 20 * MB,
        strict_html_entities: bool = True,
        allow_http_webhook: bool = True,
        webhook_retry_delay: float = 0.1,
        poll_interval: float = 0.05,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        if bot_id is None:
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 123456
        self.bot_id = bot_id
        self.bot_name = bot_name or bot_username
        self.host = host
        self.port = port
        self.privacy_mode = privacy_mode
        self._clock: Callable[[], float] = clock or time.monotonic
        self.flood = FloodControl(clock=self._clock, enabled=flood_enabled, limits=flood_limits or FloodLimits())
        self.callback_ttl = callback_ttl
        self.max_photo_size = max_photo_size
        self.max_document_size = max_document_size
        self.max_download_size = max_download_size
        self.max_buttons_per_row = 8
        self.max_buttons_total = 100
        self.strict_html_entities = strict_html_entities
        self.allow_http_webhook = allow_http_webhook
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = 60.0
        self.poll_interval = poll_interval

        self.calls: list[ApiCall] = []
        self.updates: list[dict[str, Any]] = []
        self.undelivered: list[Undelivered] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.uploads: list[StoredFile] = []
        self.files: dict[str, StoredFile] = {}
        self.downloads: list[str] = []
        self.my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.bot_settings: dict[str, Any] = {}

        self._users: dict[int, SimUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._pending: list[dict[str, Any]] = []
        self.fetched_update_ids: set[int] = set()  # updates handed to the bot at least once
        self._allowed_updates: list[str] | None = None
        self._poll: _Poll | None = None
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_wake = asyncio.Event()
        self._webhook_retry: dict[int, tuple[float, float]] = {}  # update id: (next delay, loop time of next try)
        self._queries: dict[str, _Query] = {}
        self._answers: dict[str, CallbackAnswer] = {}
        self._actions: list[tuple[int, str, int | None]] = []
        self._injected: list[_InjectedError] = []
        self._changed = asyncio.Event()
        self._closing = False
        self._update_ids = itertools.count(10_000_001)
        self._query_ids = itertools.count(1)
        self._file_counter = itertools.count(1)

        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.base = ""

        self._handlers: dict[str, tuple[str, Handler]] = {}
        for name, fn in (
            ("getMe", self._m_get_me),
            ("logOut", self._m_true),
            ("close", self._m_true),
            ("getUpdates", self._m_get_updates),
            ("setWebhook", self._m_set_webhook),
            ("deleteWebhook", self._m_delete_webhook),
            ("getWebhookInfo", self._m_get_webhook_info),
            ("setMyCommands", self._m_set_my_commands),
            ("getMyCommands", self._m_get_my_commands),
            ("deleteMyCommands", self._m_delete_my_commands),
            ("sendMessage", self._m_send_message),
            ("editMessageText", self._m_edit_message_text),
            ("editMessageReplyMarkup", self._m_edit_message_reply_markup),
            ("editMessageCaption", self._m_edit_message_caption),
            ("deleteMessage", self._m_delete_message),
            ("deleteMessages", self._m_delete_messages),
            ("answerCallbackQuery", self._m_answer_callback_query),
            ("sendDocument", self._m_send_document),
            ("sendPhoto", self._m_send_photo),
            ("getFile", self._m_get_file),
            ("sendChatAction", self._m_send_chat_action),
            ("getChat", self._m_get_chat),
            ("getChatMember", self._m_get_chat_member),
            ("getChatAdministrators", self._m_get_chat_administrators),
            ("getChatMemberCount", self._m_get_chat_member_count),
            ("pinChatMessage", self._m_pin_chat_message),
            ("unpinChatMessage", self._m_pin_chat_message),
            ("setMyDescription", self._m_set_setting),
            ("setMyShortDescription", self._m_set_setting),
            ("setMyName", self._m_set_setting),
            ("setChatMenuButton", self._m_set_setting),
            ("getMyDescription", self._m_get_setting),
            ("getMyShortDescription", self._m_get_setting),
            ("getMyName", self._m_get_setting),
        ):
            self.add_method(name, fn)

    # ================================================================== lifecycle

    @property
    def clock(self) -> Callable[[], float]:
        """Monotonic clock for flood control and callback expiry (replaceable in tests)."""
        return self._clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self._clock = value
        self.flood.clock = value

    @property
    def api_url(self) -> str:
        """``{base}/bot{token}`` - the prefix of method URLs."""
        return f"{self.base}/bot{self.token}"

    async def start(self) -> BotAPIServer:
        """Bind ``host:port`` (port 0 = free port) and serve; sets :attr:`base`."""
        if self._runner is not None:
            return self
        self._closing = False
        client_max = max(self.max_document_size, self.max_photo_size) + 16 * MB
        self._app = web.Application(client_max_size=client_max)
        self._app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        self._app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(self._app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        self.base = f"http://{self.host}:{self.port}"
        self._http = aiohttp.ClientSession()
        log.info("fake Bot API server listening on %s", self.base)
        return self

    async def stop(self) -> None:
        """Stop serving; pending long polls return at once."""
        self._closing = True
        if self._poll is not None:
            self._poll.wake.set()
        self._webhook_wake.set()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._webhook_task
            self._webhook_task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._notify()

    def add_method(self, name: str, handler: Callable[[Params], Awaitable[Any]]) -> None:
        """Serve (or replace) a Bot API method; ``handler(params)`` returns the result or raises
        :class:`~tests.botapi.models.ApiError`."""
        self._handlers[name.lower()] = (name, handler)

    # ================================================================== test-side setup

    def user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        started: bool = False,
    ) -> SimUser:
        """Get or create a simulated user.  ``started=True`` opens the private chat as if the
        user had pressed Start (otherwise the bot can only write after the user wrote)."""
        user = self._users.get(user_id)
        if user is None:
            user = SimUser(self, user_id, first_name or f"User{user_id}", last_name, username, language_code)
            self._users[user_id] = user
        else:
            if first_name is not None:
                user.first_name = first_name
            if last_name is not None:
                user.last_name = last_name
            if username is not None:
                user.username = username
        if started:
            self._private_chat(user).started = True
        return user

    def add_group(
        self,
        chat_id: int,
        title: str = "Test group",
        members: Iterable[int | SimUser] = (),
        admins: Iterable[int | SimUser] = (),
        *,
        creator: int | SimUser | None = None,
        type: str = "supergroup",  # noqa: A002 - mirrors the Bot API field
        is_forum: bool = False,
        username: str | None = None,
        bot_is_admin: bool = False,
        bot_in_chat: bool = True,
        topics: Iterable[int] = (),
    ) -> int:
        """Declare a group or supergroup (``chat_id`` should be negative).  ``admins`` and
        ``creator`` are members too; returns ``chat_id``."""
        if type not in ("group", "supergroup"):
            raise ValueError("type must be 'group' or 'supergroup'")
        chat = _Chat(id=chat_id, type=type, title=title, username=username, is_forum=is_forum)
        for item in itertools.chain(members, admins, [creator] if creator is not None else []):
            chat.members.add(self._as_user(item).id)
        chat.admins = {self._as_user(a).id for a in admins}
        if creator is not None:
            chat.creator = self._as_user(creator).id
        chat.bot_status = ("administrator" if bot_is_admin else "member") if bot_in_chat else "left"
        chat.topics.update(topics)
        self._chats[chat_id] = chat
        return chat_id

    def add_topic(self, chat_id: int, thread_id: int) -> None:
        """Declare a forum topic so the bot may post with ``message_thread_id``."""
        self._group(chat_id).topics.add(thread_id)

    def promote(self, chat_id: int, user: int | SimUser) -> None:
        """Make a member an administrator."""
        chat = self._group(chat_id)
        uid = self._as_user(user).id
        chat.members.add(uid)
        chat.admins.add(uid)

    def demote(self, chat_id: int, user: int | SimUser) -> None:
        """Remove a member's administrator rights."""
        self._group(chat_id).admins.discard(self._as_user(user).id)

    def set_bot_admin(self, chat_id: int, is_admin: bool = True) -> None:
        """Make the bot an administrator of a group (admins see all messages)."""
        chat = self._group(chat_id)
        old = chat.bot_status
        chat.bot_status = "administrator" if is_admin else "member"
        if old != chat.bot_status:
            self._my_chat_member(chat, old, chat.bot_status, None)

    def set_privacy_mode(self, enabled: bool, chat_id: int | None = None) -> None:
        """Switch privacy mode globally or for one chat."""
        if chat_id is None:
            self.privacy_mode = enabled
        else:
            self._group(chat_id).privacy_mode = enabled

    def add_bot_to_group(self, chat_id: int, by: int | SimUser) -> dict[str, Any]:
        """A user adds the bot to a group: ``new_chat_members`` message + ``my_chat_member``."""
        chat = self._group(chat_id)
        user = self._as_user(by)
        old = chat.bot_status
        chat.bot_status = "member"
        chat.members.add(user.id)
        self._my_chat_member(chat, old if old != "member" else "left", "member", user)
        msg = self._new_user_message(chat, user)
        msg["new_chat_members"] = [self.bot_user()]
        return self._deliver_message(chat, msg)

    def kick_bot(self, chat_id: int, by: int | SimUser | None = None) -> None:
        """Remove the bot from a group: later sends fail with 403 ``bot was kicked ...``."""
        chat = self._group(chat_id)
        old = chat.bot_status
        chat.bot_status = "kicked"
        self._my_chat_member(chat, old, "kicked", self._as_user(by) if by is not None else None)

    def block_user(self, user_id: int | SimUser) -> None:
        """The user blocks the bot: sends to the private chat fail with 403."""
        user = self._as_user(user_id)
        chat = self._private_chat(user)
        chat.started = True  # only a user who has a chat with the bot can block it
        if not chat.blocked:
            chat.blocked = True
            self._my_chat_member(chat, "member", "kicked", user)

    def unblock_user(self, user_id: int | SimUser) -> None:
        """The user unblocks the bot."""
        user = self._as_user(user_id)
        chat = self._private_chat(user)
        if chat.blocked:
            chat.blocked = False
            self._my_chat_member(chat, "kicked", "member", user)

    def inject_error(
        self,
        error_code: int = 500,
        description: str = "Internal Server Error",
        *,
        method: str | None = None,
        chat_id: int | None = None,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``count`` calls (optionally of one ``method`` / to one ``chat_id``) fail
        with an arbitrary error before any other check."""
        self._injected.append(_InjectedError(count, error_code, description, method, chat_id, retry_after))

    # ================================================================== test-side reading

    def bot_user(self) -> dict[str, Any]:
        """The bot's ``User`` object."""
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name, "username": self.bot_username}

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """The bot's messages in ``chat_id``, oldest first, in their current state."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [m for m in chat.sent.values() if include_deleted or not m.deleted]

    def all_messages(self, *, include_deleted: bool = False) -> list[SentMessage]:
        """The bot's messages in every chat, in sending order."""
        result = [m for chat in self._chats.values() for m in chat.sent.values()]
        result.sort(key=lambda m: m.sent_at)
        return [m for m in result if include_deleted or not m.deleted]

    def last_message(self, chat_id: int) -> SentMessage | None:
        """The bot's newest (not deleted) message in ``chat_id``."""
        msgs = self.messages(chat_id)
        return msgs[-1] if msgs else None

    def history(self, chat_id: int) -> list[dict[str, Any]]:
        """Every existing message (users' and bot's) of the chat as ``Message`` dicts."""
        chat = self._chats.get(chat_id)
        return [] if chat is None else [chat.messages[k] for k in sorted(chat.messages)]

    def chat_actions(self, chat_id: int) -> list[str]:
        """Actions the bot sent with sendChatAction to ``chat_id``."""
        return [action for cid, action, _ in self._actions if cid == chat_id]

    def callback_answers(self, query_id: str) -> CallbackAnswer | None:
        """The bot's answer to a callback query, if it answered."""
        return self._answers.get(query_id)

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """Commands set with setMyCommands for the scope (default scope if omitted)."""
        return list(self.my_commands.get(self._commands_key(scope, language_code), []))

    def file(self, file_id: str) -> StoredFile:
        """A stored file by id."""
        return self.files[file_id]

    @property
    def errors(self) -> list[ApiCall]:
        """Calls that were answered ``ok: false``."""
        return [c for c in self.calls if c.ok is False]

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[ApiCall]:
        """Calls of one method (case-insensitive), optionally only successful/failed ones."""
        wanted = method.lower()
        return [c for c in self.calls if c.method.lower() == wanted and (ok is None or c.ok is ok)]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot."""
        return list(self._pending)

    @property
    def webhook_url(self) -> str | None:
        """The webhook url, if set."""
        return self._webhook.url if self._webhook else None

    @property
    def webhook_last_error(self) -> str | None:
        """The last delivery error of the current webhook (as in getWebhookInfo)."""
        return self._webhook.last_error_message if self._webhook else None

    @property
    def polling(self) -> bool:
        """Whether a getUpdates long poll is currently waiting."""
        return self._poll is not None

    def assert_no_errors(
        self,
        *,
        except_codes: Iterable[int] = (),
        except_methods: Iterable[str] = (),
    ) -> None:
        """Fail if any call was answered with an error (other than the excepted ones)."""
        codes = set(except_codes)
        methods = {m.lower() for m in except_methods}
        bad = [c for c in self.errors if c.error_code not in codes and c.method.lower() not in methods]
        if bad:
            lines = "\n".join(f"  {c.describe()}" for c in bad)
            raise AssertionError(f"{len(bad)} Bot API call(s) failed:\n{lines}")

    def describe(self, chat_id: int | None = None) -> str:
        """Human-readable summary of what the bot did (used in timeout messages)."""
        lines: list[str] = []
        chats = [chat_id] if chat_id is not None else [c.id for c in self._chats.values() if c.sent]
        for cid in chats:
            msgs = self.messages(cid, include_deleted=True)
            lines.append(f"bot messages in chat {cid}: {len(msgs)}")
            lines.extend(f"  {m.describe()}" for m in msgs[-30:])
        if chat_id is not None:
            others = [c.id for c in self._chats.values() if c.sent and c.id != chat_id]
            if others:
                lines.append(f"(the bot also wrote to chats {others})")
        errors = self.errors
        if errors:
            lines.append(f"failed calls: {len(errors)} (last 10)")
            lines.extend(f"  {c.describe()}" for c in errors[-10:])
        lines.append(
            f"updates: {len(self.updates)} enqueued, {len(self._pending)} not yet confirmed, "
            f"{len(self.undelivered)} not delivered"
        )
        if self._webhook is None and not any(c.method == "getUpdates" for c in self.calls):
            lines.append("  (the bot never called getUpdates and no webhook is set)")
        for item in self.undelivered[-5:]:
            lines.append(f"  undelivered ({item.reason}): {_short_update(item.update)}")
        return "\n".join(lines)

    # ================================================================== waiting

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_for(
        self,
        condition: Callable[[], Any],
        timeout: float = 30.0,
        *,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> Any:
        """Wait until ``condition()`` is truthy and return its value.

        Re-evaluated whenever the server's state changes (and every ``poll_interval`` seconds
        for conditions on outside state).  On timeout raises ``AssertionError`` with
        :meth:`describe` of ``chat_id`` (or of everything).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = description or getattr(condition, "__name__", "condition")
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{self.describe(chat_id)}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(remaining, self.poll_interval))

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], Any] | None = None,
        *,
        timeout: float = 30.0,
        after: MessageRef | None = None,
        include_deleted: bool = False,
    ) -> SentMessage:
        """Wait for a bot message in ``chat_id`` matching ``predicate`` (current state, so an
        edit can make a message match).  ``after``: only messages with a larger message_id than
        this message (a dict returned by ``user.send``, a SentMessage or an id)."""
        after_id = _message_id_of(after) if after is not None else None

        def find() -> SentMessage | None:
            for message in self.messages(chat_id, include_deleted=include_deleted):
                if after_id is not None and message.message_id <= after_id:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        what = f"a bot message in chat {chat_id}"
        if after_id is not None:
            what += f" after message {after_id}"
        if predicate is not None:
            what += f" matching {_describe_callable(predicate)}"
        result: SentMessage = await self.wait_for(find, timeout, description=what, chat_id=chat_id)
        return result

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        predicate: Callable[[SentMessage], Any] | None = None,
        *,
        timeout: float = 30.0,
        after: MessageRef | None = None,
    ) -> list[SentMessage]:
        """Wait until at least ``count`` bot messages (matching ``predicate``) exist."""
        after_id = _message_id_of(after) if after is not None else None

        def find() -> list[SentMessage] | None:
            found = [
                m
                for m in self.messages(chat_id)
                if (after_id is None or m.message_id > after_id) and (predicate is None or predicate(m))
            ]
            return found if len(found) >= count else None

        result: list[SentMessage] = await self.wait_for(
            find, timeout, description=f"{count} bot message(s) in chat {chat_id}", chat_id=chat_id
        )
        return result

    async def wait_for_callback_answer(self, query_id: str, timeout: float = 30.0) -> CallbackAnswer:
        """Wait until the bot answers the callback query."""
        result: CallbackAnswer = await self.wait_for(
            lambda: self._answers.get(query_id), timeout, description=f"answer to callback query {query_id}"
        )
        return result

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], Any] | None = None,
        *,
        timeout: float = 30.0,
        start: int = 0,
    ) -> ApiCall:
        """Wait for a finished call of ``method`` (from index ``start`` of :attr:`calls`)."""
        wanted = method.lower()

        def find() -> ApiCall | None:
            for call in self.calls[start:]:
                if call.method.lower() == wanted and call.done and (predicate is None or predicate(call)):
                    return call
            return None

        result: ApiCall = await self.wait_for(find, timeout, description=f"a {method} call")
        return result

    async def wait_updates_consumed(self, timeout: float = 30.0) -> None:
        """Wait until every enqueued update has been fetched and confirmed by the bot."""
        await self.wait_for(lambda: not self._pending, timeout, description="the bot to confirm all updates")

    # ================================================================== HTTP layer

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        token = request.match_info["token"]
        try:
            values, files = await self._read_request(request)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(
                {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}, status=413
            )
        except ApiError as exc:
            return web.json_response(exc.body(), status=exc.error_code)
        status, body = await self._execute(method, values, files, token=token)
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(body.get("parameters", {}).get("retry_after", 1))
        return web.json_response(body, status=status, headers=headers)

    async def _read_request(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedPart]]:
        values: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedPart] = {}
        if request.method != "POST" or not request.body_exists:
            return values, files
        ctype = request.content_type
        if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedPart(value.filename, value.file.read(), value.content_type)
                else:
                    values[key] = value
        else:
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON object") from None
                if isinstance(body, dict):
                    values.update(body)
        return values, files

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": ERR_UNAUTHORIZED}, status=401)
        path = request.match_info["path"]
        stored = self._files_by_path.get(path)
        if stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        self.downloads.append(path)
        self._notify()
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    async def _execute(
        self,
        method: str,
        values: dict[str, Any],
        files: dict[str, UploadedPart],
        *,
        token: str | None = None,
        source: str = "http",
    ) -> tuple[int, dict[str, Any]]:
        entry = self._handlers.get(method.lower())
        params = Params(values, files)
        call = ApiCall(
            method=entry[0] if entry else method,
            params=dict(params.values),
            files={k: (v.filename, len(v.data)) for k, v in files.items()},
            started=self._clock(),
            source=source,
        )
        self.calls.append(call)
        try:
            if token is not None and token != self.token:
                raise ApiError(401, ERR_UNAUTHORIZED)
            if entry is None:
                raise ApiError(404, ERR_METHOD_NOT_FOUND)
            self._check_injected(entry[0], params)
            result = await entry[1](params)
        except ApiError as exc:
            call.ok = False
            call.error_code = exc.error_code
            call.description = exc.description
            call.retry_after = exc.retry_after
            log.debug("%s -> %s %s", call.method, exc.error_code, exc.description)
            return exc.error_code, exc.body()
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        except Exception as exc:  # noqa: BLE001 - report as a server error, keep serving
            log.exception("fake Bot API: %s crashed", call.method)
            call.ok = False
            call.error_code = 500
            call.description = f"Internal Server Error: {exc!r}"
            return 500, {"ok": False, "error_code": 500, "description": call.description}
        finally:
            call.finished = self._clock()
            self._notify()
        call.ok = True
        call.result = result
        return 200, {"ok": True, "result": result}

    def _check_injected(self, method: str, params: Params) -> None:
        for item in self._injected:
            if item.method is not None and item.method.lower() != method.lower():
                continue
            if item.chat_id is not None and params.get("chat_id") != item.chat_id:
                continue
            item.remaining -= 1
            if item.remaining <= 0:
                self._injected.remove(item)
            raise ApiError(item.error_code, item.description, retry_after=item.retry_after)

    # ================================================================== helpers for methods

    def _as_user(self, item: int | SimUser) -> SimUser:
        if isinstance(item, SimUser):
            return item
        return self._users.get(item) or self.user(item)

    def _private_chat(self, user: SimUser) -> _Chat:
        chat = self._chats.get(user.id)
        if chat is None:
            chat = _Chat(id=user.id, type="private", user=user)
            self._chats[user.id] = chat
        return chat

    def _group(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None or not chat.is_group:
            raise ValueError(f"chat {chat_id} is not a declared group; call server.add_group() first")
        return chat

    def _resolve_chat(self, params: Params, *, for_writing: bool = True) -> _Chat:
        value = params.get("chat_id")
        if value is None or value == "":
            raise ApiError(400, ERR_CHAT_ID_EMPTY)
        chat: _Chat | None = None
        if isinstance(value, str) and value.startswith("@"):
            name = value[1:].lower()
            chat = next((c for c in self._chats.values() if (c.username or "").lower() == name), None)
        elif isinstance(value, int):
            chat = self._chats.get(value)
            if chat is None and value in self._users and for_writing:
                raise ApiError(403, ERR_CANT_INITIATE)
        if chat is None:
            raise ApiError(400, ERR_CHAT_NOT_FOUND)
        if for_writing or chat.is_group and chat.bot_status in ("kicked", "left"):
            self._check_can_write(chat)
        return chat

    def _check_can_write(self, chat: _Chat) -> None:
        if chat.type == "private":
            if not chat.started:
                raise ApiError(403, ERR_CANT_INITIATE)
            if chat.blocked:
                raise ApiError(403, ERR_BLOCKED)
            return
        kind = "supergroup" if chat.type == "supergroup" else "group"
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")

    def _parse(self, text: str, parse_mode: str | None, entities: Any) -> ParsedText:
        if entities is not None and not isinstance(entities, list):
            raise ApiError(400, "Bad Request: can't parse entities JSON object")
        try:
            parsed = parse_text(text, parse_mode, entities, strict_html_entities=self.strict_html_entities)
        except EntityParseError as exc:
            raise ApiError(400, ERR_PARSE_ENTITIES + str(exc)) from None
        except UnsupportedParseMode:
            raise ApiError(400, ERR_PARSE_MODE) from None
        return strip_parsed(parsed)

    def _parse_message_text(self, params: Params, *, edit: bool) -> tuple[str, ParsedText]:
        raw = params.get_str("text")
        empty = ERR_EDIT_TEXT_EMPTY if edit else ERR_TEXT_EMPTY
        if raw is None or raw == "":
            raise ApiError(400, empty)
        entities = params.get_json("entities", "Bad Request: can't parse entities JSON object")
        parsed = self._parse(raw, params.get_str("parse_mode"), entities)
        if not parsed.text:
            raise ApiError(400, empty)
        if parsed.length > 4096:
            raise ApiError(400, ERR_EDIT_TEXT_TOO_LONG if edit else ERR_TEXT_TOO_LONG)
        return raw, parsed

    def _parse_caption(self, params: Params) -> tuple[str, ParsedText]:
        raw = params.get_str("caption") or ""
        entities = params.get_json("caption_entities", "Bad Request: can't parse entities JSON object")
        parsed = self._parse(raw, params.get_str("parse_mode"), entities) if raw else ParsedText("")
        if parsed.length > 1024:
            raise ApiError(400, ERR_CAPTION_TOO_LONG)
        return raw, parsed

    def _validate_markup(self, params: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
        markup = params.get_json("reply_markup", ERR_MARKUP_JSON)
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, ERR_MARKUP_JSON)
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            if any(len(r) > self.max_buttons_per_row for r in rows) or sum(map(len, rows)) > self.max_buttons_total:
                raise ApiError(400, ERR_MARKUP_TOO_LONG)
            for row in rows:
                for button in row:
                    self._validate_button(button)
            return {"inline_keyboard": [[dict(b) for b in row] for row in rows if row]}
        if inline_only:
            raise ApiError(400, "Bad Request: inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400, 'Bad Request: field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays'
                )
            if sum(map(len, rows)) > 300:
                raise ApiError(400, ERR_MARKUP_TOO_LONG)
            return markup
        if "remove_keyboard" in markup or "force_reply" in markup:
            return markup
        raise ApiError(400, ERR_MARKUP_JSON)

    @staticmethod
    def _validate_button(button: Any) -> None:
        prefix = "Bad Request: can't parse inline keyboard button: "
        if not isinstance(button, dict):
            raise ApiError(400, prefix + "InlineKeyboardButton must be an Object")
        if not isinstance(button.get("text"), str):
            raise ApiError(400, prefix + 'Field "text" must be of type String')
        if not any(key in button for key in BUTTON_ACTIONS):
            raise ApiError(400, ERR_TEXT_BUTTONS)
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str):
                raise ApiError(400, prefix + 'Field "callback_data" must be of type String')
            if not 1 <= len(data.encode("utf-8")) <= 64:
                raise ApiError(400, ERR_BUTTON_DATA)
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not url or any(ch.isspace() for ch in url):
                raise ApiError(400, f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _resolve_reply(self, params: Params, chat: _Chat) -> dict[str, Any] | None:
        reply_parameters = params.get_json("reply_parameters", "Bad Request: can't parse reply parameters JSON object")
        allow = params.get_bool("allow_sending_without_reply")
        message_id: Any = None
        target = chat
        if isinstance(reply_parameters, dict):
            message_id = reply_parameters.get("message_id")
            allow = allow or bool(reply_parameters.get("allow_sending_without_reply"))
            other = reply_parameters.get("chat_id")
            if other is not None and other != chat.id:
                target = self._chats.get(other) if isinstance(other, int) else None
                if target is None:
                    raise ApiError(400, ERR_CHAT_NOT_FOUND)
        if message_id is None:
            message_id = params.get_int("reply_to_message_id")
        if message_id is None:
            return None
        message = target.messages.get(int(message_id))
        if message is None:
            if allow:
                return None
            raise ApiError(400, ERR_REPLY_NOT_FOUND)
        return message

    def _resolve_thread(self, params: Params, chat: _Chat, reply: dict[str, Any] | None) -> int | None:
        if not chat.is_forum:
            return None
        thread_id = params.get_int("message_thread_id")
        if thread_id is None and reply is not None:
            thread_id = reply.get("message_thread_id")
        if thread_id is not None and thread_id != 1 and thread_id not in chat.topics:
            raise ApiError(400, ERR_THREAD_NOT_FOUND)
        return thread_id

    def _flood_check(self, method: str, chat: _Chat) -> None:
        retry = self.flood.check(method, chat.id, chat.type)
        if retry is not None:
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)

    def _base_message(self, chat: _Chat, sender: dict[str, Any], thread_id: int | None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": chat.new_message_id(),
            "from": sender,
            "chat": chat.to_dict(),
            "date": int(time.time()),
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return message

    def _commit_bot_message(
        self,
        chat: _Chat,
        *,
        kind: str,
        raw_text: str,
        parsed: ParsedText,
        params: Params,
        markup: dict[str, Any] | None,
        reply: dict[str, Any] | None,
        thread_id: int | None,
        stored: StoredFile | None = None,
    ) -> dict[str, Any]:
        message = self._base_message(chat, self.bot_user(), thread_id)
        if reply is not None:
            message["reply_to_message"] = _as_reply(reply)
        if kind == "text":
            message["text"] = parsed.text
            if parsed.entities:
                message["entities"] = parsed.entities
        else:
            assert stored is not None
            message.update(_file_payload(stored))
            if parsed.text:
                message["caption"] = parsed.text
                if parsed.entities:
                    message["caption_entities"] = parsed.entities
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        chat.messages[message["message_id"]] = message
        sent = SentMessage(
            chat_id=chat.id,
            message_id=message["message_id"],
            kind=kind,
            text=parsed.text,
            html=raw_text,
            parse_mode=params.get_str("parse_mode"),
            entities=parsed.entities,
            reply_markup=markup,
            thread_id=thread_id,
            reply_to_message_id=reply["message_id"] if reply is not None else None,
            raw=message,
            sent_at=self._clock(),
            document=stored if kind == "document" else None,
            photo=stored if kind == "photo" else None,
        )
        chat.sent[sent.message_id] = sent
        return message

    def _target_bot_message(self, params: Params, chat: _Chat, not_found: str) -> SentMessage:
        if params.present("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        message_id = params.get_int("message_id", required=ERR_MESSAGE_ID_EMPTY)
        assert message_id is not None
        sent = chat.sent.get(message_id)
        if sent is None or sent.deleted:
            if message_id in chat.messages:
                raise ApiError(400, ERR_CANT_EDIT)
            raise ApiError(400, not_found)
        return sent

    def _apply_edit(
        self,
        sent: SentMessage,
        *,
        parsed: ParsedText | None,
        raw_text: str | None,
        markup: dict[str, Any] | None,
        parse_mode: str | None,
    ) -> dict[str, Any]:
        message = dict(sent.raw)
        if parsed is not None:
            sent.history.append(sent.text)
            sent.text = parsed.text
            sent.html = raw_text or ""
            sent.entities = parsed.entities
            sent.parse_mode = parse_mode
            key, ents_key = ("text", "entities") if sent.kind == "text" else ("caption", "caption_entities")
            message.pop(ents_key, None)
            if parsed.text or sent.kind == "text":
                message[key] = parsed.text
            else:
                message.pop(key, None)
            if parsed.entities:
                message[ents_key] = parsed.entities
        sent.reply_markup = markup
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        sent.raw = message
        sent.edits += 1
        sent.edited_at = self._clock()
        self._chats[sent.chat_id].messages[sent.message_id] = message
        return message

    def _resolve_input_file(self, params: Params, name: str) -> UploadedPart | StoredFile:
        if name in params.files:
            return params.files[name]
        value = params.get_str(name)
        if not value:
            raise ApiError(400, f"Bad Request: there is no {name} in the request")
        if value.startswith("attach://"):
            part = params.files.get(value[len("attach://") :])
            if part is None:
                raise ApiError(400, ERR_WRONG_FILE)
            return part
        stored = self.files.get(value)
        if stored is None:
            raise ApiError(400, ERR_WRONG_FILE)
        return stored

    def _store_file(
        self,
        data: bytes,
        *,
        filename: str | None,
        mime_type: str | None,
        kind: str,
        by_bot: bool,
    ) -> StoredFile:
        number = next(self._file_counter)
        if mime_type is None or mime_type == "application/octet-stream":
            guessed = mimetypes.guess_type(filename or "")[0]
            mime_type = guessed or mime_type or "application/octet-stream"
        suffix = ""
        if filename and "." in filename:
            suffix = "." + filename.rsplit(".", 1)[1]
        elif kind == "photo":
            suffix = ".jpg"
        folder = "photos" if kind == "photo" else "documents"
        stored = StoredFile(
            file_id=f"{'AgAC' if kind == 'photo' else 'BQAC'}{number:06d}{secrets.token_hex(8)}",
            file_unique_id=f"U{number:06d}{secrets.token_hex(3)}",
            data=bytes(data),
            filename=filename,
            mime_type=mime_type,
            kind=kind,
            file_path=f"{folder}/file_{number}{suffix}",
            uploaded_by_bot=by_bot,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        if by_bot:
            self.uploads.append(stored)
        return stored

    @staticmethod
    def _commands_key(scope: Any, language_code: str | None) -> tuple[str, str]:
        if not scope or (isinstance(scope, dict) and scope.get("type") == "default"):
            key = "default"
        else:
            key = json.dumps(scope, sort_keys=True)
        return key, language_code or ""

    # ================================================================== methods: bot

    async def _m_true(self, params: Params) -> bool:
        return True

    async def _m_get_me(self, params: Params) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_set_setting(self, params: Params) -> bool:
        self.bot_settings.update(params.values)
        return True

    async def _m_get_setting(self, params: Params) -> dict[str, Any]:
        return {
            "description": self.bot_settings.get("description", ""),
            "short_description": self.bot_settings.get("short_description", ""),
            "name": self.bot_settings.get("name", self.bot_name),
        }

    async def _m_set_my_commands(self, params: Params) -> bool:
        commands = params.get_json("commands", "Bad Request: can't parse commands JSON object")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, ERR_TOO_MANY_COMMANDS)
        cleaned: list[dict[str, Any]] = []
        for item in commands:
            if not isinstance(item, dict):
                raise ApiError(400, ERR_BOT_COMMAND)
            name = item.get("command")
            description = item.get("description")
            if not isinstance(name, str) or not _BOT_COMMAND_NAME_RE.fullmatch(name.lstrip("/")):
                raise ApiError(400, ERR_BOT_COMMAND)
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise ApiError(400, ERR_BOT_COMMAND)
            cleaned.append({"command": name.lstrip("/"), "description": description})
        key = self._commands_key(params.get("scope"), params.get_str("language_code"))
        if cleaned:
            self.my_commands[key] = cleaned
        else:
            self.my_commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, params: Params) -> list[dict[str, Any]]:
        return self.commands(params.get("scope"), params.get_str("language_code") or "")

    async def _m_delete_my_commands(self, params: Params) -> bool:
        self.my_commands.pop(self._commands_key(params.get("scope"), params.get_str("language_code")), None)
        return True

    # ================================================================== methods: updates

    def _update_kind(self, update: dict[str, Any]) -> str:
        return next(k for k in update if k != "update_id")

    def _is_allowed(self, update: dict[str, Any], allowed: list[str] | None) -> bool:
        kind = self._update_kind(update)
        if not allowed:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in allowed

    def _drop_disallowed(self, allowed: list[str] | None) -> None:
        kept: list[dict[str, Any]] = []
        for update in self._pending:
            if self._is_allowed(update, allowed):
                kept.append(update)
            else:
                self.undelivered.append(Undelivered(update, "allowed_updates"))
        self._pending = kept

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        self._pending.append(update)
        if self._poll is not None:
            self._poll.wake.set()
        self._webhook_wake.set()
        self._notify()
        return update

    async def _m_get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(409, ERR_CONFLICT_WEBHOOK)
        offset = params.get_int("offset")
        limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
        timeout = max(params.get_int("timeout", 0) or 0, 0)
        if "allowed_updates" in params.values:
            allowed = params.get_json("allowed_updates", "Bad Request: can't parse allowed updates JSON object")
            self._allowed_updates = list(allowed) if isinstance(allowed, list) and allowed else None
        if offset is not None:
            if offset < 0:
                self._pending = self._pending[offset:]
            else:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self._notify()

        if self._poll is not None:
            self._poll.terminated = True
            self._poll.wake.set()
        poll = _Poll()
        self._poll = poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                poll.wake.clear()
                if poll.terminated:
                    raise ApiError(409, ERR_CONFLICT_POLL)
                self._drop_disallowed(self._allowed_updates)
                if self._pending or self._closing or self._webhook is not None:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(poll.wake.wait(), timeout=remaining)
        finally:
            if self._poll is poll:
                self._poll = None
        batch = self._pending[:limit]
        self.fetched_update_ids.update(u["update_id"] for u in batch)
        return batch

    async def _m_set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        if not url:
            return await self._m_delete_webhook(params)
        schemes = ("https://", "http://") if self.allow_http_webhook else ("https://",)
        if not url.lower().startswith(schemes):
            raise ApiError(400, ERR_WEBHOOK_HTTPS)
        secret = params.get_str("secret_token")
        if secret is not None and secret != "" and not _SECRET_RE.fullmatch(secret):
            raise ApiError(400, ERR_SECRET_CHARS)
        allowed = params.get_json("allowed_updates", "Bad Request: can't parse allowed updates JSON object")
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        self._webhook = _Webhook(
            url=url,
            secret_token=secret or None,
            max_connections=params.get_int("max_connections", 40) or 40,
            allowed_updates=list(allowed) if isinstance(allowed, list) and allowed else None,
        )
        if self._poll is not None:
            self._poll.wake.set()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        self._webhook_wake.set()
        return True

    async def _m_delete_webhook(self, params: Params) -> bool:
        self._webhook = None
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        self._webhook_wake.set()
        return True

    async def _m_get_webhook_info(self, params: Params) -> dict[str, Any]:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.allowed_updates:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _webhook_loop(self) -> None:
        """Delivers pending updates to the webhook while one is set (see the class docstring for the rules)."""
        loop = asyncio.get_running_loop()
        flights: dict[int, tuple[_Webhook, dict[str, Any], asyncio.Task[WebhookDelivery]]] = {}
        try:
            while not self._closing:
                self._webhook_wake.clear()  # before looking: whatever changes from here on wakes the wait below
                for update_id, (sent_to, update, task) in list(flights.items()):
                    if task.done():
                        del flights[update_id]
                        failure = "cancelled" if task.cancelled() else task.exception()
                        self._settle_delivery(sent_to, update, task.result() if failure is None else
                                              WebhookDelivery(update_id, None, f"delivery failed: {failure!r}"))
                hook = self._webhook
                if hook is None and not flights:
                    return
                wake_at = None
                if hook is not None:
                    self._drop_disallowed(hook.allowed_updates)
                    wake_at = self._launch_deliveries(hook, flights, loop.time())
                timeout = None if wake_at is None else max(0.0, wake_at - loop.time())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._webhook_wake.wait(), timeout=timeout)
        finally:
            for _, _, task in flights.values():
                task.cancel()

    @staticmethod
    def _webhook_queue(update: dict[str, Any]) -> tuple[str, Any]:
        """Telegram's delivery queue of an update: a button press is its user's, a message its chat's."""
        query = update.get("callback_query")
        if isinstance(query, dict):
            return "user", query.get("from", {}).get("id")
        for payload in update.values():
            if isinstance(payload, dict) and isinstance(payload.get("chat"), dict):
                return "chat", payload["chat"].get("id")
        return "update", update["update_id"]

    def _launch_deliveries(self, hook: _Webhook,
                           flights: dict[int, tuple[_Webhook, dict[str, Any], asyncio.Task[WebhookDelivery]]],
                           now: float) -> float | None:
        """Starts a delivery of each queue's first pending update that is due; returns when the next retry is due."""
        busy = {self._webhook_queue(update) for _, update, _ in flights.values()}
        wake_at: float | None = None
        for update in self._pending:
            if len(flights) >= hook.max_connections:
                break
            queue = self._webhook_queue(update)
            if queue in busy:
                continue
            busy.add(queue)  # the updates behind it wait until it is confirmed
            due = self._webhook_retry.get(update["update_id"], (0.0, 0.0))[1]
            if due > now:
                wake_at = due if wake_at is None else min(wake_at, due)
                continue
            task = asyncio.get_running_loop().create_task(self._post_webhook(hook, update))
            task.add_done_callback(lambda _: self._webhook_wake.set())
            flights[update["update_id"]] = (hook, update, task)
        return wake_at

    def _settle_delivery(self, hook: _Webhook, update: dict[str, Any], delivery: WebhookDelivery) -> None:
        """Confirms a delivered update, or schedules its next attempt."""
        self.webhook_deliveries.append(delivery)
        update_id = update["update_id"]
        if self._webhook is not hook:  # the webhook changed meanwhile: it gets the update again
            self._notify()
            return
        if delivery.ok:
            self._webhook_retry.pop(update_id, None)
            self._pending = [u for u in self._pending if u is not update]
            self.fetched_update_ids.add(update_id)
        else:
            delay = self._webhook_retry.get(update_id, (self.webhook_retry_delay, 0.0))[0]
            wait = float(delivery.retry_after) if delivery.retry_after is not None else delay
            self._webhook_retry[update_id] = (min(delay * 2, 2.0), asyncio.get_running_loop().time() + wait)
        self._notify()

    async def _post_webhook(self, hook: _Webhook, update: dict[str, Any]) -> WebhookDelivery:
        assert self._http is not None
        update_id = int(update["update_id"])
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        try:
            async with self._http.post(
                hook.url,
                data=json.dumps(update, ensure_ascii=False).encode("utf-8"),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                body = await response.read()
                if not 200 <= response.status < 300:
                    hook.last_error_date = int(time.time())
                    hook.last_error_message = f"Wrong response from the webhook: {response.status} {response.reason}"
                    retry_after = response.headers.get("Retry-After", "")
                    return WebhookDelivery(update_id, response.status, hook.last_error_message,
                                           min(int(retry_after), 3600) if retry_after.isdigit() else None)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            hook.last_error_date = int(time.time())
            hook.last_error_message = f"Connection failed: {exc.__class__.__name__}: {exc}"
            return WebhookDelivery(update_id, None, hook.last_error_message)
        if body.strip():
            try:
                reply = json.loads(body)
            except ValueError:
                reply = None
            if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                method = reply.pop("method")
                await self._execute(method, reply, {}, source="webhook-reply")
        return WebhookDelivery(update_id, response.status)

    # ================================================================== methods: messages

    async def _m_send_message(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        raw, parsed = self._parse_message_text(params, edit=False)
        return self._deliver("sendMessage", chat, params, kind="text", raw_text=raw, parsed=parsed)

    def _deliver(self, method: str, chat: _Chat, params: Params, *, kind: str, raw_text: str, parsed: ParsedText,
                 store: Callable[[], StoredFile] | None = None) -> dict[str, Any]:
        """The common tail of every send: keyboard, reply and topic checked, a flood slot taken, the message kept."""
        markup = self._validate_markup(params)
        reply = self._resolve_reply(params, chat)
        thread_id = self._resolve_thread(params, chat, reply)
        self._flood_check(method, chat)
        return self._commit_bot_message(chat, kind=kind, raw_text=raw_text, parsed=parsed, params=params,
                                        markup=markup, reply=reply, thread_id=thread_id,
                                        stored=store() if store is not None else None)

    async def _m_edit_message_text(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        sent = self._target_bot_message(params, chat, ERR_EDIT_NOT_FOUND)
        if sent.kind != "text":
            raise ApiError(400, ERR_NO_TEXT_TO_EDIT)
        raw, parsed = self._parse_message_text(params, edit=True)
        return self._edit_to("editMessageText", chat, sent, params, raw_text=raw, parsed=parsed)

    def _edit_to(self, method: str, chat: _Chat, sent: Any, params: Params, *, raw_text: str,
                 parsed: ParsedText) -> dict[str, Any]:
        """The common tail of a text or caption edit: "not modified" refused, a flood slot taken, the edit kept."""
        markup = self._validate_markup(params, inline_only=True)
        if parsed.text == sent.text and parsed.entities == sent.entities and markup == _inline(sent.reply_markup):
            raise ApiError(400, ERR_NOT_MODIFIED)
        self._flood_check(method, chat)
        return self._apply_edit(sent, parsed=parsed, raw_text=raw_text, markup=markup,
                                parse_mode=params.get_str("parse_mode"))

    async def _m_edit_message_caption(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        sent = self._target_bot_message(params, chat, ERR_EDIT_NOT_FOUND)
        if sent.kind == "text":
            raise ApiError(400, ERR_NO_CAPTION_TO_EDIT)
        raw, parsed = self._parse_caption(params)
        return self._edit_to("editMessageCaption", chat, sent, params, raw_text=raw, parsed=parsed)

    async def _m_edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        sent = self._target_bot_message(params, chat, ERR_EDIT_NOT_FOUND)
        markup = self._validate_markup(params, inline_only=True)
        if markup == _inline(sent.reply_markup):
            raise ApiError(400, ERR_NOT_MODIFIED)
        self._flood_check("editMessageReplyMarkup", chat)
        return self._apply_edit(sent, parsed=None, raw_text=None, markup=markup, parse_mode=sent.parse_mode)

    def _delete_one(self, chat: _Chat, message_id: int) -> bool:
        message = chat.messages.get(message_id)
        if message is None:
            return False
        sent = chat.sent.get(message_id)
        if sent is None and chat.is_group and chat.bot_status != "administrator":
            raise ApiError(400, ERR_CANT_DELETE)
        del chat.messages[message_id]
        if sent is not None:
            sent.deleted = True
        return True

    async def _m_delete_message(self, params: Params) -> bool:
        chat = self._resolve_chat(params, for_writing=False)
        message_id = params.get_int("message_id", required=ERR_MESSAGE_ID_EMPTY)
        assert message_id is not None
        if not self._delete_one(chat, message_id):
            raise ApiError(400, ERR_DELETE_NOT_FOUND)
        return True

    async def _m_delete_messages(self, params: Params) -> bool:
        chat = self._resolve_chat(params, for_writing=False)
        ids = params.get_json("message_ids", "Bad Request: can't parse message identifiers JSON object")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        for message_id in ids:
            try:
                self._delete_one(chat, int(message_id))
            except ApiError:
                continue
        return True

    async def _m_pin_chat_message(self, params: Params) -> bool:
        chat = self._resolve_chat(params)
        if chat.is_group and chat.bot_status != "administrator":
            raise ApiError(400, "Bad Request: not enough rights to manage pinned messages in the chat")
        message_id = params.get_int("message_id")
        if message_id is not None and message_id not in chat.messages:
            raise ApiError(400, "Bad Request: message to pin not found")
        return True

    async def _m_answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id") or ""
        query = self._queries.get(query_id)
        if query is None or query.answered or self._clock() - query.created > self.callback_ttl:
            raise ApiError(400, ERR_QUERY_TOO_OLD)
        text = params.get_str("text")
        if text is not None and utf16_len(text) > 200:
            raise ApiError(400, ERR_ANSWER_TOO_LONG)
        query.answered = True
        self._answers[query_id] = CallbackAnswer(
            query_id=query_id,
            text=text,
            show_alert=params.get_bool("show_alert"),
            url=params.get_str("url"),
            cache_time=params.get_int("cache_time"),
            at=self._clock(),
        )
        return True

    async def _m_send_document(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        source = self._resolve_input_file(params, "document")
        if isinstance(source, UploadedPart):
            if not source.data:
                raise ApiError(400, ERR_FILE_EMPTY)
            if len(source.data) > self.max_document_size:
                raise ApiError(400, ERR_FILE_TOO_BIG)
        raw, parsed = self._parse_caption(params)

        def store() -> StoredFile:
            if isinstance(source, UploadedPart):
                return self._store_file(source.data, filename=source.filename, mime_type=source.content_type,
                                        kind="document", by_bot=True)
            return source

        return self._deliver("sendDocument", chat, params, kind="document", raw_text=raw, parsed=parsed, store=store)

    async def _m_send_photo(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        source = self._resolve_input_file(params, "photo")
        size: tuple[int, int] | None = None
        if isinstance(source, UploadedPart):
            if not source.data:
                raise ApiError(400, ERR_FILE_EMPTY)
            if len(source.data) > self.max_photo_size:
                raise ApiError(400, ERR_FILE_TOO_BIG)
            size = image_size(source.data)
            if size is None:
                raise ApiError(400, ERR_IMAGE_FAILED)
            width, height = size
            if width + height > 10000 or max(width, height) > 20 * max(min(width, height), 1):
                raise ApiError(400, ERR_PHOTO_DIMENSIONS)
        raw, parsed = self._parse_caption(params)

        def store() -> StoredFile:
            if not isinstance(source, UploadedPart):
                return source
            assert size is not None
            stored = self._store_file(source.data, filename=source.filename, mime_type=source.content_type,
                                      kind="photo", by_bot=True)
            stored.width, stored.height = size
            return stored

        return self._deliver("sendPhoto", chat, params, kind="photo", raw_text=raw, parsed=parsed, store=store)

    async def _m_get_file(self, params: Params) -> dict[str, Any]:
        file_id = params.get_str("file_id") or ""
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(400, ERR_INVALID_FILE_ID)
        if stored.size > self.max_download_size:
            raise ApiError(400, ERR_FILE_TOO_BIG)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    async def _m_send_chat_action(self, params: Params) -> bool:
        chat = self._resolve_chat(params)
        action = params.get_str("action") or ""
        if action not in CHAT_ACTIONS:
            raise ApiError(400, ERR_CHAT_ACTION)
        self._actions.append((chat.id, action, params.get_int("message_thread_id")))
        return True

    # ================================================================== methods: chats

    async def _m_get_chat(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params, for_writing=False)
        info = chat.to_dict()
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    def _member_status(self, chat: _Chat, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            status = chat.bot_status if chat.is_group else "member"
            if status == "administrator":
                return _admin_member(self.bot_user(), can_be_edited=False)
            if status == "kicked":
                return {"status": "kicked", "user": self.bot_user(), "until_date": 0}
            return {"status": status, "user": self.bot_user()}
        user = self._users.get(user_id)
        if user is None:
            raise ApiError(400, ERR_USER_NOT_FOUND)
        if chat.type == "private":
            status = "member" if user_id == chat.id else "left"
            return {"status": status, "user": user.to_dict()}
        if user_id == chat.creator:
            return {"status": "creator", "user": user.to_dict(), "is_anonymous": False}
        if user_id in chat.admins:
            return _admin_member(user.to_dict(), can_be_edited=False)
        if user_id in chat.members:
            return {"status": "member", "user": user.to_dict()}
        return {"status": "left", "user": user.to_dict()}

    async def _m_get_chat_member(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params, for_writing=False)
        user_id = params.get_int("user_id", required="Bad Request: user_id is empty")
        assert user_id is not None
        return self._member_status(chat, user_id)

    async def _m_get_chat_administrators(self, params: Params) -> list[dict[str, Any]]:
        chat = self._resolve_chat(params, for_writing=False)
        if chat.type == "private":
            raise ApiError(400, ERR_NO_ADMINS_PRIVATE)
        ids: list[int] = []
        if chat.creator is not None:
            ids.append(chat.creator)
        ids.extend(sorted(chat.admins - {chat.creator}))
        result = [self._member_status(chat, uid) for uid in ids]
        if chat.bot_status == "administrator":
            result.append(self._member_status(chat, self.bot_id))
        return result

    async def _m_get_chat_member_count(self, params: Params) -> int:
        chat = self._resolve_chat(params, for_writing=False)
        if chat.type == "private":
            return 2
        return len(chat.members) + (1 if chat.bot_status in ("member", "administrator") else 0)

    # ================================================================== user simulation

    def _resolve_sent(self, message: SentMessage | dict[str, Any] | int, chat_id: int) -> SentMessage:
        if isinstance(message, SentMessage):
            return message
        if isinstance(message, dict):
            chat_id = message["chat"]["id"]
            message_id = message["message_id"]
        else:
            message_id = message
        chat = self._chats.get(chat_id)
        sent = chat.sent.get(message_id) if chat else None
        if sent is None:
            raise LookupError(f"the bot sent no message {message_id} in chat {chat_id}")
        return sent

    def _user_chat(self, user: SimUser, chat_id: int | None) -> _Chat:
        if chat_id is None or chat_id == user.id:
            chat = self._private_chat(user)
            chat.started = True
            if chat.blocked:  # writing to a bot unblocks it
                self.unblock_user(user)
            return chat
        chat = self._group(chat_id)
        if user.id not in chat.members:
            raise ValueError(
                f"{user!r} is not a member of chat {chat_id}; declare it in add_group(members=...) "
                "or call user.join(chat)"
            )
        return chat

    def _new_user_message(self, chat: _Chat, user: SimUser, thread_id: int | None = None) -> dict[str, Any]:
        return self._base_message(chat, user.to_dict(), thread_id)

    def _user_message(
        self,
        user: SimUser,
        chat_id: int | None,
        *,
        text: str | None = None,
        document: StoredFile | None = None,
        photo: StoredFile | None = None,
        caption: str | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        chat = self._user_chat(user, chat_id)
        reply: dict[str, Any] | None = None
        if reply_to is not None:
            reply_id = _message_id_of(reply_to)
            reply = chat.messages.get(reply_id)
            if reply is None:
                raise LookupError(f"no message {reply_id} in chat {chat.id} to reply to")
        if chat.is_forum:
            if thread_id is None and reply is not None:
                thread_id = reply.get("message_thread_id")
            if thread_id is not None:
                chat.topics.add(thread_id)
        else:
            thread_id = None
        message = self._new_user_message(chat, user, thread_id)
        if reply is not None:
            message["reply_to_message"] = _as_reply(reply)
        if text is not None:
            message["text"] = text
            found = entities if entities is not None else _command_entities(text)
            if found:
                message["entities"] = found
        if document is not None or photo is not None:
            message.update(_file_payload(document or photo))  # type: ignore[arg-type]
            if caption:
                message["caption"] = caption
                found = _command_entities(caption)
                if found:
                    message["caption_entities"] = found
        return self._deliver_message(chat, message)

    def _deliver_message(self, chat: _Chat, message: dict[str, Any], kind: str = "message") -> dict[str, Any]:
        chat.messages[message["message_id"]] = message
        reason = self._privacy_reason(chat, message)
        if reason is None:
            self._enqueue(kind, message)
        else:
            self.undelivered.append(Undelivered({kind: message}, reason))
            self._notify()
        return message

    def _privacy_reason(self, chat: _Chat, message: dict[str, Any]) -> str | None:
        """Why a user's message would not reach the bot (None = delivered)."""
        if chat.type == "private":
            return "bot_blocked" if chat.blocked else None
        if chat.bot_status in ("kicked", "left"):
            return "bot_not_in_chat"
        privacy = self.privacy_mode if chat.privacy_mode is None else chat.privacy_mode
        if not privacy or chat.bot_status == "administrator":
            return None
        if "new_chat_members" in message or "left_chat_member" in message:
            return None
        reply = message.get("reply_to_message")
        if reply is not None and reply.get("from", {}).get("id") == self.bot_id:
            return None
        body = message.get("text") or message.get("caption") or ""
        match = _COMMAND_RE.match(body)
        if match:
            target = match.group(2)
            if target is None or target.lower() == self.bot_username.lower():
                return None
            return "command_for_other_bot"
        return "privacy_mode"

    def _user_edit(self, user: SimUser, message: dict[str, Any], text: str) -> dict[str, Any]:
        chat = self._chats[message["chat"]["id"]]
        current = chat.messages.get(message["message_id"])
        if current is None or current.get("from", {}).get("id") != user.id:
            raise LookupError(f"{user!r} has no message {message['message_id']} in chat {chat.id}")
        edited = dict(current)
        edited["text"] = text
        edited.pop("entities", None)
        found = _command_entities(text)
        if found:
            edited["entities"] = found
        edited["edit_date"] = int(time.time())
        return self._deliver_message(chat, edited, kind="edited_message")

    def _callback_query(self, user: SimUser, chat_id: int, message_id: int, data: str | None) -> str:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise LookupError(f"unknown chat {chat_id}")
        query_id = str(4_000_000_000_000_000 + next(self._query_ids))
        self._queries[query_id] = _Query(query_id, user.id, chat_id, message_id, data, self._clock())
        message = chat.messages.get(message_id)
        payload: dict[str, Any] = {
            "id": query_id,
            "from": user.to_dict(),
            "chat_instance": str(int(hashlib.sha1(str(chat_id).encode()).hexdigest()[:15], 16)),
            "message": dict(message)
            if message is not None
            else {"chat": chat.to_dict(), "message_id": message_id, "date": 0},
        }
        if data is not None:
            payload["data"] = data
        if chat.is_group and chat.bot_status in ("kicked", "left"):
            self.undelivered.append(Undelivered({"callback_query": payload}, "bot_not_in_chat"))
            self._notify()
        elif chat.type == "private" and chat.blocked:
            self.undelivered.append(Undelivered({"callback_query": payload}, "bot_blocked"))
            self._notify()
        else:
            self._enqueue("callback_query", payload)
        return query_id

    def _member_change(self, user: SimUser, chat_id: int, *, joined: bool) -> dict[str, Any]:
        chat = self._group(chat_id)
        message = self._new_user_message(chat, user)
        if joined:
            chat.members.add(user.id)
            message["new_chat_members"] = [user.to_dict()]
        else:
            chat.members.discard(user.id)
            chat.admins.discard(user.id)
            message["left_chat_member"] = user.to_dict()
        return self._deliver_message(chat, message)

    def _my_chat_member(self, chat: _Chat, old: str, new: str, by: SimUser | None) -> None:
        def member(status: str) -> dict[str, Any]:
            if status == "administrator":
                return _admin_member(self.bot_user(), can_be_edited=False)
            if status == "kicked":
                return {"status": "kicked", "user": self.bot_user(), "until_date": 0}
            return {"status": status, "user": self.bot_user()}

        actor = by.to_dict() if by is not None else (chat.user.to_dict() if chat.user else self.bot_user())
        self._enqueue(
            "my_chat_member",
            {
                "chat": chat.to_dict(),
                "from": actor,
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )


# --------------------------------------------------------------------------- module helpers


def _inline(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    if markup is not None and "inline_keyboard" in markup:
        return markup
    return None


def _as_reply(message: dict[str, Any]) -> dict[str, Any]:
    reply = dict(message)
    reply.pop("reply_to_message", None)
    return reply


def _message_id_of(ref: MessageRef) -> int:
    if isinstance(ref, SentMessage):
        return ref.message_id
    if isinstance(ref, dict):
        return int(ref["message_id"])
    return int(ref)


def _command_entities(text: str) -> list[dict[str, Any]]:
    match = _COMMAND_RE.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


def _file_payload(stored: StoredFile) -> dict[str, Any]:
    if stored.kind == "photo":
        return {
            "photo": [
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": stored.width or 0,
                    "height": stored.height or 0,
                    "file_size": stored.size,
                }
            ]
        }
    document: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
    }
    if stored.filename:
        document["file_name"] = stored.filename
    if stored.mime_type:
        document["mime_type"] = stored.mime_type
    return {"document": document}


def _admin_member(user: dict[str, Any], *, can_be_edited: bool) -> dict[str, Any]:
    rights = {
        "can_be_edited": can_be_edited,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": True,
        "can_restrict_members": True,
        "can_promote_members": False,
        "can_change_info": True,
        "can_invite_users": True,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
        "can_send_welcome_messages": False,
        "can_pin_messages": True,
    }
    return {"status": "administrator", "user": user, **rights}


def _short_update(update: dict[str, Any]) -> str:
    kind = next((k for k in update if k != "update_id"), "?")
    payload = update.get(kind, {})
    text = payload.get("text") or payload.get("caption") or payload.get("data") or ""
    chat = (payload.get("chat") or payload.get("message", {}).get("chat") or {}).get("id")
    return f"{kind} chat={chat} {text!r}"


def _describe_callable(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", repr(fn))
    if name != "<lambda>":
        return name
    try:
        source = inspect.getsource(fn).strip()
    except (OSError, TypeError):
        return "<lambda>"
    start = source.find("lambda")
    text = source[start:] if start >= 0 else source
    return text if len(text) <= 200 else text[:197] + "..."


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF, WebP or BMP image; None if not recognised."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if data.startswith(b"BM") and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(int(width)), abs(int(height))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
            chunk = data[12:16]
            if chunk == b"VP8 ":
                width = int.from_bytes(data[26:28], "little") & 0x3FFF
                height = int.from_bytes(data[28:30], "little") & 0x3FFF
                return width, height
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
            return None
        if data.startswith(b"\xff\xd8"):
            i = 2
            while i + 9 <= len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker == 0xFF:
                    i += 1
                    continue
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                length = struct.unpack(">H", data[i + 2 : i + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                    return int(width), int(height)
                i += 2 + length
    except struct.error:
        return None
    return None
