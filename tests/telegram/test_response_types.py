"""Regression: aiogram rebuilt a pydantic model class for the answer of a Bot API call after every cyclic garbage
collection (pydantic caches parametrised models only weakly); PinResponseTypes keeps one per method."""

from __future__ import annotations

import gc

import pydantic.main
from aiogram.methods import EditMessageText

from bot.telegram.middlewares import PinResponseTypes


async def test_a_pinned_response_model_is_not_rebuilt_after_a_garbage_collection(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from aiogram.methods.base import Response

    built: list[object] = []
    original = pydantic.main._generics.create_generic_submodel

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(pydantic.main._generics, "create_generic_submodel", counting)
    returning = EditMessageText.__returning__
    for _ in range(2):
        Response[returning]  # noqa: B018 - what aiogram's check_response does
        gc.collect()
    assert len(built) == 2, "unpinned, the model is rebuilt after each collection (the bug)"

    pin = PinResponseTypes()

    async def send(bot, method):  # type: ignore[no-untyped-def]
        return Response[method.__returning__]

    method = EditMessageText(text="x", chat_id=1, message_id=1)
    built.clear()
    for _ in range(3):
        await pin(send, None, method)  # type: ignore[arg-type]
        gc.collect()
    assert len(built) <= 1, "pinned: built at most once"
