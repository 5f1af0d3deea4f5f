"""What a picture needs to be read: colour bars, the key of signed maps, titles, unseen pixels.

Every function returns ``float32`` RGB ``(3, H, W)`` in [0, 1] on the CPU, like
:func:`~revelio.render.grid`, so pieces can be stacked (:func:`stack`) and saved.

Example:
    >>> bar = colorbar("inferno", 200, low="0", high=">= 0.013", caption="|gradient|")
    >>> picture = stack([title_band(["Saliency: cat (p 0.91)"], 300), grid([image, shown]), bar])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from revelio.errors import InputError
from revelio.render import _text
from revelio.render.colormaps import colormap

_INK = (0.0, 0.0, 0.0)
_BAR_HEIGHT = 10


def _canvas(height: int, width: int) -> np.ndarray:
    return np.ones((height, width, 3), np.float32)


def _tensor(canvas: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(canvas)).permute(2, 0, 1).contiguous()


def _bar(canvas: np.ndarray, ramp: Tensor, left: int, top: int) -> None:
    """Paint ``ramp`` ``(3, w)`` as a bar ``_BAR_HEIGHT`` high at ``(left, top)``, with a thin frame."""
    width = ramp.shape[-1]
    canvas[top : top + _BAR_HEIGHT, left : left + width] = ramp.permute(1, 0).numpy()[None]
    canvas[top - 1, left - 1 : left + width + 1] = 0.4
    canvas[top + _BAR_HEIGHT, left - 1 : left + width + 1] = 0.4
    canvas[top - 1 : top + _BAR_HEIGHT + 1, left - 1] = 0.4
    canvas[top - 1 : top + _BAR_HEIGHT + 1, left + width] = 0.4


def _labelled_bar(ramp: Tensor, labels: Sequence[str], caption: str, width: int) -> Tensor:
    """A bar of ``ramp`` with ``labels`` spread evenly under it (first left, last right) and a caption."""
    line = _text.line_height()
    margin = 6
    bar_width = max(width - 2 * margin, 8)
    ramp = torch.nn.functional.interpolate(ramp[None], size=bar_width, mode="linear", align_corners=True)[0]
    height = 2 + _BAR_HEIGHT + 2 + line + (line + 1 if caption else 0) + 2
    canvas = _canvas(height, width)
    _bar(canvas, ramp, margin, 2)
    y = 2 + _BAR_HEIGHT + 2
    for index, label in enumerate(labels):
        fraction = index / max(len(labels) - 1, 1)
        align = "left" if index == 0 else "right" if index == len(labels) - 1 else "center"
        text = _text.fit(label, max(bar_width // max(len(labels), 1), 12))
        _text.draw(canvas, text, margin + fraction * (bar_width - 1), y, _INK, halign=align)
    if caption:
        _text.draw(canvas, _text.fit(caption, width - 4), width / 2, y + line + 1, _INK, halign="center")
    return _tensor(canvas)


def colorbar(cmap: str, width: int, *, low: str = "0", high: str = "max", caption: str = "") -> Tensor:
    """A horizontal colour bar of colormap ``cmap``: ``low`` under its left end, ``high`` under its right.

    Args:
        cmap: a colormap name (:data:`revelio.render.COLORMAPS`).
        width: the bar's picture width in pixels (at least 40).
        low, high: what the ends stand for (``"0"``, ``">= 0.013"``).
        caption: a line under the labels (what the values are).
    """
    if int(width) < 40:
        raise InputError(f"a colour bar needs a width of at least 40 pixels, got {width}")
    ramp = colormap(torch.linspace(0, 1, 256)[None], cmap)[:, 0]  # (3, 256)
    return _labelled_bar(ramp, [low, high], caption, int(width))


def signed_key(width: int, *, scale: str = "max", caption: str = "grey = 0") -> Tensor:
    """The key of a signed map shown around grey: dark is negative, grey zero, bright positive.

    Args:
        width: the key's picture width in pixels (at least 40).
        scale: the magnitude at which the display saturates (the ends read ``-scale``
            and ``+scale``).
        caption: a line under the labels.
    """
    if int(width) < 40:
        raise InputError(f"a key needs a width of at least 40 pixels, got {width}")
    ramp = torch.linspace(0, 1, 256).expand(3, -1)
    return _labelled_bar(ramp, [f"-{scale}", "0", f"+{scale}"], caption, int(width))


def map_legend(kind: str, width: int, *, scale: str = "max", channels: int = 3) -> Tensor:
    """The legend of a map as revelio shows it, by the method's map kind (:data:`revelio.registry.MAP_KINDS`).

    ``"cam"``: the ``jet`` colour bar of a heat map over the image; ``"heat"``: the
    ``inferno`` colour bar of ``|map|``; ``"signed"``: the key of a map around grey.

    Args:
        kind: ``"cam"``, ``"heat"`` or ``"signed"``.
        width: its width in pixels (at least 40).
        scale: what the display saturates at (:func:`~revelio.render.display_scale`), as text.
        channels: the map's channels (3: said in the caption, since each is shown on its own or maxed).
    """
    if kind == "cam":
        return colorbar("jet", width, high=f">= {scale}" if scale != "max" else scale, caption="over the image")
    if kind == "heat":
        caption = "|map|" if channels == 1 else "|map|, max of R, G, B"
        return colorbar("inferno", width, high=f">= {scale}" if scale != "max" else scale, caption=caption)
    if kind == "signed":
        return signed_key(width, scale=scale, caption="grey = 0, per colour channel" if channels == 3 else "grey = 0")
    raise InputError(f"unknown map kind {kind!r}; choose cam, heat or signed")


def title_band(lines: Sequence[str], width: int, *, scale: float = _text.SMALL) -> Tensor:
    """Lines of text, centred, on a white band ``width`` pixels wide (each line shortened to fit)."""
    line = _text.line_height(scale) + 1
    canvas = _canvas(len(lines) * line + 4, int(width))
    for index, text in enumerate(lines):
        _text.draw(canvas, _text.fit(text, int(width) - 4, scale), width / 2, 2 + index * line, _INK, scale=scale,
                   halign="center")  # fmt: skip
    return _tensor(canvas)


def text_width(lines: Sequence[str], scale: float = _text.SMALL) -> int:
    """Pixels the widest of ``lines`` needs, with a small margin."""
    return max((_text.size(_text.clean(text), scale)[0] for text in lines), default=0) + 8


def stack(pieces: Sequence[Tensor], *, pad: int = 2, background: float = 1.0) -> Tensor:
    """Put pictures ``(3, h, w)`` one under the other, each centred, on a ``background`` grey."""
    if not pieces:
        raise InputError("stack needs at least one picture")
    width = max(int(piece.shape[-1]) for piece in pieces) + 2 * pad
    height = sum(int(piece.shape[-2]) for piece in pieces) + pad * (len(pieces) + 1)
    canvas = torch.full((3, height, width), float(background))
    y = pad
    for piece in pieces:
        h, w = piece.shape[-2:]
        x = (width - w) // 2
        canvas[:, y : y + h, x : x + w] = piece.detach().to("cpu", torch.float32).clamp(0, 1).expand(3, -1, -1)
        y += h + pad
    return canvas


def hatch_unseen(images: Tensor, seen: Tensor, *, spacing: int = 6) -> Tensor:
    """Mark pixels a model did not see: diagonal grey stripes over a faded image.

    Args:
        images: ``(N, 3, H, W)`` or ``(3, H, W)`` in [0, 1].
        seen: ``(N, 1, H, W)`` or ``(1, H, W)`` booleans, true where the model saw the pixel.
        spacing: pixels from one stripe to the next.

    Returns:
        ``images`` where seen; elsewhere the image faded towards light grey, with dark
        grey stripes every ``spacing`` pixels (``float32``, the images' device).
    """
    rows = torch.arange(images.shape[-2], device=images.device)[:, None]
    cols = torch.arange(images.shape[-1], device=images.device)[None, :]
    stripes = ((rows + cols) % spacing < max(spacing // 3, 1)).float()
    faded = 0.35 * images.float() + 0.65 * 0.85
    marked = faded * (1 - stripes) + 0.45 * stripes
    return torch.where(seen.bool(), images.float(), marked)


__all__ = ["colorbar", "hatch_unseen", "map_legend", "signed_key", "stack", "text_width", "title_band"]
