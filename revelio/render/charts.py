"""Small charts drawn with OpenCV: line charts and grouped bar charts, as image tensors.

Both return ``float32`` RGB ``(3, H, W)`` in [0, 1] on the CPU, ready for
:func:`~revelio.render.save_png` or :class:`~revelio.render.HtmlReport`. The legend is a
row (or rows) of colour swatches between the title and the plot, so it never hides data.
Series take the colours of :data:`SERIES_COLORS` in order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from revelio.errors import InputError
from revelio.render import _text

SERIES_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178),  # blue
    (213, 94, 0),  # vermillion
    (0, 158, 115),  # bluish green
    (230, 159, 0),  # orange
    (204, 121, 167),  # reddish purple
    (86, 180, 233),  # sky blue
    (140, 86, 75),  # brown
    (90, 90, 90),  # grey
)
"""8-bit RGB colour of each series, in order (Okabe-Ito colour-blind-safe colours first); cycled."""

_INK = (30, 30, 30)
_AXIS = (60, 60, 60)
_GRID = (225, 225, 225)
_SHIFT = 4  # sub-pixel bits for cv2 line drawing


@dataclass
class _Frame:
    """Pixel box of the plot area and the value range it shows."""

    left: int
    top: int
    right: int
    bottom: int
    low: float
    high: float
    log: bool = False
    headroom: int = 0  # pixels kept free above ``high`` (bar labels)

    def y(self, value: float) -> float:
        """Pixel row of a value."""
        if self.log:
            value, low, high = math.log10(value), math.log10(self.low), math.log10(self.high)
        else:
            low, high = self.low, self.high
        span = (self.bottom - self.top - self.headroom) or 1
        return self.bottom - (value - low) / (high - low) * span


def _color(index: int) -> tuple[int, int, int]:
    return SERIES_COLORS[index % len(SERIES_COLORS)]


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"size must be (width, height) in pixels, got {size!r}") from None
    if width < 160 or height < 120:
        raise InputError(f"size must be at least (160, 120) pixels (width, height), got {size!r}")
    return width, height


def _floats(values: Sequence[float] | Tensor | np.ndarray, what: str) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().to("cpu", torch.float64).flatten().tolist()
    try:
        array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a sequence of numbers, got {values!r}") from None
    return np.where(np.isfinite(array), array, np.nan)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw * 0.999)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _tick_label(value: float, step: float) -> str:
    for unit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(step) >= unit:
            decimals = max(0, -math.floor(math.log10(step / unit) + 1e-9))
            return f"{value / unit:.{decimals}f}{suffix}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 2
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def _power_label(exponent: int) -> str:
    if exponent >= 6:
        return f"{10 ** (exponent - 6)}M"
    if exponent >= 3:
        return f"{10 ** (exponent - 3)}k"
    return f"{10.0**exponent:g}"


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


def _legend_rows(names: Sequence[str], width: int, reference: str = "") -> list[list[tuple[int, str, int]]]:
    """Legend entries ``(series index, text, entry width)`` packed into rows of at most ``width`` pixels.

    A non-empty ``reference`` adds a last entry (index -1) for the dashed reference line.
    """
    rows: list[list[tuple[int, str, int]]] = [[]]
    used = 0
    entries = list(enumerate(names)) + ([(-1, reference)] if reference else [])
    for index, name in entries:
        text = _text.fit(name, max(width - 30, 20))
        entry = 22 + _text.size(text)[0] + 12
        if rows[-1] and used + entry > width:
            rows.append([])
            used = 0
        rows[-1].append((index, text, entry))
        used += entry
    return rows


def _draw_legend(canvas: np.ndarray, rows: list[list[tuple[int, str, int]]], top: int, line: bool) -> None:
    height = _text.line_height()
    for number, row in enumerate(rows):
        x = (canvas.shape[1] - sum(entry for *_, entry in row)) // 2
        middle = top + number * height + height // 2
        for index, text, entry in row:
            if index < 0:
                for start in (x, x + 8, x + 16):
                    cv2.line(canvas, (start, middle), (min(start + 4, x + 18), middle), _INK, 1, cv2.LINE_AA)
            elif line:
                cv2.line(canvas, (x, middle), (x + 18, middle), _color(index), 3, cv2.LINE_AA)
            else:
                cv2.rectangle(canvas, (x + 3, middle - 5), (x + 15, middle + 5), _color(index), cv2.FILLED)
            _text.draw(canvas, text, x + 22, middle, _INK, valign="center")
            x += entry


def _x_labels(labels: Sequence[str], spacing: float, limit: int) -> tuple[list[str], bool, int, int]:
    """Category labels laid out for ``spacing`` pixels each: (texts, vertical, height in px, stride)."""
    texts = [_text.clean(label) for label in labels]
    widths = [_text.size(t)[0] for t in texts] or [0]
    line = _text.line_height()
    if max(widths) <= spacing - 2:
        return texts, False, line, 1
    texts = [_text.fit(t, limit) for t in texts]
    stride = max(1, math.ceil((line + 1) / max(spacing, 1e-9)))
    return texts, True, max(_text.size(t)[0] for t in texts), stride


def _layout(
    width: int,
    height: int,
    *,
    title: str,
    legend: list[list[tuple[int, str, int]]],
    xlabel: str,
    ylabel: str,
    ytick_texts: Sequence[str],
    xtick_height: int,
    right_room: int = 12,
) -> tuple[int, int, int, int]:
    """Plot box ``(left, top, right, bottom)`` after room for the texts around it."""
    line = _text.line_height()
    top = 8
    if title:
        top += _text.line_height(_text.LARGE) + 4
    top += len(legend) * line + (6 if legend else 0)
    left = 8 + (line + 4 if ylabel else 0) + max((_text.size(t)[0] for t in ytick_texts), default=0) + 7
    bottom = height - 8 - (line + 4 if xlabel else 0) - xtick_height - 7
    right = width - right_room
    if right - left < 40 or bottom - top < 40:
        raise InputError(
            f"size {width}x{height} leaves no room for the plot next to its labels; make the chart "
            "larger or the labels shorter"
        )
    return left, top, right, bottom


def _draw_frame(
    canvas: np.ndarray,
    frame: _Frame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    yticks: Sequence[float],
    ytick_texts: Sequence[str],
) -> None:
    """Title, axis labels, y ticks, grid lines and axes around ``frame``."""
    width, height = canvas.shape[1], canvas.shape[0]
    if title:
        text = _text.fit(title, width - 16, _text.LARGE)
        _text.draw(canvas, text, width / 2, 6, _INK, scale=_text.LARGE, halign="center")
    if ylabel:
        text = _text.fit(ylabel, frame.bottom - frame.top)
        _text.draw(canvas, text, 6, (frame.top + frame.bottom) / 2, _INK, valign="center", vertical=True)
    if xlabel:
        text = _text.fit(xlabel, width - 16)
        _text.draw(canvas, text, (frame.left + frame.right) / 2, height - 6, _INK, halign="center", valign="bottom")
    for value, text in zip(yticks, ytick_texts):
        y = round(frame.y(value))
        cv2.line(canvas, (frame.left + 1, y), (frame.right, y), _GRID, 1)
        cv2.line(canvas, (frame.left - 4, y), (frame.left, y), _AXIS, 1)
        _text.draw(canvas, text, frame.left - 6, y, _INK, halign="right", valign="center")
    cv2.line(canvas, (frame.left, frame.top), (frame.left, frame.bottom), _AXIS, 1)
    cv2.line(canvas, (frame.left, frame.bottom), (frame.right, frame.bottom), _AXIS, 1)


def _to_tensor(canvas: np.ndarray) -> Tensor:
    return torch.from_numpy(canvas.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def _fixed(x: float, y: float) -> tuple[int, int]:
    return round(x * (1 << _SHIFT)), round(y * (1 << _SHIFT))


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (480, 320),
    ylim: tuple[float, float] | None = None,
    xticks: Sequence[str] | None = None,
    markers: bool | None = None,
) -> Tensor:
    """Draw an anti-aliased line chart with axes, ticks and a legend.

    Args:
        series: name -> ``(xs, ys)``, equal lengths; NaN, ``None`` or infinite values
            leave a gap in the line.
        title, xlabel, ylabel: texts around the plot (ASCII; others drawn as ``?``).
        size: ``(width, height)`` of the image in pixels.
        ylim: ``(low, high)`` of the y axis (lines are clipped to it); default: the
            data's range, rounded outward to tick values.
        xticks: category labels: ``xticks[i]`` is written at ``x = i`` (e.g. layer names
            for a curve over layer indices); long labels turn vertical and are shortened.
            Default: numeric ticks.
        markers: draw a dot at each point; default when a series has at most 40 points.

    Returns:
        ``float32`` RGB ``(3, height, width)`` in [0, 1], on the CPU.
    """
    width, height = _check_size(size)
    if not isinstance(series, Mapping) or not series:
        raise InputError("series must be a non-empty mapping name -> (xs, ys)")
    data: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, pair in series.items():
        if (
            not isinstance(pair, (tuple, list))
            or len(pair) != 2
            or not all(isinstance(p, (Sequence, Tensor, np.ndarray)) and not isinstance(p, str) for p in pair)
        ):
            raise InputError(f"series {name!r} must be a pair (xs, ys) of sequences of numbers, got {pair!r}")
        xs, ys = _floats(pair[0], f"xs of series {name!r}"), _floats(pair[1], f"ys of series {name!r}")
        if len(xs) != len(ys):
            raise InputError(f"series {name!r} has {len(xs)} x values but {len(ys)} y values; give one y per x")
        data.append((str(name), xs, ys))

    all_y = np.concatenate([ys for _, _, ys in data])
    all_y = all_y[~np.isnan(all_y)]
    if ylim is not None:
        low, high = (float(v) for v in ylim)
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise InputError(f"ylim must be (low, high) with low < high, got {ylim!r}")
        yticks = [t for t in nice_ticks(low, high) if low - 1e-9 <= t <= high + 1e-9]
    else:
        low, high = (float(all_y.min()), float(all_y.max())) if all_y.size else (0.0, 1.0)
        if high - low < 1e-12:
            low, high = low - 0.5, high + 0.5
        yticks = nice_ticks(low, high)
        low, high = yticks[0], yticks[-1]
    step = yticks[1] - yticks[0] if len(yticks) > 1 else high - low
    ytick_texts = [_tick_label(t, step) for t in yticks]

    all_x = np.concatenate([xs for _, xs, _ in data])
    all_x = all_x[~np.isnan(all_x)]
    if xticks is not None:
        categories = list(xticks)
        all_x = np.concatenate([all_x, [0.0, max(len(categories) - 1, 0)]])
    x_low, x_high = (float(all_x.min()), float(all_x.max())) if all_x.size else (0.0, 1.0)
    if x_high - x_low < 1e-12:
        x_low, x_high = x_low - 0.5, x_high + 0.5

    legend = _legend_rows([name for name, _, _ in data], width - 16)
    plot_width = width - 100  # estimate, for the x label layout
    if xticks is not None:
        spacing = plot_width / max(x_high - x_low, 1e-9)
        x_texts, vertical, x_label_height, stride = _x_labels(categories, spacing, int(height * 0.3))
        x_positions = [float(i) for i in range(len(categories))]
    else:
        numeric = [t for t in nice_ticks(x_low, x_high, 6) if x_low - 1e-9 <= t <= x_high + 1e-9]
        x_step = numeric[1] - numeric[0] if len(numeric) > 1 else 1.0
        x_texts, vertical, stride = [_tick_label(t, x_step) for t in numeric], False, 1
        x_label_height = _text.line_height()
        x_positions = numeric
    right_room = 12 if vertical or not x_texts else max(12, _text.size(x_texts[-1])[0] // 2 + 4)
    left, top, right, bottom = _layout(
        width, height, title=title, legend=legend, xlabel=xlabel, ylabel=ylabel,
        ytick_texts=ytick_texts, xtick_height=x_label_height, right_room=right_room,
    )  # fmt: skip
    frame = _Frame(left, top, right, bottom, low, high)

    inset = 8  # keeps the first and last points off the axes

    def x_pixel(value: float) -> float:
        return left + inset + (value - x_low) / (x_high - x_low) * (right - left - 2 * inset)

    canvas = np.full((height, width, 3), 255, np.uint8)
    _draw_frame(canvas, frame, title=title, xlabel=xlabel, ylabel=ylabel, yticks=yticks, ytick_texts=ytick_texts)
    _draw_legend(canvas, legend, top - len(legend) * _text.line_height() - 4, line=True)
    for number, (value, text) in enumerate(zip(x_positions, x_texts)):
        x = round(x_pixel(value))
        cv2.line(canvas, (x, bottom), (x, bottom + 4), _AXIS, 1)
        if number % stride == 0:
            _text.draw(canvas, text, x, bottom + 6, _INK, halign="center", vertical=vertical)

    # Lines are drawn on a copy of the plot box, so that they are clipped to it.
    plot = np.ascontiguousarray(canvas[top : bottom + 1, left + 1 : right + 1])
    for index, (_, xs, ys) in enumerate(data):
        color = _color(index)
        segments: list[list[tuple[int, int]]] = [[]]
        for x, y in zip(xs, ys):
            if np.isnan(x) or np.isnan(y):
                segments.append([])
            else:
                segments[-1].append(_fixed(x_pixel(x) - left - 1, frame.y(y) - top))
        lines = [np.array(s, np.int32) for s in segments if len(s) > 1]
        if lines:
            cv2.polylines(plot, lines, False, color, 2, cv2.LINE_AA, _SHIFT)
        dots = markers or (markers is None and len(xs) <= 40)
        for segment in segments:
            for point in segment if dots or len(segment) == 1 else ():
                cv2.circle(plot, point, 3 << _SHIFT, color, cv2.FILLED, cv2.LINE_AA, _SHIFT)
    canvas[top : bottom + 1, left + 1 : right + 1] = plot
    cv2.line(canvas, (left, bottom), (right, bottom), _AXIS, 1)
    return _to_tensor(canvas)


def bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (640, 360),
    hline: float | None = None,
    hline_label: str = "",
    log: bool = False,
) -> Tensor:
    """Draw a grouped bar chart: one group per entry of ``groups``, one bar per series in each.

    Args:
        groups: category names under the groups (e.g. methods).
        series: name -> one value per group (e.g. ``{"revelio": [...], "captum": [...]}``);
            ``None`` or NaN is a missing bar, labelled ``n/a``.
        title, ylabel: texts around the plot.
        size: ``(width, height)`` of the image in pixels.
        hline: value of a dashed horizontal reference line (e.g. a floor), or ``None``.
        hline_label: the reference line's entry in the legend (none when empty).
        log: logarithmic y axis (decades); non-positive values are then missing bars.

    Each bar carries its value (3 significant digits, ``k`` / ``M`` suffixes), written
    vertically when it is wider than the bar.

    Returns:
        ``float32`` RGB ``(3, height, width)`` in [0, 1], on the CPU.
    """
    width, height = _check_size(size)
    names = [str(g) for g in groups]
    if not names:
        raise InputError("groups must name at least one group")
    if not isinstance(series, Mapping) or not series:
        raise InputError("series must be a non-empty mapping name -> one value per group")
    table: list[tuple[str, np.ndarray]] = []
    for name, values in series.items():
        array = _floats(values, f"values of series {name!r}")
        if len(array) != len(names):
            raise InputError(f"series {name!r} has {len(array)} values for {len(names)} groups; give one per group")
        if log:
            array = np.where(array > 0, array, np.nan)
        table.append((str(name), array))
    if hline is not None and not (math.isfinite(float(hline)) and (float(hline) > 0 or not log)):
        raise InputError(f"hline must be a finite number{' > 0 on a log axis' if log else ''}, got {hline!r}")

    present = np.concatenate([values for _, values in table])
    present = present[~np.isnan(present)]
    extremes = list(present) + ([float(hline)] if hline is not None else [])
    if log:
        exponents = [math.log10(v) for v in extremes] or [0.0]
        first, last = math.floor(min(exponents) - 1e-9), math.ceil(max(exponents) - 1e-9)
        last = max(last, first + 1)
        yticks = [10.0**k for k in range(first, last + 1)]
        ytick_texts = [_power_label(k) for k in range(first, last + 1)]
        low, high = yticks[0], yticks[-1]
    else:
        low, high = min([0.0, *extremes]), max([0.0, *extremes])
        yticks = nice_ticks(low, high)
        low, high = yticks[0], yticks[-1]
        ytick_texts = [_tick_label(t, yticks[1] - yticks[0]) for t in yticks]

    legend = _legend_rows([name for name, _ in table], width - 16, hline_label if hline is not None else "")
    group_width_estimate = (width - 100) / len(names)
    x_texts, vertical, x_label_height, stride = _x_labels(names, group_width_estimate, int(height * 0.25))
    left, top, right, bottom = _layout(
        width, height, title=title, legend=legend, xlabel="", ylabel=ylabel,
        ytick_texts=ytick_texts, xtick_height=x_label_height,
    )  # fmt: skip
    group_width = (right - left) / len(names)
    bar_width = group_width * 0.8 / len(table)
    labels = [[format_value(v) if not np.isnan(v) else "n/a" for v in values] for _, values in table]
    label_sizes = [_text.size(text) for row in labels for text in row]
    vertical_values = max(w for w, _ in label_sizes) > bar_width + 4
    room = max((w if vertical_values else h) for w, h in label_sizes) + 3
    headroom = min(room, (bottom - top) // 3)
    frame = _Frame(left, top, right, bottom, low, high, log=log, headroom=headroom)

    canvas = np.full((height, width, 3), 255, np.uint8)
    _draw_frame(canvas, frame, title=title, xlabel="", ylabel=ylabel, yticks=yticks, ytick_texts=ytick_texts)
    _draw_legend(canvas, legend, top - len(legend) * _text.line_height() - 4, line=False)
    base = frame.y(low if log else min(max(0.0, low), high))
    for group, text in enumerate(x_texts):
        middle = left + (group + 0.5) * group_width
        if group % stride == 0:
            _text.draw(canvas, text, middle, bottom + 6, _INK, halign="center", vertical=vertical)
        for index, (_, bars) in enumerate(table):
            value = bars[group]
            x0 = left + group * group_width + 0.1 * group_width + index * bar_width
            x1 = x0 + bar_width
            label = labels[index][group]
            if np.isnan(value):
                _text.draw(canvas, label, (x0 + x1) / 2, base - 2, _INK, halign="center", valign="bottom",
                           vertical=vertical_values)  # fmt: skip
                continue
            y = frame.y(float(value))
            top_pixel, bottom_pixel = sorted((round(y), round(base)))
            cv2.rectangle(canvas, (round(x0) + 1, top_pixel), (max(round(x1) - 1, round(x0) + 1), bottom_pixel),
                          _color(index), cv2.FILLED)  # fmt: skip
            if value >= 0 or log:
                _text.draw(canvas, label, (x0 + x1) / 2, y - 2, _INK, halign="center", valign="bottom",
                           vertical=vertical_values)  # fmt: skip
            else:
                _text.draw(canvas, label, (x0 + x1) / 2, y + 2, _INK, halign="center", valign="top",
                           vertical=vertical_values)  # fmt: skip
    cv2.line(canvas, (left, round(base)), (right, round(base)), _AXIS, 1)
    if hline is not None:
        y = round(frame.y(float(hline)))
        for x in range(left + 1, right, 10):
            cv2.line(canvas, (x, y), (min(x + 5, right), y), _INK, 1, cv2.LINE_AA)
    return _to_tensor(canvas)
