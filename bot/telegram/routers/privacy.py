"""/forget: after a confirmation button, deletes everything the bot keeps about the user."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.admin.forget import ForgetService
from bot.config import Settings
from bot.db import QuestionMessages
from bot.telegram.callbacks import ForgetCb
from bot.telegram.flow import safe_edit
from bot.telegram.keyboards import forget_keyboard
from bot.telegram.render_admin import FORGET_DONE, FORGET_KEPT, FORGET_PROMPT

logger = logging.getLogger(__name__)

ADMIN_NOTE = "\n\n（你是管理员：你执行过的管理操作记录会保留在审计日志中，作为问责记录。）"


async def forget_command(message: Message, settings: Settings) -> None:
    """Asks for confirmation."""
    note = ADMIN_NOTE if message.from_user and message.from_user.id in settings.admin_ids else ""
    await message.answer(FORGET_PROMPT + note, reply_markup=forget_keyboard())


async def forget_pressed(query: CallbackQuery, callback_data: ForgetCb, bot: Bot, privacy: ForgetService,
                         question_messages: QuestionMessages) -> None:
    """Deletes the user's data (确认), or nothing (取消)."""
    message = query.message
    if callback_data.act != "yes":
        await query.answer("已取消")
        if isinstance(message, Message):
            await safe_edit(message, FORGET_KEPT, None)
        return
    await privacy.forget(query.from_user.id)
    old_question = await question_messages.pop(query.from_user.id)
    if old_question is not None:
        try:  # the interview is gone: its last question's buttons would only say so
            await bot.edit_message_reply_markup(chat_id=query.from_user.id, message_id=old_question, reply_markup=None)
        except Exception:  # noqa: BLE001 - cosmetic
            logger.debug("could not remove the old question's buttons", exc_info=True)
    await query.answer("已删除")
    if isinstance(message, Message):
        await safe_edit(message, FORGET_DONE, None)


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(forget_command, Command("forget"))
    router.callback_query.register(forget_pressed, ForgetCb.filter())
    return router
