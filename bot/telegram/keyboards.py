"""Pure keyboard builders."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.group.service import TIME_BOXES, Session
from bot.interview.rubric import Question
from bot.report.model import TeamReport
from bot.report.reminders import PERIODS
from bot.telegram.callbacks import (
    AdminAct,
    AdminCb,
    AnswerCb,
    FixCb,
    ForgetAct,
    ForgetCb,
    GroupAct,
    GroupCtlCb,
    GroupPlanCb,
    GroupVoteCb,
    HistoryCb,
    NavAct,
    NavCb,
    PlanAct,
    RemindCb,
)
from bot.telegram.group_render import time_box_label

FIX_BUTTON = "✏️ 改一下"


def question_keyboard(question: Question, *, first: bool) -> InlineKeyboardMarkup:
    """One button per option (ready first), then 上一题 / 跳过."""
    rows = [[InlineKeyboardButton(text=o.label, callback_data=AnswerCb(q=question.id, lv=o.level).pack())]
            for o in question.options]
    nav = [InlineKeyboardButton(text="跳过", callback_data=NavCb(act=NavAct.SKIP).pack())]
    if not first:
        nav.insert(0, InlineKeyboardButton(text="⬅️ 上一题", callback_data=NavCb(act=NavAct.BACK).pack()))
    rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def fix_keyboard(question_id: str) -> InlineKeyboardMarkup:
    """The one-tap correction under a recorded free-text answer: asks that question again."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=FIX_BUTTON, callback_data=FixCb(q=question_id).pack())
    ]])


def start_keyboard() -> InlineKeyboardMarkup:
    """The /start button."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="开始诊断", callback_data=NavCb(act=NavAct.BEGIN).pack())
    ]])


def after_report_keyboard() -> InlineKeyboardMarkup:
    """Buttons under the report: a reminder to diagnose again in 30 / 60 / 90 days, and start again now."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=f"{d} 天后提醒我复诊", callback_data=RemindCb(days=d).pack()) for d in PERIODS],
        [InlineKeyboardButton(text="重新诊断", callback_data=NavCb(act=NavAct.RESTART).pack())],
    ])


def reminders_keyboard() -> InlineKeyboardMarkup:
    """Under /reminders: cancel the pending reminder."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="取消提醒", callback_data=RemindCb(days=0).pack())]])


def history_keyboard(entries: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per stored diagnosis (id, label), newest first."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=label, callback_data=HistoryCb(id=entry_id).pack())] for entry_id, label in entries])


def _ctl(text: str, session_id: int, act: GroupAct, index: int = -1) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=GroupCtlCb(s=session_id, act=act, i=index).pack())


def group_lobby_keyboard(session: Session) -> InlineKeyboardMarkup:
    """Under the lobby message: join; the controller's 实名/匿名 and time-box toggles; begin / cancel."""
    following = TIME_BOXES[(TIME_BOXES.index(session.time_box) + 1) % len(TIME_BOXES)] \
        if session.time_box in TIME_BOXES else 0
    return InlineKeyboardMarkup(inline_keyboard=[
        [_ctl("🙋 加入", session.id, GroupAct.JOIN)],
        [_ctl("模式：匿名（点此改为实名）" if session.anonymous else "模式：实名（点此改为匿名）", session.id, GroupAct.MODE),
         _ctl(f"⏱ 每题限时：{time_box_label(session.time_box)}", session.id, GroupAct.TIME_BOX, following)],
        [_ctl("▶️ 开始答题", session.id, GroupAct.BEGIN), _ctl("✖️ 取消", session.id, GroupAct.CANCEL)],
    ])


def group_question_keyboard(session_id: int, index: int, question: Question, *,
                            reminded: bool = False) -> InlineKeyboardMarkup:
    """One vote button per option (ready first), then the controller's 下一题 / 跳过 / 结束 and 🔔 提醒未投票."""
    rows = [[InlineKeyboardButton(text=o.label, callback_data=GroupVoteCb(s=session_id, i=index, lv=o.level).pack())]
            for o in question.options]
    rows.append([_ctl("⏭ 下一题", session_id, GroupAct.NEXT, index), _ctl("跳过", session_id, GroupAct.SKIP, index),
                 _ctl("🏁 结束", session_id, GroupAct.END, index)])
    if not reminded:
        rows.append([_ctl("🔔 提醒未投票", session_id, GroupAct.REMIND, index)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def group_discuss_keyboard(session_id: int, index: int) -> InlineKeyboardMarkup:
    """Under a closed, divided question: the controller's 🔁 重新投票 (once) or ⏭ 下一题."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [_ctl("🔁 重新投票", session_id, GroupAct.REVOTE, index), _ctl("⏭ 下一题", session_id, GroupAct.NEXT, index)],
        [_ctl("🏁 结束", session_id, GroupAct.END, index)],
    ])


def plan_keyboard(session_id: int, report: TeamReport) -> InlineKeyboardMarkup:
    """Per plan item: 认领 (anyone who took part) and 指派 (the controller); the owner's 完成."""
    rows = []
    for i, _item in enumerate(report.plan):
        owner = report.owner_of(i)
        row = [InlineKeyboardButton(text=f"认领 {i + 1}", callback_data=GroupPlanCb(s=session_id, i=i, act=PlanAct.CLAIM).pack()),
               InlineKeyboardButton(text=f"指派 {i + 1}", callback_data=GroupPlanCb(s=session_id, i=i, act=PlanAct.ASSIGN).pack())]
        if owner.status == "claimed":
            row.append(InlineKeyboardButton(text=f"完成 {i + 1}",
                                            callback_data=GroupPlanCb(s=session_id, i=i, act=PlanAct.DONE).pack()))
        rows.append(row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def member_picker_keyboard(session_id: int, index: int, members: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    """The controller picks who gets plan item `index`."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=name, callback_data=GroupPlanCb(s=session_id, i=index, act=PlanAct.PICK, u=uid).pack())]
        for uid, name in members])


def group_existing_keyboard(session_id: int) -> InlineKeyboardMarkup:
    """When /diagnose finds a session running: show the current question again, or start over."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        _ctl("▶️ 继续当前诊断", session_id, GroupAct.RESUME), _ctl("🔄 重新开始", session_id, GroupAct.RESTART),
    ]])


def upload_keyboard(token: str) -> InlineKeyboardMarkup:
    """Confirm or cancel ingesting a validated upload."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="导入为新版本", callback_data=AdminCb(act=AdminAct.INGEST, arg=token).pack()),
        InlineKeyboardButton(text="取消", callback_data=AdminCb(act=AdminAct.DROP_UPLOAD, arg=token).pack()),
    ]])


def rollback_keyboard(target: str) -> InlineKeyboardMarkup:
    """Confirm or cancel a rollback to `target`."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=f"确认回滚到 {target}", callback_data=AdminCb(act=AdminAct.ROLLBACK, arg=target).pack()),
        InlineKeyboardButton(text="取消", callback_data=AdminCb(act=AdminAct.KEEP_VERSION, arg=target).pack()),
    ]])


def forget_keyboard() -> InlineKeyboardMarkup:
    """Confirm or cancel /forget."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="确认删除我的数据", callback_data=ForgetCb(act=ForgetAct.YES).pack()),
        InlineKeyboardButton(text="取消", callback_data=ForgetCb(act=ForgetAct.NO).pack()),
    ]])
