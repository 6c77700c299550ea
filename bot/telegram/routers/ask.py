"""/ask and any other private message: an answer grounded in the guidance, or a polite refusal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.ports import Completer
from bot.telegram.flow import answer_from_guidance

if TYPE_CHECKING:
    from bot.knowledge.search import KnowledgeBase


async def ask_command(message: Message, command: CommandObject, knowledge: KnowledgeBase,
                      llm: Completer | None = None) -> None:
    """/ask <question>."""
    if not command.args:
        await message.answer("请在 /ask 后面写上你的问题，例如：/ask 为什么要先做用户分层？")
        return
    await answer_from_guidance(message, knowledge, command.args, llm)


async def free_question(message: Message, knowledge: KnowledgeBase, llm: Completer | None = None) -> None:
    """Any message outside an interview is a question about the guidance."""
    await answer_from_guidance(message, knowledge, message.text or "", llm)


async def unknown_command(message: Message) -> None:
    """An unknown command."""
    await message.answer("不认识这个命令。发送 /help 查看可用命令。")


async def other_message(message: Message) -> None:
    """Stickers, photos, files from non-admins…"""
    await message.answer("我只能处理文字消息。发送 /diagnose 开始诊断，或直接用文字提问。")


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(ask_command, Command("ask"))
    router.message.register(free_question, F.text, ~F.text.startswith("/"))
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(other_message)
    return router
