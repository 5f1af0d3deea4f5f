"""Reduce attribution maps to one value per pixel, the form every score compares.

Input methods give input-shaped maps ``(N, C, H, W)``, CAM methods ``(N, 1, H, W)``;
the scores of :mod:`revelio.eval` read both as per-pixel values:

- :func:`heat`: ``sum_c |map_c|``, how much each pixel matters, whatever the sign;
- :func:`signed_heat`: ``sum_c map_c``, the signed evidence;
- :func:`normalized_heat`: heat divided by its own high percentile and clipped to
  [0, 1], the display scale;
- :func:`minmax_heat`: heat scaled to [0, 1] by its own minimum and maximum, the
  normalisation on which Adebayo et al. 2018 compare maps by SSIM.
"""

from __future__ import annotations

import torch
from torch import Tensor

from revelio.errors import InputError


def heat(maps: Tensor) -> Tensor:
    """``Tensor[N, H, W]``: the sum over channels of ``|map|`` for maps ``(N, C, H, W)`` or ``(N, H, W)``."""
    if maps.ndim == 3:
        return maps.abs()
    if maps.ndim != 4:
        raise InputError(f"maps must be (N, C, H, W) or (N, H, W), got shape {tuple(maps.shape)}")
    return maps.abs().sum(dim=1)


def signed_heat(maps: Tensor) -> Tensor:
    """``Tensor[N, H, W]``: the sum over channels of the signed map."""
    if maps.ndim == 3:
        return maps
    if maps.ndim != 4:
        raise InputError(f"maps must be (N, C, H, W) or (N, H, W), got shape {tuple(maps.shape)}")
    return maps.sum(dim=1)


def normalized_heat(values: Tensor, percentile: float = 99.5) -> Tensor:
    """Heat ``Tensor[N, H, W]`` (non-negative) scaled per map to [0, 1] by its ``percentile``, clipped.

    A map that is zero up to that percentile is scaled by its maximum instead; an
    all-zero map stays zero.
    """
    if values.ndim != 3:
        raise InputError(f"normalized_heat expects heat maps (N, H, W), got shape {tuple(values.shape)}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    flat = values.flatten(1).float()
    scale = torch.quantile(flat, percentile / 100, dim=1)
    scale = torch.where(scale > 0, scale, flat.amax(dim=1))
    scaled = flat / scale.clamp_min(torch.finfo(flat.dtype).tiny)[:, None]
    return scaled.clamp(0.0, 1.0).view_as(values)


def minmax_heat(values: Tensor) -> Tensor:
    """Heat ``Tensor[N, H, W]`` scaled per map to [0, 1]: ``(h - min) / (max - min)``; a constant map becomes 0."""
    if values.ndim != 3:
        raise InputError(f"minmax_heat expects heat maps (N, H, W), got shape {tuple(values.shape)}")
    flat = values.flatten(1).float()
    low, high = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    span = high - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(torch.finfo(flat.dtype).tiny), torch.zeros_like(flat))
    return scaled.view_as(values)
