"""Where an image lands in a model's input, and how a map in the input goes back onto the image.

A model takes inputs of one size; images come in any size. A :class:`Placement` says
how one image becomes an input: scaled to :attr:`~Placement.scaled` pixels, then put
with its top-left corner at :attr:`~Placement.offset` in an input of
:attr:`~Placement.input_size` (a negative offset crops, a positive one pads). Three
ways to fit (:data:`FITS`):

- ``"crop"``: the shorter side scaled to ``resize_size``, then the centre
  ``input_size`` cut out (torchvision's evaluation transform): the model sees the
  centre, not the borders;
- ``"pad"``: scaled to fit inside ``input_size`` with its aspect ratio kept, the rest
  filled with the mean colour: the model sees the whole image, smaller;
- ``"stretch"``: scaled straight to ``input_size``: the whole image, its aspect ratio
  changed.

:meth:`Placement.to_image` takes a map of the input back to the image's own pixels:
the part the model saw is scaled back (bilinear), and every pixel the model did not
see (cut off by a crop) is NaN.

Sizes are ``(height, width)`` in the code and written ``WxH`` in messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.errors import InputError

Fit = Literal["crop", "pad", "stretch"]
FITS: tuple[str, ...] = ("crop", "pad", "stretch")
"""The ways :func:`place` fits an image into a model's input."""


@dataclass(frozen=True)
class Placement:
    """How one image of :attr:`image_size` becomes a model input of :attr:`input_size`.

    Attributes:
        image_size: ``(height, width)`` of the image.
        input_size: ``(height, width)`` of the model's input.
        scaled: ``(height, width)`` the image is resized to.
        offset: ``(top, left)`` of the resized image in the input; negative where it
            is cropped, positive where it is padded.
        fit: how it was fitted, one of :data:`FITS`.
    """

    image_size: tuple[int, int]
    input_size: tuple[int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    fit: Fit

    def _overlap(self) -> tuple[slice, slice, slice, slice]:
        """``(rows, cols)`` of the resized image and ``(rows, cols)`` of the input that show the same pixels."""
        (top, left), (height, width), (rows, cols) = self.offset, self.input_size, self.scaled
        r0, r1 = max(0, -top), min(rows, height - top)
        c0, c1 = max(0, -left), min(cols, width - left)
        return slice(r0, r1), slice(c0, c1), slice(r0 + top, r1 + top), slice(c0 + left, c1 + left)

    def seen_box(self) -> tuple[float, float, float, float]:
        """``(top, left, bottom, right)`` of the part of the image the model sees, in image pixels."""
        rows, cols, _, _ = self._overlap()
        sy, sx = self.scaled[0] / self.image_size[0], self.scaled[1] / self.image_size[1]
        return rows.start / sy, cols.start / sx, rows.stop / sy, cols.stop / sx

    @property
    def sees_everything(self) -> bool:
        """Whether every pixel of the image reaches the model."""
        rows, cols, _, _ = self._overlap()
        return (rows.start, cols.start, rows.stop, cols.stop) == (0, 0, *self.scaled)

    def to_input(self, images: Tensor, fill: Sequence[float]) -> Tensor:
        """Images ``(N, C, H, W)`` of :attr:`image_size`, float -> ``(N, C, h, w)`` of :attr:`input_size`.

        Resized bilinearly (antialiased), then cropped or padded with ``fill`` (one
        value per channel).
        """
        if tuple(images.shape[-2:]) != self.image_size:
            raise InputError(f"this placement is for {_wxh(self.image_size)} images, got {_wxh(images.shape[-2:])}")
        if tuple(images.shape[-2:]) != self.scaled:
            images = F.interpolate(images, size=self.scaled, mode="bilinear", antialias=True, align_corners=False)
        rows, cols, in_rows, in_cols = self._overlap()
        if self.offset == (0, 0) and self.scaled == self.input_size:
            return images
        values = torch.as_tensor(fill, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        canvas = values.expand(images.shape[0], images.shape[1], *self.input_size).clone()
        canvas[..., in_rows, in_cols] = images[..., rows, cols]
        return canvas

    def to_image(self, maps: Tensor) -> Tensor:
        """Maps of the input ``(N, C, h, w)`` or ``(C, h, w)`` -> maps of the image, NaN where the model saw nothing.

        The input's part that shows the image is scaled back to :attr:`image_size`
        (bilinear, antialiased when it shrinks); at the edge of what the model saw,
        only the seen pixels count (a normalised interpolation), so a constant map
        comes back constant. Pixels the model did not see (cut off by a crop) are NaN;
        padding is dropped. Returns ``float32`` (``float64`` for ``float64`` maps) on
        the maps' device.
        """
        single = maps.ndim == 3
        values = maps[None] if single else maps
        if values.ndim != 4 or tuple(values.shape[-2:]) != self.input_size:
            raise InputError(
                f"maps must be (N, C, H, W) or (C, H, W) of the input size {_wxh(self.input_size)}, "
                f"got shape {tuple(maps.shape)}"
            )
        dtype = torch.float64 if values.dtype == torch.float64 else torch.float32
        values = values.detach().to(dtype)
        rows, cols, in_rows, in_cols = self._overlap()
        n, c = values.shape[:2]
        frame = values.new_zeros(n, c, *self.scaled)
        weight = values.new_zeros(1, 1, *self.scaled)
        frame[..., rows, cols] = values[..., in_rows, in_cols]
        weight[..., rows, cols] = 1.0
        if self.scaled != self.image_size:
            shrink = self.image_size[0] < self.scaled[0] or self.image_size[1] < self.scaled[1]
            resize = {"size": self.image_size, "mode": "bilinear", "align_corners": False, "antialias": shrink}
            frame, weight = F.interpolate(frame, **resize), F.interpolate(weight, **resize)
        seen = weight >= 0.5
        result = torch.where(seen, frame / weight.clamp_min(1e-12), torch.full_like(frame, float("nan")))
        return result[0] if single else result

    def describe(self) -> str:
        """What happened to the image, in words (``""`` when it went in as it is)."""
        image, scaled, size = _wxh(self.image_size), _wxh(self.scaled), _wxh(self.input_size)
        if self.scaled == self.image_size and self.offset == (0, 0) and self.scaled == self.input_size:
            return ""
        resized = f"resized {image} to {scaled}, " if self.scaled != self.image_size else f"{image} "
        if self.fit == "stretch":
            aspect = "" if _same_aspect(self.image_size, self.input_size) else " (aspect ratio changed)"
            return f"stretched {image} to {size}{aspect}"
        if self.fit == "pad":
            return f"{resized}padded to {size} with the mean colour"
        if self.sees_everything:
            return f"{resized}cropped to {size}"
        top, left, bottom, right = self.seen_box()
        return (
            f"{resized}centre-cropped to {size}: the model saw x {left:.0f}-{right:.0f}, "
            f"y {top:.0f}-{bottom:.0f} of the image"
        )


def place(
    image_size: Sequence[int], input_size: Sequence[int], fit: Fit = "crop", resize_size: int | None = None
) -> Placement:
    """The :class:`Placement` of an image of ``image_size`` ``(H, W)`` in a model input of ``input_size``.

    Args:
        image_size: ``(height, width)`` of the image.
        input_size: ``(height, width)`` of the model's input.
        fit: ``"crop"``, ``"pad"`` or ``"stretch"`` (see the module's docstring).
        resize_size: for ``"crop"``, the length the shorter side is scaled to before
            the centre crop (default: the input's shorter side).

    Raises:
        InputError: an unknown ``fit``, or a size that is not positive.
    """
    h, w = (int(v) for v in image_size)
    height, width = (int(v) for v in input_size)
    if min(h, w, height, width) < 1:
        raise InputError(f"image and input sizes must be positive, got {_wxh((h, w))} and {_wxh((height, width))}")
    if fit == "stretch":
        return Placement((h, w), (height, width), (height, width), (0, 0), fit)
    if fit == "pad":
        scale = min(height / h, width / w)
        rows, cols = min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))
        return Placement((h, w), (height, width), (rows, cols), ((height - rows) // 2, (width - cols) // 2), fit)
    if fit == "crop":
        scale = (resize_size or min(height, width)) / min(h, w)
        rows, cols = max(height, round(h * scale)), max(width, round(w * scale))
        return Placement((h, w), (height, width), (rows, cols), (-((rows - height) // 2), -((cols - width) // 2)), fit)
    raise InputError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")


def _same_aspect(a: Sequence[int], b: Sequence[int]) -> bool:
    return abs(a[0] * b[1] - a[1] * b[0]) <= max(a[0], a[1], b[0], b[1])


def _wxh(size: Sequence[int]) -> str:
    return f"{int(size[-1])}x{int(size[-2])}"


__all__ = ["FITS", "Fit", "Placement", "place"]
