"""/start, /help and /cancel."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.interview.service import InterviewService
from bot.llm import ChatModel
from bot.telegram.flow import thread_of
from bot.telegram.keyboards import start_keyboard
from bot.telegram.render import esc

WELCOME = (
    "你好！我是<b>私域启动准备度诊断</b>助手。\n\n"
    "90% 的企业私域失败，不是工具不够好，而是前置工作没做到位。我会用约 20 道题（5–8 分钟）"
    "评估你们在战略目标、用户洞察、调研、内容触点、渠道、组织流程和心态上的准备情况，"
    "给出结论，并针对每个缺口引用指导文章中对应的原文和章节。\n\n"
    "也可以直接问我关于私域前置工作的问题。"
)
HELP = (
    "<b>命令</b>\n"
    "/diagnose 开始或继续诊断\n/back 上一题\n/skip 跳过当前题\n/restart 重新开始\n/cancel 暂停诊断（进度保留）\n"
    "/report 再看一次最近的报告\n/export 导出完整报告（PDF、Markdown 与 JSON）\n/history 历次诊断（每份新报告都和上次对比）\n"
    "/reminders 查看或取消复诊提醒\n/benchmark on|off 是否参与、查看与其他用户的匿名对比\n/ask 问题 —— 从指导文章中找答案\n"
    "/forget 删除我保存的你的全部数据\n/help 帮助\n\n"
    "答题时可以点按钮，也可以直接用文字描述，例如“还没开始”“做了一部分”“已完成，有负责人，每月复盘”。"
    "文字回答后我会显示“记录为：「…」”，理解错了就点 ✏️ 改一下 重新回答；答题中也可以直接提问，我会先从指导文章中找答案，再回到当前题。\n\n"
    "<b>团队诊断</b>：把我加进团队群，在群里发送 /diagnose，全队对同一组问题投票，报告会指出大家意见不一致的地方。\n\n"
    "<b>数据与隐私</b>：我保存 ① 你的诊断回答（文字按原样）、进度和报告，用于继续诊断和再次查看报告；"
    "② 使用统计记录（何时开始、完成诊断，各维度得分和缺口），管理员在机器人里只能看到汇总；你最近一次诊断的各维度得分参与与其他用户的匿名对比（至少 20 位用户才显示，只显示分布，/benchmark off 可退出）；你设置的复诊提醒；③ 团队诊断中你的投票和参与记录；"
    "④ 你尝试使用管理员命令被拒绝的记录。你向我提的问题（/ask 或诊断之外直接发送）不保存；诊断答题中顺带提的问题和回答一样保存在诊断记录里。数据只存放在运行本机器人的服务器上；除非管理员配置了聊天模型，不发送给任何第三方。"
    "目前<b>没有自动过期</b>：数据一直保留，直到你发送 /forget 并确认删除（删除后无法恢复；管理员执行的管理操作记录会保留在审计日志中）。"
)


async def start_command(message: Message) -> None:
    """Says what the bot does and offers a button to begin."""
    await message.answer(WELCOME, reply_markup=start_keyboard())


async def help_command(message: Message, llm: ChatModel | None = None) -> None:
    """Lists the commands and says what is stored — and, with a chat model configured, what is sent to it."""
    text = HELP
    if llm is not None:
        text += (f"\n\n<b>聊天模型</b>：本机器人配置了聊天模型 {esc(llm.name)}（{esc(llm.endpoint)}）。"
                 "规则读不懂的文字回答、你提的问题以及检索到的指导原文会发送给该模型的提供方，用来读懂回答和整理简答；"
                 "模型不可用时机器人照常工作。")
    await message.answer(text)


async def cancel_command(message: Message, interview: InterviewService) -> None:
    """Pauses the running interview."""
    if await interview.cancel(thread_of(message.chat.id)):
        await message.answer("已暂停诊断，回答都已保存。发送 /diagnose 从暂停处继续，/restart 重新开始。")
    else:
        await message.answer("当前没有进行中的诊断。发送 /diagnose 开始。")


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(start_command, CommandStart())
    router.message.register(help_command, Command("help"))
    router.message.register(cancel_command, Command("cancel"))
    return router
