"""Telegram HTML of group sessions: the lobby, a question while open (who voted, choices hidden) and closed
(the distribution), and the team report. Every name and text goes through `esc`."""

from __future__ import annotations

from collections.abc import Sequence

from bot.group.service import QuestionState, Session
from bot.interview.rubric import Rubric
from bot.report.model import TeamReport
from bot.report.outline import Detail, outline
from bot.report.team import Member, distribution
from bot.telegram.render import blocks_html, clip, esc

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


def lobby_html(session: Session, members: Sequence[Member], *, started: bool = False) -> str:
    """The lobby message: what a team session is, who controls it, who has joined."""
    lines = [
        "👥 <b>团队私域准备度诊断</b>",
        "",
        f"主持人：{esc(short_name(session.starter_name))}（主持人和群管理员可以控制进度）",
        "大家就同一组问题各自投票，投票在每题结束后才公开，避免互相影响；"
        "团队成员之间的分歧本身就是重要的发现（见 2.3、4.5、6.2）。",
        "",
        f"已加入（{len(members)}）：{names(members) or '暂无'}",
    ]
    if not started:
        lines += ["", "<i>参与的成员请点「加入」；人齐后主持人点「开始答题」。没加入也可以直接投票。</i>"]
    else:
        lines += ["", "<i>答题已开始。</i>"]
    return "\n".join(lines)


def _header(state: QuestionState, label: str) -> str:
    return f"<b>团队诊断 · 第 {state.index + 1}/{state.total} 题 ·「{esc(label)}」</b>"


def open_question_html(state: QuestionState, label: str) -> str:
    """A question while open: the text, and how many voted and who — never what they chose."""
    voters = state.voters
    lines = [_header(state, label), "", esc(state.question.text), "",
             "<i>每人点一个最接近的选项；本题结束前可以改选。大家的选择在本题结束后才公开。</i>", ""]
    lines.append(f"已投票 {len(voters)}/{len(state.members)}：{names(voters) or '暂无'}")
    waiting = [m for m in state.members if m.user_id not in state.votes]
    if voters and waiting:
        lines.append(f"等待：{names(waiting)}")
    return "\n".join(lines)


def closed_question_html(state: QuestionState, label: str) -> str:
    """A closed question: the distribution of choices, and a flag when the team is two or more levels apart."""
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
        who = f"（{names(by_level.get(level, []))}）" if count else ""
        lines.append(f"• {esc(label_text)}：{count} {bar}{who}")
    levels = list(state.votes.values())
    if max(levels) - min(levels) >= 2:
        lines.append("")
        lines.append("⚠️ <b>分歧较大</b>：成员的回答相差两级以上，值得当场对齐。")
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
    return (f"本群已有一场进行中的团队诊断（{where}，主持人：{esc(short_name(session.starter_name))}）。\n"
            "可以继续当前诊断，或由主持人/群管理员重新开始。")
