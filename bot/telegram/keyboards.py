"""Pure keyboard builders."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.interview.rubric import Question
from bot.telegram.callbacks import AnswerCb, NavCb


def question_keyboard(question: Question, *, first: bool) -> InlineKeyboardMarkup:
    """One button per option (ready first), then 上一题 / 跳过."""
    rows = [[InlineKeyboardButton(text=o.label, callback_data=AnswerCb(q=question.id, lv=o.level).pack())]
            for o in question.options]
    nav = [InlineKeyboardButton(text="跳过", callback_data=NavCb(act="skip").pack())]
    if not first:
        nav.insert(0, InlineKeyboardButton(text="⬅️ 上一题", callback_data=NavCb(act="back").pack()))
    rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def start_keyboard() -> InlineKeyboardMarkup:
    """The /start button."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="开始诊断", callback_data=NavCb(act="begin").pack())
    ]])


def after_report_keyboard() -> InlineKeyboardMarkup:
    """Buttons under the report."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="重新诊断", callback_data=NavCb(act="restart").pack())
    ]])
