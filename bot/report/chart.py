"""Radar chart of the dimension scores, with Chinese labels (Noto Sans CJK shipped by a PyPI package)."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

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
    from matplotlib import font_manager

    path = cjk_font_path()
    if path is None:
        logger.warning("no CJK font found: Chinese labels in charts will not render")
        return "DejaVu Sans"
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def radar_png(labels: Sequence[str], scores: Sequence[float], *, title: str = "",
              band: tuple[Sequence[float], Sequence[float]] | None = None) -> bytes:
    """A PNG radar chart of 0–100 scores; `band` = (min, max) per axis draws a team's spread."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    family = _font_family()
    n = len(labels)
    angles = [2 * math.pi * i / n for i in range(n)] + [0.0]
    fig = Figure(figsize=(6, 6), dpi=110)
    ax: Any = fig.add_subplot(projection="polar")  # a PolarAxes (the stubs type it as Axes)
    ax.set_theta_offset(math.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_ylim(0, 100)
    ax.set_yticks([25, 50, 75, 100])
    ax.set_yticklabels(["25", "50", "75", "100"], fontsize=8, color="#777777", family=family)
    ax.set_xticks(angles[:-1])
    ax.set_xticklabels(list(labels), fontsize=12, family=family)
    if band is not None:
        lo, hi = list(band[0]), list(band[1])
        ax.fill_between(angles, lo + lo[:1], hi + hi[:1], color="#f4a261", alpha=0.25, label="最低–最高")
    values = list(scores) + [scores[0]]
    ax.plot(angles, values, color="#2a9d8f", linewidth=2)
    ax.fill(angles, values, color="#2a9d8f", alpha=0.25)
    for angle, value in zip(angles[:-1], scores, strict=True):
        ax.annotate(f"{value:.0f}", (angle, value), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=9, family=family)
    if title:
        ax.set_title(title, fontsize=14, family=family, pad=18)
    if band is not None:
        ax.legend(loc="lower right", bbox_to_anchor=(1.15, -0.1), prop={"family": family, "size": 9})
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
