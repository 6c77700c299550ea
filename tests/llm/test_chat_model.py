"""The optional chat model: reasoning stripped, failures and slowness turned into None, the probe, the settings."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from bot.config import Settings
from bot.llm import ChatModel, build_chat_model, prompt, strip_reasoning


class Failing:
    """A chat model that raises, or answers only after `delay` seconds."""

    def __init__(self, *, error: Exception | None = None, delay: float = 0.0) -> None:
        self.error, self.delay = error, delay

    async def ainvoke(self, _: Any) -> Any:
        if self.error is not None:
            raise self.error
        await asyncio.Event().wait() if self.delay else None  # never answers: the time limit must end it
        raise AssertionError("unreachable")


@pytest.mark.parametrize(("raw", "clean"), [
    ("<think>用户在问 KPI……</think>{\"kind\": \"answer\"}", "{\"kind\": \"answer\"}"),
    ("<THINKING>x</THINKING>\n答案 [4.1]", "答案 [4.1]"),
    ("<think>never closed, runs to the end", ""),
    ("plain", "plain"),
])
def test_reasoning_blocks_are_stripped(raw: str, clean: str) -> None:
    assert strip_reasoning(raw) == clean


async def test_complete_returns_the_cleaned_reply() -> None:
    model = ChatModel(FakeListChatModel(responses=["<think>hmm</think> 正常 "]), name="fake")
    assert await model.complete("hi") == "正常"


async def test_failures_and_timeouts_are_none_never_an_error() -> None:
    assert await ChatModel(Failing(error=RuntimeError("HTTP 500")), name="fake").complete("x") is None
    slow = ChatModel(Failing(delay=1.0), name="fake", timeout=0.05)
    assert await slow.complete("x") is None
    status = await slow.probe()
    assert not status.ok and status.detail == "timed out"
    assert await ChatModel(FakeListChatModel(responses=["<think>only thinking</think>"]), name="f").complete("x") is None


def test_no_model_by_default_and_an_openai_compatible_endpoint_when_set() -> None:
    assert build_chat_model(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    settings = Settings(_env_file=None, llm_model="deepseek-chat", llm_base_url="http://127.0.0.1:9/v1",  # type: ignore[call-arg]
                        llm_api_key="sk-secret", llm_timeout=3)
    model = build_chat_model(settings)
    assert model is not None and model.name == "deepseek-chat" and model.endpoint == "http://127.0.0.1:9/v1"
    assert model.timeout == 3 and "sk-secret" not in repr(settings)


def test_prompts_are_files_read_once() -> None:
    assert prompt("read_answer") is prompt("read_answer")
    assert "{answer}" in prompt("read_answer") and "{passages}" in prompt("grounded_answer")


async def test_a_model_that_cannot_be_built_or_reached_leaves_the_bot_deterministic(settings) -> None:  # type: ignore[no-untyped-def]
    from bot.services import open_services

    broken = settings.model_copy(update={"llm_model": "nosuchprovider:some-model"})
    async with open_services(broken, first_start=False) as services:
        assert services.llm is None  # reported once in the log; the bot runs without it
    unreachable = settings.model_copy(update={"llm_model": "m", "llm_base_url": "http://127.0.0.1:9/v1",
                                              "llm_timeout": 2.0})
    async with open_services(unreachable, first_start=False) as services:
        assert services.llm is not None  # kept: every call falls back until the endpoint answers
        assert await services.llm.complete("hi") is None
