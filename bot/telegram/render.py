"""Telegram HTML: escaping and ≤ 4096-character splitting in one place, and the bot's message templates.

Every string that came from a user or a document goes through `esc`; templates only use Telegram's tag set.
"""

from __future__ import annotations

import html as std_html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiogram import html

from bot.interview.scoring import VERDICT_LABELS
from bot.interview.service import QuestionStep, RecordedAnswer
from bot.report import CHAT_GAPS, section_label
from bot.report.model import Report
from bot.report.outline import Block, Detail, outline

if TYPE_CHECKING:
    from bot.knowledge.search import Passage
    from bot.report.history import HistoryEntry
    from bot.report.reminders import Reminder

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


def blocks_html(blocks: Sequence[Block]) -> str:
    """Telegram HTML of a report outline: bold headings, lines, numbered entries, quotes as blockquotes."""
    out = []
    for block in blocks:
        part = []
        if block.heading:
            part.append(f"<b>{esc(block.heading)}</b>")
        bullet = "" if block.kind in ("headline", "notice", "comparison") else "• "
        if block.kind == "notice":
            part += [f"<i>⚠️ {esc(line)}</i>" for line in block.lines]
        else:
            part += [f"{bullet}{esc(line)}" for line in block.lines]
        if block.quote:
            part.append(f"<blockquote>{esc(block.quote.text)}\n——{esc(block.quote.source)}</blockquote>")
        if part:
            out.append("\n".join(part))
        for entry in block.entries:
            lines = [f"<b>{esc(entry.title)}</b>"] + [esc(line) for line in entry.lines]
            if entry.quote:
                lines.append(f"<blockquote>{esc(entry.quote.text)}\n——{esc(entry.quote.source)}</blockquote>")
            out.append("\n".join(lines))
    return "\n\n".join(out)


def report_html(report: Report, *, max_gaps: int = CHAT_GAPS, notice: str = "") -> str:
    """The report for a chat: verdict, scores (with change and benchmark), comparison, risks, top gaps with
    verbatim citations, 待确认, the plan, chapter 7's advice."""
    body = blocks_html(outline(report, detail=Detail.CHAT, max_gaps=max_gaps, notice=notice))
    return body + "\n\n发送 /export 获取完整报告（PDF、Markdown 与 JSON），/history 查看历次诊断，/restart 重新诊断。"


def history_label(entry: HistoryEntry) -> str:
    """A /history button: 「2026-12-01 · 基本具备，需补课 · 62 分」."""
    return f"{entry.created_at[:10]} · {VERDICT_LABELS.get(entry.verdict, entry.verdict)} · {entry.overall:.0f} 分"


def reminders_html(pending: Sequence[Reminder]) -> str:
    """What /reminders says."""
    if not pending:
        return "当前没有待发送的复诊提醒。报告下方的「30/60/90 天后提醒我复诊」按钮可以设置。"
    lines = ["<b>待发送的复诊提醒</b>"]
    lines += [f"• {r.due_date}（设置时选择 {r.days} 天后）" for r in pending]
    return "\n".join(lines)


REMINDER_TEXT = ("⏰ <b>复诊提醒</b>：距离你上次做私域准备度诊断已经 {days} 天了。"
                 "前置工作补得怎么样？再做一次诊断，新报告会和上次对比，显示哪些缺口已补上、哪些还在。")


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
