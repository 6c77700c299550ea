"""GroupPacer: never more than `limit` counted calls to one group in any window; other calls are not held back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.telegram.middlewares import GroupPacer

LIMIT, WINDOW = 5, 0.4


async def test_group_calls_stay_within_the_limit_in_every_window() -> None:
    pacer = GroupPacer(limit=LIMIT, window=WINDOW)
    sent: list[float] = []

    async def make_request(bot: Any, method: Any) -> bool:
        sent.append(time.monotonic())  # when the call reaches "Telegram"
        return True

    calls = [SendMessage(chat_id=-100, text=str(i)) if i % 2 else EditMessageText(chat_id=-100, message_id=1, text="x")
             for i in range(3 * LIMIT + 2)]
    await asyncio.gather(*(pacer(make_request, None, m) for m in calls))  # type: ignore[arg-type]
    assert len(sent) == len(calls), "every call went out, none was dropped"
    for i in range(len(sent) - LIMIT):
        assert sent[i + LIMIT] - sent[i] >= WINDOW, f"call {i + LIMIT} came within one window of call {i}"


async def test_private_chats_and_callback_answers_are_not_paced() -> None:
    pacer = GroupPacer(limit=1, window=3600)
    done: list[str] = []

    async def make_request(bot: Any, method: Any) -> bool:
        done.append(type(method).__name__)
        return True

    methods = [SendMessage(chat_id=42, text="a") for _ in range(5)]
    methods += [AnswerCallbackQuery(callback_query_id=str(i)) for i in range(5)]
    methods.append(SendMessage(chat_id=-100, text="one group message fits the limit"))
    await asyncio.wait_for(asyncio.gather(*(pacer(make_request, None, m) for m in methods)),  # type: ignore[arg-type]
                           timeout=60)
    assert len(done) == 11
