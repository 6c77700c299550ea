"""Team sessions in groups, supergroups and forum topics — built for privacy mode: the bot relies only on
commands (/diagnose, /diagnose@bot), button presses, and nothing else members write.

Also the private side of a team session: `/start g<id>` (the report's deep link) opens a personal copy.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import JOIN_TRANSITION, ChatMemberUpdatedFilter, Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, User

from bot.group.service import LOBBY, GroupService, Session, SessionExists, SessionStatus, StaleGroupAction
from bot.interview.service import InterviewService
from bot.knowledge.search import KnowledgeBase
from bot.report.citations import citation_notice
from bot.report.model import TeamReport
from bot.report.team import DISAGREEMENT_LEVELS, Member, pseudonym
from bot.telegram.callbacks import GroupAct, GroupCtlCb, GroupPlanCb, GroupVoteCb, HistoryCb, PlanAct
from bot.telegram.flow import drop_buttons, edit_html, send_history
from bot.telegram.group_flow import GroupView
from bot.telegram.group_render import existing_session_html, group_report_html, plan_html, short_name, time_box_label
from bot.telegram.keyboards import group_existing_keyboard, member_picker_keyboard, plan_keyboard
from bot.telegram.render import clip, esc, split_message

logger = logging.getLogger(__name__)

GROUP_CHATS = {"group", "supergroup"}
CONTROLLER_STATUSES = {"creator", "administrator"}
STALE = "这个按钮已失效（该题已结束或诊断已结束）。"
NOT_CONTROLLER = "只有发起人或群管理员可以控制进度。"
CONTROLS = {"begin", "next", "skip", "end", "cancel", "restart", GroupAct.MODE, GroupAct.TIME_BOX, GroupAct.REVOTE,
            GroupAct.REMIND}
NO_REPORT = "本群还没有完成的团队诊断。发送 /diagnose 开始。"
GROUP_HELP = (
    "👥 <b>团队诊断</b>：在群里发送 /diagnose 开始（/diagnose 匿名：从第一条消息起就不显示任何人的名字）。成员点「加入」（晚到的直接投票即可加入）；主持人可在大厅里选择"
    "实名或匿名（匿名时群消息和团队报告都不显示名字）以及每题限时。每道题大家各自投票，结束前可改选，选择在本题结束后才公开；"
    "至少两人投票、已加入的人都投完且一段时间内没有新成员投票时自动结束，主持人也可以用「下一题 / 跳过 / 结束」控制进度，"
    "用「🔔 提醒未投票」提醒还没投的成员。回答相差两级以上时，请两端的成员说明理由，主持人可以「🔁 重新投票」一次。\n"
    "结束后我会发出团队报告和团队行动计划：成员可以「认领」事项，主持人可以「指派」；/plan 查看谁负责什么。\n"
    "/export 导出最近一次团队报告（PDF、Markdown 与 JSON），/history 查看本群历次诊断及前后对比。私聊我可以做个人诊断。"
)


def member_of(user: User) -> Member:
    """The participant as shown to the team."""
    return Member(user.id, user.full_name)


def topic_of(message: Message) -> int | None:
    """The forum topic a message was sent in (None outside forum topics)."""
    return message.message_thread_id if message.is_topic_message else None


async def can_control(bot: Bot, chat_id: int, starter_id: int, user_id: int) -> bool:
    """The session's starter and the group's administrators control it."""
    if user_id == starter_id:
        return True
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except Exception:  # noqa: BLE001 - when Telegram cannot tell, do not grant control
        logger.warning("getChatMember failed for %s in %s", user_id, chat_id, exc_info=True)
        return False
    return member.status in CONTROLLER_STATUSES


async def deep_link(bot: Bot, session_id: int) -> str | None:
    """https://t.me/<bot>?start=g<id>: a member's personal copy of the team report."""
    me = await bot.me()
    return f"https://t.me/{me.username}?start=g{session_id}" if me.username else None


ANONYMOUS_ARGS = {"匿名", "anon", "anonymous", "niming"}


async def diagnose_group(message: Message, command: CommandObject, bot: Bot, groups: GroupService,
                         interview: InterviewService, group_view: GroupView) -> None:
    """Starts a team session (`/diagnose 匿名`: anonymous from its first message on), or offers to resume or
    restart the one running."""
    if message.from_user is None or message.from_user.is_bot:  # an anonymous admin posts as the group
        await message.answer("请以个人身份（而不是匿名管理员）发送 /diagnose，以便记录发起人。")
        return
    try:
        session = await groups.start(message.chat.id, member_of(message.from_user), topic_id=topic_of(message))
    except SessionExists as e:
        state = await groups.current(e.session.id)
        await message.answer(existing_session_html(e.session, state), reply_markup=group_existing_keyboard(e.session.id))
        return
    if (command.args or "").strip().lower() in ANONYMOUS_ARGS:
        session = await groups.set_options(session.id, anonymous=True)
    await group_view.post_lobby(bot, groups, session)


async def _session_of(query: CallbackQuery, groups: GroupService, session_id: int, status: str) -> Session | None:
    """The session a button belongs to, if it is this chat's and in `status`; otherwise the press is answered as
    stale and None returned."""
    session = await groups.get(session_id)
    message = query.message
    if not isinstance(message, Message) or session is None or session.chat_id != message.chat.id \
            or session.status != status:
        await query.answer(STALE)
        return None
    return session


async def control_pressed(query: CallbackQuery, callback_data: GroupCtlCb, bot: Bot, groups: GroupService,
                          interview: InterviewService, group_view: GroupView) -> None:
    """join / begin / next / skip / end / cancel / resume / restart."""
    message, session = query.message, await _session_of(query, groups, callback_data.s, SessionStatus.ACTIVE)
    if not isinstance(message, Message) or session is None:
        return
    user = member_of(query.from_user)
    act = callback_data.act
    if act == "join":
        new = await groups.join(session.id, user)
        await query.answer("已加入，请在每道题上投票。" if new else "你已经在参与名单中。")
        if new:
            group_view.refresh_lobby(bot, groups, session.id)
        return
    if act == "resume":
        await query.answer()
        async with group_view.lock(session.id):
            fresh = await groups.get(session.id)
            if fresh is not None and fresh.status == SessionStatus.ACTIVE:
                await group_view.repost_current(bot, groups, fresh, interview.section_label)
        return
    if act not in CONTROLS:
        await query.answer(STALE)
        return
    if not await can_control(bot, session.chat_id, session.starter_id, user.user_id):
        await query.answer(NOT_CONTROLLER, show_alert=True)
        return
    if act in (GroupAct.MODE, GroupAct.TIME_BOX, GroupAct.REVOTE, GroupAct.REMIND):
        await meeting_control(query, callback_data, bot, groups, interview, group_view, session)
        return
    # The press is answered as soon as the session has moved (callback queries expire within seconds), and the
    # chat is updated afterwards under the session's view lock: taken right after the move, with no await in
    # between, so renders happen in the order the moves did even while the group pacer makes them wait.
    try:
        if act in ("cancel", "restart"):
            if not await groups.cancel(session.id):
                raise StaleGroupAction(f"session {session.id} is over")
            fresh = await groups.start(session.chat_id, user, topic_id=session.topic_id) if act == "restart" else None
            answering = asyncio.ensure_future(query.answer("已取消" if act == "cancel" else "已重新开始"))
            async with group_view.lock(session.id):
                await group_view.close_session(bot, groups, session)
                if fresh is not None:
                    await group_view.post_lobby(bot, groups, fresh)
            await answering
            return
        if act == "end":
            adv = await groups.end(session.id)
        else:
            adv = await groups.advance(session.id, LOBBY if act == "begin" else callback_data.i, skip=act == "skip")
    except (StaleGroupAction, SessionExists):
        await query.answer(STALE)
        return
    answering = asyncio.ensure_future(
        query.answer({"begin": "开始答题", "next": "下一题", "skip": "已跳过", "end": "已结束"}[act]))
    async with group_view.lock(session.id):
        if act == "begin":
            await group_view.close_lobby(bot, groups, adv.session)
        link = await deep_link(bot, session.id) if adv.report is not None else None
        await group_view.show_advance(bot, groups, groups.rubric, adv, interview.section_label, deep_link=link)
    await answering


async def meeting_control(query: CallbackQuery, callback_data: GroupCtlCb, bot: Bot, groups: GroupService,
                          interview: InterviewService, group_view: GroupView, session: Session) -> None:
    """The controller's lobby toggles (实名/匿名, time box), 🔁 重新投票 and 🔔 提醒未投票."""
    act = callback_data.act
    try:
        if act == GroupAct.MODE:
            fresh = await groups.set_options(session.id, anonymous=not session.anonymous)
            await query.answer("已切换为匿名：群里不会显示任何成员的名字" if fresh.anonymous else "已切换为实名")
            group_view.refresh_lobby(bot, groups, session.id)
        elif act == GroupAct.TIME_BOX:
            fresh = await groups.set_options(session.id, time_box=callback_data.i)
            await query.answer(f"每题限时：{time_box_label(fresh.time_box)}")
            group_view.refresh_lobby(bot, groups, session.id)
        elif act == GroupAct.REVOTE:
            state = await groups.revote(session.id, callback_data.i)
            answering = asyncio.ensure_future(query.answer("重新投票：请每人再选一次"))
            async with group_view.lock(session.id):
                if query.message is not None:
                    await drop_buttons(bot, session.chat_id, query.message.message_id)
                await group_view.post_question(bot, groups, session, state, interview.section_label(state.question))
            await answering
        else:  # REMIND
            waiting = await groups.remind(session.id, callback_data.i)
            if not waiting:
                await query.answer("所有已加入的成员都已投票。")
                return
            await query.answer(f"已提醒 {len(waiting)} 位成员")
            state = await groups.question_state(session.id, callback_data.i)
            async with group_view.lock(session.id):
                await group_view.show_reminder(bot, session, state, waiting)
            group_view.refresh_question(bot, groups, session.id, callback_data.i, interview.section_label)
    except StaleGroupAction:
        await query.answer(STALE if act != GroupAct.REMIND else "本题已经提醒过一次了。")


async def vote_pressed(query: CallbackQuery, callback_data: GroupVoteCb, bot: Bot, groups: GroupService,
                       interview: InterviewService, group_view: GroupView) -> None:
    """Counts a member's vote (last choice wins); closes the question when every joined member has voted."""
    message = query.message
    session = await groups.get(callback_data.s)
    if not isinstance(message, Message) or session is None or session.chat_id != message.chat.id:
        await query.answer(STALE)
        return
    try:
        outcome = await groups.vote(session.id, callback_data.i, member_of(query.from_user), callback_data.lv)
    except StaleGroupAction:
        await query.answer(STALE)
        return
    label = outcome.state.question.option(outcome.level).label
    await query.answer(clip(f"已记录你的选择：{label}（本题结束前可以改选）", 190))
    if outcome.closes_at is None or outcome.closes_at > groups.clock():
        # Not everyone yet, or the grace period for late joiners runs (a due row closes it then).
        group_view.refresh_question(bot, groups, session.id, callback_data.i, interview.section_label)
        return
    adv = await groups.close_due(session.id, callback_data.i, outcome.state.round)
    if adv is None:
        return  # someone else closed it a moment earlier
    async with group_view.lock(session.id):
        link = await deep_link(bot, session.id) if adv.report is not None else None
        await group_view.show_advance(bot, groups, groups.rubric, adv, interview.section_label, deep_link=link)


async def export_group(message: Message, bot: Bot, groups: GroupService, group_view: GroupView) -> None:
    """Sends the group's last team report as Markdown and JSON."""
    last = await groups.last_report(message.chat.id)
    if last is None:
        await message.answer(NO_REPORT)
        return
    await group_view.send_export(bot, message.chat.id, last[1], topic_id=topic_of(message))


async def report_group(message: Message, bot: Bot, groups: GroupService, group_view: GroupView,
                       knowledge: KnowledgeBase) -> None:
    """Sends the group's last team report again (saying so when the guidance it cites has changed since)."""
    last = await groups.last_report(message.chat.id)
    if last is None:
        await message.answer(NO_REPORT)
        return
    await group_view.send_report(bot, message.chat.id, last[1], groups.rubric, topic_id=topic_of(message),
                                 deep_link=await deep_link(bot, last[0]),
                                 warning=citation_notice(last[1], knowledge))


async def history_group(message: Message, groups: GroupService) -> None:
    """Lists the group's finished team sessions, each a button that shows its report again."""
    await send_history(message, await groups.history(message.chat.id), whose="本群的团队", empty=NO_REPORT)


async def history_group_pressed(query: CallbackQuery, callback_data: HistoryCb, bot: Bot, groups: GroupService,
                                group_view: GroupView, knowledge: KnowledgeBase) -> None:
    """Shows one of this group's past team reports."""
    chat = query.message.chat.id if query.message else 0
    report = await groups.session_report(chat, callback_data.id)
    if report is None:
        await query.answer("这份报告已不存在。", show_alert=True)
        return
    await query.answer()
    topic = query.message.message_thread_id if isinstance(query.message, Message) else None
    await group_view.send_report(bot, chat, report, groups.rubric, topic_id=topic,
                                 warning=citation_notice(report, knowledge))


async def plan_group(message: Message, bot: Bot, groups: GroupService, group_view: GroupView) -> None:
    """/plan: the last team report's plan, who owns what, with the 认领 / 指派 buttons."""
    last = await groups.last_report(message.chat.id)
    if last is None:
        await message.answer(NO_REPORT)
        return
    await group_view.post_plan(bot, message.chat.id, last[0], last[1], topic_id=topic_of(message))


async def _tell_owner(bot: Bot, owner_id: int, chat_title: str, report: TeamReport, index: int) -> None:
    """The item in the owner's private chat, when they have started the bot (Telegram refuses otherwise)."""
    item = report.plan[index]
    text = (f"📋 你在「{esc(clip(chat_title, 40))}」的团队诊断中负责：\n<b>{esc(item.item)}</b>（{esc(item.section)}）\n"
            f"完成标准：{esc(item.done_when)}" + "".join(f"\n· {esc(t)}" for t in item.tasks))
    try:
        await bot.send_message(owner_id, text)
    except (TelegramForbiddenError, TelegramBadRequest):
        logger.info("plan owner %s has not started the bot: not told in private", owner_id)


async def plan_pressed(query: CallbackQuery, callback_data: GroupPlanCb, bot: Bot, groups: GroupService,
                       group_view: GroupView) -> None:
    """认领 (a participant), 指派 → a member (the controller), 完成 (the owner) on a team plan item."""
    message, session = query.message, await _session_of(query, groups, callback_data.s, SessionStatus.FINISHED)
    if not isinstance(message, Message) or session is None:
        return
    user = member_of(query.from_user)
    act, index = callback_data.act, callback_data.i
    try:
        if act == PlanAct.CLAIM:
            report = await groups.claim(session.id, index, user)
            await query.answer(f"已认领第 {index + 1} 项")
            owner = user.user_id
        elif act == PlanAct.DONE:
            report = await groups.complete(session.id, index, user.user_id)
            await query.answer(f"第 {index + 1} 项已标记完成")
            owner = None
        else:
            if not await can_control(bot, session.chat_id, session.starter_id, user.user_id):
                await query.answer(NOT_CONTROLLER, show_alert=True)
                return
            if act == PlanAct.ASSIGN:
                members = await groups.members(session.id)
                shown = [(m.user_id, pseudonym(m.alias) if session.anonymous else short_name(m.name)) for m in members]
                await query.answer()
                await bot.send_message(session.chat_id, f"把第 {index + 1} 项指派给谁？",
                                       reply_markup=member_picker_keyboard(session.id, index, shown),
                                       message_thread_id=session.topic_id)
                return
            report = await groups.assign(session.id, index, callback_data.u)
            await query.answer(f"已指派第 {index + 1} 项")
            owner = callback_data.u
    except StaleGroupAction:
        await query.answer("只有参与了这场诊断的成员可以认领；完成只能由负责人标记。" if act != PlanAct.PICK else STALE,
                           show_alert=True)
        return
    async with group_view.lock(session.id):
        await edit_html(bot, session.chat_id, message.message_id, plan_html(report), plan_keyboard(session.id, report))
    if owner is not None:
        await _tell_owner(bot, owner, message.chat.title or "团队群", report, index)


async def added_to_group(event: ChatMemberUpdated, bot: Bot) -> None:
    """Says hello and how team sessions work when someone adds the bot to a group."""
    await bot.send_message(event.chat.id, GROUP_HELP)


async def group_migrated(message: Message, groups: GroupService) -> None:
    """The group became a supergroup (new chat id): the running session and past reports follow it."""
    if message.migrate_to_chat_id is not None:
        await groups.migrate(message.chat.id, message.migrate_to_chat_id)


async def help_group(message: Message) -> None:
    """What the bot does in a group."""
    await message.answer(GROUP_HELP)


async def personal_copy(message: Message, command: CommandObject, bot: Bot, groups: GroupService) -> None:
    """`/start g<id>` in private: the team report and how this member's answers compare with the team's."""
    try:
        session_id = int((command.args or "")[1:])
    except ValueError:
        await message.answer("这个链接无效。发送 /diagnose 开始个人诊断。")
        return
    report = await groups.report(session_id)
    user_id = message.from_user.id if message.from_user else 0
    if report is None or not await groups.is_member(session_id, user_id):
        await message.answer("没有找到你参与过的这场团队诊断（可能尚未结束，或你没有参与）。发送 /diagnose 开始个人诊断。")
        return
    mine = await groups.member_votes(session_id, user_id)
    lines = ["<b>你的回答与团队平均</b>"]
    for a in report.answers:
        if a.question_id not in mine:
            continue
        q = groups.rubric.question(a.question_id)
        own = q.option(mine[a.question_id]).label
        flag = " ⚠️" if a.level is not None and abs(mine[a.question_id] - a.level) >= DISAGREEMENT_LEVELS else ""
        lines.append(f"• {esc(clip(q.text, 36))}\n  你：{esc(own)} · 团队：{esc(a.label)}{flag}")
    if len(lines) == 1:
        lines.append("你在这场诊断中没有投票。")
    body = group_report_html(report, groups.rubric) + "\n\n" + "\n".join(lines)
    for part in split_message(body):
        await message.answer(part)


async def unknown_group_button(query: CallbackQuery) -> None:
    """Forged or outdated callback data in a group: a short notice, nothing changes."""
    await query.answer(STALE)


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    in_group = F.chat.type.in_(GROUP_CHATS)
    router.message.register(personal_copy, F.chat.type == "private",
                            CommandStart(deep_link=True, magic=F.args.regexp(r"^g\d+$")))
    router.message.register(group_migrated, in_group, F.migrate_to_chat_id)
    router.message.register(diagnose_group, in_group, Command("diagnose"))
    router.message.register(export_group, in_group, Command("export"))
    router.message.register(report_group, in_group, Command("report"))
    router.message.register(history_group, in_group, Command("history"))
    router.message.register(plan_group, in_group, Command("plan"))
    router.message.register(help_group, in_group, Command("help", "start"))
    router.callback_query.register(vote_pressed, GroupVoteCb.filter())
    router.callback_query.register(control_pressed, GroupCtlCb.filter())
    router.callback_query.register(history_group_pressed, F.message.chat.type.in_(GROUP_CHATS), HistoryCb.filter())
    router.callback_query.register(plan_pressed, F.message.chat.type.in_(GROUP_CHATS), GroupPlanCb.filter())
    router.callback_query.register(unknown_group_button, F.message.chat.type.in_(GROUP_CHATS))
    router.my_chat_member.register(added_to_group, F.chat.type.in_(GROUP_CHATS),
                                   ChatMemberUpdatedFilter(JOIN_TRANSITION))
    return router
