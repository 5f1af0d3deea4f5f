"""One colour per method, the same in every figure and page.

A registered method (:mod:`revelio.registry`, controls included) takes the colour at
its place in the registry: built-ins first, in their order, then plugins. Any other
name (a feature-visualization preset, a library in a benchmark) takes a colour from
a stable hash of its name, so it too is the same wherever it appears. Baselines and
references (what the methods are compared with) are drawn in greys, never in a
method's colour.

Colours are ``"#rrggbb"`` strings, which matplotlib, HTML and :func:`to_rgb` read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from revelio.errors import InputError

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#882255",  # wine
    "#44AA99",  # teal
    "#999933",  # olive
    "#332288",  # indigo
    "#AA4499",  # purple
    "#8C564B",  # brown
    "#117733",  # green
    "#DDCC77",  # sand
    "#88CCEE",  # cyan
    "#661100",  # dark red
    "#EE6677",  # rose
    "#4477AA",  # steel blue
    "#CCBB44",  # mustard
    "#AA3377",  # magenta
    "#BBCC33",  # pear
    "#555599",  # slate
    "#EE8866",  # salmon
    "#77AADD",  # light blue
)
"""The method colours, in order: Okabe and Ito's colour-blind-safe set first, then Tol's (24; they repeat after)."""

BASELINE_COLORS: tuple[str, ...] = ("#4D4D4D", "#8C8C8C", "#B3B3B3")
"""Greys for baselines and references, darkest first."""


def method_color(name: str) -> str:
    """The colour of method ``name``: by its place in the registry, else by a hash of the name."""
    from revelio.registry import names  # imports no torch

    registered = names(controls=True)
    if name in registered:
        return PALETTE[registered.index(name) % len(PALETTE)]
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


def method_colors(names: Iterable[str]) -> dict[str, str]:
    """``{name: colour}`` for each of ``names`` (see :func:`method_color`)."""
    return {name: method_color(name) for name in names}


def baseline_color(index: int) -> str:
    """The grey of the ``index``-th baseline or reference in a figure."""
    return BASELINE_COLORS[index % len(BASELINE_COLORS)]


def to_rgb(color: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` -> ``(r, g, b)`` in [0, 1]."""
    text = color.lstrip("#")
    if len(text) != 6:
        raise InputError(f"a colour is '#rrggbb', got {color!r}")
    return tuple(int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


__all__ = ["BASELINE_COLORS", "PALETTE", "baseline_color", "method_color", "method_colors", "to_rgb"]
