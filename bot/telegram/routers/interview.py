"""The private-chat interview: /diagnose, /back, /skip, /restart, option buttons and free-text answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message

from bot.db import QuestionMessages
from bot.errors import InterviewError
from bot.interview.service import InterviewService, NoInterview, QuestionStep, RecordedAnswer, StaleAction, Step
from bot.ports import Completer
from bot.telegram.callbacks import AnswerCb, FixCb, NavCb
from bot.telegram.flow import answer_from_guidance, drop_buttons, edit_html, safe_edit, send_step, thread_of
from bot.telegram.keyboards import fix_keyboard
from bot.telegram.render import answered_html, recorded_html

if TYPE_CHECKING:
    from bot.knowledge.search import KnowledgeBase

logger = logging.getLogger(__name__)

STALE = "这个按钮已失效（题目已更新），请回答最新的问题。"
FIX_STALE = "这个按钮已失效：这一题在当前诊断中还没有回答。"
REASK = "请重新回答这一题"
NO_INTERVIEW = "当前没有进行中的诊断，发送 /diagnose 开始。"


class InInterview(Filter):
    """Passes when this private chat has a question waiting for an answer."""

    async def __call__(self, message: Message, interview: InterviewService) -> bool:
        return await interview.in_progress(thread_of(message.chat.id))


async def _remove_old_buttons(bot: Bot, chat_id: int, store: QuestionMessages, keep: int | None = None) -> None:
    """Takes the keyboard off the previous question message, so old buttons are not pressed by mistake."""
    old = await store.pop(chat_id)
    if old is not None and old != keep:
        try:
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=old, reply_markup=None)
        except Exception:  # noqa: BLE001 - purely cosmetic; the service rejects stale buttons anyway
            logger.debug("could not remove old keyboard", exc_info=True)


async def _show_new(bot: Bot, chat_id: int, step: Any, question_messages: QuestionMessages) -> None:
    """Sends the step as a new message; the previous question message loses its buttons."""
    await _remove_old_buttons(bot, chat_id, question_messages)
    sent = await send_step(bot, chat_id, step)
    if sent is not None:
        await question_messages.set(chat_id, sent.message_id)


async def diagnose_command(message: Message, bot: Bot, interview: InterviewService,
                           question_messages: QuestionMessages) -> None:
    """Starts the interview, or shows the question it stopped at."""
    step = await interview.start(thread_of(message.chat.id))
    await _show_new(bot, message.chat.id, step, question_messages)


async def navigate_command(message: Message, bot: Bot, interview: InterviewService,
                           question_messages: QuestionMessages) -> None:
    """Goes back, skips, or restarts."""
    thread = thread_of(message.chat.id)
    command = (message.text or "").split()[0].lstrip("/").split("@")[0]
    try:
        if command == "restart":
            step = await interview.restart(thread)
        elif command == "back":
            step = await interview.back(thread)
        else:
            step = await interview.skip(thread)
    except NoInterview:
        await message.answer(NO_INTERVIEW)
        return
    await _show_new(bot, message.chat.id, step, question_messages)


async def text_answer(message: Message, bot: Bot, interview: InterviewService, knowledge: KnowledgeBase,
                      question_messages: QuestionMessages, llm: Completer | None = None) -> None:
    """Reads a free-text answer: shows what was recorded (with ✏️ 改一下), or answers a side question, then asks on."""
    thread = thread_of(message.chat.id)
    text = message.text or ""
    try:
        step = await interview.answer_text(thread, text)
    except InterviewError:
        await message.answer(NO_INTERVIEW)
        return
    chat_id = message.chat.id
    old = await question_messages.pop(chat_id)
    if step.recorded is not None:
        await _show_recorded(bot, chat_id, old, step.recorded, text)
    elif old is not None:
        await drop_buttons(bot, chat_id, old)
    if isinstance(step, QuestionStep) and step.aside:
        await answer_from_guidance(message, knowledge, step.aside, llm)
    sent = await send_step(bot, chat_id, step)
    if sent is not None:
        await question_messages.set(chat_id, sent.message_id)


async def _show_recorded(bot: Bot, chat_id: int, old: int | None, recorded: RecordedAnswer, text: str) -> None:
    """Turns the answered question message into 记录为：「…」 with ✏️ 改一下 (a message of its own if it cannot)."""
    markup = fix_keyboard(recorded.question.id)
    if old is not None and await edit_html(bot, chat_id, old, answered_html(recorded, text), markup):
        return
    if old is not None:
        await drop_buttons(bot, chat_id, old)
    await bot.send_message(chat_id, recorded_html(recorded, text), reply_markup=markup)


async def _button_step(query: CallbackQuery, act: Callable[[str], Awaitable[Step]], *,
                       stale: str = STALE) -> tuple[Message, Step] | None:
    """Runs a button's action on its chat's interview; None (the press answered with a notice) when it does not apply."""
    message = query.message
    if not isinstance(message, Message):
        await query.answer(STALE)
        return None
    try:
        return message, await act(thread_of(message.chat.id))
    except StaleAction:
        await query.answer(stale)
    except NoInterview:
        await query.answer(NO_INTERVIEW)
    return None


async def fix_pressed(query: CallbackQuery, callback_data: FixCb, bot: Bot, interview: InterviewService,
                      question_messages: QuestionMessages) -> None:
    """✏️ 改一下: asks that question again; the answers after it are kept (a stale or forged one changes nothing)."""
    got = await _button_step(query, lambda thread: interview.revisit(thread, callback_data.q), stale=FIX_STALE)
    if got is None:
        return
    message, step = got
    await query.answer(REASK)
    if (await question_messages.get(message.chat.id)) != message.message_id:  # the current question's go with `_show_new`
        await drop_buttons(bot, message.chat.id, message.message_id)  # used: the question is asked again below
    await _show_new(bot, message.chat.id, step, question_messages)


async def option_pressed(query: CallbackQuery, callback_data: AnswerCb, bot: Bot, interview: InterviewService,
                         question_messages: QuestionMessages) -> None:
    """Records the pressed option and edits the question message into the next question."""
    got = await _button_step(query, lambda thread: interview.answer_option(thread, callback_data.q, callback_data.lv))
    if got is None:
        return
    message, step = got
    await query.answer()
    await _show_from_button(bot, message, step, question_messages)


async def _show_from_button(bot: Bot, message: Message, step: Any, question_messages: QuestionMessages) -> None:
    current = (await question_messages.get(message.chat.id))
    if current is not None and current != message.message_id:
        await _remove_old_buttons(bot, message.chat.id, question_messages, keep=message.message_id)
    sent = await send_step(bot, message.chat.id, step, edit=message)
    if sent is not None:
        await question_messages.set(message.chat.id, sent.message_id)
    else:
        await question_messages.pop(message.chat.id)


async def nav_pressed(query: CallbackQuery, callback_data: NavCb, bot: Bot, interview: InterviewService,
                      question_messages: QuestionMessages) -> None:
    """开始诊断 / 上一题 / 跳过 / 重新诊断 buttons."""
    message = query.message
    if not isinstance(message, Message):
        await query.answer(STALE)
        return
    thread = thread_of(message.chat.id)
    act = callback_data.act
    try:
        if act == "begin":
            step = await interview.start(thread)
            await query.answer()
            await _show_new(bot, message.chat.id, step, question_messages)
            return
        if act == "restart":
            step = await interview.restart(thread)
            await query.answer("已重新开始")
            await _show_new(bot, message.chat.id, step, question_messages)
            return
        if (await question_messages.get(message.chat.id)) not in (None, message.message_id):
            await query.answer(STALE)
            return
        if act == "back":
            step = await interview.back(thread)
        elif act == "skip":
            step = await interview.skip(thread)
        else:
            await query.answer(STALE)
            return
    except NoInterview:
        await query.answer(NO_INTERVIEW)
        await safe_edit(message, message.html_text or "（已结束）", None)
        return
    await query.answer()
    await _show_from_button(bot, message, step, question_messages)


async def unknown_button(query: CallbackQuery) -> None:
    """Forged or outdated callback data: a short notice, nothing changes."""
    await query.answer(STALE)


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(diagnose_command, Command("diagnose"))
    router.message.register(navigate_command, Command("back", "skip", "restart"))
    router.message.register(text_answer, F.text, ~F.text.startswith("/"), InInterview())
    router.callback_query.register(option_pressed, AnswerCb.filter())
    router.callback_query.register(nav_pressed, NavCb.filter())
    router.callback_query.register(fix_pressed, FixCb.filter())
    router.callback_query.register(unknown_button)
    return router
