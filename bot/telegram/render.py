"""Telegram HTML: escaping and ≤ 4096-character splitting in one place, and the bot's message templates.

Every string that came from a user or a document goes through `esc`; templates only use Telegram's tag set.
"""

from __future__ import annotations

import html as std_html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiogram import html

from bot.interview.report import Report
from bot.interview.service import QuestionStep, RecordedAnswer
from bot.report import CHAT_GAPS, section_label

if TYPE_CHECKING:
    from bot.knowledge.search import Passage

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
_TAG_RE = re.compile(r"<[^>]+>")


def esc(text: object) -> str:
    """Escapes user- or document-derived text for HTML parse mode."""
    return html.quote(str(text))


def visible_length(html_text: str) -> int:
    """Length Telegram counts: tags removed, entities decoded, in UTF-16 code units."""
    plain = std_html.unescape(_TAG_RE.sub("", html_text))
    return len(plain.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """Plain text cut to `limit` characters with an ellipsis (before escaping)."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _hard_split(paragraph: str, limit: int) -> list[str]:
    """Splits one over-long paragraph: drops its tags and cuts the plain text (never inside an entity)."""
    plain = std_html.unescape(_TAG_RE.sub("", paragraph))
    out: list[str] = []
    current: list[str] = []
    units = 0
    for ch in plain:
        width = 2 if ord(ch) > 0xFFFF else 1  # UTF-16 code units, as Telegram counts
        if units + width > limit:
            out.append(esc("".join(current)))
            current, units = [], 0
        current.append(ch)
        units += width
    if current:
        out.append(esc("".join(current)))
    return out


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Splits HTML on paragraph boundaries into messages of at most `limit` visible characters."""
    parts: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        if visible_length(paragraph) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.extend(_hard_split(paragraph, limit))
            continue
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if visible_length(candidate) > limit:
            parts.append(current)
            current = paragraph
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()]


def question_html(step: QuestionStep) -> str:
    """A question message: progress and section, the question, a hint, and any notice."""
    lines = []
    if step.notice:
        lines.append(f"<i>{esc(step.notice)}</i>\n")
    lines.append(f"<b>{esc(step.progress)}</b>")
    lines.append("")
    lines.append(esc(step.question.text))
    previous = step.previous_shown
    if previous is not None:
        lines.append("")
        lines.append(f"之前的回答：{esc(clip(previous, 200))}")
    lines.append("")
    lines.append("<i>点选最接近的选项，或直接用文字描述你们的情况。</i>")
    return "\n".join(lines)


def recorded_line(recorded: RecordedAnswer) -> str:
    """`✅ 记录为：「还没想清楚」` (no ✅ for 待确认: nothing was confirmed)."""
    line = f"记录为：「{esc(recorded.label)}」"
    return f"❔ {line}（报告中列为待确认的缺口）" if recorded.pending else f"✅ {line}"


def answered_html(recorded: RecordedAnswer, answer_text: str) -> str:
    """What a question message becomes once answered by free text: the answer as typed and what was recorded."""
    return (f"<b>{esc(recorded.progress)}</b>\n\n{esc(recorded.question.text)}\n\n"
            f"你的回答：{esc(clip(answer_text, 300))}\n{recorded_line(recorded)}")


def recorded_html(recorded: RecordedAnswer, answer_text: str) -> str:
    """What was recorded, as a message of its own (when the question message can no longer be edited)."""
    return (f"第 {recorded.index + 1} 题：{esc(clip(recorded.question.text, 80))}\n"
            f"你的回答：{esc(clip(answer_text, 300))}\n{recorded_line(recorded)}")


def report_html(report: Report, *, max_gaps: int = CHAT_GAPS) -> str:
    """The report for a chat: verdict, scores, risks, top gaps with verbatim citations, chapter 7's advice."""
    icon = {"ready": "🟢", "partly": "🟡", "not_ready": "🔴"}[report.verdict]
    out = [f"{icon} <b>诊断结论：{esc(report.verdict_label)}</b>（综合 {report.overall:.0f}/100）"]
    out.append("\n".join(["<b>各维度得分</b>"] + [
        f"• {esc(d.title)}（{esc(d.section)}）：{d.score:.0f}" for d in report.dimensions
    ]))
    risks = report.triggered_risks
    if risks:
        out.append("\n".join(["<b>⚠️ 风险信号</b>"] + [f"• {esc(r.title)}（{esc(r.section)}）" for r in risks]))
    gaps = report.gaps[:max_gaps]
    if gaps:
        out.append(f"<b>最需要补上的前置工作（前 {len(gaps)} 项，共 {len(report.gaps)} 项）</b>")
    for i, g in enumerate(gaps, 1):
        block = [f"<b>{i}. {esc(g.missing)}</b>（{esc(g.severity_label)}）",
                 f"为什么重要：{esc(g.why)}（{esc(g.why_section)}）",
                 f"该做什么：{esc(g.todo)}"]
        if g.quote:
            block.append(f"<blockquote>{esc(g.quote)}\n——「{esc(section_label(g.quote_section, g.quote_title))}」"
                         f" · 知识库 {esc(g.kb_version)}</blockquote>")
        out.append("\n".join(block))
    if not report.gaps:
        out.append("没有发现明显缺口。")
    if report.closing_quote:
        out.append(f"<blockquote>{esc(report.closing_quote)}\n——"
                   f"「{esc(section_label(report.closing_section, report.closing_title))}」</blockquote>")
    out.append("发送 /export 获取完整报告（Markdown 与 JSON），/restart 重新诊断。")
    return "\n\n".join(out)


def passages_html(query: str, passages: Sequence[Passage], *, summary: str | None = None) -> str:
    """An answer grounded in the guidance: the chat model's short answer when there is one (its claims marked with
    section ids), then the most relevant passages, verbatim, with their section ids."""
    out = []
    if summary:
        out.append(f"<b>简答</b>（根据下面的原文整理，方括号内为章节号）\n{esc(clip(summary, 1500))}")
    out.append(f"关于「{esc(clip(query, 80))}」，指导文章中最相关的内容：")
    for p in passages:
        out.append(f"<b>「{esc(section_label(p.section, p.title))}」</b>\n<blockquote>{esc(p.text)}</blockquote>")
    out.append("想知道你们公司是否准备好了？发送 /diagnose 开始诊断。")
    return "\n\n".join(out)


NOT_COVERED = ("抱歉，指导文章没有涉及这个问题。我可以回答关于私域运营前置工作的问题，"
               "例如：“为什么要先做用户画像？”“启动私域前要准备什么？”，或发送 /diagnose 做一次准备度诊断。")
