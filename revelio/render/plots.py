"""Charts as matplotlib figures: line charts and grouped bar charts, in the methods' colours.

Each function returns a :class:`matplotlib.figure.Figure` (or draws into the axes it is
given), so a chart can be restyled with matplotlib's own calls and saved in any format
matplotlib writes (``figure.savefig("chart.svg")``, ``.pdf``, ``.png``). The figures are
made without :mod:`matplotlib.pyplot`: no display or GUI backend is involved, nothing
is kept in a global figure list, and they draw the same on a machine without a screen.
:func:`save_chart` writes one atomically; :func:`chart_image` turns one into an image
tensor for :func:`~revelio.render.grid` or :class:`~revelio.render.HtmlReport`.

Series are coloured by :func:`~revelio.render.method_color` of their names unless
``colors`` says otherwise, so a method has one colour in every chart.

matplotlib is imported when a chart is drawn, never by ``import revelio``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from revelio.errors import InputError
from revelio.render.palette import method_color

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
"""Pixels per inch of :func:`chart_image` and of PNGs saved by :func:`save_chart`."""

def figure(size: tuple[float, float] = (6.4, 4.0), *, rows: int = 1, cols: int = 1) -> tuple[Figure, Any]:
    """A new matplotlib figure of ``size`` inches with ``rows x cols`` axes in revelio's style.

    The figure is laid out by matplotlib's constrained layout, so legends beside the
    axes and long tick labels get room.

    Returns:
        ``(figure, axes)``: one :class:`~matplotlib.axes.Axes` for one plot, else an array of them.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=True)
    for ax in np.atleast_1d(axes).flat:
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(True, color="#e1e1e1", linewidth=0.8)
        ax.set_axisbelow(True)
    return fig, axes


def _floats(values: Sequence[float] | Tensor | np.ndarray, what: str) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().to("cpu", torch.float64).flatten().tolist()
    if isinstance(values, (str, bytes)):
        raise InputError(f"{what} must be a sequence of numbers, got {values!r}")
    try:
        array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a sequence of numbers, got {values!r}") from None
    return np.where(np.isfinite(array), array, np.nan)


def format_value(value: float) -> str:
    """A short label for a number: about 3 significant digits, ``k`` / ``M`` for thousands / millions."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    xticks: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    dashed: Sequence[str] = (),
    markers: bool | None = None,
    legend: bool = True,
    size: tuple[float, float] = (6.4, 4.0),
    ax: Axes | None = None,
) -> Figure:
    """A line chart: one line per series.

    Args:
        series: name -> ``(xs, ys)``; ``None`` or NaN leaves a gap in the line.
        title, xlabel, ylabel: texts around the plot.
        ylim: ``(low, high)`` of the y axis (default: the data's range).
        xticks: labels of the x positions ``0, 1, ...`` (categories), replacing numbers.
        colors: name -> ``"#rrggbb"``; a name not in it takes
            :func:`~revelio.render.method_color` of the name.
        dashed: names drawn dashed (references, baselines).
        markers: a dot at each point (default: when a series has at most 40 points).
        legend: draw the legend (right of the plot).
        size: ``(width, height)`` in inches of a new figure (100 pixels each in PNGs).
        ax: axes to draw into, instead of a new figure.

    Returns:
        the figure drawn into.

    Raises:
        InputError: series that are not pairs of number sequences of one length, or a bad ``ylim``.
    """
    if not isinstance(series, Mapping) or not series:
        raise InputError("series must be a non-empty mapping name -> (xs, ys)")
    data = []
    for name, pair in series.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InputError(f"series {name!r} must be a pair (xs, ys) of sequences of numbers, got {pair!r}")
        xs, ys = _floats(pair[0], f"xs of series {name!r}"), _floats(pair[1], f"ys of series {name!r}")
        if len(xs) != len(ys):
            raise InputError(f"series {name!r} has {len(xs)} x values but {len(ys)} y values; give one y per x")
        data.append((str(name), xs, ys))
    if ylim is not None:
        low, high = (float(v) for v in ylim)
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise InputError(f"ylim must be (low, high) with low < high, got {ylim!r}")
    fig, ax = (ax.figure, ax) if ax is not None else figure(size)
    for name, xs, ys in data:
        dots = markers if markers is not None else len(xs) <= 40
        ax.plot(xs, ys, color=(colors or {}).get(name) or method_color(name), linewidth=1.8,
                linestyle="--" if name in dashed else "-", marker="o" if dots else None, markersize=3.5,
                label=name)  # fmt: skip
    if ylim is not None:
        ax.set_ylim(low, high)
    if xticks is not None:
        rotate = sum(len(str(t)) for t in xticks) > 36
        ax.set_xticks(range(len(xticks)), [str(t) for t in xticks], rotation=25 if rotate else 0,
                      ha="right" if rotate else "center")  # fmt: skip
    _labels(ax, title, xlabel, ylabel)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return fig


def bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    ylabel: str = "",
    log: bool = False,
    hline: float | None = None,
    hline_label: str = "",
    colors: Mapping[str, str] | None = None,
    group_colors: Mapping[str, str] | None = None,
    hatches: Mapping[str, str] | None = None,
    values: bool = True,
    legend: bool = True,
    size: tuple[float, float] = (7.2, 4.0),
    ax: Axes | None = None,
) -> Figure:
    """A grouped bar chart: one group per entry of ``groups``, one bar per series in each.

    Args:
        groups: names under the groups.
        series: name -> one value per group; ``None`` or NaN is a missing bar, labelled ``n/a``.
        title, ylabel: texts around the plot.
        log: logarithmic y axis; values that are not positive are then missing bars.
        hline: a dashed horizontal reference line at this value (e.g. a floor), or ``None``.
        hline_label: its legend entry.
        colors: series name -> ``"#rrggbb"``.
        group_colors: group name -> colour, for the bars of a series that ``colors``
            does not name (then the series tell themselves apart by ``hatches``, and
            the legend shows the hatches). Without either, a series takes
            :func:`~revelio.render.method_color` of its name.
        hatches: series name -> a matplotlib hatch (``"//"``, ``".."``, ``"xx"``).
        values: write each bar's value on it (3 significant digits, ``k`` / ``M``).
        legend: draw the legend (right of the plot).
        size: ``(width, height)`` in inches of a new figure.
        ax: axes to draw into, instead of a new figure.

    Returns:
        the figure drawn into.

    Raises:
        InputError: no groups or series, a series with another number of values than
            groups, or an ``hline`` that is not a finite number (positive on a log axis).
    """
    names = [str(g) for g in groups]
    if not names:
        raise InputError("groups must name at least one group")
    if not isinstance(series, Mapping) or not series:
        raise InputError("series must be a non-empty mapping name -> one value per group")
    table: list[tuple[str, np.ndarray]] = []
    for name, raw in series.items():
        array = _floats(raw, f"values of series {name!r}")
        if len(array) != len(names):
            raise InputError(f"series {name!r} has {len(array)} values for {len(names)} groups; give one per group")
        table.append((str(name), np.where(array > 0, array, np.nan) if log else array))
    if hline is not None and not (math.isfinite(float(hline)) and (float(hline) > 0 or not log)):
        raise InputError(f"hline must be a finite number{' > 0 on a log axis' if log else ''}, got {hline!r}")
    fig, ax = (ax.figure, ax) if ax is not None else figure(size)
    colors, hatches = dict(colors or {}), dict(hatches or {})
    width = 0.8 / len(table)
    base = 1.0 if log else 0.0
    for index, (name, heights) in enumerate(table):
        xs = np.arange(len(names)) - 0.4 + (index + 0.5) * width
        if name in colors:
            faces: list[str] | str = colors[name]
        elif group_colors is not None:
            faces = [group_colors.get(group, "#8c8c8c") for group in names]
        else:
            faces = method_color(name)
        bars = ax.bar(xs, np.nan_to_num(heights, nan=0.0), width * 0.92, color=faces, hatch=hatches.get(name),
                      edgecolor="white" if name not in hatches else "#333333", linewidth=0.4, label=name)  # fmt: skip
        if values:
            labels = ["n/a" if np.isnan(v) else format_value(v) for v in heights]
            for bar, value, text in zip(bars, heights, labels):
                y = base if np.isnan(value) else value
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, y), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", rotation=90 if len(table) * len(names) > 12 else 0,
                            fontsize=7)  # fmt: skip
    if log:
        ax.set_yscale("log")
    if hline is not None:
        ax.axhline(float(hline), color="#333333", linestyle="--", linewidth=1.2, label=hline_label or None)
    ax.axhline(base, color="#555555", linewidth=0.8)
    rotate = sum(len(n) for n in names) > 70
    ax.set_xticks(range(len(names)), names, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.margins(y=0.12)
    _labels(ax, title, "", ylabel)
    if legend:
        ax.legend(handles=_bar_legend(ax, table, colors, group_colors, hatches), loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)  # fmt: skip
    return fig


def _bar_legend(ax: Axes, table, colors: dict, group_colors: Mapping[str, str] | None, hatches: dict) -> list:
    """Legend entries: a series coloured by its groups shows its hatch on grey, the others their colour."""
    from matplotlib.patches import Patch

    handles = []
    for name, _ in table:
        if name in colors or group_colors is None:
            color = colors.get(name) or method_color(name)
            handles.append(Patch(facecolor=color, hatch=hatches.get(name), edgecolor="#333333", label=name))
        else:
            handles.append(Patch(facecolor="#d9d9d9", hatch=hatches.get(name), edgecolor="#333333", label=name))
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    return handles + lines


def _labels(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)


def chart_image(fig: Figure) -> Tensor:
    """A figure as an image: ``float32`` RGB ``(3, H, W)`` in [0, 1], at :data:`DPI`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return torch.from_numpy(rgba[:, :, :3].astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def save_chart(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Save a figure in the format its suffix names (``.png``, ``.svg``, ``.pdf``, ...), atomically.

    PNGs are written at :data:`DPI` and carry no time stamp or version, so the same
    chart gives the same file.

    Raises:
        InputError: a suffix matplotlib does not write.
        OSError: the folder cannot be created or written.
    """
    from revelio.io import write_atomic

    suffix = Path(path).suffix.lower().lstrip(".")
    formats = fig.canvas.get_supported_filetypes()
    if suffix not in formats:
        raise InputError(f"cannot save a chart as {str(path)!r}: give it one of the suffixes {', '.join(sorted(formats))}")
    buffer = io.BytesIO()
    metadata = {"Software": None} if suffix == "png" else {"Creator": None} if suffix in ("svg", "pdf") else None
    fig.savefig(buffer, format=suffix, dpi=DPI, metadata=metadata)
    return write_atomic(path, buffer.getvalue(), "chart")


__all__ = ["DPI", "bar_chart", "chart_image", "figure", "format_value", "line_chart", "save_chart"]
