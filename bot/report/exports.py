"""What an export consists of — the radar chart, the PDF, the Markdown and the JSON — for every front end."""

from __future__ import annotations

from dataclasses import dataclass

from bot.report.markdown import report_json, report_markdown
from bot.report.model import Report, TeamReport


@dataclass(frozen=True)
class ExportFile:
    """One file of an export."""

    name: str
    data: bytes
    caption: str


def radar_for(report: Report, *, size: float | None = None, dpi: float | None = None) -> bytes:
    """The radar chart: the scores, and for a team the band between its lowest and highest member; `size`
    (inches) and `dpi` draw it for print (the PDF), the defaults for a chat."""
    from bot.report.chart import CHAT_INCHES, figure_png, radar_figure  # matplotlib only when a chart is drawn

    labels = [d.title for d in report.dimensions]
    scores = [d.score for d in report.dimensions]
    inches = CHAT_INCHES if size is None else size
    if not isinstance(report, TeamReport):
        return figure_png(radar_figure(labels, scores, title=f"{report.title}（{report.verdict_label}）", size=inches),
                          dpi=dpi)
    team = {d.id: d for d in report.team_dimensions}
    lows = [team[d.id].min if d.id in team else None for d in report.dimensions]
    highs = [team[d.id].max if d.id in team else None for d in report.dimensions]
    band = None
    if all(v is not None for v in lows + highs):
        band = ([float(v or 0) for v in lows], [float(v or 0) for v in highs])
    return figure_png(radar_figure(labels, scores, title=f"团队诊断（{report.verdict_label}）", band=band, size=inches),
                      dpi=dpi)


def export_files(report: Report) -> list[ExportFile]:
    """report.pdf, report.md and report.json (team-report-… for a team), named with the report's date."""
    from bot.report.pdf import RADAR_DPI, RADAR_INCHES, report_pdf

    team = isinstance(report, TeamReport)
    stem = f"{'team-report' if team else 'report'}-{report.created_at[:10]}"
    who = "团队报告" if team else "报告"
    printed = radar_for(report, size=RADAR_INCHES, dpi=RADAR_DPI)  # sized for paper: labels ≥ 9 pt
    return [
        ExportFile(f"{stem}.pdf", report_pdf(report, radar=printed), f"{who}（PDF，一页摘要 + 详细内容）"),
        ExportFile(f"{stem}.md", report_markdown(report).encode(), f"完整{who}（Markdown）"),
        ExportFile(f"{stem}.json", report_json(report).encode(), f"完整{who}（JSON）"),
    ]
