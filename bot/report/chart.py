"""Radar chart of the dimension scores, with Chinese labels (Noto Sans CJK shipped by a PyPI package)."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)
CHAT_INCHES = 6.0  # the chart sent in a chat (the PDF draws a smaller one for print)

VALUE_LABEL_GID = "value-label"  # marks the score annotations (tests find them by it)

_LINE_COLOUR = "#2a9d8f"
_AXIS_LABEL_PAD = 6.0  # points between the rim and an axis label (matplotlib adds 7 more)
_VALUE_INSET = 16.0  # points a value label's centre sits inside its vertex
_VALUE_MIN_R = 33.0  # points from the centre a value label keeps, so low scores do not pile up there
_ALIGN_SLACK = 0.3  # |cos|/|sin| below which a label is centred on that axis instead of edge-aligned

# System fonts used when the packaged one is missing (Debian fonts-noto-cjk, WenQuanYi).
_SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """Path of a font with Chinese glyphs: the packaged Noto Sans CJK first, then common system fonts."""
    try:
        import cvttf_NotoSansCJK_Regular as noto

        return str(noto.get_TTF_path())
    except (ImportError, FileNotFoundError):
        logger.warning("cvttf-NotoSansCJK-Regular is not installed; looking for a system CJK font")
    return next((p for p in _SYSTEM_CJK_FONTS if Path(p).exists()), None)


@lru_cache(maxsize=1)
def _font_family() -> str:
    """Registers the CJK font with matplotlib and returns its family name."""
    from matplotlib import font_manager

    path = cjk_font_path()
    if path is None:
        logger.warning("no CJK font found: Chinese labels in charts will not render")
        return "DejaVu Sans"
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _outward_alignment(theta: float) -> tuple[str, str]:
    """(ha, va) that put a label's near edge, not its centre, at an anchor on the rim at display angle `theta`."""
    dx, dy = math.cos(theta), math.sin(theta)
    ha = "left" if dx > _ALIGN_SLACK else "right" if dx < -_ALIGN_SLACK else "center"
    va = "bottom" if dy > _ALIGN_SLACK else "top" if dy < -_ALIGN_SLACK else "center"
    return ha, va


def radar_figure(labels: Sequence[str], scores: Sequence[float], *, title: str = "",
                 band: tuple[Sequence[float], Sequence[float]] | None = None, size: float = CHAT_INCHES) -> Figure:
    """Builds the radar chart as a matplotlib Figure on an Agg canvas, `size` inches square (fonts keep their
    point sizes, so a smaller figure reads larger when scaled to the same width); `radar_png` renders it.

    Layout, so that no text collides at any score: the axis labels sit outside the rim, aligned by their near edge;
    the value labels sit *inside* the polygon, pulled towards the centre from each vertex, and never closer to the
    centre than `_VALUE_MIN_R` (so seven zeros do not pile up); the radial tick labels run between two axes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    family = _font_family()
    n = len(labels)
    angles = [2 * math.pi * i / n for i in range(n)]
    fig = Figure(figsize=(size, size), dpi=110)
    FigureCanvasAgg(fig)  # so that fig.canvas.draw() lays the text out
    ax: Any = fig.add_subplot(projection="polar")  # a PolarAxes (the stubs type it as Axes)
    ax.apply_aspect()
    per_unit = ax.get_position().width * size * 72 / 2 / 100  # points per score unit along a radius
    ax.set_theta_offset(math.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_ylim(0, 100)
    ax.set_yticks([25, 50, 75, 100])
    ax.set_yticklabels(["25", "50", "75", "100"], fontsize=7, color="#888888", family=family)
    ax.set_rlabel_position(180 / n)  # halfway between the first two axes, away from every value label
    ax.set_xticks(angles)
    ax.set_xticklabels(list(labels), fontsize=12, family=family)
    ax.tick_params(axis="x", pad=_AXIS_LABEL_PAD)
    for label, angle in zip(ax.get_xticklabels(), angles, strict=True):
        ha, va = _outward_alignment(math.pi / 2 - angle)
        label.set_horizontalalignment(ha)
        label.set_verticalalignment(va)
    ax.grid(color="#d0d0d0", linewidth=0.8)
    ax.spines["polar"].set_color("#999999")
    closed = [*angles, angles[0]]
    if band is not None:
        lo, hi = list(band[0]), list(band[1])
        ax.fill_between(closed, lo + lo[:1], hi + hi[:1], color="#f4a261", alpha=0.25, label="最低–最高")
    values = [*scores, scores[0]]
    ax.plot(closed, values, color=_LINE_COLOUR, linewidth=2, clip_on=False)
    ax.fill(closed, values, color=_LINE_COLOUR, alpha=0.25)
    ax.scatter(angles, list(scores), color=_LINE_COLOUR, s=14, zorder=3, clip_on=False)
    for angle, value in zip(angles, scores, strict=True):
        radius = max(min(float(value), 100.0) - _VALUE_INSET / per_unit, _VALUE_MIN_R / per_unit)
        ax.text(angle, radius, f"{value:.0f}", ha="center", va="center", fontsize=9, family=family,
                color="#1d6f65", gid=VALUE_LABEL_GID, zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75})
    if title:
        ax.set_title(title, fontsize=14, family=family, pad=_AXIS_LABEL_PAD + 7 + 12 + 10)
    if band is not None:
        ax.legend(loc="lower right", bbox_to_anchor=(1.2, -0.14), prop={"family": family, "size": 9})
    return fig


def figure_png(fig: Figure, *, dpi: float | None = None) -> bytes:
    """Renders a Figure as PNG bytes, cropped to its content."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=dpi if dpi is not None else "figure")
    return buf.getvalue()


def radar_png(labels: Sequence[str], scores: Sequence[float], *, title: str = "",
              band: tuple[Sequence[float], Sequence[float]] | None = None) -> bytes:
    """A PNG radar chart of 0–100 scores; `band` = (min, max) per axis draws a team's spread."""
    return figure_png(radar_figure(labels, scores, title=title, band=band))
