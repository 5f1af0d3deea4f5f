"""Charts: size, drawn data where the values put it, series colours, reference lines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from revelio.errors import InputError
from revelio.render import SERIES_COLORS, bar_chart, line_chart
from revelio.render.charts import format_value, nice_ticks


def _pixels(chart: torch.Tensor) -> np.ndarray:
    assert chart.dtype == torch.float32 and chart.min() >= 0 and chart.max() <= 1
    return (chart.permute(1, 2, 0).numpy() * 255).round().astype(np.int32)


def _near(pixels: np.ndarray, color, tolerance: int = 40) -> np.ndarray:
    return np.abs(pixels - np.array(color)).sum(axis=2) <= tolerance


def _line_rows(pixels: np.ndarray, color) -> np.ndarray:
    """Rows where a colour spans more than 150 pixels: a drawn line, not a legend swatch."""
    return np.flatnonzero(_near(pixels, color).sum(axis=1) > 150)


def test_line_chart_draws_each_series_where_its_values_are():
    xs = list(range(10))
    chart = line_chart(
        {"low": (xs, [0.25] * 10), "high": (xs, [0.75] * 10)},
        title="Similarity", xlabel="layer", ylabel="rank correlation", ylim=(0.0, 1.0),
    )  # fmt: skip
    assert chart.shape == (3, 320, 480)
    pixels = _pixels(chart)
    assert (pixels == 255).all(axis=2).mean() > 0.6  # mostly white background
    low, high = _line_rows(pixels, SERIES_COLORS[0]), _line_rows(pixels, SERIES_COLORS[1])
    assert low.size and high.size
    # y grows downwards; 0.25 sits three times as far below the 1.0 line as 0.75 does
    axis_rows = np.flatnonzero(_near(pixels, (60, 60, 60), 10).sum(axis=1) > 300)
    bottom = axis_rows.max()
    top = bottom - (low.mean() - high.mean()) * 2
    assert high.mean() < low.mean()
    assert (bottom - low.mean()) == pytest.approx((bottom - top) * 0.25, abs=2)
    assert np.abs(_near(pixels, SERIES_COLORS[2]).sum()) == 0  # no third colour without a third series


def test_line_chart_gaps_markers_and_category_ticks():
    names = [f"features.{i}" for i in range(0, 30, 2)]
    values = [0.9 - 0.05 * i for i in range(15)]
    values[7] = float("nan")
    chart = line_chart({"ssim": (list(range(15)), values)}, xticks=names, size=(400, 300), ylim=(0, 1))
    pixels = _pixels(chart)
    assert chart.shape == (3, 300, 400)
    drawn = _near(pixels, SERIES_COLORS[0]).sum(axis=0)
    columns = np.flatnonzero(drawn)
    gap = [c for c in range(columns.min(), columns.max()) if drawn[c] == 0]
    assert gap, "a NaN value leaves a gap in the line"
    # long names turn vertical: text reaches far below the plot
    assert (pixels[200:, :] < 128).all(axis=2).sum(axis=1).nonzero()[0].size > 40
    plain = line_chart({"ssim": (list(range(15)), values)}, size=(400, 300), ylim=(0, 1))
    assert not torch.equal(chart, plain)


def test_line_chart_with_many_series_cycles_distinct_colours():
    assert len(set(SERIES_COLORS)) == len(SERIES_COLORS) >= 6
    series = {f"s{i}": ([0, 1], [i, i + 1]) for i in range(len(SERIES_COLORS))}
    pixels = _pixels(line_chart(series))
    for color in SERIES_COLORS:
        assert (np.abs(pixels - np.array(color)).sum(axis=2) == 0).sum() > 20


@pytest.mark.parametrize(
    "series, options, match",
    [
        ({}, {}, "non-empty"),
        ({"a": ([0, 1, 2], [1, 2])}, {}, "3 x values but 2 y values"),
        ({"a": [1, 2]}, {}, r"pair \(xs, ys\)"),
        ({"a": ([0, 1], ["x", "y"])}, {}, "numbers"),
        ({"a": ([0, 1], [0, 1])}, {"ylim": (1, 0)}, "ylim"),
        ({"a": ([0, 1], [0, 1])}, {"size": (50, 50)}, "at least"),
    ],
)
def test_line_chart_errors(series, options, match):
    with pytest.raises(InputError, match=match):
        line_chart(series, **options)


def _bar_heights(pixels: np.ndarray, color) -> list[int]:
    """Height in pixels of each bar of one colour, left to right (legend swatches excluded)."""
    counts = (np.abs(pixels - np.array(color)).sum(axis=2) == 0).sum(axis=0)
    heights, run = [], []
    for count in counts:
        if count > 15:
            run.append(count)
        elif run:
            heights.append(int(np.median(run)))
            run = []
    return heights


def test_bar_heights_follow_the_values():
    chart = bar_chart(["a", "b", "c"], {"revelio": [10.0, 20.0, 40.0], "peer": [40.0, None, 10.0]}, ylabel="img/s")
    assert chart.shape == (3, 360, 640)
    pixels = _pixels(chart)
    ours, theirs = _bar_heights(pixels, SERIES_COLORS[0]), _bar_heights(pixels, SERIES_COLORS[1])
    assert len(ours) == 3 and len(theirs) == 2  # the missing bar is not drawn
    assert ours[1] == pytest.approx(2 * ours[0], abs=2) and ours[2] == pytest.approx(4 * ours[0], abs=2)
    assert theirs == [ours[2], ours[0]]


def test_log_bars_grow_by_decades():
    pixels = _pixels(bar_chart(["a", "b", "c"], {"s": [1.0, 10.0, 100.0]}, log=True))
    heights = _bar_heights(pixels, SERIES_COLORS[0])  # from 0.1: one, two, three decades
    assert heights[1] == pytest.approx(2 * heights[0], abs=2)
    assert heights[2] == pytest.approx(3 * heights[0], abs=2)


def test_reference_line_sits_at_its_value():
    chart = bar_chart(["a", "b"], {"s": [10.0, 10.0]}, hline=5.0, hline_label="floor")
    pixels = _pixels(chart)
    bar = np.abs(pixels - np.array(SERIES_COLORS[0])).sum(axis=2) == 0
    column = np.flatnonzero(bar.sum(axis=0) > 15)[3]
    rows = np.flatnonzero(bar[:, column])
    dark = (pixels < 100).all(axis=2)
    dashed = [r for r in range(pixels.shape[0]) if 20 < dark[r].sum() < 0.8 * pixels.shape[1]]
    middle = (rows.min() + rows.max()) / 2
    assert any(abs(r - middle) <= 2 for r in dashed)
    without = _pixels(bar_chart(["a", "b"], {"s": [10.0, 10.0]}))
    assert (pixels != without).any(axis=2).sum() > 100


def test_negative_bars_hang_below_zero():
    pixels = _pixels(bar_chart(["a", "b"], {"s": [-5.0, 10.0]}))
    bar = np.abs(pixels - np.array(SERIES_COLORS[0])).sum(axis=2) == 0
    columns = np.flatnonzero(bar.sum(axis=0) > 15)
    left, right = columns[columns < 320], columns[columns >= 320]
    negative, positive = np.flatnonzero(bar[:, left[2]]), np.flatnonzero(bar[:, right[2]])
    assert negative.min() >= positive.max() - 1  # the negative bar starts where the positive one ends
    assert positive.size == pytest.approx(2 * negative.size, abs=2)


@pytest.mark.parametrize(
    "groups, series, options, match",
    [
        ([], {"s": []}, {}, "at least one group"),
        (["a"], {}, {}, "non-empty"),
        (["a", "b"], {"s": [1.0]}, {}, "1 values for 2 groups"),
        (["a"], {"s": [1.0]}, {"hline": 0.0, "log": True}, "> 0 on a log axis"),
    ],
)
def test_bar_chart_errors(groups, series, options, match):
    with pytest.raises(InputError, match=match):
        bar_chart(groups, series, **options)


def test_tick_and_value_formatting():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3.0, 97.0) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert [format_value(v) for v in (0, 0.5, 12.34, 1234.5, 15000, 2.5e6, -3.0)] == [
        "0", "0.5", "12.3", "1234", "15k", "2.5M", "-3",
    ]  # fmt: skip
    assert all(math.isfinite(t) for t in nice_ticks(5.0, 5.0))
