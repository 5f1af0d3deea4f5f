"""Combining images: heatmaps over photos, and tiled grids with titles."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.errors import InputError
from revelio.render import _text
from revelio.render.colormaps import colormap


def overlay(images: Tensor, heat: Tensor, *, alpha: float = 0.5, cmap: str = "jet") -> Tensor:
    """Blend a colormapped heatmap over images: ``(1 - alpha) * image + alpha * colormap(heat)``.

    Args:
        images: ``(N, 3, H, W)`` (or ``(N, 1, H, W)``, shown grey) in [0, 1]; also one
            image ``(3, H, W)`` with one heatmap ``(1, h, w)``.
        heat: ``(N, 1, h, w)`` in [0, 1] (see :func:`normalize_map`; values outside are
            clipped), resized bilinearly to ``(H, W)`` when its size differs.
        alpha: weight of the heatmap, in [0, 1]: 0 gives the images, 1 the colormap.
        cmap: colormap name, see :data:`revelio.render.COLORMAPS`.

    Returns:
        ``float32`` RGB in [0, 1], shaped like ``images`` (3 channels), on their device.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    for name, value in (("images", images), ("heat", heat)):
        if not isinstance(value, Tensor):
            raise InputError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    single = images.ndim == 3
    if single:
        images, heat = images.unsqueeze(0), heat.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"images must be (N, 3, H, W) or (3, H, W), got shape {tuple(images.shape)}")
    if heat.ndim != 4 or heat.shape[1] != 1:
        raise InputError(
            f"heat must be (N, 1, h, w), got shape {tuple(heat.shape)}; "
            "reduce channels first, e.g. normalize_map(maps.abs().amax(dim=1, keepdim=True))"
        )
    if heat.shape[0] != images.shape[0]:
        raise InputError(f"heat has {heat.shape[0]} maps for {images.shape[0]} images; give one map per image")
    base = images.detach().float().clamp(0.0, 1.0).expand(-1, 3, -1, -1)
    values = heat.detach().to(device=base.device, dtype=torch.float32)
    if values.shape[-2:] != base.shape[-2:]:
        values = F.interpolate(values, size=base.shape[-2:], mode="bilinear", align_corners=False)
    blended = (1.0 - alpha) * base + alpha * colormap(values.clamp(0.0, 1.0), cmap)
    blended = blended.clamp(0.0, 1.0)
    return blended[0] if single else blended


def _tiles(images: Tensor | Sequence[Tensor]) -> list[Tensor]:
    if isinstance(images, Tensor):
        if images.ndim == 3:
            tiles = [images]
        elif images.ndim == 4:
            tiles = list(images.unbind(0))
        else:
            raise InputError(f"images must be (N, C, H, W) or (C, H, W), got shape {tuple(images.shape)}")
    else:
        tiles = list(images)
    if not tiles:
        raise InputError("grid needs at least one image")
    for index, tile in enumerate(tiles):
        if not isinstance(tile, Tensor):
            raise InputError(f"image {index} must be a torch.Tensor, got {type(tile).__name__}")
        if tile.ndim != 3 or tile.shape[0] not in (1, 3):
            raise InputError(f"image {index} must be (3, h, w) or (1, h, w), got shape {tuple(tile.shape)}")
    sizes = [tuple(tile.shape[-2:]) for tile in tiles]
    if len(set(sizes)) > 1:
        odd = next(i for i, s in enumerate(sizes) if s != sizes[0])
        raise InputError(
            f"all images in a grid must have the same size; image 0 is {sizes[0][0]}x{sizes[0][1]} but image "
            f"{odd} is {sizes[odd][0]}x{sizes[odd][1]} (HxW); resize them first, e.g. with "
            "torch.nn.functional.interpolate"
        )
    return tiles


def grid(
    images: Tensor | Sequence[Tensor],
    *,
    ncols: int | None = None,
    titles: Sequence[str] | None = None,
    row_titles: Sequence[str] | None = None,
    scale: int = 1,
    pad: int = 2,
    background: float = 1.0,
    font_scale: float = _text.SMALL,
) -> Tensor:
    """Tile images into one image, with optional titles above tiles and left of rows.

    Layout (``th, tw`` = tile size times ``scale``; ``band`` = height of a title line;
    ``left`` = width of the row-title column, 0 without ``row_titles``): tile ``i`` sits
    in row ``r = i // ncols`` and column ``c = i % ncols``. Without titles, its top-left
    corner is at ``y = pad + r * (th + pad)``, ``x = pad + left + c * (tw + pad)``, and
    the grid is ``pad + rows * (th + pad)`` high and ``pad + left + ncols * (tw + pad)``
    wide. Each row that carries titles has a band above it: with one title per image
    every row does (``y = pad + r * (band + th + pad) + band``); with one title per
    column only the first row does (``y = pad + band + r * (th + pad)``). Tile pixels
    are copied exactly (upscaled by nearest neighbour); titles are black (white on a
    dark background), shortened with ``..`` when wider than a tile.

    Args:
        images: a batch ``(N, C, H, W)`` or a sequence of ``(3, h, w)`` / ``(1, h, w)``
            tensors in [0, 1], all the same size (1-channel tiles are shown grey).
        ncols: tiles per row; default ``ceil(N / len(row_titles))`` with row titles,
            else ``min(N, 8)``.
        titles: one per image, drawn above it; or one per column (``ncols`` of them,
            for more than one row), drawn once above the first row as column headers.
        row_titles: one per row, drawn left of it.
        scale: integer upscaling factor; 64x64 tiles need 2-3 to be legible.
        pad: pixels between tiles and around the grid.
        background: grey level of the gaps, in [0, 1].
        font_scale: OpenCV font scale of the titles.

    Returns:
        ``float32`` RGB ``(3, H, W)`` in [0, 1], on the CPU.
    """
    tiles = _tiles(images)
    count = len(tiles)
    if int(scale) != scale or scale < 1:
        raise InputError(f"scale must be a positive integer, got {scale}")
    if int(pad) != pad or pad < 0:
        raise InputError(f"pad must be a non-negative integer, got {pad}")
    if not 0.0 <= float(background) <= 1.0:
        raise InputError(f"background must be a grey level in [0, 1], got {background}")
    if ncols is None:
        ncols = math.ceil(count / len(row_titles)) if row_titles else min(count, 8)
    if int(ncols) != ncols or ncols < 1:
        raise InputError(f"ncols must be a positive integer, got {ncols}")
    scale, pad, ncols = int(scale), int(pad), int(ncols)
    rows = math.ceil(count / ncols)
    column_titles = titles is not None and len(titles) == ncols and count != ncols
    if titles is not None and len(titles) != count and not column_titles:
        raise InputError(
            f"got {len(titles)} titles for {count} images in rows of {ncols}; give one title per image, "
            "or one per column"
        )
    if row_titles is not None and len(row_titles) != rows:
        raise InputError(
            f"got {len(row_titles)} row titles for {rows} rows ({count} images, {ncols} per row); "
            "give one per row or set ncols"
        )
    height, width = (int(size) * scale for size in tiles[0].shape[-2:])
    band = _text.line_height(font_scale) + 2 if titles is not None else 0
    row_tops, y = [], pad
    for row in range(rows):
        y += band if row == 0 or not column_titles else 0
        row_tops.append(y)
        y += height + pad
    if row_titles is not None:
        left = max(_text.size(_text.clean(t), font_scale)[0] for t in row_titles) + 4
    else:
        left = 0
    canvas = np.full((y, pad + left + ncols * (width + pad), 3), float(background), np.float32)
    ink = (0.0, 0.0, 0.0) if background >= 0.5 else (1.0, 1.0, 1.0)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, ncols)
        y, x = row_tops[row], pad + left + col * (width + pad)
        pixels = tile.detach().to("cpu", torch.float32).clamp(0.0, 1.0).expand(3, -1, -1)
        if scale > 1:
            pixels = pixels.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
        canvas[y : y + height, x : x + width] = pixels.permute(1, 2, 0).numpy()
    if titles is not None:
        for index, title in enumerate(titles):
            row, col = (0, index) if column_titles else divmod(index, ncols)
            x = pad + left + col * (width + pad)
            text = _text.fit(title, width + pad, font_scale)
            _text.draw(canvas, text, x + width / 2, row_tops[row] - 1, ink, scale=font_scale, halign="center",
                       valign="bottom")  # fmt: skip
    if row_titles is not None:
        for row, text in enumerate(row_titles):
            _text.draw(canvas, text, pad + 1, row_tops[row] + height / 2, ink, scale=font_scale, valign="center")
    return torch.from_numpy(canvas).permute(2, 0, 1).contiguous()
