"""Tests of the fake chat-completions server (tests/llmapi), driven by a real LangChain ``ChatOpenAI``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from . import ChatAPIServer, Malformed, Reply, Status

KEY = "sk-test-0123456789"
MODEL = "test-model"

MakeChat = Callable[..., ChatOpenAI]


@pytest.fixture
async def server() -> AsyncIterator[ChatAPIServer]:
    async with ChatAPIServer(api_key=KEY, models=(MODEL,)) as running:
        yield running


@pytest.fixture
async def chat(server: ChatAPIServer) -> AsyncIterator[MakeChat]:
    """Makes ChatOpenAI clients on the server (no retries, a generous timeout), each on its own HTTP client, and
    closes those afterwards.

    Regression: the fixture used to close `root_async_client`, which is langchain-openai's *cached, shared* default
    client — a later test whose server got the same port reused the closed client ("Cannot send a request, as the
    client has been closed"), a flake seen in full runs only.
    """
    made: list[Any] = []

    def make(**options: Any) -> ChatOpenAI:
        http = openai.DefaultAsyncHttpxClient(timeout=30)
        made.append(http)
        settings: dict[str, Any] = {"model": MODEL, "base_url": server.base_url, "api_key": KEY,
                                    "timeout": 30, "max_retries": 0, "http_async_client": http}
        return ChatOpenAI(**(settings | options))

    yield make
    for http in made:
        await http.aclose()


async def get(server: ChatAPIServer, path: str, *, key: str | None = KEY) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as http, http.get(server.base_url + path, headers=headers) as response:
        return response.status, await response.json()


async def post(server: ChatAPIServer, body: str | dict[str, Any]) -> tuple[int, Any]:
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, \
            http.post(server.base_url + "/chat/completions", data=data, headers=headers) as response:
        return response.status, await response.json()


# ---------------------------------------------------------------------------- replies


async def test_a_scripted_reply_is_the_completion(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Reply("你好，我是测试模型。"))

    answer = await chat().ainvoke("你好")

    assert answer.content == "你好，我是测试模型。"
    assert answer.response_metadata["model_name"] == MODEL
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["total_tokens"] > 0


async def test_content_is_passed_through_verbatim(server: ChatAPIServer, chat: MakeChat) -> None:
    content = '<think>The user wants JSON.\n</think>\n{"level": 3, "evidence": ["已有企微"]}'
    server.script(Reply(content))

    answer = await chat().ainvoke("Score it")

    assert answer.content == content


async def test_replies_are_used_in_order_then_the_default(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Reply("one"), "two")
    llm = chat()

    answers = [(await llm.ainvoke(f"question {i}")).content for i in range(3)]
    server.default = Reply("fallback")
    answers.append((await llm.ainvoke("question 4")).content)

    assert answers == ["one", "two", "OK", "fallback"]
    assert server.pending == ()


async def test_no_default_answers_unscripted_requests_with_a_500(server: ChatAPIServer, chat: MakeChat) -> None:
    server.default = None

    with pytest.raises(openai.InternalServerError) as caught:
        await chat().ainvoke("anything")

    assert caught.value.code == "unscripted"
    assert "no scripted reply left" in caught.value.message


def test_script_refuses_what_it_cannot_answer_with() -> None:
    server = ChatAPIServer()

    with pytest.raises(TypeError, match="cannot script 42"):
        server.script(Reply("fine"), 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="HTTP error code"):
        Status(200)
    with pytest.raises(ValueError, match="delay"):
        Reply("late", delay=-1)


# ---------------------------------------------------------------------------- what the client sent


async def test_every_request_is_recorded_with_what_the_client_sent(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Reply('{"level": 2}'))
    passages = "【段落一】私域启动前要先确定目标人群。\n【段落二】企业微信是常用的承接工具。"

    await chat(temperature=0).ainvoke([SystemMessage("You grade readiness answers."),
                                       HumanMessage(f"Passages:\n{passages}\n\nAnswer: 我们已经有企微了")])

    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"  # headers are case-insensitive
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.api_key == KEY
    assert request.model == MODEL
    assert request.json["temperature"] == 0
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert "【段落一】私域启动前要先确定目标人群。" in request.prompt
    assert "我们已经有企微了" in request.prompt
    assert (request.status, request.reply) == (200, Reply('{"level": 2}'))
    assert server.completions == [request]


# ---------------------------------------------------------------------------- auth


async def test_a_wrong_key_is_refused_and_uses_no_scripted_reply(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Reply("kept for later"))

    with pytest.raises(openai.AuthenticationError) as caught:
        await chat(api_key="sk-wrong-key-000").ainvoke("hi")

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"
    assert server.requests[0].status == 401
    assert server.requests[0].reply is None
    assert server.pending == (Reply("kept for later"),)
    assert (await chat().ainvoke("hi")).content == "kept for later"


async def test_a_missing_key_is_refused(server: ChatAPIServer) -> None:
    status, body = await get(server, "/models", key=None)

    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "didn't provide an API key" in body["error"]["message"]


async def test_a_server_without_a_key_takes_any(chat: MakeChat) -> None:
    async with ChatAPIServer() as open_server:
        llm = chat(base_url=open_server.base_url, api_key="anything")
        assert (await llm.ainvoke("hi")).content == "OK"
        assert open_server.requests[0].api_key == "anything"


async def test_a_scripted_401_is_an_authentication_error(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Status(401))

    with pytest.raises(openai.AuthenticationError):
        await chat().ainvoke("hi")


# ---------------------------------------------------------------------------- errors


async def test_a_500_raises_a_server_error(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Status(500))

    with pytest.raises(openai.InternalServerError) as caught:
        await chat().ainvoke("hi")

    assert caught.value.status_code == 500
    assert caught.value.type == "server_error"
    assert "error while processing your request" in caught.value.message


async def test_a_429_raises_a_rate_limit_error_with_retry_after(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Status(429, retry_after=1))

    with pytest.raises(openai.RateLimitError) as caught:
        await chat().ainvoke("hi")

    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.body == Status(429).body()["error"]


async def test_an_unknown_model_is_not_found(server: ChatAPIServer, chat: MakeChat) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await chat(model="gpt-nonexistent").ainvoke("hi")

    assert caught.value.code == "model_not_found"
    assert "`gpt-nonexistent`" in caught.value.message


async def test_a_body_that_is_not_json_raises(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Malformed("not json at all"))

    with pytest.raises(json.JSONDecodeError):
        await chat().ainvoke("hi")


async def test_json_without_choices_raises(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Malformed('{"id": "x", "object": "chat.completion"}'))

    with pytest.raises(TypeError, match="choices"):
        await chat().ainvoke("hi")


async def test_a_non_json_content_type_raises(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Malformed("<html>502 Bad Gateway</html>", content_type="text/html"))

    with pytest.raises(ValueError, match="Unexpected response type"):
        await chat().ainvoke("hi")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("{not json", None),
        ([], None),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": MODEL}, "messages"),
        ({"model": MODEL, "messages": "hi"}, "messages"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": ["hi"]}, "messages[0]"),
        ({"model": MODEL, "messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "a"}, {"role": "user"}]}, "messages[1].content"),
        ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream"),
    ],
)
async def test_an_invalid_body_is_a_400_and_uses_no_scripted_reply(
    server: ChatAPIServer, body: str | dict[str, Any], param: str | None
) -> None:
    server.script(Reply("kept"))

    status, answer = await post(server, body)

    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["param"] == param
    assert server.pending == (Reply("kept"),)


async def test_multi_part_content_and_tool_call_messages_are_valid(server: ChatAPIServer) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "part one, "}, {"type": "text", "text": "part two"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                               "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "result"},
    ]

    status, answer = await post(server, {"model": MODEL, "messages": messages})

    assert status == 200
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "OK", "refusal": None}
    assert server.requests[0].prompt == "part one, part two\n\n\n\nresult"


async def test_an_unknown_path_is_an_openai_style_404(server: ChatAPIServer) -> None:
    status, body = await get(server, "/embeddings")

    assert status == 404
    assert body["error"]["message"] == "Invalid URL (GET /v1/embeddings)"


# ---------------------------------------------------------------------------- replies that depend on the prompt


async def test_a_callable_reply_sees_the_request(server: ChatAPIServer, chat: MakeChat) -> None:
    def grade(body: dict[str, Any]) -> Reply:
        answer = body["messages"][-1]["content"]
        return Reply(json.dumps({"level": 3 if "企微" in answer else 1, "model": body["model"]}))

    server.script(grade, grade)
    llm = chat()

    first = await llm.ainvoke("我们已经有企微了")
    second = await llm.ainvoke("还没开始")

    assert json.loads(str(first.content)) == {"level": 3, "model": MODEL}
    assert json.loads(str(second.content)) == {"level": 1, "model": MODEL}


async def test_a_callable_may_be_async_and_return_any_outcome(server: ChatAPIServer, chat: MakeChat) -> None:
    async def limited(body: dict[str, Any]) -> Status | str:
        return Status(429) if "again" in body["messages"][-1]["content"] else "first time"

    server.default = limited
    llm = chat()

    assert (await llm.ainvoke("hello")).content == "first time"
    with pytest.raises(openai.RateLimitError):
        await llm.ainvoke("hello again")


async def test_a_broken_callable_is_a_500_that_says_why(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(lambda body: 42, lambda body: 1 / 0)  # type: ignore[arg-type, return-value]
    llm = chat()

    with pytest.raises(openai.InternalServerError, match="returned 42"):
        await llm.ainvoke("hi")
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        await llm.ainvoke("hi")


# ---------------------------------------------------------------------------- delays


async def test_a_delayed_reply_hits_the_client_timeout(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Reply("too late", delay=60))

    with pytest.raises(openai.APITimeoutError):
        await chat(timeout=0.5).ainvoke("hi")

    # On a slow machine the client may give up before its request arrives, so no wait for the server side here;
    # test_a_delayed_reply_does_not_hold_up_other_requests sees the server notice a client leaving.
    assert all(r.status is None for r in server.requests)


async def test_a_delayed_reply_does_not_hold_up_other_requests(server: ChatAPIServer, chat: MakeChat) -> None:
    server.default = lambda body: Reply("slow", delay=60) if body["messages"][-1]["content"] == "slow" else "fast"
    llm = chat()

    slow = asyncio.create_task(llm.ainvoke("slow"))
    await server.wait_for(lambda: server.requests, description="the slow request")
    fast = await llm.ainvoke("fast")

    assert fast.content == "fast"
    assert not slow.done()
    slow.cancel()
    await server.wait_for(lambda: server.requests[0].cancelled, description="the server to see the client leave")
    assert server.requests[0].status is None


async def test_stopping_ends_a_delayed_reply(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Reply("never", delay=60))
    slow = asyncio.create_task(chat().ainvoke("hi"))
    await server.wait_for(lambda: server.requests, description="the slow request")

    await server.stop()

    with pytest.raises(openai.APIError):  # a 503, or the connection closing under it
        await slow


# ---------------------------------------------------------------------------- streaming


async def test_streaming_sends_the_reply_in_chunks(server: ChatAPIServer, chat: MakeChat) -> None:
    content = '<think>考虑一下</think>{"level": 2, "reason": "有企微，但没有内容规划"}'
    server.script(Reply(content))

    chunks = [chunk async for chunk in chat(stream_usage=True).astream("hi")]

    texts = [c.content for c in chunks if c.content]
    assert len(texts) > 1
    assert "".join(str(t) for t in texts) == content
    [usage] = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage["output_tokens"] > 0
    assert server.requests[0].json["stream"] is True
    assert server.requests[0].json["stream_options"] == {"include_usage": True}


async def test_a_streaming_client_gets_the_whole_reply(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Reply("a streamed answer that spans several chunks"))

    answer = await chat(streaming=True).ainvoke("hi")

    assert answer.content == "a streamed answer that spans several chunks"
    assert answer.response_metadata["finish_reason"] == "stop"


async def test_a_streaming_request_gets_scripted_errors(server: ChatAPIServer, chat: MakeChat) -> None:
    server.script(Status(429, retry_after=1))

    with pytest.raises(openai.RateLimitError):
        await chat(streaming=True).ainvoke("hi")


# ---------------------------------------------------------------------------- reachability


async def test_an_unreachable_server_closes_connections(server: ChatAPIServer, chat: MakeChat) -> None:
    llm = chat()
    assert (await llm.ainvoke("warm up a pooled connection")).content == "OK"

    server.reachable = False
    with pytest.raises(openai.APIConnectionError):
        await llm.ainvoke("hi")
    assert server.requests[-1].dropped

    server.reachable = True
    assert (await llm.ainvoke("hi")).content == "OK"


async def test_a_stopped_server_refuses_and_restarts_on_the_same_port(server: ChatAPIServer, chat: MakeChat) -> None:
    llm = chat()
    base_url = server.base_url
    await server.stop()

    with pytest.raises(openai.APIConnectionError):
        await llm.ainvoke("hi")
    assert server.requests == []

    await server.start()
    assert server.base_url == base_url
    assert (await llm.ainvoke("hi")).content == "OK"


# ---------------------------------------------------------------------------- models


async def test_models_lists_the_configured_models() -> None:
    async with ChatAPIServer(api_key=KEY, models=("qwen3-8b", "deepseek-chat")) as server:
        status, body = await get(server, "/models")

    assert status == 200
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["qwen3-8b", "deepseek-chat"]
    assert {m["object"] for m in body["data"]} == {"model"}
    assert (server.requests[0].method, server.requests[0].path) == ("GET", "/v1/models")
