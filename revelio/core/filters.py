"""Image filters in torch, batched and on the images' device: Gaussian and bilateral blur.

These are the pure functions behind :class:`~revelio.featureviz.regularizers.GaussianBlur`
and :class:`~revelio.featureviz.regularizers.BilateralBlur`. They follow the conventions
of the reference implementations they are tested against, so results can be compared:

- :func:`gaussian_blur` is ``scipy.ndimage.gaussian_filter`` over the two spatial axes:
  same kernel (``radius = int(truncate * sigma + 0.5)``, normalised samples of
  ``exp(-x^2 / 2 sigma^2)``) and the same boundary modes, by scipy's names.
- :func:`bilateral_blur` is OpenCV's ``cv2.bilateralFilter(src, d, sigmaColor,
  sigmaSpace)`` for float images: a disc-shaped window of radius ``d // 2``, spatial
  weight ``exp(-(dx^2 + dy^2) / 2 sigma_space^2)``, colour weight ``exp(-D^2 / 2
  sigma_color^2)`` where ``D`` is the *sum of absolute differences over channels*
  (L1), and ``BORDER_DEFAULT`` (``"mirror"`` here: ``d c b | a b c d | c b a``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

PADDING_MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
"""Boundary modes, named as in ``scipy.ndimage``:

- ``"reflect"``: ``d c b a | a b c d | d c b a`` (the edge sample is repeated; scipy's
  default; MATLAB's "symmetric");
- ``"mirror"``: ``d c b | a b c d | c b a`` (torch's ``"reflect"`` and OpenCV's
  ``BORDER_REFLECT_101`` / ``BORDER_DEFAULT``);
- ``"nearest"``: ``a a a | a b c d | d d d``;
- ``"wrap"``: ``b c d | a b c d | a b c``;
- ``"constant"``: zeros.
"""


def pad_axis(images: Tensor, dim: int, before: int, after: int, mode: str) -> Tensor:
    """Pad one axis of ``images`` by ``before`` and ``after`` samples with a scipy boundary mode.

    Any pad width works, also one larger than the axis (the image is reflected again).
    """
    _check_mode(mode)
    size = images.shape[dim]
    if before == 0 and after == 0:
        return images
    if mode == "constant":
        pad = [0, 0] * (images.ndim - dim % images.ndim - 1) + [before, after]
        return F.pad(images, pad)
    index = torch.arange(-before, size + after, device=images.device)
    if mode == "reflect":
        index = index % (2 * size)
        index = torch.where(index < size, index, 2 * size - 1 - index)
    elif mode == "mirror":
        if size == 1:
            index = torch.zeros_like(index)
        else:
            index = index % (2 * size - 2)
            index = torch.where(index < size, index, 2 * size - 2 - index)
    elif mode == "nearest":
        index = index.clamp(0, size - 1)
    else:  # wrap
        index = index % size
    return images.index_select(dim, index)


def gaussian_kernel1d(
    sigma: float, truncate: float = 4.0, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> Tensor:
    """The normalised 1-D Gaussian kernel scipy uses: ``2 * int(truncate * sigma + 0.5) + 1`` taps."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def gaussian_blur(images: Tensor, sigma: float, truncate: float = 4.0, mode: str = "reflect") -> Tensor:
    """Blur each channel of ``images`` with a Gaussian of standard deviation ``sigma`` pixels.

    A separable filter: two depthwise 1-D convolutions, along the height and then the
    width, each after padding that axis with the boundary ``mode``.

    Args:
        images: ``Tensor[N, C, H, W]``, floating point.
        sigma: standard deviation in pixels, ``>= 0`` (0 returns the images unchanged).
        truncate: the kernel reaches ``truncate`` standard deviations (scipy's default 4).
        mode: boundary mode, one of :data:`PADDING_MODES` (scipy's names and meanings).

    Returns:
        ``Tensor[N, C, H, W]``, equal to ``scipy.ndimage.gaussian_filter(images,
        sigma=(0, 0, sigma, sigma), truncate=truncate, mode=mode)``.
    """
    _check_images(images)
    _check_mode(mode)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if not (math.isfinite(truncate) and truncate > 0):
        raise ValueError(f"truncate must be a finite number > 0, got {truncate!r}")
    kernel = gaussian_kernel1d(sigma, truncate, dtype=images.dtype, device=images.device) if sigma > 0 else None
    if kernel is None or kernel.numel() == 1:
        return images.clone()
    n, c, h, w = images.shape
    radius = kernel.numel() // 2
    # One input channel per (image, channel) pair: a depthwise convolution, which is
    # faster on CPU written this way than with groups=C.
    flat = images.reshape(n * c, 1, h, w)
    flat = F.conv2d(pad_axis(flat, 2, radius, radius, mode), kernel.view(1, 1, -1, 1))
    flat = F.conv2d(pad_axis(flat, 3, radius, radius, mode), kernel.view(1, 1, 1, -1))
    return flat.reshape(n, c, h, w)


def bilateral_blur(
    images: Tensor,
    kernel_size: int,
    sigma_space: float,
    sigma_color: float,
    *,
    distance: str = "l1",
    mode: str = "mirror",
    offsets_per_pass: int | None = None,
) -> Tensor:
    """Edge-preserving blur: average neighbours weighted by distance in space and in colour.

    ``out_p = sum_q w_pq I_q / sum_q w_pq`` over ``q`` in a disc of radius
    ``kernel_size // 2`` around ``p``, with
    ``w_pq = exp(-|p - q|^2 / 2 sigma_space^2) * exp(-D(I_p, I_q)^2 / 2 sigma_color^2)``.
    The colour distance ``D`` is taken over all channels at once, so edges in any
    channel are kept in all. On the CPU the loop runs over the window's offsets one by
    one, so memory stays at a few images; on other devices offsets are stacked in groups
    (at most 256 MiB at a time) to launch fewer kernels.

    Args:
        images: ``Tensor[N, C, H, W]``, floating point; colour distances are in the
            images' units (for images in [0, 1], ``sigma_color=0.1`` is OpenCV's 25.5 on
            a 0-255 image).
        kernel_size: window diameter, odd, ``>= 1``; the window is the disc of radius
            ``kernel_size // 2`` (as OpenCV's ``d``).
        sigma_space: spatial standard deviation in pixels, ``> 0``.
        sigma_color: colour standard deviation, ``> 0``.
        distance: ``"l1"`` (sum of absolute channel differences, OpenCV's choice) or
            ``"l2"`` (Euclidean distance over channels).
        mode: boundary mode, one of :data:`PADDING_MODES`; ``"mirror"`` is OpenCV's
            ``BORDER_DEFAULT``.
        offsets_per_pass: window offsets computed together (a speed knob, same result):
            ``None`` picks 1 on the CPU and as many as fit in 256 MiB elsewhere.

    Returns:
        ``Tensor[N, C, H, W]``. With the defaults it equals ``cv2.bilateralFilter(image,
        kernel_size, sigma_color, sigma_space)`` on each float32 ``H x W x C`` image.

    Tomasi and Manduchi 1998, "Bilateral Filtering for Gray and Color Images".
    """
    _check_images(images)
    _check_mode(mode)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd integer >= 1, got {kernel_size!r}")
    for value, name in ((sigma_space, "sigma_space"), (sigma_color, "sigma_color")):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if distance not in ("l1", "l2"):
        raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}")
    radius = kernel_size // 2
    if radius == 0:
        return images.clone()
    padded = pad_axis(pad_axis(images, 2, radius, radius, mode), 3, radius, radius, mode)
    offsets = [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if 0 < dy * dy + dx * dx <= radius * radius
    ]
    # The centre has spatial and colour weight 1.
    numerator = images.clone()
    denominator = torch.ones_like(images[:, :1])
    color_coeff = -0.5 / sigma_color**2
    space_coeff = -0.5 / sigma_space**2
    # On the CPU a loop over offsets keeps memory at a few images and is fastest; on an
    # accelerator, kernel launches dominate, so offsets go in stacked groups.
    if offsets_per_pass is None:
        group = 1 if images.device.type == "cpu" else max(1, min(len(offsets), _STACK_BYTES // _nbytes(images)))
    elif isinstance(offsets_per_pass, int) and not isinstance(offsets_per_pass, bool) and offsets_per_pass >= 1:
        group = offsets_per_pass
    else:
        raise ValueError(f"offsets_per_pass must be None or an integer >= 1, got {offsets_per_pass!r}")
    h, w = images.shape[-2:]
    for first in range(0, len(offsets), group):
        chunk = offsets[first : first + group]
        if group == 1:
            dy, dx = chunk[0]
            neighbour = padded[:, :, radius + dy : radius + dy + h, radius + dx : radius + dx + w]
            weight = _squared_distance(neighbour - images, distance, dim=1).mul_(color_coeff).exp_()  # colour
            space = math.exp(space_coeff * (dy * dy + dx * dx))
            numerator.addcmul_(weight, neighbour, value=space)
            denominator.add_(weight, alpha=space)
        else:
            neighbours = torch.stack(
                [padded[:, :, radius + dy : radius + dy + h, radius + dx : radius + dx + w] for dy, dx in chunk], 2
            )  # (N, C, K, H, W)
            space = torch.tensor(
                [space_coeff * (dy * dy + dx * dx) for dy, dx in chunk], dtype=images.dtype, device=images.device
            ).view(1, 1, -1, 1, 1)
            squared = _squared_distance(neighbours - images.unsqueeze(2), distance, dim=1)
            weight = squared.mul_(color_coeff).add_(space).exp_()  # (N, 1, K, H, W)
            numerator += (weight * neighbours).sum(2)
            denominator += weight.sum(2)
    return numerator.div_(denominator)


_STACK_BYTES = 256 << 20
"""Memory for one group of stacked neighbours in :func:`bilateral_blur` off the CPU."""


def _squared_distance(difference: Tensor, distance: str, dim: int) -> Tensor:
    """Squared colour distance over ``dim``, computed in place in ``difference``."""
    # abs().sum() and square().sum(): torch.linalg.vector_norm over dim 1 is ~100x slower on CPU.
    if distance == "l1":
        return difference.abs_().sum(dim, keepdim=True).square_()
    return difference.square_().sum(dim, keepdim=True)


def _nbytes(images: Tensor) -> int:
    return images.numel() * images.element_size()


def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a floating-point Tensor[N, C, H, W], got {shape}")


def _check_mode(mode: str) -> None:
    if mode not in PADDING_MODES:
        raise ValueError(f"mode must be one of {PADDING_MODES} (scipy.ndimage's names), got {mode!r}")
