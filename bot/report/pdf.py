"""The report as a PDF: A4 portrait, Noto Sans CJK embedded (fpdf2); page 1 is the printable one-page summary, the
pages after it hold every detail and citation.

Chinese text is wrapped here, not by fpdf2: lines break between any two characters except where Chinese typesetting
forbids it (no line starts with ，。）」 and the like, none ends with an opening bracket), and Latin words and numbers
stay whole. Every line is measured before it is drawn, which is how page 1 is kept to one page: the summary shows
the first action of each step for certain, then as many more as fit, and says how many are on the detail pages.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import TextMode, XPos, YPos
from fpdf.fonts import TTFFont

from bot.errors import BotError
from bot.interview.scoring import NOT_READY_DIMENSION, READY_MIN_DIMENSION, SEVERITY_LABELS, VERDICT_LABELS
from bot.report import section_label
from bot.report.chart import cjk_font_path, figure_png, radar_figure
from bot.report.model import Benchmark, GapItem, PlanItem, Previous, Report
from bot.report.outline import SECTION_NOTE

logger = logging.getLogger(__name__)

SUMMARY_GAPS = 5  # gaps page 1 lists; the detail pages list them all
KIND_LABELS = {"gap": "补缺口", "confirm": "先确认", "watch": "持续关注"}

_FONT = "NotoSansCJK"
_MARGIN = 14.0  # mm, left / right / top
_FOOTER_SPACE = 16.0  # mm kept free at the bottom of every page for the footer
RADAR_INCHES = 3.2  # the summary draws its chart this small, so the 12 pt labels still read at ~9 pt on paper
RADAR_DPI = 220
_PT = 25.4 / 72  # mm per point
_LEADING = 1.5  # line height / font size

_H1, _H2, _H3, _BODY, _SMALL = 18.0, 13.0, 10.5, 9.5, 9.0  # pt; nothing that is read is smaller than 9 pt

Colour = tuple[int, int, int]
_INK: Colour = (33, 37, 41)
_MUTED: Colour = (108, 117, 125)
_RULE: Colour = (206, 212, 218)
_PANEL: Colour = (244, 246, 247)
_ACCENT: Colour = (42, 157, 143)  # the radar chart's teal
_ACCENT_DARK: Colour = (29, 111, 101)
_WHITE: Colour = (255, 255, 255)
_SEVERITY_COLOURS: dict[str, Colour] = {"high": (192, 57, 43), "medium": (230, 126, 34), "low": (127, 140, 141)}
_PENDING_COLOUR: Colour = (142, 124, 195)
_VERDICT_COLOURS: dict[str, tuple[Colour, Colour]] = {  # (text, panel)
    "ready": ((30, 132, 73), (233, 247, 239)),
    "partly": ((183, 110, 0), (254, 245, 231)),
    "not_ready": ((192, 57, 43), (253, 237, 236)),
}
_GOOD: Colour = (39, 174, 96)
_FAIR: Colour = (230, 160, 40)
_POOR: Colour = (192, 57, 43)

_NO_LINE_START = frozenset("，。、；：？！）」』】》〉”’…·%,.;:?!)]}")
_NO_LINE_END = frozenset("（「『【《〈“‘([{")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,%/+_'&-]*|\s+|.")
_NUMERALS = "一二三四五六七八九十"

Block = Callable[[bool], float]  # draws a block (or, given dry=True, only measures it) and returns its height


def _date(iso: str) -> str:
    """'2026-12-01' from an ISO timestamp (the text itself when it is not one)."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d")
    except ValueError:
        return iso


def _arrow(change: float | None) -> str:
    """'↑ +12', '↓ -5', '→ 0' or '—' (no earlier score)."""
    if change is None:
        return "—"
    if round(change) > 0:
        return f"↑ +{change:.0f}"
    if round(change) < 0:
        return f"↓ {change:.0f}"
    return "→ 0"


def _score_colour(score: float) -> Colour:
    """The bar colour of a dimension score, by the verdict's own thresholds."""
    if score < NOT_READY_DIMENSION:
        return _POOR
    return _FAIR if score < READY_MIN_DIMENSION else _GOOD


def _gap_colour(gap: GapItem) -> Colour:
    """The tag colour of a gap."""
    return _PENDING_COLOUR if gap.unknown else _SEVERITY_COLOURS.get(gap.severity, _MUTED)


def _plan_colour(item: PlanItem) -> Colour:
    """The bullet colour of a plan item."""
    if item.kind == "confirm":
        return _PENDING_COLOUR
    if item.kind == "watch":
        return _ACCENT
    return _SEVERITY_COLOURS.get(item.severity, _MUTED)


class _Document(FPDF):
    """An A4 page set in Noto Sans CJK, with a footer on every page and the measuring and drawing helpers below."""

    def __init__(self, font_path: str, *, footer: str, running_head: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.add_font(_FONT, "", font_path)
        font = self.fonts[_FONT.lower()]
        assert isinstance(font, TTFFont)  # add_font always loads a TrueType/OpenType font
        self._glyphs = font.cmap
        self.footer_text = footer
        self.running_head = running_head
        self.c_margin = 0  # padding is laid out explicitly
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(True, margin=_FOOTER_SPACE)
        self.set_font(_FONT, size=_BODY)

    # fpdf2 hooks --------------------------------------------------------------------------------------------------

    def normalize_text(self, text: str) -> str:
        """Drops characters the font has no glyph for (emoji in typed answers), so no box is ever printed."""
        kept = "".join(ch for ch in text if ord(ch) in self._glyphs or ch == " ")
        if len(kept) != len(text):
            logger.debug("dropped %d characters without a glyph", len(text) - len(kept))
        return super().normalize_text(kept)

    def header(self) -> None:
        """A running head on the detail pages."""
        if self.page_no() == 1:
            return
        self.set_xy(_MARGIN, 7)
        self.style(_SMALL, _MUTED)
        self.cell(self.epw, 5, self.running_head, align="R")
        self.set_xy(_MARGIN, _MARGIN)

    def footer(self) -> None:
        """The knowledge-base version, the date and the page number, above a thin rule."""
        y = self.h - _FOOTER_SPACE + 5
        self.rule(y, _RULE)
        self.set_xy(_MARGIN, y + 1.5)
        self.style(_SMALL, _MUTED)
        number = f"第 {self.page_no()} / {{nb}} 页"
        width = self.get_string_width(number) + 8
        for line in self.wrap(self.footer_text, self.epw - width)[:1]:
            self.cell(self.epw - width, 5, line)
        self.cell(width, 5, number, align="R")

    # style --------------------------------------------------------------------------------------------------------

    def style(self, size: float, colour: Colour) -> None:
        """Sets the font size (pt) and the text colour."""
        self.set_font(_FONT, size=size)
        self.set_text_color(*colour)

    @contextmanager
    def bold(self, colour: Colour) -> Iterator[None]:
        """Strokes the glyph outlines too: the font ships one weight, so headings are emboldened this way."""
        with self.local_context(text_mode=TextMode.FILL_STROKE, draw_color=colour, line_width=0.18):
            yield

    def rule(self, y: float, colour: Colour, width: float = 0.2) -> None:
        """A horizontal line across the text width."""
        self.set_draw_color(*colour)
        self.set_line_width(width)
        self.line(self.l_margin, y, self.w - self.r_margin, y)

    @staticmethod
    def line_height(size: float) -> float:
        """Line height in mm for a font size in points."""
        return size * _PT * _LEADING

    # measuring and wrapping ---------------------------------------------------------------------------------------

    def wrap(self, text: str, width: float) -> list[str]:
        """Splits `text` into lines no wider than `width` mm in the current font, by Chinese line-breaking rules."""
        lines: list[str] = []
        for paragraph in text.replace("\r\n", "\n").replace("\t", " ").split("\n"):
            tokens: list[str] = []
            for token in _TOKEN.findall(self.normalize_text(paragraph)):
                tokens += list(token) if self.get_string_width(token) > width else [token]
            line: list[str] = []
            for token in tokens:
                if not line and token.isspace():
                    continue
                if line and self.get_string_width("".join(line) + token) > width + 1e-6:
                    carry: list[str] = []
                    head = token
                    while head[0] in _NO_LINE_START and len(line) > 1:
                        head = line.pop()
                        carry.insert(0, head)
                    while len(line) > 1 and line[-1][-1] in _NO_LINE_END:
                        carry.insert(0, line.pop())
                    lines.append("".join(line).rstrip())
                    line = [t for t in carry if not t.isspace()] if carry else []
                    if token.isspace():
                        continue
                line.append(token)
            lines.append("".join(line).rstrip())
        return lines

    def text_height(self, text: str, width: float, size: float = _BODY) -> float:
        """Height in mm that `paragraph` would take."""
        self.set_font(_FONT, size=size)
        return len(self.wrap(text, width)) * self.line_height(size)

    # drawing ------------------------------------------------------------------------------------------------------

    def paragraph(self, text: str, *, size: float = _BODY, colour: Colour = _INK, x: float | None = None,
                  width: float | None = None, panel: Colour | None = None, bar: Colour | None = None,
                  strong: bool = False, align: str = "L", dry: bool = False) -> float:
        """Draws wrapped text at the cursor (breaking pages between lines) and returns its height; `dry` only
        measures."""
        x0 = self.l_margin if x is None else x
        w = self.w - self.r_margin - x0 if width is None else width
        inner = w - (6 if panel or bar else 0)
        self.style(size, colour)
        lh = self.line_height(size)
        lines = self.wrap(text, inner) if text else []
        if dry:
            return len(lines) * lh
        for line in lines:
            if self.will_page_break(lh):
                self.add_page()
            y = self.y
            if panel:
                self.set_fill_color(*panel)
                self.rect(x0, y, w, lh, style="F")
            if bar:
                self.set_fill_color(*bar)
                self.rect(x0, y, 0.9, lh, style="F")
            self.set_xy(x0 + (w - inner) / 2 + (1 if bar else 0), y)
            self.style(size, colour)
            if strong:
                with self.bold(colour):
                    self.cell(inner, lh, line, align=align)
            else:
                self.cell(inner, lh, line, align=align)
            self.set_xy(x0, y + lh)
        return len(lines) * lh

    def labelled(self, label: str, text: str, *, x: float, label_width: float = 25.0, colour: Colour = _INK,
                 dry: bool = False) -> float:
        """A muted label in a hanging column with its text wrapped beside it; returns the height (0 for no text)."""
        if not text:
            return 0.0
        width = self.w - self.r_margin - x - label_width
        if dry:
            return self.paragraph(text, x=x + label_width, width=width, dry=True)
        if self.will_page_break(self.line_height(_BODY)):
            self.add_page()
        y = self.y
        if label:
            self.set_xy(x, y)
            self.style(_SMALL, _MUTED)
            self.cell(label_width, self.line_height(_BODY), label)
        self.set_xy(x + label_width, y)
        return self.paragraph(text, x=x + label_width, width=width, colour=colour)

    def pill(self, x: float, y: float, text: str, colour: Colour, *, size: float = _SMALL,
             width: float | None = None, dry: bool = False) -> float:
        """A filled rounded tag with white text; returns its width."""
        self.style(size, _WHITE)
        w = width if width is not None else self.get_string_width(text) + 3
        if dry:
            return w
        h = self.line_height(size) - 0.6
        self.set_fill_color(*colour)
        self.rect(x, y + 0.3, w, h, style="F", round_corners=True, corner_radius=1)
        self.set_xy(x, y + 0.3)
        self.cell(w, h, text, align="C")
        return w

    def space(self, mm: float, *, dry: bool = False) -> float:
        """Moves the cursor down (never past the page end); returns `mm`."""
        if not dry:
            self.set_y(min(self.y + mm, self.page_break_trigger))
        return mm

    def measure(self, draw: Block) -> float:
        """The height `draw` would take, leaving the cursor where it was."""
        x, y = self.x, self.y
        height = draw(True)
        self.set_xy(x, y)
        return height

    def keep_together(self, draw: Block) -> None:
        """Measures the block, starts a new page when it would be split (and fits on one), then draws it."""
        height = self.measure(draw)
        if height <= self.page_break_trigger - self.t_margin and self.will_page_break(height):
            self.add_page()
        draw(False)

    def heading(self, text: str, *, size: float = _H2, colour: Colour = _ACCENT_DARK, rule: bool = True,
                keep: float = 40.0) -> None:
        """A section heading, moved to a new page unless `keep` mm of what follows fit beneath it."""
        lh = self.line_height(size)
        if self.will_page_break(lh + keep):
            self.add_page()
        elif self.y > self.t_margin + 1:
            self.space(2.5)
        self.paragraph(text, size=size, colour=colour, strong=True)
        if rule:
            self.rule(self.y + 0.5, colour, 0.35)
            self.space(2.5)
        else:
            self.space(0.8)


class _Table:
    """A table of wrapped cells whose rows are never split and whose header repeats on a new page."""

    def __init__(self, pdf: _Document, headers: Sequence[str], widths: Sequence[float],
                 aligns: Sequence[str] | None = None) -> None:
        self.pdf, self.headers, self.widths = pdf, list(headers), list(widths)
        self.aligns = list(aligns) if aligns else ["L"] * len(widths)
        self.striped = False

    def _row_height(self, cells: Sequence[str]) -> float:
        return max(self.pdf.text_height(c, w - 2, _BODY) for c, w in zip(cells, self.widths, strict=True)) + 2

    def _draw(self, cells: Sequence[str], *, header: bool, colours: Sequence[Colour] | None = None) -> None:
        pdf = self.pdf
        height = self._row_height(cells)
        y, x = pdf.y, pdf.l_margin
        if header:
            pdf.set_fill_color(*_ACCENT_DARK)
            pdf.rect(x, y, sum(self.widths), height, style="F")
        elif self.striped:
            pdf.set_fill_color(*_PANEL)
            pdf.rect(x, y, sum(self.widths), height, style="F")
        for i, (cell, width) in enumerate(zip(cells, self.widths, strict=True)):
            pdf.set_xy(x + 1, y + 1)
            colour = _WHITE if header else (colours[i] if colours else _INK)
            pdf.paragraph(cell, x=x + 1, width=width - 2, colour=colour, align=self.aligns[i])
            x += width
        pdf.set_xy(pdf.l_margin, y + height)
        if not header:
            pdf.rule(pdf.y, _RULE, 0.15)
            self.striped = not self.striped

    def header(self) -> None:
        """Draws the header row (with the first row's room checked by `row`)."""
        self._draw(self.headers, header=True)

    def row(self, cells: Sequence[str], colours: Sequence[Colour] | None = None) -> None:
        """Draws one row, on a new page (header repeated) when it would not fit."""
        height = self._row_height(cells)
        if self.pdf.will_page_break(height):
            self.pdf.add_page()
            self.header()
        self._draw(cells, header=False, colours=colours)


# page 1 -----------------------------------------------------------------------------------------------------------


def _summary_head(pdf: _Document, report: Report) -> None:
    """Title and date above an accent rule."""
    pdf.set_xy(_MARGIN, _MARGIN)
    pdf.style(_H1, _INK)
    date = f"诊断日期 {_date(report.created_at)}"
    date_w = pdf.get_string_width(date) + 4
    with pdf.bold(_INK):
        pdf.cell(pdf.epw - date_w, pdf.line_height(_H1), report.title)
    pdf.style(_BODY, _MUTED)
    pdf.cell(date_w, pdf.line_height(_H1), date, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.rule(pdf.y + 0.5, _ACCENT, 0.6)
    pdf.space(4)


def _verdict_panel(pdf: _Document, report: Report, x: float, width: float) -> None:
    """The verdict and the overall score in a panel tinted by the verdict."""
    text, panel = _VERDICT_COLOURS.get(report.verdict, (_INK, _PANEL))
    y, height = pdf.y, 22.0
    pdf.set_fill_color(*panel)
    pdf.rect(x, y, width, height, style="F", round_corners=True, corner_radius=2)
    pdf.set_fill_color(*text)
    pdf.rect(x, y, 1.6, height, style="F")
    pdf.set_xy(x + 5, y + 2.5)
    pdf.style(_SMALL, _MUTED)
    pdf.cell(40, 5, "结论")
    pdf.set_xy(x + 5, y + 8.5)
    pdf.style(16, text)
    with pdf.bold(text):
        pdf.cell(width - 40, 10, report.verdict_label)
    right = x + width - 5
    suffix = " /100"
    pdf.style(_SMALL, _MUTED)
    suffix_w = pdf.get_string_width(suffix)
    pdf.set_xy(right - 30, y + 2.5)
    pdf.cell(30, 5, "综合得分", align="R")
    pdf.set_xy(right - suffix_w, y + 12.6)
    pdf.cell(suffix_w, 5, suffix)
    pdf.set_xy(right - suffix_w - 30, y + 8)
    pdf.style(22, text)
    with pdf.bold(text):
        pdf.cell(30, 11, f"{report.overall:.0f}", align="R")
    pdf.set_xy(x, y + height + 4)


def _dimension_table(pdf: _Document, report: Report, x: float, width: float) -> None:
    """One row per dimension: title, section, score, a bar, and the change since last time."""
    pdf.set_x(x)
    pdf.paragraph("各维度得分", x=x, width=width, size=_H3, colour=_ACCENT_DARK, strong=True)
    pdf.space(0.8)
    if not report.dimensions:
        pdf.paragraph("（没有维度得分）", x=x, width=width, colour=_MUTED)
        return
    with_change = report.previous is not None
    title_w, section_w, score_w = 22.0, 11.0, 9.0
    change_w = 17.0 if with_change else 0.0
    bar_w = width - title_w - section_w - score_w - change_w - 4
    row = 6.2
    for d in report.dimensions:
        y = pdf.y
        pdf.set_xy(x, y)
        pdf.style(_BODY, _INK)
        title = pdf.wrap(d.title, title_w)[0]
        pdf.cell(title_w, row, title)
        pdf.style(_SMALL, _MUTED)
        pdf.cell(section_w, row, d.section)
        pdf.style(_BODY, _INK)
        pdf.cell(score_w, row, f"{d.score:.0f}", align="R")
        bar_x = x + title_w + section_w + score_w + 3
        pdf.set_fill_color(*_PANEL)
        pdf.rect(bar_x, y + 1.9, bar_w, 2.4, style="F", round_corners=True, corner_radius=1.2)
        filled = bar_w * max(0.0, min(d.score, 100.0)) / 100
        if filled > 0.3:
            pdf.set_fill_color(*_score_colour(d.score))
            pdf.rect(bar_x, y + 1.9, filled, 2.4, style="F", round_corners=True, corner_radius=1.2)
        if with_change:
            change = report.dimension_change(d.id)
            colour = _MUTED if change is None or round(change) == 0 else _GOOD if change > 0 else _POOR
            pdf.set_xy(x + width - change_w, y)
            pdf.style(_SMALL, colour)
            pdf.cell(change_w, row, _arrow(change), align="R")
        pdf.set_xy(x, y + row)
    if report.previous is not None:
        pdf.paragraph(f"箭头为相对上次诊断（{_date(report.previous.created_at)}）的变化。", x=x, width=width,
                      size=_SMALL, colour=_MUTED)


def _risk_line(pdf: _Document, report: Report, x: float, width: float) -> None:
    """The raised chapter-2 risk flags in one line (or that none is raised)."""
    pdf.space(1.5)
    triggered = report.triggered_risks
    if triggered:
        text = "风险信号：" + "；".join(f"{r.title}（{r.section}）" for r in triggered)
        pdf.paragraph(text, x=x, width=width, size=_SMALL, colour=_POOR)
    else:
        pdf.paragraph("风险信号：未发现第二章所述三大典型失败场景的明显信号。", x=x, width=width, size=_SMALL,
                      colour=_MUTED)


def _radar(pdf: _Document, report: Report, radar: bytes | None, x: float, y: float, size: float) -> float:
    """Places the radar chart in a `size` square; returns the height used (0 without dimensions)."""
    if radar is None and report.dimensions:
        titles, scores = [d.title for d in report.dimensions], [d.score for d in report.dimensions]
        radar = figure_png(radar_figure(titles, scores, size=RADAR_INCHES), dpi=RADAR_DPI)
    if not radar:
        return 0.0
    pdf.image(io.BytesIO(radar), x=x, y=y, w=size, h=size, keep_aspect_ratio=True)
    return size


def _summary_gaps(pdf: _Document, report: Report) -> None:
    """The top gaps: number, severity tag, what is missing, section."""
    shown = report.gaps[:SUMMARY_GAPS]
    total = len(report.gaps)
    title = f"最需要补上的前置工作（前 {len(shown)} 项，共 {total} 项）" if total > len(shown) else "最需要补上的前置工作"
    pdf.heading(title, size=_H3, rule=False)
    if not shown:
        pdf.paragraph("没有明显缺口：各项前置工作均已就绪。下面的计划列出需要持续关注的事项。", colour=_MUTED)
        return
    pill_w = 13.0
    for i, gap in enumerate(shown, 1):
        y = pdf.y
        pdf.style(_BODY, _MUTED)
        pdf.set_xy(_MARGIN, y)
        pdf.cell(5, pdf.line_height(_BODY), f"{i}.")
        pdf.pill(_MARGIN + 5, y, gap.severity_label, _gap_colour(gap), width=pill_w)
        section_w = 14.0
        text_x = _MARGIN + 5 + pill_w + 2.5
        pdf.set_xy(text_x, y)
        height = pdf.paragraph(gap.missing, x=text_x, width=pdf.w - _MARGIN - section_w - text_x)
        pdf.set_xy(pdf.w - _MARGIN - section_w, y)
        pdf.style(_SMALL, _MUTED)
        pdf.cell(section_w, pdf.line_height(_BODY), gap.section, align="R")
        pdf.set_xy(_MARGIN, y + height + 0.6)


def _plan_entry(pdf: _Document, item: PlanItem, *, dry: bool) -> float:
    """One action on page 1: a bullet, the action, its owner, and the done-criterion beneath; returns the height."""
    x_text = _MARGIN + 4
    owner = f"负责：{item.owner_role}" + (f" · {KIND_LABELS[item.kind]}" if item.kind in ("confirm", "watch") else "")
    pdf.style(_SMALL, _MUTED)
    owner_w = pdf.get_string_width(owner) + 2
    y = pdf.y
    if not dry:
        pdf.set_fill_color(*_plan_colour(item))
        pdf.ellipse(_MARGIN + 0.8, y + 1.6, 1.8, 1.8, style="F")
        pdf.set_xy(pdf.w - _MARGIN - owner_w, y)
        pdf.cell(owner_w, pdf.line_height(_BODY), owner, align="R")
        pdf.set_xy(x_text, y)
    height = pdf.paragraph(item.item, x=x_text, width=pdf.w - _MARGIN - owner_w - x_text, dry=dry)
    if item.done_when:
        height += pdf.paragraph(f"完成标准：{item.done_when}", x=x_text, size=_SMALL, colour=_MUTED, dry=dry)
    return height + pdf.space(1.2, dry=dry)


def _fit_plan(pdf: _Document, steps: dict[int, list[PlanItem]], room: float) -> set[int]:
    """Ids of the plan items page 1 has room for: each step's first, then the rest in order while they fit."""
    step_head = pdf.line_height(_H3) + 1.6
    heights = {id(item): _plan_entry(pdf, item, dry=True) for items in steps.values() for item in items}
    used = step_head * len(steps) + pdf.line_height(_SMALL) + 1  # step titles and the "more on page 2" line
    chosen: set[int] = set()
    firsts = [items[0] for items in steps.values() if items]
    rest = [item for items in steps.values() for item in items[1:]]
    for item in [*firsts, *rest]:
        if used + heights[id(item)] <= room:
            chosen.add(id(item))
            used += heights[id(item)]
    return chosen


def _summary_plan(pdf: _Document, report: Report) -> None:
    """The plan by step, as much as fits above the footer (each step's first action always)."""
    pdf.heading("行动计划", size=_H3, rule=False)
    steps: dict[int, list[PlanItem]] = {}
    for item in sorted(report.plan, key=lambda p: p.step):
        steps.setdefault(item.step, []).append(item)
    if not steps:
        pdf.paragraph("（暂无行动项）", colour=_MUTED)
        return
    chosen = _fit_plan(pdf, steps, pdf.page_break_trigger - pdf.y)
    hidden = 0
    for step, items in steps.items():
        visible = [item for item in items if id(item) in chosen]
        hidden += len(items) - len(visible)
        if not visible:
            continue
        pdf.space(0.8)
        more = f"（{len(visible)}/{len(items)} 项）" if len(visible) < len(items) else ""
        pdf.paragraph(report.step_title(step) + more, size=_H3, colour=_INK, strong=True)
        pdf.space(0.8)
        for item in visible:
            _plan_entry(pdf, item, dry=False)
    if hidden:
        pdf.paragraph(f"另有 {hidden} 项行动，见第 2 页起的完整计划。", size=_SMALL, colour=_MUTED)


def _summary(pdf: _Document, report: Report, radar: bytes | None) -> None:
    """Page 1, the one-page summary."""
    pdf.add_page()
    pdf.set_auto_page_break(False)  # page 1 is fitted by measuring; it must never spill over
    _summary_head(pdf, report)
    top = pdf.y
    left_w = 94.0
    _verdict_panel(pdf, report, _MARGIN, left_w)
    _dimension_table(pdf, report, _MARGIN, left_w)
    _risk_line(pdf, report, _MARGIN, left_w)
    left_bottom = pdf.y
    chart = 86.0
    used = _radar(pdf, report, radar, pdf.w - _MARGIN - chart, top - 2, chart)
    pdf.set_xy(_MARGIN, max(left_bottom, top - 2 + used) + 1)
    _summary_gaps(pdf, report)
    _summary_plan(pdf, report)
    pdf.set_auto_page_break(True, margin=_FOOTER_SPACE)


# detail pages -----------------------------------------------------------------------------------------------------


def _citation(pdf: _Document, quote: str, section: str, title: str, kb_version: str, *, dry: bool) -> float:
    """The verbatim quote in a tinted panel, under a line naming its section and the knowledge-base version."""
    if not quote:
        return 0.0
    source = f"指导原文 · 「{section_label(section, title)}」" + (f" · 知识库 {kb_version}" if kb_version else "")
    x = _MARGIN + 4
    return (pdf.space(0.8, dry=dry) + pdf.paragraph(source, x=x, size=_SMALL, colour=_MUTED, dry=dry)
            + pdf.space(0.4, dry=dry) + pdf.paragraph(quote, x=x, panel=_PANEL, bar=_ACCENT, dry=dry)
            + pdf.space(2.4, dry=dry))


def _gap_block(pdf: _Document, i: int, gap: GapItem) -> Block:
    """A gap in full: what, your answer, why, what to do, the guidance's words."""
    def draw(dry: bool) -> float:
        x = _MARGIN + 4
        height = pdf.space(1.5, dry=dry)
        y = pdf.y
        pdf.pill(_MARGIN, y + 0.4, gap.severity_label, _gap_colour(gap), width=15, dry=dry)
        pdf.set_xy(_MARGIN + 17, y)
        height += pdf.paragraph(f"{i}. {gap.missing}", x=_MARGIN + 17, size=_H3, strong=True, dry=dry)
        if gap.quote_section != gap.section or not gap.quote:  # else the citation below names the section
            height += pdf.paragraph(section_label(gap.section, gap.title), x=x, size=_SMALL, colour=_MUTED, dry=dry)
        height += pdf.space(0.8, dry=dry)
        why = f"{gap.why}（见 {gap.why_section}）" if gap.why_section else gap.why
        height += pdf.labelled("你的回答", gap.answer_label, x=x, dry=dry)
        height += pdf.labelled("为什么重要", why, x=x, dry=dry)
        height += pdf.labelled("该做的前置工作", gap.todo, x=x, dry=dry)
        height += _citation(pdf, gap.quote, gap.quote_section, gap.quote_title, gap.kb_version, dry=dry)
        return height + pdf.space(1, dry=dry)

    return draw


def _gaps_detail(pdf: _Document, report: Report, number: str) -> None:
    """Every gap, confirmed ones first, then the 待确认 ones."""
    known = [_gap_block(pdf, i, gap) for i, gap in enumerate(report.known_gaps, 1)]
    pending = [_gap_block(pdf, i, gap) for i, gap in enumerate(report.pending_gaps, len(known) + 1)]
    first = (known or pending)[:1]
    pdf.heading(f"{number}、缺口详情（共 {len(report.gaps)} 项）", keep=pdf.measure(first[0]) if first else 10)
    if not report.gaps:
        pdf.paragraph("没有明显缺口：每一项前置工作都已就绪。", colour=_MUTED)
        return
    for block in known:
        pdf.keep_together(block)
    if pending:
        pdf.heading("待确认（回答未知，可能是缺口）", size=_H3, colour=_PENDING_COLOUR, rule=False,
                    keep=pdf.measure(pending[0]))
        for block in pending:
            pdf.keep_together(block)


def _plan_block(pdf: _Document, item: PlanItem, questions: dict[str, str]) -> Block:
    """A plan item in full: owner, kind, severity, done-criterion, tasks, questions, citation."""
    def draw(dry: bool) -> float:
        x = _MARGIN + 4
        tags = [f"负责：{item.owner_role}", KIND_LABELS.get(item.kind, item.kind)]
        if item.severity:
            tags.append("严重度：" + SEVERITY_LABELS.get(item.severity, item.severity))
        tags.append(f"章节 {item.section}")
        height = pdf.space(1.2, dry=dry)
        if not dry:
            pdf.set_fill_color(*_plan_colour(item))
            pdf.ellipse(_MARGIN + 0.6, pdf.y + 1.9, 2, 2, style="F")
        height += pdf.paragraph(item.item, x=x, size=_H3, strong=True, dry=dry)
        height += pdf.paragraph(" · ".join(tags), x=x, size=_SMALL, colour=_MUTED, dry=dry)
        height += pdf.space(0.8, dry=dry)
        height += pdf.labelled("完成标准", item.done_when, x=x, dry=dry)
        for n, task in enumerate(item.tasks):
            height += pdf.labelled("具体要做" if n == 0 else "", "· " + task, x=x, dry=dry)
        asked = "；".join(questions.get(q, q) for q in item.questions)
        height += pdf.labelled("相关题目", asked, x=x, colour=_MUTED, dry=dry)
        return height + _citation(pdf, item.quote, item.quote_section, item.quote_title, item.kb_version, dry=dry)

    return draw


def _plan_detail(pdf: _Document, report: Report, number: str) -> None:
    """Every plan item, by step."""
    questions = {a.question_id: a.question or a.question_id for a in report.answers}
    steps: dict[int, list[Block]] = {}
    for item in sorted(report.plan, key=lambda p: p.step):
        steps.setdefault(item.step, []).append(_plan_block(pdf, item, questions))
    first = next(iter(steps.values()), [])[:1]
    step_head = pdf.line_height(_H3) + 3.3
    pdf.heading(f"{number}、行动计划（共 {len(report.plan)} 项）",
                keep=step_head + pdf.measure(first[0]) if first else 10)
    if not steps:
        pdf.paragraph("（暂无行动项）", colour=_MUTED)
        return
    for step, blocks in steps.items():
        pdf.heading(report.step_title(step), size=_H3, colour=_INK, rule=False, keep=pdf.measure(blocks[0]))
        for block in blocks:
            pdf.keep_together(block)


def _risks_detail(pdf: _Document, report: Report, number: str) -> None:
    """Each chapter-2 failure scenario, raised or not."""
    pdf.heading(f"{number}、风险信号（第二章三大典型失败场景）")
    if not report.risks:
        pdf.paragraph("（没有风险信号的评估）", colour=_MUTED)
        return
    for risk in report.risks:
        y = pdf.y
        if pdf.will_page_break(pdf.line_height(_BODY) + 1):
            pdf.add_page()
            y = pdf.y
        label, colour = ("已触发", _POOR) if risk.triggered else ("未触发", _GOOD)
        pdf.pill(_MARGIN, y, label, colour, width=15)
        pdf.set_xy(_MARGIN + 18, y)
        pdf.paragraph(section_label(risk.section, risk.title), x=_MARGIN + 18)
        pdf.space(1)


def _previous_detail(pdf: _Document, report: Report, previous: Previous, number: str) -> None:
    """Scores then and now per dimension, and the gaps closed and opened since."""
    pdf.heading(f"{number}、与上次诊断对比")
    before = VERDICT_LABELS.get(previous.verdict, previous.verdict)
    overall = report.overall - previous.overall
    pdf.paragraph(f"上次诊断 {_date(previous.created_at)}：" + (f"{before}，" if before else "")
                  + f"综合得分 {previous.overall:.0f}；本次：{report.verdict_label}，综合得分 {report.overall:.0f}"
                  + f"（{_arrow(overall)}）。")
    pdf.space(1.5)
    table = _Table(pdf, ["维度", "章节", "上次", "本次", "变化"], [60, 26, 30, 30, pdf.epw - 146],
                   ["L", "L", "R", "R", "R"])
    table.header()
    for d in report.dimensions:
        was = previous.score_of(d.id)
        change = report.dimension_change(d.id)
        colour = _INK if change is None or round(change) == 0 else _GOOD if change > 0 else _POOR
        table.row([d.title, d.section, "—" if was is None else f"{was:.0f}", f"{d.score:.0f}", _arrow(change)],
                  [_INK, _MUTED, _INK, _INK, colour])
    for title, items, empty in (("已补上的缺口", previous.gaps_closed, "（无）"), ("新出现的缺口", previous.new_gaps, "（无）")):
        pdf.space(1.5)
        pdf.paragraph(f"{title}（{len(items)} 项）", size=_H3, strong=True)
        for text in items or (empty,):
            pdf.paragraph(("· " + text) if items else text, x=_MARGIN + 4, colour=_INK if items else _MUTED)


def _benchmark_detail(pdf: _Document, report: Report, benchmark: Benchmark, number: str) -> None:
    """Where each dimension stands among other users (or why that is not shown)."""
    pdf.heading(f"{number}、同行基准")
    if benchmark.omitted:
        pdf.paragraph(f"本次不显示基准：{benchmark.omitted}", colour=_MUTED)
        return
    pdf.paragraph(f"与使用本诊断的其他 {benchmark.users} 家企业（各取最近一次诊断）相比。百分位为得分低于你的企业所占比例。")
    pdf.space(1.5)
    titles = {d.id: d.title for d in report.dimensions}
    table = _Table(pdf, ["维度", "你的得分", "百分位", "位置", "P25", "P50", "P75"],
                   [44, 24, 22, 28, 20, 20, pdf.epw - 158], ["L", "R", "R", "L", "R", "R", "R"])
    table.header()
    for d in benchmark.dimensions:
        table.row([titles.get(d.id, d.id), f"{d.score:.0f}", f"{d.percentile:.0f}%", d.band, f"{d.p25:.0f}",
                   f"{d.p50:.0f}", f"{d.p75:.0f}"])
    if not benchmark.dimensions:
        pdf.paragraph("（没有维度数据）", colour=_MUTED)


def _answers_detail(pdf: _Document, report: Report, number: str) -> None:
    """Every question with the answer chosen."""
    pdf.heading(f"{number}、全部回答（{len(report.answers)} 题）")
    if not report.answers:
        pdf.paragraph("（没有回答记录）", colour=_MUTED)
        return
    table = _Table(pdf, ["#", "题目", "章节", "回答"], [8, 110, 14, pdf.epw - 132])
    table.header()
    for i, a in enumerate(report.answers, 1):
        answer = a.label
        if a.pending and a.answer_text.strip():
            answer += f"（原话：{a.answer_text.strip()[:200]}）"
        colour = _PENDING_COLOUR if a.level is None else _INK
        table.row([str(i), a.question or a.question_id, a.section, answer], [_MUTED, _INK, _MUTED, colour])


def _closing(pdf: _Document, report: Report) -> None:
    """Chapter 7's closing words, quoted."""
    if not report.closing_quote:
        return
    source = f"——「{section_label(report.closing_section, report.closing_title)}」"

    def draw(dry: bool) -> float:
        if not dry:
            pdf.heading("最后", rule=False)
        return (pdf.line_height(_H2) + 3.3 + pdf.paragraph(report.closing_quote, size=_H3, panel=_PANEL, bar=_ACCENT,
                                                           dry=dry)
                + pdf.space(0.5, dry=dry) + pdf.paragraph(source, size=_SMALL, colour=_MUTED, align="R", dry=dry))

    pdf.keep_together(draw)


def _details(pdf: _Document, report: Report) -> None:
    """The detail pages, numbered in order, with only the parts the report has."""
    pdf.add_page()
    sections: list[Callable[[str], None]] = [
        lambda n: _gaps_detail(pdf, report, n),
        lambda n: _plan_detail(pdf, report, n),
        lambda n: _risks_detail(pdf, report, n),
    ]
    if report.previous is not None:
        previous = report.previous
        sections.append(lambda n: _previous_detail(pdf, report, previous, n))
    if report.benchmark is not None:
        benchmark = report.benchmark
        sections.append(lambda n: _benchmark_detail(pdf, report, benchmark, n))
    sections.append(lambda n: _answers_detail(pdf, report, n))
    for numeral, section in zip(_NUMERALS, sections, strict=False):
        section(numeral)
    _closing(pdf, report)
    pdf.space(3)
    pdf.paragraph(SECTION_NOTE, size=_SMALL, colour=_MUTED)


def report_pdf(report: Report, *, radar: bytes | None = None) -> bytes:
    """Renders the report as an A4 PDF: a one-page summary, then the details; `radar` is the chart PNG to show
    (None: drawn from the dimension scores)."""
    font = cjk_font_path()
    if font is None:
        raise BotError("no CJK font found: install cvttf-NotoSansCJK-Regular (a project dependency)")
    footer = f"知识库版本 {report.kb_version} · 生成于 {_date(report.created_at)}"
    pdf = _Document(font, footer=footer, running_head=f"{report.title} · {report.verdict_label} · 详情")
    pdf.set_title(report.title)
    pdf.set_lang("zh-CN")
    pdf.set_creator("siyu-readiness-bot")
    _summary(pdf, report, radar)
    _details(pdf, report)
    return bytes(pdf.output())
