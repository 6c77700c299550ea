"""/report, /export, /history, /reminders and /benchmark in private chats, and the buttons under a report."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.interview.service import InterviewService
from bot.knowledge.search import KnowledgeBase
from bot.report.citations import citation_notice
from bot.report.history import DiagnosisHistory
from bot.report.model import Report
from bot.report.reminders import Reminders
from bot.telegram.callbacks import HistoryCb, RemindCb
from bot.telegram.flow import send_export, send_history, send_report, thread_of
from bot.telegram.keyboards import reminders_keyboard
from bot.telegram.render import reminders_html

NO_REPORT = "还没有完成的诊断报告。发送 /diagnose 开始诊断。"
BENCHMARK_USAGE = ("/benchmark off —— 不参与、也不查看与其他用户的对比；/benchmark on —— 重新开启。"
                   "对比只用各用户最近一次诊断的得分做匿名汇总，不会显示任何人的名字或单个得分。")


async def _latest(user_id: int, interview: InterviewService, history: DiagnosisHistory) -> Report | None:
    """The user's latest diagnosis: from the history, or the checkpoint for one finished before it was kept."""
    return await history.latest(user_id) or await interview.last_report(thread_of(user_id))


async def report_command(message: Message, bot: Bot, interview: InterviewService, history: DiagnosisHistory,
                         knowledge: KnowledgeBase) -> None:
    """Sends the last report again (saying so when the guidance it cites has changed since)."""
    report = await _latest(message.chat.id, interview, history)
    if report is None:
        await message.answer(NO_REPORT)
        return
    await send_report(bot, message.chat.id, report, warning=citation_notice(report, knowledge))


async def export_command(message: Message, bot: Bot, interview: InterviewService, history: DiagnosisHistory) -> None:
    """Sends the last report as PDF, Markdown and JSON documents."""
    report = await _latest(message.chat.id, interview, history)
    if report is None:
        await message.answer(NO_REPORT)
        return
    await send_export(bot, message.chat.id, report)


async def history_command(message: Message, history: DiagnosisHistory) -> None:
    """Lists the user's diagnoses, each a button that shows it again."""
    await send_history(message, await history.entries(message.chat.id), whose="你的", empty=NO_REPORT)


async def history_pressed(query: CallbackQuery, callback_data: HistoryCb, bot: Bot, history: DiagnosisHistory,
                          knowledge: KnowledgeBase) -> None:
    """Shows one stored diagnosis (only the user's own)."""
    report = await history.get(query.from_user.id, callback_data.id)
    if report is None:
        await query.answer("这份报告已不存在。", show_alert=True)
        return
    await query.answer()
    await send_report(bot, query.from_user.id, report, warning=citation_notice(report, knowledge))


async def remind_pressed(query: CallbackQuery, callback_data: RemindCb, reminders: Reminders) -> None:
    """30 / 60 / 90 天后提醒我复诊 (or 取消提醒)."""
    if callback_data.days == 0:
        cancelled = await reminders.cancel(query.from_user.id)
        await query.answer("已取消复诊提醒。" if cancelled else "当前没有待发送的提醒。", show_alert=True)
        return
    try:
        reminder = await reminders.remind(query.from_user.id, callback_data.days)
    except ValueError:
        await query.answer("这个按钮已失效。", show_alert=True)
        return
    await query.answer(f"好的，{reminder.days} 天后（{reminder.due_date}）提醒你复诊。/reminders 可查看或取消。",
                       show_alert=True)


async def reminders_command(message: Message, reminders: Reminders) -> None:
    """Lists the pending reminder, with a button to cancel it."""
    pending = await reminders.pending(message.chat.id)
    await message.answer(reminders_html(pending), reply_markup=reminders_keyboard() if pending else None)


async def benchmark_command(message: Message, command: CommandObject, history: DiagnosisHistory) -> None:
    """/benchmark on|off: whether the user's scores count in (and they see) the comparison with other users."""
    arg = (command.args or "").strip().lower()
    if arg not in ("on", "off"):
        state = "开启" if await history.benchmark_enabled(message.chat.id) else "关闭"
        await message.answer(f"与其他用户的对比目前为：{state}。\n{BENCHMARK_USAGE}")
        return
    await history.set_benchmark(message.chat.id, arg == "on")
    await message.answer("已开启与其他用户的对比，下一份报告起生效。" if arg == "on"
                         else "已关闭：你的得分不再计入对比，你的报告也不再显示对比。")


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(report_command, Command("report"))
    router.message.register(export_command, Command("export"))
    router.message.register(history_command, Command("history"))
    router.message.register(reminders_command, Command("reminders"))
    router.message.register(benchmark_command, Command("benchmark"))
    router.callback_query.register(history_pressed, HistoryCb.filter())
    router.callback_query.register(remind_pressed, RemindCb.filter())
    return router
