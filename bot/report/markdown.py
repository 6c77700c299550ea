"""The report as Markdown (the export) and as JSON: a layout of `bot.report.outline`'s blocks."""

from __future__ import annotations

import json

from bot.report.model import Report, TeamReport
from bot.report.outline import Block, Detail, footer, outline


def report_json(report: Report) -> str:
    """report.json (UTF-8, indented)."""
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _block(block: Block) -> list[str]:
    out: list[str] = []
    if block.kind == "headline":
        out += [f"**{block.heading}**", ""]
    elif block.heading:
        out += [f"## {block.heading}", ""]
    out += [f"- {line}" if block.kind not in ("headline", "notice") else line for line in block.lines]
    if block.lines:
        out.append("")
    for entry in block.entries:
        out += [f"### {entry.title}", ""]
        out += [f"- {line}" for line in entry.lines]
        if entry.quote:
            out += [f"- 指导原文（{entry.quote.source}）：", "", f"  > {entry.quote.text}"]
        out.append("")
    if block.rows:
        header, *rows = block.rows
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
        out.append("")
    if block.quote:
        out += [f"> {block.quote.text}", ">", f"> ——{block.quote.source}", ""]
    return out


def report_markdown(report: Report, *, max_gaps: int | None = None, notice: str = "") -> str:
    """The whole report in Markdown; `max_gaps` limits the gap list (None = all, as in the export)."""
    title = f"团队版：{report.title}" if isinstance(report, TeamReport) else report.title
    lines = [f"# {title}", ""]
    for block in outline(report, detail=Detail.FULL, max_gaps=max_gaps, notice=notice):
        lines += _block(block)
    lines.append(f"_{footer(report)}_")
    return "\n".join(lines) + "\n"


def group_report_markdown(report: TeamReport) -> str:
    """The team report in Markdown (the same layout; the outline adds the team's blocks)."""
    return report_markdown(report)
