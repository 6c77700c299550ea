"""Fake OpenAI-compatible chat-completions server for tests, scripted per test.

Typical use::

    async with ChatAPIServer(api_key="sk-test") as server:
        server.script(Reply('{"level": 3}'), Status(429, retry_after=1))
        llm = ChatOpenAI(model="test-model", base_url=server.base_url, api_key="sk-test", max_retries=0)
        answer = await llm.ainvoke("Score this answer")
        assert "passage" in server.completions[0].prompt
"""

from __future__ import annotations

from .models import Malformed, RecordedRequest, Reply, Responder, Scripted, Status
from .server import ChatAPIServer

__all__ = [
    "ChatAPIServer",
    "Malformed",
    "RecordedRequest",
    "Reply",
    "Responder",
    "Scripted",
    "Status",
]
