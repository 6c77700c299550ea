"""What a test scripts the fake chat-completions server with, and what the server records.

* :class:`Reply` - a completion (``content`` verbatim: prose, JSON, a ``<think>`` block ...).
* :class:`Status` - an HTTP error with an OpenAI-style ``{"error": {...}}`` body.
* :class:`Malformed` - a body the client cannot use (not JSON, or JSON without ``choices``).
* :data:`Responder` - a callable ``(request_json) -> Reply | Status | Malformed`` for replies that
  depend on the prompt.
* :class:`RecordedRequest` - one HTTP request the server saw and what it answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(frozen=True)
class Reply:
    """A ``200`` chat completion whose assistant message is ``content``, sent after ``delay`` seconds."""

    content: str
    delay: float = 0.0
    finish_reason: str = "stop"

    def __post_init__(self) -> None:
        _check_delay(self.delay)


# OpenAI's own wording and error type for the statuses tests usually script.
_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}


@dataclass(frozen=True)
class Status:
    """An HTTP error ``status`` with an OpenAI-style error body; ``retry_after`` sets the ``Retry-After`` header.

    ``message``, ``error_type`` and ``code`` default to what OpenAI sends for that status.
    """

    status: int
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"Status needs an HTTP error code (400-599), not {self.status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, not {self.retry_after}")
        _check_delay(self.delay)

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI would send: ``{"error": {"message", "type", "param", "code"}}``."""
        message, error_type, code = _ERRORS.get(
            self.status, (f"HTTP {self.status}", "server_error" if self.status >= 500 else "invalid_request_error", None)
        )
        return {
            "error": {
                "message": self.message if self.message is not None else message,
                "type": self.error_type if self.error_type is not None else error_type,
                "param": self.param,
                "code": self.code if self.code is not None else code,
            }
        }


@dataclass(frozen=True)
class Malformed:
    """A response with ``body`` sent as is (``status`` 200 and a JSON content type unless told otherwise)."""

    body: str | bytes
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0

    def __post_init__(self) -> None:
        _check_delay(self.delay)


Outcome: TypeAlias = Reply | Status | Malformed
Responder: TypeAlias = Callable[[dict[str, Any]], Outcome | str | Awaitable[Outcome | str]]
"""Builds the reply from the parsed request body (may be ``async``; a ``str`` means ``Reply(str)``)."""
Scripted: TypeAlias = Reply | Status | Malformed | Responder | str
"""What :meth:`~tests.llmapi.server.ChatAPIServer.script` accepts; a plain ``str`` is ``Reply(str)``."""


def _check_delay(delay: float) -> None:
    if delay < 0:
        raise ValueError(f"delay must be >= 0, not {delay}")


@dataclass(eq=False)
class RecordedRequest:
    """One HTTP request to the server, recorded before it is answered and updated as the answer goes out."""

    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive
    text: str  # the raw body
    json: Any  # the parsed body, None when it is not JSON
    status: int | None = None  # the HTTP status sent; None while pending, when dropped or when the client left
    reply: Outcome | None = None  # the scripted outcome used (None for auth/validation errors and /v1/models)
    dropped: bool = False  # the server was unreachable: the connection was closed without an answer
    cancelled: bool = False  # the client went away (e.g. its timeout) before the answer was complete

    @property
    def api_key(self) -> str | None:
        """The bearer token of the ``Authorization`` header, if any."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    @property
    def model(self) -> str | None:
        """The ``model`` of a chat-completions body."""
        return self.json.get("model") if isinstance(self.json, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` of a chat-completions body (empty when there are none)."""
        messages = self.json.get("messages") if isinstance(self.json, dict) else None
        return messages if isinstance(messages, list) else []

    @property
    def prompt(self) -> str:
        """The text of every message, in order, separated by blank lines (text parts of multi-part contents too)."""
        return "\n\n".join(message_text(m) for m in self.messages if isinstance(m, dict))

    def __repr__(self) -> str:
        state = "dropped" if self.dropped else "cancelled" if self.cancelled else self.status
        return f"RecordedRequest({self.method} {self.path} -> {state}, model={self.model!r})"


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one chat message: its string content, or the ``text`` parts of a list content joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""
