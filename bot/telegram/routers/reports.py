"""/report and /export."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.interview.report import Report
from bot.interview.service import InterviewService
from bot.telegram.flow import send_export, send_report, thread_of

NO_REPORT = "还没有完成的诊断报告。发送 /diagnose 开始诊断。"


async def _last_report(message: Message, interview: InterviewService) -> Report | None:
    """The chat's last report, or None after telling the user there is none yet."""
    report = await interview.last_report(thread_of(message.chat.id))
    if report is None:
        await message.answer(NO_REPORT)
    return report


async def report_command(message: Message, bot: Bot, interview: InterviewService) -> None:
    """Sends the last report again."""
    if (report := await _last_report(message, interview)) is not None:
        await send_report(bot, message.chat.id, report)


async def export_command(message: Message, bot: Bot, interview: InterviewService) -> None:
    """Sends the last report as Markdown and JSON documents."""
    if (report := await _last_report(message, interview)) is not None:
        await send_export(bot, message.chat.id, report)


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(report_command, Command("report"))
    router.message.register(export_command, Command("export"))
    return router
