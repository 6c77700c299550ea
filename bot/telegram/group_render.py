"""Telegram HTML of group sessions: the lobby, a question while open (who voted, choices hidden) and closed
(the distribution), and the team report. Every name and text goes through `esc`."""

from __future__ import annotations

from collections.abc import Sequence

from bot.group.report import Member, disagreements, distribution
from bot.group.service import QuestionState, Session
from bot.interview.report import Report
from bot.interview.rubric import Rubric
from bot.report import section_label
from bot.telegram.render import clip, esc

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


def _choice(rubric: Rubric, question_id: str, level: int) -> str:
    try:
        return clip(rubric.question(question_id).option(level).label, 14)
    except (KeyError, StopIteration):
        return str(level)


def _question_text(rubric: Rubric, question_id: str) -> str:
    try:
        return clip(rubric.question(question_id).text, 40)
    except KeyError:
        return question_id


def group_report_html(report: Report, rubric: Rubric, *, deep_link: str | None = None) -> str:
    """The team report for the chat: verdict, team scores with spread, turnout, disagreements, gaps with quotes."""
    team = report.extra.get("team", {})
    turnout = team.get("turnout", {})
    icon = {"ready": "🟢", "partly": "🟡", "not_ready": "🔴"}[report.verdict]
    out = [f"👥 {icon} <b>团队诊断结论：{esc(report.verdict_label)}</b>（团队综合 {report.overall:.0f}/100）"]
    out.append(f"参与 {turnout.get('participants', 0)} 人，实际作答 {turnout.get('voted', 0)} 人；"
               f"共 {turnout.get('questions', 0)} 题，作答率 {100 * float(turnout.get('rate', 0)):.0f}%。")
    asked, total = int(turnout.get("questions", 0)), len(rubric.questions)
    if asked < total:
        out.append(f"<i>本次只讨论了 {asked}/{total} 题：未讨论的题按“未知”计 0 分，结论仅供参考；"
                   "缺口只列出讨论过的题。可以再发起一次完整的团队诊断。</i>")
    dims = ["<b>各维度：团队平均（成员最低–最高）</b>"]
    for d in team.get("dimensions", []):
        band = f"（{d['min']:.0f}–{d['max']:.0f}）" if d.get("min") is not None else ""
        warn = " ⚠️" if (d.get("spread") or 0) >= 40 else ""
        dims.append(f"• {esc(d['title'])}（{esc(d['section'])}）：{d['mean']:.0f}{band}{warn}")
    out.append("\n".join(dims))
    risks = report.triggered_risks
    if risks:
        out.append("\n".join(["<b>⚠️ 风险信号</b>"] + [f"• {esc(r.title)}（{esc(r.section)}）" for r in risks]))
    split = disagreements(report)
    people = {str(p["user_id"]): p["name"] for p in report.extra.get("participants", [])}
    if split:
        block = [f"<b>分歧最大的问题（{len(split)} 题回答相差两级以上）</b>"]
        for q in split[:REPORT_DISAGREEMENTS]:
            qid = str(q["question_id"])
            who = "；".join(f"{esc(short_name(people.get(uid, uid)))}：{esc(_choice(rubric, qid, level))}"
                           for uid, level in q["votes"].items())
            block.append(f"• {esc(_question_text(rubric, qid))}（{esc(q['section'])}，相差 {q['spread']} 级）\n  {who}")
        out.append("\n".join(block))
    else:
        out.append("团队在各题上的判断基本一致（没有相差两级以上的题）。")
    gaps = report.gaps[:REPORT_GAPS]
    if gaps:
        out.append(f"<b>团队最需要补上的前置工作（前 {len(gaps)} 项，共 {len(report.gaps)} 项）</b>")
    for i, g in enumerate(gaps, 1):
        block = [f"<b>{i}. {esc(g.missing)}</b>（{esc(g.severity_label)}）", f"该做什么：{esc(g.todo)}"]
        if g.quote:
            block.append(f"<blockquote>{esc(g.quote)}\n——「{esc(section_label(g.quote_section, g.quote_title))}」"
                         f" · 知识库 {esc(g.kb_version)}</blockquote>")
        out.append("\n".join(block))
    if report.closing_quote:
        out.append(f"<blockquote>{esc(report.closing_quote)}\n——"
                   f"「{esc(section_label(report.closing_section, report.closing_title))}」</blockquote>")
    tail = "发送 /export 获取完整团队报告（Markdown 与 JSON）。"
    if deep_link:
        tail += f"\n想私下对比自己和团队的回答：{esc(deep_link)}"
    out.append(tail)
    return "\n\n".join(out)


def existing_session_html(session: Session, state: QuestionState | None) -> str:
    """What /diagnose says when the group already has a session running."""
    where = f"第 {state.index + 1}/{state.total} 题" if state else "等待成员加入"
    return (f"本群已有一场进行中的团队诊断（{where}，主持人：{esc(short_name(session.starter_name))}）。\n"
            "可以继续当前诊断，或由主持人/群管理员重新开始。")
