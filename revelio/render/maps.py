"""Attribution maps -> values ready to display: robust per-example scaling, display kinds."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from revelio.errors import InputError
from revelio.render.colormaps import colormap

DisplayKind = Literal["heat", "signed", "gray"]
DISPLAY_KINDS: tuple[str, ...] = ("heat", "signed", "gray")
"""Kinds :func:`to_display` accepts."""


def _check_maps(maps: object, what: str = "maps") -> Tensor:
    if not isinstance(maps, Tensor):
        raise InputError(f"{what} must be a torch.Tensor, got {type(maps).__name__}")
    if maps.ndim != 4 or maps.shape[0] == 0 or maps.numel() == 0:
        raise InputError(
            f"{what} must be a non-empty batch (N, C, H, W), got shape {tuple(maps.shape)}; "
            "add a batch dimension with maps.unsqueeze(0)"
        )
    if maps.is_complex():
        raise InputError(f"{what} must be real, got dtype {maps.dtype}")
    values = maps.detach()
    values = values.to(torch.float64) if values.dtype == torch.float64 else values.to(torch.float32)
    finite = torch.isfinite(values).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise InputError(
            f"{what} contain NaN or infinity (examples {bad}); check the model's output, "
            "or replace them with torch.nan_to_num before rendering"
        )
    return values


def _percentile(magnitude: Tensor, q: float) -> Tensor:
    """Per-row ``q``-th percentile of ``(N, K)`` values, linear interpolation (as numpy's default)."""
    ordered = magnitude.sort(dim=1).values
    position = q / 100.0 * (ordered.shape[1] - 1)
    low = int(position)
    high = min(low + 1, ordered.shape[1] - 1)
    fraction = position - low
    return ordered[:, low] + fraction * (ordered[:, high] - ordered[:, low])


def _scale(values: Tensor, percentile: float) -> Tensor:
    if not 0.0 < float(percentile) <= 100.0:
        raise InputError(f"percentile must be in (0, 100], got {percentile}; 99.5 is the usual choice")
    magnitude = values.abs().flatten(1)
    scale = _percentile(magnitude, float(percentile))
    scale = torch.where(scale > 0, scale, magnitude.amax(dim=1))
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def display_scale(maps: Tensor, kind: DisplayKind = "heat", *, percentile: float = 99.5) -> Tensor:
    """The value each example's display saturates at: what the top of its colour bar stands for.

    The ``percentile``-th percentile of ``|map|`` (of ``max_c |map_c|`` for ``"heat"`` and
    ``"gray"``), as :func:`normalize_map` and :func:`to_display` use it: ``(N,)``, in the
    maps' units. A ``"heat"`` display shows 0 to this value; a ``"signed"`` one minus it
    to plus it, 0 as grey.
    """
    values = _check_maps(maps)
    if kind in ("heat", "gray"):
        values = values.abs().amax(dim=1, keepdim=True)
    elif kind != "signed":
        raise InputError(f"unknown display kind {kind!r}; choose one of {', '.join(DISPLAY_KINDS)}")
    return _scale(values, percentile)


def normalize_map(maps: Tensor, *, percentile: float = 99.5, signed: bool = False) -> Tensor:
    """Scale attribution maps to [0, 1] for display, each example on its own.

    The scale of an example is the ``percentile``-th percentile of ``|map|`` over all its
    values (linear interpolation, like ``numpy.percentile``), so a few extreme pixels do
    not wash out the rest. When that percentile is 0 (a sparse map) the maximum of
    ``|map|`` is used; an all-zero map gives zeros (0.5 when ``signed``), never NaN.

    Args:
        maps: ``(N, C, H, W)`` (``C`` is usually 1 or 3), any real dtype and device.
        percentile: in (0, 100]; 100 scales by the maximum (no clipping).
        signed: ``False`` shows magnitude: ``min(|map| / scale, 1)``, so 0 -> 0 and
            anything at or above the scale -> 1. ``True`` keeps the sign, symmetric
            around 0.5: ``0.5 + 0.5 * clip(map / scale, -1, 1)``; negative values fall
            below 0.5, positive above.

    Returns:
        Same shape and device as ``maps``, values in [0, 1] (``float32``, or ``float64``
        for ``float64`` maps).
    """
    values = _check_maps(maps)
    scale = _scale(values, percentile).view(-1, 1, 1, 1)
    if signed:
        return 0.5 + 0.5 * (values / scale).clamp(-1.0, 1.0)
    return (values.abs() / scale).clamp(0.0, 1.0)


def to_display(
    maps: Tensor,
    kind: DisplayKind = "heat",
    *,
    cmap: str | None = None,
    percentile: float = 99.5,
) -> Tensor:
    """Turn attribution maps into RGB images to look at.

    Args:
        maps: ``(N, C, H, W)`` attribution maps, any device.
        kind: how to show them:

            - ``"heat"``: magnitude as a heatmap: ``max_c |map_c|``, then
              :func:`normalize_map`, then colormap ``cmap`` (default ``"inferno"``,
              perceptually uniform: brighter is more). For saliency and CAM maps.
            - ``"signed"``: the sign kept, around grey 0.5 (the guided backpropagation
              display): 3-channel maps stay RGB, each channel normalised with
              ``signed=True`` by one per-example scale; 1-channel maps become grey, or
              colormap ``cmap`` when given (``"coolwarm"`` suits them).
            - ``"gray"``: ``max_c |map_c|`` normalised, as grey levels (``cmap``
              overrides ``"gray"``).
        cmap: colormap name, see :data:`revelio.render.COLORMAPS`.
        percentile: passed to :func:`normalize_map`.

    Returns:
        ``float32`` RGB images ``(N, 3, H, W)`` in [0, 1] on the maps' device.
    """
    values = _check_maps(maps)
    if kind == "heat" or kind == "gray":
        magnitude = values.abs().amax(dim=1, keepdim=True)
        normalised = normalize_map(magnitude, percentile=percentile)
        name = cmap if cmap is not None else ("inferno" if kind == "heat" else "gray")
        return colormap(normalised, name)
    if kind == "signed":
        channels = values.shape[1]
        if channels not in (1, 3):
            raise InputError(
                f"kind='signed' needs maps with 1 or 3 channels, got {channels}; reduce them first, or use kind='heat'"
            )
        normalised = normalize_map(values, percentile=percentile, signed=True).float()
        if channels == 3:
            return normalised
        return colormap(normalised, cmap) if cmap is not None else normalised.expand(-1, 3, -1, -1).contiguous()
    raise InputError(f"unknown display kind {kind!r}; choose one of {', '.join(DISPLAY_KINDS)}")
