"""Callback data factories: short, versioned prefixes; every packed value stays well under 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class AnswerCb(CallbackData, prefix="a1"):
    """An option button: question id and option level."""

    q: str
    lv: int


class NavCb(CallbackData, prefix="n1"):
    """Interview navigation: begin, back, skip, restart, resume."""

    act: str
