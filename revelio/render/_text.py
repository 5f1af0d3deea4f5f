"""Text for the renderers: OpenCV's Hershey font, anti-aliased, blended onto any canvas.

Text is drawn into a coverage mask and blended, so it is anti-aliased on float and
uint8 canvases alike and never touches pixels outside its box. OpenCV's font has
printable ASCII only: other characters are drawn as ``?``.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
SMALL = 0.4
"""Font scale of titles, tick labels and legends: about 9 pixels tall, readable."""
LARGE = 0.5
"""Font scale of chart titles."""

HAlign = Literal["left", "center", "right"]
VAlign = Literal["top", "center", "bottom"]


def clean(text: object) -> str:
    """``text`` as one line that the font can draw: whitespace collapsed, non-ASCII as ``?``."""
    line = " ".join(str(text).split())
    return "".join(ch if " " <= ch <= "~" else "?" for ch in line)


def size(text: str, scale: float = SMALL, thickness: int = 1) -> tuple[int, int]:
    """``(width, height)`` in pixels of the box :func:`draw` fills for ``text``."""
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    return width + 2, height + baseline + 2


def line_height(scale: float = SMALL, thickness: int = 1) -> int:
    """Height of a text box at this scale, whatever the text (capitals and descenders)."""
    return size("Ag|", scale, thickness)[1]


def fit(text: object, max_width: int, scale: float = SMALL, thickness: int = 1) -> str:
    """``text`` (cleaned), shortened to end in ``..`` until it is at most ``max_width`` pixels wide."""
    line = clean(text)
    if size(line, scale, thickness)[0] <= max_width:
        return line
    while line:
        line = line[:-1]
        candidate = line.rstrip() + ".."
        if size(candidate, scale, thickness)[0] <= max_width:
            return candidate
    return ""


def _mask(text: str, scale: float, thickness: int) -> np.ndarray:
    """Coverage of ``text`` in [0, 1], ``float32[height, width]``, the box of :func:`size`."""
    width, height = size(text, scale, thickness)
    _, baseline = cv2.getTextSize(text, FONT, scale, thickness)
    mask = np.zeros((height, width), np.uint8)
    cv2.putText(mask, text, (1, height - 1 - baseline), FONT, scale, 255, thickness, cv2.LINE_AA)
    return mask.astype(np.float32) / 255.0


def draw(
    canvas: np.ndarray,
    text: object,
    x: float,
    y: float,
    color: tuple[float, float, float],
    *,
    scale: float = SMALL,
    thickness: int = 1,
    halign: HAlign = "left",
    valign: VAlign = "top",
    vertical: bool = False,
) -> tuple[int, int]:
    """Blend ``text`` into ``canvas`` (``H x W x 3``, uint8 or float) in ``color``; return its box size.

    Args:
        canvas: the image, changed in place; ``color`` is in its units (0-255 or 0-1).
        text: drawn as :func:`clean` makes it.
        x, y: the anchor point, placed by ``halign`` and ``valign`` on the text's box.
        vertical: rotate the text 90 degrees counter-clockwise (read bottom to top).

    Text that falls outside the canvas is clipped.
    """
    line = clean(text)
    if not line:
        return 0, 0
    mask = _mask(line, scale, thickness)
    if vertical:
        mask = np.ascontiguousarray(np.rot90(mask))
    height, width = mask.shape
    left = round(x - {"left": 0.0, "center": width / 2, "right": float(width)}[halign])
    top = round(y - {"top": 0.0, "center": height / 2, "bottom": float(height)}[valign])
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, canvas.shape[1]), min(top + height, canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return width, height
    coverage = mask[y0 - top : y1 - top, x0 - left : x1 - left, None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    blended = region * (1.0 - coverage) + np.asarray(color, np.float32) * coverage
    if canvas.dtype == np.uint8:
        blended = np.clip(np.rint(blended), 0, 255)
    canvas[y0:y1, x0:x1] = blended.astype(canvas.dtype)
    return width, height
