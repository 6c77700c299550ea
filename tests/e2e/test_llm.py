"""End-to-end with a chat model configured: the real bot process, the Bot API test server and the in-repo
OpenAI-compatible test server (tests/llmapi). The model reads unclear answers, tells side questions from answers and
writes grounded answers to questions; every failure falls back to the deterministic path without a visible error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.botapi import BotAPIServer
from tests.conftest import ROOT
from tests.e2e.harness import BotProcess, is_question
from tests.llmapi import ChatAPIServer, Malformed, Reply, Status

TIMEOUT = 90
ADMIN = 4242
UNCLEAR_TO_THE_RULES = "嗯，这个嘛，老板心里那本账"
QUESTION = "竞争对手的私域都是怎么做的，我们要不要先研究一下"


class Script:
    """What the model answers, by the kind of prompt (a reading, a grounded answer, the start-up probe)."""

    def __init__(self) -> None:
        self.reading: Any = Reply('{"kind": "answer", "level": 1, "reason": "老板有想法没成文"}')
        self.answer: Callable[[str], Any] = lambda prompt: Reply(f"先研究竞品的打法与激励 [{_first_section(prompt)}]。")

    def __call__(self, body: dict[str, Any]) -> Any:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        if "只输出一行 JSON" in prompt:
            return self.reading
        if "指导文章的段落" in prompt:
            return self.answer(prompt)
        return Reply("正常")


def _first_section(prompt: str) -> str:
    """The first section id among the passages the prompt carries ("[5.3] 5.3 竞品与行业调研…")."""
    after = prompt.split("指导文章的段落", 1)[1]
    return after.split("[", 1)[1].split("]", 1)[0]


@pytest.fixture
async def llm() -> AsyncIterator[tuple[ChatAPIServer, Script]]:
    script = Script()
    async with ChatAPIServer(api_key="sk-test", default=script) as server:
        yield server, script


@pytest.fixture
def bot_env(llm: tuple[ChatAPIServer, Script]) -> dict[str, str]:
    server, _ = llm
    return {"LLM_MODEL": "test-model", "LLM_BASE_URL": server.base_url, "LLM_API_KEY": "sk-test",
            "LLM_TIMEOUT": "6", "ADMIN_IDS": str(ADMIN)}


async def test_the_model_reads_unclear_answers_and_writes_grounded_answers(
        server: BotAPIServer, bot: BotProcess, llm: tuple[ChatAPIServer, Script]) -> None:
    model, script = llm
    user = server.user(2001, first_name="周九")
    sent = user.send("/diagnose")
    await server.wait_for_message(user.chat_id, is_question(1), after=sent, timeout=TIMEOUT)
    sent = user.send(UNCLEAR_TO_THE_RULES)
    await server.wait_for_message(user.chat_id, lambda m: "记录为：「有想法但没落到纸面」" in m.text, timeout=TIMEOUT)
    reading = next(r for r in model.completions if "只输出一行 JSON" in r.prompt)
    assert UNCLEAR_TO_THE_RULES in reading.prompt and reading.api_key == "sk-test"

    # A side question the model recognises: answered from the guidance, then the same question again.
    script.reading = Reply('{"kind": "question", "level": null, "reason": "在问做法"}')
    second = await server.wait_for_message(user.chat_id, is_question(2), timeout=TIMEOUT)
    sent = user.send("复购率的目标一般怎么定比较科学")
    await server.wait_for_message(user.chat_id, lambda m: "指导文章" in m.text or "没有涉及" in m.text, after=sent,
                                  timeout=TIMEOUT)
    again = await server.wait_for_message(user.chat_id, lambda m: is_question(2)(m) and m is not second, after=sent,
                                          timeout=TIMEOUT)
    assert again.buttons

    sent = user.send(f"/ask {QUESTION}")
    answer = await server.wait_for_message(user.chat_id, lambda m: "简答" in m.text, after=sent, timeout=TIMEOUT)
    assert "先研究竞品的打法与激励 [" in answer.text and "「5.3" in answer.text  # the passages follow, verbatim
    server.assert_no_errors()


@pytest.mark.parametrize("failure", [
    Reply('{"kind": "answer", "level": 1}', delay=30),  # slower than LLM_TIMEOUT
    Status(500), Status(429, retry_after=1), Malformed("not json at all"),
    Reply("the answer is level two"),  # not JSON
    Reply('{"kind": "answer", "level": 9, "reason": "越界"}'),  # a level the question does not have
], ids=["timeout", "http500", "http429", "malformed", "prose", "out-of-range"])
async def test_every_failure_of_the_model_falls_back_without_an_error(
        server: BotAPIServer, bot: BotProcess, llm: tuple[ChatAPIServer, Script], failure: Any) -> None:
    _, script = llm
    script.reading = failure
    script.answer = lambda prompt: failure
    user = server.user(2002, first_name="吴十")
    sent = user.send("/diagnose")
    await server.wait_for_message(user.chat_id, is_question(1), after=sent, timeout=TIMEOUT)
    sent = user.send(UNCLEAR_TO_THE_RULES)
    # The deterministic path: asked again with the options, as without a model.
    await server.wait_for_message(user.chat_id, lambda m: "没能确定" in m.text, after=sent, timeout=TIMEOUT)
    sent = user.send(f"/ask {QUESTION}")
    passages = await server.wait_for_message(user.chat_id, lambda m: "最相关的内容" in m.text, after=sent,
                                             timeout=TIMEOUT)
    assert "简答" not in passages.text
    texts = "\n".join(m.text for m in server.messages(user.chat_id))
    assert "error" not in texts.lower() and "错误" not in texts and "429" not in texts and "500" not in texts
    server.assert_no_errors()


async def test_a_reasoning_block_is_stripped_and_an_ungrounded_answer_is_dropped(
        server: BotAPIServer, bot: BotProcess, llm: tuple[ChatAPIServer, Script]) -> None:
    _, script = llm
    script.reading = Reply('<think>用户说老板心里有数……应该是 level 1</think>{"kind": "answer", "level": 1, "reason": "r"}')
    user = server.user(2003, first_name="郑十一")
    sent = user.send("/diagnose")
    await server.wait_for_message(user.chat_id, is_question(1), after=sent, timeout=TIMEOUT)
    user.send(UNCLEAR_TO_THE_RULES)
    recorded = await server.wait_for_message(user.chat_id, lambda m: "记录为：「有想法但没落到纸面」" in m.text,
                                             timeout=TIMEOUT)
    assert "think" not in recorded.text and "用户说" not in recorded.text
    script.answer = lambda prompt: Reply(f"<think>先看看段落，推理一下</think>先研究同行 [{_first_section(prompt)}]。")
    sent = user.send(f"/ask {QUESTION}")
    shown = await server.wait_for_message(user.chat_id, lambda m: "简答" in m.text, after=sent, timeout=TIMEOUT)
    assert "先研究同行 [" in shown.text and "推理" not in shown.text and "think" not in shown.text
    script.answer = lambda prompt: Reply("要先研究对手，再定自己的打法 [2.3]。")  # 2.3 is not among the passages
    sent = user.send(f"/ask {QUESTION}")
    passages = await server.wait_for_message(user.chat_id, lambda m: "最相关的内容" in m.text, after=sent,
                                             timeout=TIMEOUT)
    assert "简答" not in passages.text and "2.3" not in passages.text.split("最相关的内容")[0]
    server.assert_no_errors()


async def test_admin_llm_reports_the_model_and_its_errors(
        server: BotAPIServer, bot: BotProcess, llm: tuple[ChatAPIServer, Script]) -> None:
    model, _ = llm
    admin = server.user(ADMIN, first_name="管理员")
    sent = admin.send("/llm")
    ok = await server.wait_for_message(admin.chat_id, lambda m: "聊天模型" in m.text, after=sent, timeout=TIMEOUT)
    assert "test-model" in ok.text and model.base_url in ok.text and "✅" in ok.text and "sk-test" not in ok.text
    model.script(Status(401, "Incorrect API key provided"))
    sent = admin.send("/llm")
    failed = await server.wait_for_message(admin.chat_id, lambda m: "聊天模型" in m.text, after=sent, timeout=TIMEOUT)
    assert "❌" in failed.text and "401" in failed.text or "API key" in failed.text
    help_ = admin.send("/help")
    shown = await server.wait_for_message(admin.chat_id, lambda m: "数据与隐私" in m.text, after=help_, timeout=TIMEOUT)
    assert "发送给该模型的提供方" in shown.text


async def test_the_terminal_chat_uses_the_model_too(llm: tuple[ChatAPIServer, Script], data_dir: Path) -> None:
    model, _ = llm
    env = {**os.environ, "DATA_DIR": str(data_dir), "LLM_MODEL": "test-model", "LLM_BASE_URL": model.base_url,
           "LLM_API_KEY": "sk-test", "LLM_TIMEOUT": "5"}
    env.pop("BOT_TOKEN", None)
    script = "\n".join([UNCLEAR_TO_THE_RULES, QUESTION + "？", "/quit"]) + "\n"
    # The model server runs in this event loop: the chat runs in a thread so the loop can answer it.
    import asyncio

    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "chat"], cwd=ROOT, env=env,
                                     input=script, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "记录为：「有想法但没落到纸面」" in result.stdout
    assert any(UNCLEAR_TO_THE_RULES in r.prompt for r in model.completions)
    # The side question: a grounded short answer above the verbatim passages, then question 2 again.
    after = result.stdout.split("简答", 1)
    assert len(after) == 2 and "先研究竞品的打法与激励 [" in after[1] and "最相关的内容" in after[1]
    assert "第 2/20 题" in after[1]
    assert json.dumps("sk-test") not in result.stderr and "sk-test" not in result.stderr  # the key is never logged
