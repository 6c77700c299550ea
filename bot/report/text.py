"""The report as plain text for the terminal (no Markdown marks): a layout of `bot.report.outline`'s blocks."""

from __future__ import annotations

from bot.report.model import Report
from bot.report.outline import Block, Detail, footer, outline


def _block(block: Block) -> list[str]:
    out: list[str] = []
    if block.kind == "headline":
        out.append(block.heading)
    elif block.heading:
        out.append(f"【{block.heading}】")
    indent = "" if block.kind in ("headline", "notice") else "  "
    out += [f"{indent}{line}" for line in block.lines]
    for entry in block.entries:
        out.append(f"  {entry.title}")
        out += [f"     {line}" for line in entry.lines]
        if entry.quote:
            out.append(f"     原文：「{entry.quote.text}」——{entry.quote.source}")
    if block.rows:
        header, *rows = block.rows
        out += [f"  {row[0]}\n     → {row[-1]}" for row in rows] if len(header) > 2 else \
            [f"  {'：'.join(row)}" for row in rows]
    if block.quote:
        out.append(f"  「{block.quote.text}」——{block.quote.source}")
    return out


def report_text(report: Report, *, detail: Detail = Detail.CHAT, max_gaps: int | None = None,
                notice: str = "") -> str:
    """The report as plain text; the chat detail shows the top gaps and the plan without its to-dos."""
    lines = [f"===== {report.title} ====="]
    for block in outline(report, detail=detail, max_gaps=max_gaps, notice=notice):
        lines += _block(block)
        lines.append("")
    lines.append(footer(report))
    return "\n".join(lines) + "\n"
