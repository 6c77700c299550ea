"""Records kept by the fake Bot API server and handed to tests.

* :class:`SentMessage` - a message the *bot* sent, in its current state (edits applied).
* :class:`StoredFile` - bytes of an uploaded or user-sent file.
* :class:`ApiCall` - one Bot API request and its outcome.
* :class:`CallbackAnswer` - what the bot answered to a callback query.
* :class:`Undelivered` - an update that the bot never got (privacy mode, allowed_updates ...).
* :class:`WebhookDelivery` - one attempt to deliver an update to the webhook, and how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "ApiCall",
    "ApiError",
    "Button",
    "CallbackAnswer",
    "SentMessage",
    "StoredFile",
    "Undelivered",
    "WebhookDelivery",
]


class ApiError(Exception):
    """An error answer of the Bot API (``{"ok": false, "error_code": ..., "description": ...}``)."""

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram would send."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        parameters: dict[str, Any] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


@dataclass(eq=False)
class StoredFile:
    """A file known to the server (uploaded by the bot or sent by a simulated user)."""

    file_id: str
    file_unique_id: str
    data: bytes
    filename: str | None
    mime_type: str | None
    kind: str  # "document" | "photo"
    file_path: str
    width: int | None = None
    height: int | None = None
    uploaded_by_bot: bool = False

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def text(self, encoding: str = "utf-8") -> str:
        """The content decoded as text."""
        return self.data.decode(encoding)

    def __repr__(self) -> str:
        return (
            f"StoredFile({self.kind} {self.filename!r}, {self.size} bytes, "
            f"mime={self.mime_type!r}, file_id={self.file_id!r})"
        )


class Button(NamedTuple):
    """An inline keyboard button: ``(text, data)`` where data is the callback_data or the url
    (or ``None`` for other kinds of button)."""

    text: str
    data: str | None


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent; the object is updated in place by edits and deletion.

    ``text`` is the visible text after entity parsing (the caption for documents/photos),
    ``html`` the raw text/caption exactly as the bot sent it (whatever its ``parse_mode``).
    """

    chat_id: int
    message_id: int
    kind: str  # "text" | "document" | "photo"
    text: str
    html: str
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    thread_id: int | None
    reply_to_message_id: int | None
    raw: dict[str, Any]
    sent_at: float
    document: StoredFile | None = None
    photo: StoredFile | None = None
    edits: int = 0
    history: list[str] = field(default_factory=list)
    edited_at: float | None = None
    deleted: bool = False

    @property
    def caption(self) -> str:
        """Alias of :attr:`text` (for media messages it holds the caption)."""
        return self.text

    @property
    def raw_text(self) -> str:
        """Alias of :attr:`html`: the text as sent, before parsing."""
        return self.html

    @property
    def file(self) -> StoredFile | None:
        """The document or photo, whichever the message carries."""
        return self.document or self.photo

    @property
    def buttons(self) -> list[list[Button]]:
        """Inline keyboard as rows of :class:`Button` (empty if there is none)."""
        markup = self.reply_markup or {}
        rows: list[list[Button]] = []
        for row in markup.get("inline_keyboard") or []:
            rows.append(
                [
                    Button(
                        str(b.get("text", "")),
                        b.get("callback_data") if "callback_data" in b else b.get("url"),
                    )
                    for b in row
                ]
            )
        return rows

    @property
    def flat_buttons(self) -> list[Button]:
        """All inline buttons, row by row."""
        return [b for row in self.buttons for b in row]

    @property
    def button_texts(self) -> list[str]:
        """Texts of all inline buttons, row by row."""
        return [b.text for b in self.flat_buttons]

    def find_button(self, which: str | int | None = None, *, callback_data: str | None = None) -> dict[str, Any]:
        """Return the raw button dict chosen by text (exact, else unique substring), flat index
        or ``callback_data``; raise ``LookupError`` listing the buttons if there is none."""
        raw_buttons = [b for row in (self.reply_markup or {}).get("inline_keyboard") or [] for b in row]
        found: dict[str, Any] | None = None
        if callback_data is not None:
            found = next((b for b in raw_buttons if b.get("callback_data") == callback_data), None)
        elif isinstance(which, int):
            if -len(raw_buttons) <= which < len(raw_buttons):
                found = raw_buttons[which]
        elif isinstance(which, str):
            found = next((b for b in raw_buttons if b.get("text") == which), None)
            if found is None:
                partial = [b for b in raw_buttons if which in str(b.get("text", ""))]
                if len(partial) == 1:
                    found = partial[0]
        elif len(raw_buttons) == 1:
            found = raw_buttons[0]
        if found is None:
            wanted = f"callback_data={callback_data!r}" if callback_data is not None else repr(which)
            raise LookupError(
                f"no inline button {wanted} in message {self.message_id} of chat {self.chat_id}; "
                f"buttons: {self.buttons!r}"
            )
        return found

    def describe(self, limit: int = 300) -> str:
        """One-line human readable summary used in assertion messages."""
        text = self.text if len(self.text) <= limit else self.text[:limit] + "…"
        parts = [f"#{self.message_id}"]
        if self.kind != "text":
            parts.append(f"[{self.kind} {self.file.filename if self.file else ''!s}]")
        if self.thread_id is not None:
            parts.append(f"(thread {self.thread_id})")
        if self.edits:
            parts.append(f"(edited x{self.edits})")
        if self.deleted:
            parts.append("(deleted)")
        parts.append(repr(text))
        if self.buttons:
            parts.append(f"buttons={[[tuple(b) for b in row] for row in self.buttons]!r}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"SentMessage(chat={self.chat_id} {self.describe(80)})"


@dataclass(eq=False)
class ApiCall:
    """One request to the fake server and its outcome."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str | None, int]]
    started: float
    source: str = "http"  # "http" | "webhook-reply"
    finished: float | None = None
    ok: bool | None = None  # None while running or if the client went away
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    retry_after: int | None = None
    cancelled: bool = False

    @property
    def done(self) -> bool:
        """Whether the call has an outcome (or was abandoned by the client)."""
        return self.finished is not None

    @property
    def failed(self) -> bool:
        """Whether the server answered ``ok: false``."""
        return self.ok is False

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter, if any."""
        return self.params.get("chat_id")

    def describe(self) -> str:
        """One-line summary."""
        if self.cancelled:
            outcome = "cancelled by client"
        elif self.ok is None:
            outcome = "pending"
        elif self.ok:
            outcome = "ok"
        else:
            outcome = f"{self.error_code} {self.description}"
        shown = {k: (v if len(repr(v)) < 120 else repr(v)[:117] + "...") for k, v in self.params.items()}
        return f"{self.method}({shown}) -> {outcome}"

    def __repr__(self) -> str:
        return f"ApiCall({self.describe()})"


@dataclass
class CallbackAnswer:
    """The bot's answerCallbackQuery for one query."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    at: float


@dataclass
class Undelivered:
    """An update the bot did not receive, and why."""

    update: dict[str, Any]
    reason: str  # "privacy_mode" | "bot_not_in_chat" | "allowed_updates" | ...


@dataclass
class WebhookDelivery:
    """One POST of an update to the webhook: `status` is the HTTP answer (None: no answer — the connection failed,
    dropped or timed out, see `error`); only a 2xx answer confirms the update, anything else is tried again."""

    update_id: int
    status: int | None
    error: str | None = None
    retry_after: int | None = None  # the Retry-After the webhook asked for

    @property
    def ok(self) -> bool:
        """Whether the delivery confirmed the update."""
        return self.status is not None and 200 <= self.status < 300
