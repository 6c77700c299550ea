"""The chat model a `--llm` benchmark runs: the one LLM_MODEL / LLM_BASE_URL / LLM_API_KEY configure, or (with
`--llm-test-server`) the in-repo OpenAI-compatible test server with a canned responder — plumbing figures only, since
no real model is reachable from this machine."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from bot.config import Settings
from bot.llm import ChatModel, build_chat_model


def _canned(body: dict[str, Any]) -> str:
    """A valid reply for each prompt: the lowest option for a reading, the first passage's section for an answer."""
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    if "只输出一行 JSON" in prompt:
        levels = [int(x) for x in re.findall(r"level (\d+):", prompt)]
        return json.dumps({"kind": "answer", "level": min(levels) if levels else 0, "reason": "canned"})
    sections = re.findall(r"^\[([^\]]+)\]", prompt, re.M)
    return f"（测试服务器的固定回答）[{sections[0]}]" if sections else "NOT_COVERED"


@contextlib.asynccontextmanager
async def configured_model(*, test_server: bool = False) -> AsyncIterator[ChatModel]:
    """The chat model to measure; SystemExit with one line when none is configured."""
    if not test_server:
        model = build_chat_model(Settings())
        if model is None:
            raise SystemExit("--llm needs LLM_MODEL (and LLM_BASE_URL / LLM_API_KEY), or --llm-test-server")
        yield model
        return
    from tests.llmapi import ChatAPIServer

    async with ChatAPIServer(api_key="sk-bench", default=_canned) as server:
        settings = Settings(_env_file=None, llm_model="test-model", llm_base_url=server.base_url,  # type: ignore[call-arg]
                            llm_api_key="sk-bench")
        model = build_chat_model(settings)
        assert model is not None
        yield model
