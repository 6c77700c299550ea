"""Callback data factories: short, versioned prefixes; every packed value stays well under 64 bytes."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class NavAct(StrEnum):
    """Interview navigation buttons."""

    BEGIN = "begin"
    BACK = "back"
    SKIP = "skip"
    RESTART = "restart"


class GroupAct(StrEnum):
    """Group session controls."""

    JOIN = "join"
    BEGIN = "begin"
    NEXT = "next"
    SKIP = "skip"
    END = "end"
    CANCEL = "cancel"
    RESUME = "resume"
    RESTART = "restart"
    MODE = "anon"  # lobby: toggle 实名 / 匿名
    TIME_BOX = "tbox"  # lobby: cycle 不限时 / 60 / 90 / 180 秒 (i = the chosen seconds)
    REVOTE = "revote"  # a closed, divided question: vote again after discussion (once)
    REMIND = "remind"  # 🔔 提醒未投票


class PlanAct(StrEnum):
    """The team plan's buttons."""

    CLAIM = "claim"  # a participant takes the item
    ASSIGN = "assign"  # the controller asks whom to give it to
    PICK = "pick"  # the controller's choice of member (u)
    DONE = "done"  # the owner marks it done


class AdminAct(StrEnum):
    """Admin confirmations."""

    INGEST = "up"
    DROP_UPLOAD = "upx"
    ROLLBACK = "rb"
    KEEP_VERSION = "rbx"


class ForgetAct(StrEnum):
    """The /forget confirmation."""

    YES = "yes"
    NO = "no"


class AnswerCb(CallbackData, prefix="a1"):
    """An option button: question id and option level."""

    q: str
    lv: int


class NavCb(CallbackData, prefix="n1"):
    """Interview navigation: begin, back, skip, restart (an unknown action does not unpack: the button is stale)."""

    act: NavAct


class FixCb(CallbackData, prefix="f1"):
    """✏️ 改一下 under an answer read from free text: asks question `q` again (the later answers are kept)."""

    q: str


class GroupVoteCb(CallbackData, prefix="gv1"):
    """A member's vote in a group session: session id, question index, option level."""

    s: int
    i: int
    lv: int


class GroupCtlCb(CallbackData, prefix="gc1"):
    """Group session control: join, begin, next, skip, end, cancel, resume, restart (i = question index)."""

    s: int
    act: GroupAct
    i: int = -1


class AdminCb(CallbackData, prefix="ad1"):
    """Admin confirmations: ingest or cancel an upload (arg: its token), roll back or not (arg: the target id)."""

    act: AdminAct
    arg: str


class ForgetCb(CallbackData, prefix="fg1"):
    """The /forget confirmation: delete or keep."""

    act: ForgetAct


class HistoryCb(CallbackData, prefix="h1"):
    """Opens one stored diagnosis from /history (its id: a private diagnosis, or a group session in a group)."""

    id: int


class RemindCb(CallbackData, prefix="rm1"):
    """30 / 60 / 90 天后提醒我复诊 under a report; days = 0 cancels the pending reminder (/reminders)."""

    days: int


class GroupPlanCb(CallbackData, prefix="gp1"):
    """A team plan item: session, item index, action, and the member picked by the controller."""

    s: int
    i: int
    act: PlanAct
    u: int = 0
