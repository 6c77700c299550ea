"""A fake OpenAI-compatible chat-completions server for tests of code that calls an LLM.

The server speaks the part of the OpenAI HTTP API that LangChain's ``ChatOpenAI`` uses (aiohttp,
bound to ``127.0.0.1`` on a free port), so a real client - e.g.
``ChatOpenAI(model="test-model", base_url=server.base_url, api_key="sk-test")`` - talks to it
unchanged:

* ``POST /v1/chat/completions`` - JSON, or server-sent events with ``"stream": true``;
* ``GET /v1/models`` - the configured models.

It checks ``Authorization: Bearer <api_key>`` (when created with ``api_key``), validates the body
the way OpenAI does (400 with OpenAI's wording; 404 ``model_not_found`` for a model it does not
serve) and records every request in :attr:`ChatAPIServer.requests`.

Each test scripts the answers: ``server.script(Reply("..."), Status(429, retry_after=1), ...)``
queues them in order of arrival; once the queue is empty :attr:`ChatAPIServer.default` answers
(``None``: every unscripted request gets a 500 that says so).  Delayed replies sleep without
blocking other requests and notice the client leaving (``RecordedRequest.cancelled``).
``server.reachable = False`` closes every connection without an answer; ``await server.stop()``
then ``await server.start()`` refuses connections in between and listens again on the same port.

The server runs in the event loop of the test, so talk to it with the async API (``ainvoke``,
``astream``): a synchronous call would block the loop the server needs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tests.serving import Serving

from .models import Malformed, Outcome, RecordedRequest, Reply, Scripted, Status, message_text

__all__ = ["ChatAPIServer"]

log = logging.getLogger(__name__)

COMPLETIONS_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
DEFAULT_REPLY = Reply("OK")
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class ChatAPIServer(Serving):
    """An OpenAI-compatible chat-completions server on ``host:port`` (port 0 = a free port), scripted per test.

    Knobs (plain attributes, changeable while running): :attr:`default` (the reply once the script
    is used up), :attr:`reachable`, :attr:`models`, :attr:`api_key`, :attr:`stream_chunk_chars`.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Iterable[str] = ("test-model",),
        default: Scripted | None = DEFAULT_REPLY,
        host: str = "127.0.0.1",
        port: int = 0,
        stream_chunk_chars: int = 8,
    ) -> None:
        self.api_key = api_key
        self.models = tuple(models)
        self.default = default
        self.host = host
        self.port = port
        self.stream_chunk_chars = stream_chunk_chars
        self.reachable = True
        self.requests: list[RecordedRequest] = []

        self._script: collections.deque[Scripted] = collections.deque()
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base = ""

    # ================================================================== lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` - what an OpenAI client takes as ``base_url``."""
        return f"{self.base}/v1"

    async def start(self) -> ChatAPIServer:
        """Binds ``host:port`` and serves; sets :attr:`base` (a restart keeps the port)."""
        if self._runner is not None:
            return self
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        self.base = f"http://{self.host}:{self.port}"
        log.info("fake chat-completions server listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        """Stops serving; delayed replies still waiting end at once with a 503."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._notify()

    # ================================================================== scripting

    def script(self, *replies: Scripted) -> ChatAPIServer:
        """Queues replies for the next chat completions, used in order of arrival."""
        for reply in replies:
            if not isinstance(reply, Reply | Status | Malformed | str) and not callable(reply):
                raise TypeError(f"cannot script {reply!r}: expected Reply, Status, Malformed, str or a callable")
        self._script.extend(replies)
        return self

    @property
    def pending(self) -> tuple[Scripted, ...]:
        """The scripted replies not used yet."""
        return tuple(self._script)

    @property
    def completions(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/chat/completions`` requests."""
        return [r for r in self.requests if r.method == "POST" and r.path == COMPLETIONS_PATH]

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 30.0, *, description: str | None = None) -> Any:
        """Waits until ``condition()`` is truthy (re-checked whenever a request arrives or changes) and returns it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            event = self._changed
            if result := condition():
                return result
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                what = description or getattr(condition, "__name__", "condition")
                seen = "\n".join(f"  {r!r}" for r in self.requests) or "  (none)"
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; requests:\n{seen}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(remaining, 0.5))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ================================================================== HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            text=text,
            json=body,
        )
        self.requests.append(record)
        self._notify()
        try:
            if not self.reachable:
                return self._drop(request, record)
            return await self._route(request, record)
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        finally:
            self._notify()

    async def _route(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        route = (record.method, record.path)
        if route not in (("POST", COMPLETIONS_PATH), ("GET", MODELS_PATH)):
            message = f"Invalid URL ({record.method} {record.path})"
            return self._error(record, Status(404, message, error_type="invalid_request_error", code="unknown_url"))
        if refusal := self._check_key(record):
            return self._error(record, refusal)
        if record.method == "GET":
            record.status = 200
            models = [{"id": m, "object": "model", "created": 0, "owned_by": "chat-api-server"} for m in self.models]
            return web.json_response({"object": "list", "data": models})
        if refusal := self._check_body(record):
            return self._error(record, refusal)
        outcome = record.reply = await self._next(record.json)
        if not await self._pause(outcome.delay):
            return self._error(record, Status(503, "The server is shutting down."))
        if not self.reachable:
            return self._drop(request, record)
        if isinstance(outcome, Status):
            return self._error(record, outcome)
        if isinstance(outcome, Malformed):
            record.status = outcome.status
            data = outcome.body.encode() if isinstance(outcome.body, str) else outcome.body
            return web.Response(body=data, status=outcome.status, headers={"Content-Type": outcome.content_type})
        if record.json.get("stream"):
            return await self._stream(request, record, outcome)
        record.status = 200
        return web.json_response(self._completion(record, outcome))

    def _check_key(self, record: RecordedRequest) -> Status | None:
        if self.api_key is None:
            return None
        if record.api_key is None:
            return Status(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                               "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", code="missing_api_key")
        if record.api_key != self.api_key:
            return Status(401, f"Incorrect API key provided: {_mask(record.api_key)}.")
        return None

    def _check_body(self, record: RecordedRequest) -> Status | None:
        """OpenAI's 400 (or 404 for an unknown model) for a body it would reject; None when it is valid."""
        body = record.json
        if not isinstance(body, dict):
            return _invalid("We could not parse the JSON body of your request. The OpenAI API expects a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _invalid("you must provide a model parameter", param="model")
        if model not in self.models:
            return Status(404, f"The model `{model}` does not exist or you do not have access to it.")
        if "stream" in body and not isinstance(body["stream"], bool | None):
            return _invalid(f"Invalid type for 'stream': expected a boolean, but got {_kind(body['stream'])} instead.",
                            param="stream", code="invalid_type")
        messages = body.get("messages")
        if messages is None:
            return _invalid("Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter")
        if not isinstance(messages, list):
            return _invalid(f"Invalid type for 'messages': expected an array, but got {_kind(messages)} instead.",
                            param="messages", code="invalid_type")
        if not messages:
            return _invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                            "empty array instead.", param="messages", code="empty_array")
        for i, message in enumerate(messages):
            if refusal := _check_message(f"messages[{i}]", message):
                return refusal
        return None

    async def _next(self, body: dict[str, Any]) -> Outcome:
        """The next scripted outcome (or the default's), with a callable applied to the body."""
        scripted = self._script.popleft() if self._script else self.default
        if scripted is None:
            return Status(500, f"ChatAPIServer: no scripted reply left and no default (request {len(self.completions)})",
                          code="unscripted")
        item: object = scripted
        if callable(scripted):
            try:
                item = scripted(body)
                if inspect.isawaitable(item):
                    item = await item
            except Exception as e:
                log.exception("ChatAPIServer: the scripted callable raised")
                return Status(500, f"ChatAPIServer: the scripted callable raised {e!r}", code="script_error")
        if isinstance(item, str):
            return Reply(item)
        if isinstance(item, Reply | Status | Malformed):
            return item
        return Status(500, f"ChatAPIServer: the scripted callable returned {item!r}, not a Reply, Status or Malformed",
                      code="script_error")

    async def _pause(self, seconds: float) -> bool:
        """Sleeps ``seconds`` (True) unless the server stops first (False)."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return not self._stopping.is_set()

    def _drop(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        """Closes the connection without an answer (aiohttp then fails to write the empty response, quietly)."""
        record.dropped = True
        if request.transport is not None:
            request.transport.close()
        return web.Response()

    def _error(self, record: RecordedRequest, status: Status) -> web.Response:
        record.status = status.status
        headers = {} if status.retry_after is None else {"Retry-After": f"{status.retry_after:g}"}
        return web.json_response(status.body(), status=status.status, headers=headers)

    # ================================================================== completions

    def _completion(self, record: RecordedRequest, reply: Reply) -> dict[str, Any]:
        return {
            **self._envelope(record, "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": _usage(record, reply),
        }

    async def _stream(self, request: web.Request, record: RecordedRequest, reply: Reply) -> web.StreamResponse:
        """Sends the reply as server-sent events: a role chunk, content chunks, the finish chunk, usage, ``[DONE]``."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                               "Cache-Control": "no-cache"})
        record.status = 200
        try:
            await response.prepare(request)
            for chunk in self._chunks(record, reply):
                await response.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionError:
            record.cancelled = True
        return response

    def _chunks(self, record: RecordedRequest, reply: Reply) -> Iterator[dict[str, Any]]:
        options = record.json.get("stream_options")
        usage = isinstance(options, dict) and bool(options.get("include_usage"))
        envelope = self._envelope(record, "chat.completion.chunk") | ({"usage": None} if usage else {})

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**envelope, "choices": [choice]}

        yield chunk({"role": "assistant", "content": "", "refusal": None})
        size = max(1, self.stream_chunk_chars)
        for start in range(0, len(reply.content), size):
            yield chunk({"content": reply.content[start:start + size]})
        yield chunk({}, reply.finish_reason)
        if usage:
            yield {**envelope, "choices": [], "usage": _usage(record, reply)}

    def _envelope(self, record: RecordedRequest, kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-test{next(self._ids):06d}",
            "object": kind,
            "created": int(time.time()),
            "model": record.model,
            "system_fingerprint": None,
        }



def _check_message(where: str, message: object) -> Status | None:
    """OpenAI's 400 for one invalid chat message."""
    if not isinstance(message, dict):
        return _invalid(f"Invalid type for '{where}': expected an object, but got {_kind(message)} instead.",
                        param=where, code="invalid_type")
    role = message.get("role")
    if role is None:
        return _invalid(f"Missing required parameter: '{where}.role'.", param=f"{where}.role",
                        code="missing_required_parameter")
    if role not in ROLES:
        supported = ", ".join(f"'{r}'" for r in ROLES)
        return _invalid(f"Invalid value: {json.dumps(role)}. Supported values are: {supported}.",
                        param=f"{where}.role", code="invalid_value")
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return None
        return _invalid(f"Missing required parameter: '{where}.content'.", param=f"{where}.content",
                        code="missing_required_parameter")
    if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("type"), str) for p in content):
        return None
    if isinstance(content, str):
        return None
    return _invalid(f"Invalid type for '{where}.content': expected one of a string or array of objects, but got "
                    f"{_kind(content)} instead.", param=f"{where}.content", code="invalid_type")


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> Status:
    return Status(400, message, error_type="invalid_request_error", param=param, code=code)


_JSON_KINDS: tuple[tuple[type, str], ...] = (  # bool before int: True is an int too
    (bool, "a boolean"), (int, "an integer"), (float, "a decimal"), (str, "a string"), (list, "an array"),
    (dict, "an object"),
)


def _kind(value: object) -> str:
    """OpenAI's name for a JSON value's type ("an integer", "a string" ...)."""
    return next((name for cls, name in _JSON_KINDS if isinstance(value, cls)), "null")


def _mask(key: str) -> str:
    return key if len(key) <= 8 else f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def _tokens(text: str) -> int:
    """A rough token count (four characters a token): enough for usage fields, not a tokenizer."""
    return math.ceil(len(text) / 4)


def _usage(record: RecordedRequest, reply: Reply) -> dict[str, int]:
    prompt = sum(_tokens(message_text(m)) + 4 for m in record.messages if isinstance(m, dict))
    completion = _tokens(reply.content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
