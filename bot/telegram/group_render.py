"""Telegram HTML of group sessions: the lobby, a question while open (who voted, choices hidden) and closed
(the distribution), the reminder, the team report and its plan. Every name and text goes through `esc`; an
anonymous session shows counts and distributions, never a name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from bot.group.service import QuestionState, Session
from bot.interview.rubric import Rubric
from bot.report.model import TeamReport
from bot.report.outline import Detail, outline
from bot.report.team import Member, distribution
from bot.telegram.render import blocks_html, clip, esc

BEIJING = timezone(timedelta(hours=8))
NAME_LIMIT = 32
MAX_NAMES = 15
REPORT_GAPS = 5
REPORT_DISAGREEMENTS = 8


def short_name(name: str) -> str:
    """A member's name, clipped so a long one cannot flood the message."""
    return clip(name.strip() or "匿名成员", NAME_LIMIT)


def names(members: Sequence[Member]) -> str:
    """「张三、李四」 (escaped, at most MAX_NAMES names)."""
    shown = "、".join(esc(short_name(m.name)) for m in members[:MAX_NAMES])
    more = len(members) - MAX_NAMES
    return shown + (f" 等 {len(members)} 人" if more > 0 else "")


def time_box_label(seconds: int) -> str:
    """不限时 / 90 秒."""
    return f"{seconds} 秒" if seconds else "不限时"


def clock_time(unix: float) -> str:
    """A deadline as users read it: Beijing time (the users are mostly in China), 14:05:30."""
    return datetime.fromtimestamp(unix, BEIJING).strftime("%H:%M:%S")


def lobby_html(session: Session, members: Sequence[Member], *, started: bool = False) -> str:
    """The lobby message: what a team session is, who controls it, who has joined, the mode and the time box."""
    host = "发起人" if session.anonymous else esc(short_name(session.starter_name))
    joined = f"已加入（{len(members)}）" + ("" if session.anonymous else f"：{names(members) or '暂无'}")
    mode = ("匿名：群里的消息和团队报告都不显示任何成员的名字，只显示分布；每人私下的个人对比照常可用"
            if session.anonymous else "实名：每题结束后公开谁选了什么")
    lines = [
        "👥 <b>团队私域准备度诊断</b>",
        "",
        f"主持人：{host}（主持人和群管理员可以控制进度）",
        "大家就同一组问题各自投票，投票在每题结束后才公开，避免互相影响；"
        "团队成员之间的分歧本身就是重要的发现（见 2.3、4.5、6.2）。",
        "",
        f"模式：{mode}",
        f"每题限时：{time_box_label(session.time_box)}",
        joined,
    ]
    if not started:
        lines += ["", "<i>参与的成员请点「加入」；主持人可切换实名/匿名和限时，然后点「开始答题」。"
                  "晚到的成员直接投票即可加入。</i>"]
    else:
        lines += ["", "<i>答题已开始。</i>"]
    return "\n".join(lines)


def _header(state: QuestionState, label: str) -> str:
    again = "（重新投票）" if state.round > 1 else ""
    return f"<b>团队诊断 · 第 {state.index + 1}/{state.total} 题{again} ·「{esc(label)}」</b>"


def open_question_html(state: QuestionState, label: str, *, grace_seconds: float = 0) -> str:
    """A question while open: the text, how many voted and who (counts only when anonymous) — never what they
    chose — who is still expected, the time box's deadline, and when it will close on its own."""
    voters, waiting = state.voters, state.waiting
    lines = [_header(state, label), "", esc(state.question.text), "",
             "<i>每人点一个最接近的选项；本题结束前可以改选。大家的选择在本题结束后才公开。</i>", ""]
    if state.anonymous:
        lines.append(f"已投票 {len(voters)}/{len(state.members)}" + (f"，还有 {len(waiting)} 人未投票" if waiting else ""))
    else:
        lines.append(f"已投票 {len(voters)}/{len(state.members)}：{names(voters) or '暂无'}")
        if waiting:
            lines.append(f"还在等：{names(waiting)}")
    if state.deadline is not None:
        lines.append(f"⏱ 本题截止 {clock_time(state.deadline)}（北京时间），到时自动结束。")
    if state.ready and grace_seconds > 0:
        lines.append(f"<i>已加入的成员都已投票；{grace_seconds:.0f} 秒内没有新成员投票就结束本题，主持人也可以直接点「下一题」。</i>")
    elif len(voters) < 2:
        lines.append("<i>至少两人投票后本题才会自动结束。</i>")
    return "\n".join(lines)


def closed_question_html(state: QuestionState, label: str) -> str:
    """A closed question: the distribution of choices (with names unless anonymous); a spread of two levels or
    more names the two ends (only the spread when anonymous) and invites them to explain before a re-vote."""
    lines = [_header(state, label) + ("（已跳过）" if state.status == "skipped" else "（已结束）"), "",
             esc(state.question.text), ""]
    if state.status == "skipped" or not state.votes:
        lines.append("本题已跳过，计为“未知”。" if state.status == "skipped" else "本题无人作答，计为“未知”。")
        return "\n".join(lines)
    by_level: dict[int, list[Member]] = {}
    for m in state.voters:
        by_level.setdefault(state.votes[m.user_id], []).append(m)
    lines.append(f"<b>结果（{len(state.votes)} 人作答）</b>")
    for label_text, level, count in distribution(state.question, state.votes):
        bar = "█" * count
        who = f"（{names(by_level.get(level, []))}）" if count and not state.anonymous else ""
        lines.append(f"• {esc(label_text)}：{count} {bar}{who}")
    if state.spread >= 2:
        lines.append("")
        lines.append(f"⚠️ <b>分歧较大</b>：成员的回答相差 {state.spread} 级，值得当场对齐。")
        if state.can_revote:
            if state.anonymous:
                lines.append("请选了最高和最低选项的成员说说各自的依据（口头或在群里都可以；我不读群聊内容）。")
            else:
                low = by_level[min(by_level)]
                high = by_level[max(by_level)]
                lines.append(f"请 {names(high)}（{esc(state.question.option(max(by_level)).label)}）和 "
                             f"{names(low)}（{esc(state.question.option(min(by_level)).label)}）"
                             "说说各自的依据（口头或在群里都可以；我不读群聊内容）。")
            lines.append("<i>讨论后主持人可以点「🔁 重新投票」（只有一次），或点「下一题」按这次结果记录。</i>")
    return "\n".join(lines)


def reminder_html(state: QuestionState, waiting: Sequence[Member]) -> str:
    """🔔 提醒未投票: mentions who has not voted on the open question (their names as links; none when anonymous)."""
    head = f"🔔 第 {state.index + 1} 题还在等 {len(waiting)} 位成员投票"
    if state.anonymous:
        return f"{head}，请还没投票的成员点上面题目里的选项。"
    mentions = "、".join(f'<a href="tg://user?id={m.user_id}">{esc(short_name(m.name))}</a>' for m in waiting[:MAX_NAMES])
    return f"{head}：{mentions}，请点上面题目里的选项。"


def plan_html(report: TeamReport) -> str:
    """The team's plan: each item with its step, owner role and who took it (认领) — the owners' pseudonyms when
    the session was anonymous."""
    lines = ["📋 <b>团队行动计划</b>（成员点「认领」领取一项；主持人可以「指派」给某位成员）"]
    for i, item in enumerate(report.plan):
        owner = report.owner_of(i)
        who = {"open": "待认领", "claimed": f"负责人：{esc(short_name(owner.owner_name))}",
               "done": f"✅ 已完成（{esc(short_name(owner.owner_name))}）"}.get(owner.status, "待认领")
        lines.append(f"{i + 1}. [{esc(report.step_title(item.step))}] {esc(item.item)}（{esc(item.section)}）\n"
                     f"   建议由{esc(item.owner_role)}负责 · {who}\n   完成标准：{esc(item.done_when)}")
    if not report.plan:
        lines.append("暂无需要安排的事项。")
    return "\n".join(lines)


def group_report_html(report: TeamReport, rubric: Rubric, *, deep_link: str | None = None, warning: str = "") -> str:
    """The team report for the chat: verdict, team scores with spread, turnout, disagreements, gaps with quotes,
    the team's plan (the same outline as every other rendering, laid out as HTML)."""
    notice = warning
    asked, total = report.turnout.questions, len(rubric.questions)
    if asked < total:
        notice += (f"本次只讨论了 {asked}/{total} 题：未讨论的题按“未知”计 0 分，结论仅供参考；"
                  "缺口只列出讨论过的题。可以再发起一次完整的团队诊断。")
    body = blocks_html(outline(report, detail=Detail.CHAT, max_gaps=REPORT_GAPS,
                               max_disagreements=REPORT_DISAGREEMENTS, notice=notice))
    tail = "发送 /export 获取完整团队报告（PDF、Markdown 与 JSON），/history 查看本群历次诊断。"
    if deep_link:
        tail += f"\n想私下对比自己和团队的回答：{esc(deep_link)}"
    return f"👥 {body}\n\n{tail}"


def existing_session_html(session: Session, state: QuestionState | None) -> str:
    """What /diagnose says when the group already has a session running."""
    where = f"第 {state.index + 1}/{state.total} 题" if state else "等待成员加入"
    host = "发起人" if session.anonymous else esc(short_name(session.starter_name))  # 匿名: nobody is named
    return (f"本群已有一场进行中的团队诊断（{where}，主持人：{host}）。\n"
            "可以继续当前诊断，或由主持人/群管理员重新开始。")
