"""The radar chart's layout: value labels never overlap the axis labels, the radial tick labels or each other."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from bot.report.chart import VALUE_LABEL_GID, radar_figure, radar_png
from bot.report.pdf import RADAR_INCHES

LABELS = ("战略目标", "用户洞察", "前期调研", "内容触点", "流量渠道", "组织流程", "长期心态")
SCORES = {
    "all-0": [0.0] * 7,
    "all-50": [50.0] * 7,
    "all-100": [100.0] * 7,
    "mixed": [100.0, 0.0, 100.0, 33.3, 66.7, 100.0, 8.0],
    "near-ticks": [25.0, 50.0, 75.0, 100.0, 24.0, 76.0, 99.0],
}


def _draw(fig: Figure) -> Any:
    assert isinstance(fig.canvas, FigureCanvasAgg), "radar_figure should come on an Agg canvas"
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _value_labels(fig: Figure) -> list[Text]:
    ax = fig.axes[0]
    return [t for t in ax.texts if t.get_gid() == VALUE_LABEL_GID]


def _boxes(texts: Sequence[Text], renderer: Any) -> list[tuple[str, Bbox]]:
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text()]


def _overlaps(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("size", [6.0, RADAR_INCHES], ids=["chat", "print"])
@pytest.mark.parametrize("band", [False, True], ids=["single", "team-band"])
@pytest.mark.parametrize("case", list(SCORES))
def test_value_labels_never_overlap_axis_labels_or_each_other(case: str, band: bool, size: float) -> None:
    scores = SCORES[case]
    spread = ([max(0.0, s - 30) for s in scores], [min(100.0, s + 20) for s in scores]) if band else None
    fig = radar_figure(LABELS, scores, title="私域启动准备度（尚未准备好）", band=spread, size=size)
    renderer = _draw(fig)
    ax = fig.axes[0]
    values = _boxes(_value_labels(fig), renderer)
    assert [text for text, _ in values] == [f"{s:.0f}" for s in scores]
    axis_labels = _boxes(ax.get_xticklabels(), renderer)
    assert [text for text, _ in axis_labels] == list(LABELS)
    others = axis_labels + _boxes(ax.get_yticklabels(), renderer) + _boxes([ax.title], renderer)
    for (value, vbox), (other, obox) in itertools.product(values, others):
        assert not _overlaps(vbox, obox), f"{case}: value label {value!r} overlaps {other!r}"
    for (a, abox), (b, bbox) in itertools.combinations(values, 2):
        assert not _overlaps(abox, bbox), f"{case}: value labels {a!r} and {b!r} overlap"
    for (a, abox), (b, bbox) in itertools.combinations(axis_labels + _boxes([ax.title], renderer), 2):
        assert not _overlaps(abox, bbox), f"{case}: {a!r} and {b!r} overlap"


@pytest.mark.parametrize("size", [6.0, RADAR_INCHES])
def test_axis_labels_stay_outside_the_plot_circle(size: float) -> None:
    fig = radar_figure(LABELS, [100.0] * 7, size=size)
    renderer = _draw(fig)
    ax = fig.axes[0]
    centre = ax.transData.transform((0.0, 0.0))
    radius = ax.transData.transform((0.0, 100.0))[1] - centre[1]
    for text, box in _boxes(ax.get_xticklabels(), renderer):
        nearest_x = min(max(centre[0], box.x0), box.x1)
        nearest_y = min(max(centre[1], box.y0), box.y1)
        distance = ((nearest_x - centre[0]) ** 2 + (nearest_y - centre[1]) ** 2) ** 0.5
        assert distance > radius, f"axis label {text!r} reaches into the chart"


def test_radar_png_is_a_png() -> None:
    png = radar_png(LABELS, SCORES["mixed"], title="私域启动准备度")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
