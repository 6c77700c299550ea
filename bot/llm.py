"""The optional chat model (LLM_MODEL): built from the settings through LangChain, called with a time limit, and
never trusted blindly — every caller validates what it returns and falls back to the deterministic path.

* `ChatOpenAI` (langchain-openai) for any OpenAI-compatible endpoint (`LLM_BASE_URL`: DeepSeek, Qwen/DashScope,
  Moonshot, GLM, Ollama, vLLM, llama.cpp …); a `provider:model` name without a base URL goes through LangChain's
  `init_chat_model` (its provider package must be installed).
* `complete()` returns the reply's text with reasoning blocks (`<think>…</think>` and the like) stripped, or None
  when the model is slow, failing or empty: the user never sees a model error.
* Prompts live in `prompts/` and are read once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Settings

logger = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
PROBE_PROMPT = "请只回复两个字：正常"
# Reasoning some models put before the answer (DeepSeek-R1 <think>, others <thinking>/<reasoning>), closed or not.
_REASONING_RE = re.compile(r"<(think|thinking|reasoning|reflection)>.*?(?:</\1>|$)", re.S | re.I)


def strip_reasoning(text: str) -> str:
    """The reply without reasoning blocks (an unclosed one runs to the end), trimmed."""
    return _REASONING_RE.sub("", text).strip()


@cache
def prompt(name: str) -> str:
    """A prompt template of prompts/ (read once per process)."""
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class ModelStatus:
    """What `/llm` shows: the model, its endpoint (never the key), and a test prompt's outcome."""

    model: str
    endpoint: str
    ok: bool
    seconds: float
    detail: str  # the reply, or the exact error


class ChatModel:
    """A LangChain chat model with a time limit; `complete` returns cleaned text or None, never raises."""

    def __init__(self, model: Any, *, name: str, endpoint: str = "", timeout: float = 8.0) -> None:
        self.model = model
        self.name = name
        self.endpoint = endpoint
        self.timeout = timeout

    async def _ask(self, text: str) -> str:
        reply = await asyncio.wait_for(self.model.ainvoke(text), timeout=self.timeout)
        content = getattr(reply, "content", reply)
        if isinstance(content, list):  # content blocks: keep the text ones
            content = "".join(str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in content)
        return strip_reasoning(str(content))

    async def complete(self, text: str) -> str | None:
        """The model's answer to a prompt, or None when it failed, timed out or said nothing."""
        try:
            answer = await self._ask(text)
        except Exception as e:  # noqa: BLE001 - any failure of an optional model falls back to the deterministic path
            logger.warning("chat model %s failed: %s", self.name, _describe(e))
            return None
        return answer or None

    async def probe(self) -> ModelStatus:
        """Sends one test prompt; the reply time or the exact error."""
        start = time.perf_counter()
        try:
            answer = await self._ask(PROBE_PROMPT)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            return ModelStatus(self.name, self.endpoint, False, time.perf_counter() - start, _describe(e))
        return ModelStatus(self.name, self.endpoint, bool(answer), time.perf_counter() - start,
                           answer[:200] or "(empty reply)")


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def build_chat_model(settings: Settings) -> ChatModel | None:
    """The configured chat model, or None when LLM_MODEL is not set (the default: no model)."""
    name = (settings.llm_model or "").strip()
    if not name:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    if settings.llm_base_url or ":" not in name:
        from langchain_openai import ChatOpenAI

        model: Any = ChatOpenAI(model=name, base_url=settings.llm_base_url, api_key=key or "not-needed",  # type: ignore[arg-type]
                                timeout=settings.llm_timeout, max_retries=0, temperature=0)
        endpoint = settings.llm_base_url or "https://api.openai.com/v1"
    else:
        try:
            from langchain.chat_models import init_chat_model
        except ImportError as e:
            raise ConfigError(f"LLM_MODEL={name} needs the package langchain and the provider's package "
                              "(or set LLM_BASE_URL for an OpenAI-compatible endpoint)") from e
        model = init_chat_model(name, api_key=key, timeout=settings.llm_timeout, max_retries=0, temperature=0)
        endpoint = name.split(":", 1)[0]
    logger.info("chat model %s at %s (answers and questions are sent there)", name, endpoint)
    return ChatModel(model, name=name, endpoint=endpoint, timeout=settings.llm_timeout)
