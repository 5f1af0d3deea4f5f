"""How alike two batches of maps are: rank correlation, linear correlation, structural similarity.

Every measure compares ``a[i]`` with ``b[i]`` and returns one value per pair,
``Tensor[N]``; everything after the first dimension is flattened (rank and linear
correlation) or read as an image (SSIM). They are the similarity measures of the
model-randomization tests (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"):

- :func:`spearman`: Spearman rank correlation, ties at their average rank (so maps
  with many zeros, such as a Grad-CAM after its ReLU, are ranked as scipy ranks them);
  ``absolute=True`` correlates ``|a|`` with ``|b|``, Adebayo et al.'s "absolute value" variant;
- :func:`pearson`: Pearson correlation;
- :func:`ssim`: the structural similarity index of Wang, Bovik, Sheikh, Simoncelli 2004,
  "Image Quality Assessment: From Error Visibility to Structural Similarity".

A correlation with a constant map is undefined: it is ``nan``, never a silent 0 that
would read as "decorrelated". :func:`constant` tells which maps are constant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.errors import InputError


def constant(maps: Tensor) -> Tensor:
    """Whether each map of ``maps`` (``Tensor[N, ...]``) holds one value only, ``Tensor[N]`` of bool."""
    flat = _flat(maps, "maps")
    return flat.amax(dim=1) == flat.amin(dim=1)


def rank(values: Tensor) -> Tensor:
    """Ranks 1..P of each row of ``values`` (``Tensor[N, P]``), ties at their average rank.

    The same as ``scipy.stats.rankdata(row, method="average")`` for every row.
    """
    if values.ndim != 2:
        raise InputError(f"rank expects rows Tensor[N, P], got shape {tuple(values.shape)}")
    n, p = values.shape
    sorted_values, order = values.sort(dim=1, stable=True)
    new_group = torch.ones_like(sorted_values, dtype=torch.bool)
    new_group[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    # group ids unique over the whole batch, so that one scatter handles every row
    group = new_group.flatten().cumsum(0) - 1
    position = torch.arange(p, device=values.device, dtype=torch.float64).repeat(n)
    groups = int(group[-1]) + 1 if group.numel() else 0
    first = torch.full((groups,), float(p), dtype=torch.float64, device=values.device)
    last = torch.zeros(groups, dtype=torch.float64, device=values.device)
    first.scatter_reduce_(0, group, position, reduce="amin")
    last.scatter_reduce_(0, group, position, reduce="amax")
    average = ((first + last) / 2 + 1)[group].view(n, p)
    ranks = torch.empty_like(average)
    ranks.scatter_(1, order, average)
    return ranks


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of each pair of maps, ``Tensor[N]`` (``nan`` where a map is constant).

    Args:
        a: ``Tensor[N, ...]``.
        b: a tensor of the same shape.
    """
    x, y = _pair(a, b)
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    denominator = x.norm(dim=1) * y.norm(dim=1)
    correlation = (x * y).sum(dim=1) / denominator
    correlation = torch.where(denominator > 0, correlation.clamp(-1.0, 1.0), torch.full_like(correlation, math.nan))
    return correlation.to(_result_dtype(a, b))


def spearman(a: Tensor, b: Tensor, *, absolute: bool = False) -> Tensor:
    """Spearman rank correlation of each pair of maps, ``Tensor[N]`` (``nan`` where a map is constant).

    Args:
        a: ``Tensor[N, ...]``.
        b: a tensor of the same shape.
        absolute: correlate ``|a|`` with ``|b|`` (the "absolute value" rank correlation
            of Adebayo et al. 2018), which ignores the sign of the evidence.

    The Pearson correlation of the average ranks: ``scipy.stats.spearmanr`` per pair.
    """
    x, y = _pair(a, b)
    if absolute:
        x, y = x.abs(), y.abs()
    return pearson(rank(x), rank(y)).to(_result_dtype(a, b))


def ssim(
    a: Tensor,
    b: Tensor,
    *,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Mean structural similarity of each pair of images, ``Tensor[N]`` in [-1, 1].

    ``SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``
    with local statistics under a Gaussian window, ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``
    and ``L = data_range``, averaged over every position where the window fits inside
    the image (no padding) and over channels.

    Args:
        a: ``Tensor[N, H, W]`` or ``Tensor[N, C, H, W]``; maps scaled to [0, data_range].
        b: a tensor of the same shape.
        data_range: the value range ``L`` of the images.
        window_size: side of the Gaussian window, odd; at most the image's height and width.
        sigma: standard deviation of the window, in pixels.
        k1: the luminance constant.
        k2: the contrast constant.

    Wang, Bovik, Sheikh, Simoncelli 2004, "Image Quality Assessment: From Error
    Visibility to Structural Similarity" (their defaults: 11x11 window, sigma 1.5, K1 0.01,
    K2 0.03). Equals ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=L)`` for 2-D images.
    """
    if a.shape != b.shape:
        raise InputError(f"ssim compares maps of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim not in (3, 4):
        raise InputError(f"ssim expects maps (N, H, W) or (N, C, H, W), got shape {tuple(a.shape)}")
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size must be a positive odd integer, got {window_size}")
    if min(a.shape[-2:]) < window_size:
        raise InputError(
            f"ssim needs maps at least {window_size}x{window_size}, got {tuple(a.shape[-2:])}; "
            "pass a smaller window_size"
        )
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    x = (a if a.ndim == 4 else a[:, None]).double()
    y = (b if b.ndim == 4 else b[:, None]).double().to(x.device)
    n = x.shape[0]
    coordinates = torch.arange(window_size, dtype=torch.float64, device=x.device) - window_size // 2
    kernel = torch.exp(-0.5 * (coordinates / sigma) ** 2)
    kernel = kernel / kernel.sum()

    def local_mean(images: Tensor) -> Tensor:
        flat = images.reshape(-1, 1, *images.shape[-2:])
        flat = F.conv2d(flat, kernel.view(1, 1, -1, 1))
        return F.conv2d(flat, kernel.view(1, 1, 1, -1))

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return index.view(n, -1).mean(dim=1).to(_result_dtype(a, b))


def _flat(maps: Tensor, name: str) -> Tensor:
    if not isinstance(maps, Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(maps).__name__}")
    if maps.ndim < 2:
        raise InputError(f"{name} must be a batch Tensor[N, ...] of maps, got shape {tuple(maps.shape)}")
    return maps.reshape(maps.shape[0], -1)


def _pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    x, y = _flat(a, "a"), _flat(b, "b")
    if a.shape != b.shape:
        raise InputError(f"maps to compare must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return x.double(), y.double().to(x.device)


def _result_dtype(a: Tensor, b: Tensor) -> torch.dtype:
    dtype = torch.promote_types(a.dtype, b.dtype)
    return dtype if dtype.is_floating_point else torch.get_default_dtype()


def hog(maps: Tensor, *, orientations: int = 9, cell: int = 8, block: int = 3) -> Tensor:
    """Histograms of oriented gradients of single-channel maps ``Tensor[N, H, W]``: ``Tensor[N, D]``.

    Dalal and Triggs 2005, with scikit-image's ``feature.hog`` defaults, computed the same
    way (its test compares them): central differences (zero on the border rows and
    columns), unsigned orientations in ``orientations`` bins of ``180 / orientations``
    degrees with no interpolation, the mean magnitude per ``cell x cell`` cell, and
    overlapping ``block x block`` blocks of cells normalised by L2-Hys (L2, clipped at
    0.2, L2 again, ``eps = 1e-5``).
    """
    if maps.ndim != 3:
        raise InputError(f"hog expects maps (N, H, W), got shape {tuple(maps.shape)}")
    n, h, w = maps.shape
    rows, columns = h // cell, w // cell
    if rows < block or columns < block:
        raise InputError(f"maps of {h}x{w} hold fewer than {block}x{block} cells of {cell} pixels")
    x = maps.detach().double()
    g_row, g_col = torch.zeros_like(x), torch.zeros_like(x)
    g_row[:, 1:-1] = x[:, 2:] - x[:, :-2]
    g_col[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    magnitude = torch.hypot(g_row, g_col)[:, : rows * cell, : columns * cell]
    angle = torch.rad2deg(torch.atan2(g_row, g_col)).remainder(180.0)[:, : rows * cell, : columns * cell]
    bins = torch.floor(angle / (180.0 / orientations)).long().clamp(0, orientations - 1)
    weighted = F.one_hot(bins, orientations).double() * magnitude[..., None]
    cells = weighted.view(n, rows, cell, columns, cell, orientations).sum(dim=(2, 4)) / (cell * cell)
    block_rows, block_columns = rows - block + 1, columns - block + 1
    blocks = torch.stack(
        [
            torch.stack([cells[:, r : r + block_rows, c : c + block_columns] for c in range(block)], dim=3)
            for r in range(block)
        ],
        dim=3,
    )  # [N, block_rows, block_columns, block, block, orientations]
    eps = 1e-5
    flat = blocks.flatten(3)
    flat = flat / torch.sqrt((flat**2).sum(dim=-1, keepdim=True) + eps**2)
    flat = flat.clamp(max=0.2)
    flat = flat / torch.sqrt((flat**2).sum(dim=-1, keepdim=True) + eps**2)
    return flat.flatten(1)


def hog_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of the :func:`hog` descriptors of two batches of maps ``(N, H, W)``, ``Tensor[N]``.

    The HOG similarity of Adebayo et al. 2018 (Fig. 4); ``nan`` where a map is constant,
    and for maps too small to hold one block of cells (under 24 pixels a side).
    """
    if a.ndim == 3 and min(a.shape[-2:]) < 24:
        return torch.full((a.shape[0],), math.nan, dtype=_result_dtype(a, b), device=a.device)
    return pearson(hog(a), hog(b)).to(_result_dtype(a, b))
