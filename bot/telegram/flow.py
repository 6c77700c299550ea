"""Shows interview steps and reports in a chat (sending, editing in place, splitting, the radar chart)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message

from bot.interview.service import QuestionStep, Step, private_thread
from bot.knowledge.answer import grounded_answer
from bot.ports import Completer
from bot.report.exports import export_files, radar_for
from bot.report.model import Report
from bot.telegram.keyboards import after_report_keyboard, history_keyboard, question_keyboard
from bot.telegram.render import (
    CAPTION_LIMIT,
    NOT_COVERED,
    clip,
    esc,
    history_label,
    passages_html,
    question_html,
    report_html,
    split_message,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.knowledge.search import KnowledgeBase
    from bot.report.history import HistoryEntry

logger = logging.getLogger(__name__)
MAX_QUERY = 500  # characters of a question sent to the search
HISTORY_BUTTONS = 10  # diagnoses /history offers as buttons


def thread_of(chat_id: int) -> str:
    """The interview thread of a private chat (named by the interview room)."""
    return private_thread(chat_id)


async def edit_html(bot: Bot, chat_id: int, message_id: int, text: str,
                    markup: InlineKeyboardMarkup | None) -> bool:
    """Edits a bot message; False when it cannot be edited (gone, too old). 'Not modified' counts as done."""
    try:
        await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except TelegramBadRequest as e:
        if "message is not modified" in e.message:
            return True
        logger.info("could not edit message %s/%s: %s", chat_id, message_id, e.message)
        return False
    return True


async def drop_buttons(bot: Bot, chat_id: int, message_id: int) -> None:
    """Takes the keyboard off a bot message so old buttons are not pressed by mistake (a vanished one is fine)."""
    with contextlib.suppress(TelegramBadRequest):
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)


async def safe_edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    """`edit_html` of a message the bot received (a button's message)."""
    assert message.bot is not None  # updates from the dispatcher are bound to their bot
    return await edit_html(message.bot, message.chat.id, message.message_id, text, markup)


async def answer_from_guidance(message: Message, knowledge: KnowledgeBase, query: str,
                               llm: Completer | None = None) -> None:
    """Searches the guidance and replies with the passages (or says it is not covered): /ask and side questions.

    With a chat model configured, a short answer written from those passages only (claims marked with their
    section ids) comes first; the verbatim passages follow as always."""
    query = query.strip()[:MAX_QUERY]
    passages = await asyncio.to_thread(knowledge.search, query, k=3)
    if not passages:
        await message.answer(NOT_COVERED)
        return
    summary = await grounded_answer(llm, query, passages)
    for part in split_message(passages_html(query, passages, summary=summary)):
        await message.answer(part)


async def send_step(bot: Bot, chat_id: int, step: Step, *, edit: Message | None = None,
                    thread_id: int | None = None) -> Message | None:
    """Shows a question (editing `edit` in place when given) or the finished report."""
    if isinstance(step, QuestionStep):
        text = question_html(step)
        markup = question_keyboard(step.question, first=step.index == 0)
        if edit is not None and await safe_edit(edit, text, markup):
            return edit
        return await bot.send_message(chat_id, text, reply_markup=markup, message_thread_id=thread_id)
    if edit is not None:
        await safe_edit(edit, f"✅ 全部 {len(step.report.answers)} 题已完成，报告如下：", None)
    await send_report(bot, chat_id, step.report, notice=step.notice, thread_id=thread_id)
    return None


async def send_report(bot: Bot, chat_id: int, report: Report, *, notice: str = "", warning: str = "",
                      thread_id: int | None = None) -> None:
    """The report as ≤ 4096-character messages (the last with the re-diagnosis reminder buttons), then the
    radar chart; `warning` (a changed-citation notice) is shown under the headline."""
    body = report_html(report, notice=warning)
    if notice:
        body = f"<i>{esc(notice)}</i>\n\n{body}"
    parts = split_message(body)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        await bot.send_message(chat_id, part, reply_markup=after_report_keyboard() if last else None,
                               message_thread_id=thread_id)
    png = await asyncio.to_thread(radar_for, report)
    caption = clip(f"各维度得分（0–100）· 结论：{report.verdict_label} · 综合 {report.overall:.0f}", CAPTION_LIMIT)
    await bot.send_photo(chat_id, BufferedInputFile(png, filename="radar.png"), caption=esc(caption),
                         message_thread_id=thread_id)


async def send_export(bot: Bot, chat_id: int, report: Report, *, thread_id: int | None = None) -> None:
    """The full report as PDF, Markdown and JSON documents."""
    for f in await asyncio.to_thread(export_files, report):
        await bot.send_document(chat_id, BufferedInputFile(f.data, f.name), caption=f.caption,
                                message_thread_id=thread_id)


async def send_history(message: Message, entries: Sequence[HistoryEntry], *, whose: str, empty: str) -> None:
    """The list of past diagnoses, newest first, each a button that shows that report again (`empty` when none)."""
    if not entries:
        await message.answer(empty)
        return
    await message.answer(f"{whose}历次诊断（共 {len(entries)} 次，最新在上）：点一次查看那次的报告。每份新报告都会和上一次对比。",
                         reply_markup=history_keyboard([(e.id, history_label(e)) for e in entries[:HISTORY_BUTTONS]]))
