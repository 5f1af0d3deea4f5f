"""Where a map points, scored against ground-truth object masks.

Maps are reduced to one non-negative heat value per pixel by :func:`heat`
(``sum_c |map_c|``), so input-shaped maps (saliency, guided backprop) and CAMs
(``(N, 1, H, W)``) are scored alike. Masks are boolean ``Tensor[N, H, W]``.

- Pointing game (Zhang et al. 2016, "Top-down Neural Attention by Excitation
  Backprop", as TorchRay's ``benchmark/pointing_game.py`` computes it): a hit when a
  mask pixel lies at Euclidean distance strictly below ``tolerance`` from the map's
  maximum; hit rates are averaged per class.
- Relevance mass accuracy and relevance rank accuracy (Arras, Osman, Samek 2022,
  "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural network
  explanations"): the share of the map's mass inside the mask, and the share of the
  mask-sized top of the map that falls inside the mask.
- Class discrimination (:func:`class_discrimination`): with two objects of different
  classes in one image, the map asked for one class should put its mass on that
  object, not on the other one.

Scores mean little on their own: compare them with the baselines
:func:`centre_baseline` (a centred Gaussian, what a photographer's bias earns) and
:func:`random_baseline` (uniform noise, what chance earns).
"""

from __future__ import annotations

import torch
from torch import Tensor

from revelio.errors import InputError
from revelio.eval.maps import heat

TORCHRAY_TOLERANCE = 15
"""TorchRay's pointing-game tolerance in pixels, at 224x224 inputs (Zhang et al. 2016)."""


def scaled_tolerance(height: int, width: int) -> float:
    """TorchRay's 15 pixels at 224, scaled to an image of ``height x width`` (by the shorter side)."""
    return TORCHRAY_TOLERANCE * min(height, width) / 224


def pointing_points(maps: Tensor) -> Tensor:
    """The maximum of each map, ``Tensor[N, 2]`` of ``(row, column)``; ``(-1, -1)`` for a constant map.

    Ties go to the first maximum in row-major order.
    """
    values = heat(maps).float()
    flat = values.flatten(1)
    top = flat.argmax(dim=1)
    rows, columns = top // values.shape[-1], top % values.shape[-1]
    points = torch.stack([rows, columns], dim=1)
    constant = flat.amax(dim=1) == flat.amin(dim=1)
    return torch.where(constant[:, None], torch.full_like(points, -1), points)


def pointing_game(maps: Tensor, masks: Tensor, tolerance: float = 0.0) -> Tensor:
    """Whether each map's maximum hits its mask, ``Tensor[N]`` of bool, as TorchRay scores it.

    Args:
        maps: attribution maps, ``(N, C, H, W)`` or ``(N, H, W)``.
        masks: ``Tensor[N, H, W]`` of bool, the object each map should point at.
        tolerance: a hit when a mask pixel lies at Euclidean distance strictly below
            ``tolerance`` from the maximum (TorchRay's ``PointingGame.evaluate``: a disk,
            ``d^2 < tolerance^2``; 15 px at 224, :func:`scaled_tolerance`). ``0`` (which
            TorchRay's strict rule would make a miss everywhere) means the maximum's own
            pixel must lie on the mask.

    A constant map (no maximum) is a miss. Aggregate per class with
    :func:`~revelio.eval.uncertainty.bootstrap_mean` (``groups=``), as TorchRay averages
    its hit rate per class.
    """
    values = _check(maps, masks)
    if tolerance < 0:
        raise InputError(f"tolerance must be >= 0 pixels, got {tolerance}")
    _, h, w = values.shape
    points = pointing_points(values).to(values.device)
    rows = torch.arange(h, device=values.device, dtype=torch.float32)
    columns = torch.arange(w, device=values.device, dtype=torch.float32)
    squared = (rows[None, :, None] - points[:, 0, None, None].float()) ** 2 + (
        columns[None, None, :] - points[:, 1, None, None].float()
    ) ** 2  # [N, H, W]
    accept = (squared < tolerance**2) | (squared == 0)
    hit = (masks & accept).flatten(1).any(dim=1)
    return hit & (points[:, 0] >= 0)


def relevance_mass(maps: Tensor, masks: Tensor) -> Tensor:
    """Share of each map's heat inside its mask, ``Tensor[N]`` in [0, 1] (0 for an all-zero map)."""
    values = _check(maps, masks)
    total = values.flatten(1).sum(dim=1)
    inside = (values * masks).flatten(1).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp_min(torch.finfo(values.dtype).tiny), torch.zeros_like(total))


def relevance_rank(maps: Tensor, masks: Tensor) -> Tensor:
    """Share of each map's ``K`` hottest pixels inside its mask, ``K`` the mask's size, ``Tensor[N]``.

    Ties are broken by pixel order; a constant map scores the mask's share of the
    image's first ``K`` pixels, so compare with a random baseline, not with zero.
    """
    values = _check(maps, masks)
    flat, flat_masks = values.flatten(1), masks.flatten(1)
    sizes = flat_masks.sum(dim=1)
    order = flat.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    in_top = ranks < sizes[:, None]
    hits = (in_top & flat_masks).sum(dim=1).float()
    return torch.where(sizes > 0, hits / sizes.clamp_min(1).float(), torch.zeros_like(hits))


def class_discrimination(maps: Tensor, masks: Tensor, other_masks: Tensor) -> Tensor:
    """Share of heat in the asked object's mask minus the share in the other object's, ``Tensor[N]`` in [-1, 1].

    Args:
        maps: maps for the class of the object in ``masks``, ``(N, C, H, W)`` or ``(N, H, W)``.
        masks: ``Tensor[N, H, W]`` of bool, the object of the class asked for.
        other_masks: ``Tensor[N, H, W]`` of bool, another object of another class in
            the same image.

    A class-discriminative map scores near the asked object's relevance mass; a map
    that lights up both objects whatever the class asked scores near 0.
    """
    return relevance_mass(maps, masks) - relevance_mass(maps, other_masks)


def centre_baseline(n: int, height: int, width: int, *, sigma: float = 0.25, device=None) -> Tensor:
    """``n`` copies of a centred Gaussian map, ``Tensor[n, H, W]``; ``sigma`` in units of the image side.

    The baseline of the pointing game's "centre" rule: a map that always points at
    the middle of the image.
    """
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height - 0.5
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width - 0.5
    gaussian = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))
    return gaussian.expand(n, height, width).clone()


def random_baseline(n: int, height: int, width: int, *, seed: int = 0, device=None) -> Tensor:
    """``n`` maps of uniform noise, ``Tensor[n, H, W]``, drawn with ``seed``: what chance scores."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, height, width, generator=generator).to(device)


def _check(maps: Tensor, masks: Tensor) -> Tensor:
    values = heat(maps).float()
    if masks.shape != values.shape:
        raise InputError(
            f"masks must be (N, H, W) matching the maps' {tuple(values.shape)}, got {tuple(masks.shape)}; "
            "upsample the maps to the mask size first"
        )
    if masks.dtype != torch.bool:
        raise InputError(f"masks must be boolean, got {masks.dtype}")
    return values
