"""Tensors -> images: normalisation for display, colormaps, overlays, grids, PNG files,
charts and a self-contained HTML report.

Everything takes torch tensors on any device; images are ``float`` RGB in [0, 1],
``(3, H, W)`` or batched ``(N, 3, H, W)``. Functions that only compute
(:func:`normalize_map`, :func:`to_display`, :func:`colormap`, :func:`overlay`) stay on
the input's device; those that draw or encode (:func:`grid`, the charts, PNG and HTML)
move to the CPU themselves.

Example:
    >>> maps = GradCAM(model, "layer4").attribute(inputs)
    >>> shown = overlay(images, normalize_map(maps), alpha=0.5)
    >>> save_png(grid(shown, titles=class_names, scale=2), "gradcam.png")
"""

from revelio.render.charts import SERIES_COLORS, bar_chart, line_chart
from revelio.render.colormaps import COLORMAPS, colormap
from revelio.render.compose import grid, overlay
from revelio.render.files import png_bytes, save_png
from revelio.render.html import HtmlReport
from revelio.render.maps import DISPLAY_KINDS, normalize_map, to_display

__all__ = [
    "COLORMAPS",
    "DISPLAY_KINDS",
    "SERIES_COLORS",
    "HtmlReport",
    "bar_chart",
    "colormap",
    "grid",
    "line_chart",
    "normalize_map",
    "overlay",
    "png_bytes",
    "save_png",
    "to_display",
]
