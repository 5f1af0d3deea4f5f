"""Tensors -> pictures: display scaling, colormaps, overlays, grids, legends, PNG and JPEG files, charts
and HTML reports.

Images are torch tensors, ``float`` RGB in [0, 1], ``(3, H, W)`` or batched
``(N, 3, H, W)``, on any device. Functions that only compute (:func:`normalize_map`,
:func:`to_display`, :func:`colormap`, :func:`overlay`) stay on the input's device;
those that draw or encode (:func:`grid`, the legends, PNG, JPEG and HTML) move to the
CPU themselves. The charts (:func:`line_chart`, :func:`bar_chart`) are matplotlib
figures, which can be restyled and saved as SVG or PDF; matplotlib is imported only
when one is drawn. :func:`method_color` gives each method one colour for every
figure and page.

Example:
    >>> maps = GradCAM(model, "layer4").attribute(inputs)
    >>> shown = overlay(images, normalize_map(maps), alpha=0.5)
    >>> save_png(grid(shown, titles=class_names, scale=2), "gradcam.png")
"""

from revelio.render.colormaps import COLORMAPS, colormap
from revelio.render.compose import grid, overlay
from revelio.render.files import IMAGE_FORMATS, jpeg_bytes, png_bytes, save_image, save_png
from revelio.render.html import HtmlReport, Picture
from revelio.render.legend import colorbar, hatch_unseen, map_legend, signed_key, stack, text_width, title_band
from revelio.render.maps import DISPLAY_KINDS, display_scale, normalize_map, to_display
from revelio.render.palette import BASELINE_COLORS, PALETTE, baseline_color, method_color, method_colors, to_rgb
from revelio.render.plots import bar_chart, chart_image, line_chart, save_chart

__all__ = [
    "BASELINE_COLORS",
    "COLORMAPS",
    "DISPLAY_KINDS",
    "IMAGE_FORMATS",
    "PALETTE",
    "HtmlReport",
    "Picture",
    "bar_chart",
    "baseline_color",
    "chart_image",
    "colorbar",
    "colormap",
    "display_scale",
    "grid",
    "hatch_unseen",
    "jpeg_bytes",
    "line_chart",
    "map_legend",
    "method_color",
    "method_colors",
    "normalize_map",
    "overlay",
    "png_bytes",
    "save_chart",
    "save_image",
    "save_png",
    "signed_key",
    "stack",
    "text_width",
    "title_band",
    "to_display",
    "to_rgb",
]
