"""Decorrelated colour: optimise channels that are uncorrelated in natural images, then mix them.

The colour channels of natural images are strongly correlated (mostly brightness).
Olah, Mordvintsev and Schubert (2017, "Feature Visualization", section
"Preconditioning and parameterization") optimise decorrelated channels ``z`` instead
and map them to colours with the square root of the colour covariance, ``x = M z``,
normalised so that its largest column has unit norm; a sigmoid then keeps the image in
[0, 1]. :class:`ColorMap` is that map and its inverse, for any number of channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from revelio.errors import InputError, SettingError, SettingTypeError

IMAGENET_COLOR_CORRELATION: tuple[tuple[float, float, float], ...] = (
    (0.26, 0.09, 0.02),
    (0.27, 0.00, -0.05),
    (0.27, -0.09, 0.03),
)
"""The square root of ImageNet's RGB colour covariance (``U sqrt(S)`` of its SVD), as lucid
ships it (``color_correlation_svd_sqrt``): row = output colour, column = decorrelated channel."""

SQUASHES: tuple[str, ...] = ("sigmoid", "linear")
"""How a parameterization's unbounded values become [0, 1] images: ``"sigmoid"`` (always in
range) or ``"linear"`` (``0.5 + values``; the visualizer's clamp keeps the range)."""

MAX_CONDITION = 1e4
"""The largest condition number a colour matrix may have (it must be safely invertible)."""

ColorSpec = str | Tensor | Sequence[Sequence[float]] | None
"""A colour matrix: ``None`` (identity: colours as they are), ``"imagenet"``
(:data:`IMAGENET_COLOR_CORRELATION`, 3 channels), ``"auto"`` (ImageNet's for 3 channels,
identity otherwise), or a ``C x C`` matrix such as :func:`color_matrix_from_images` gives."""


def normalize_columns(matrix: Tensor) -> Tensor:
    """``matrix`` divided by the largest Euclidean norm of its columns (lucid's normalisation)."""
    return matrix / torch.linalg.vector_norm(matrix, dim=0).max()


def color_matrix_from_images(images: Tensor) -> Tensor:
    """The square root of the images' channel covariance, ``U sqrt(S)``, with unit largest column norm.

    Args:
        images: ``Tensor[N, C, H, W]`` in [0, 1] (a few natural images of the model's domain).

    Returns:
        ``Tensor[C, C]`` (float64, on the CPU), to pass as ``color=``.

    Raises:
        InputError: not a floating ``(N, C, H, W)`` tensor, or constant images (no covariance).
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise InputError("images must be a floating-point Tensor[N, C, H, W] in [0, 1]")
    pixels = images.detach().double().cpu().transpose(0, 1).reshape(images.shape[1], -1)
    centred = pixels - pixels.mean(dim=1, keepdim=True)
    covariance = centred @ centred.T / max(1, centred.shape[1] - 1)
    u, s, _ = torch.linalg.svd(covariance)
    if float(s.max()) <= 0:
        raise InputError("the images have no colour variation; give natural images of the model's domain")
    return normalize_columns(u * s.clamp_min(0).sqrt())


def as_color_matrix(color: ColorSpec, channels: int) -> Tensor:
    """``color`` as a checked ``Tensor[C, C]`` (float64, CPU) for images of ``channels`` channels.

    Raises:
        SettingError: an unknown name, ``"imagenet"`` for other than 3 channels, a matrix of
            the wrong shape, not finite, or too close to singular to invert.
        SettingTypeError: neither a name, ``None`` nor a matrix.
    """
    if color is None or color == "identity" or (color == "auto" and channels != 3):
        return torch.eye(channels, dtype=torch.float64)
    if isinstance(color, str):
        if color not in ("imagenet", "auto"):
            raise SettingError(f"color must be None, 'identity', 'imagenet', 'auto' or a CxC matrix, got {color!r}")
        if channels != 3:
            raise SettingError(
                f"color='imagenet' is ImageNet's RGB correlation, for 3 channels; the images have {channels}. "
                "Use color='auto' (identity for other channel counts) or color_matrix_from_images(images)"
            )
        return normalize_columns(torch.tensor(IMAGENET_COLOR_CORRELATION, dtype=torch.float64))
    try:
        matrix = torch.as_tensor(color, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise SettingTypeError(f"color must be a name or a CxC matrix, got {type(color).__name__}") from None
    if matrix.shape != (channels, channels):
        raise SettingError(f"color must be a {channels}x{channels} matrix for {channels}-channel images, got {tuple(matrix.shape)}")
    if not bool(torch.isfinite(matrix).all()):
        raise SettingError("the colour matrix holds NaN or infinite values")
    condition = float(torch.linalg.cond(matrix))
    if not condition <= MAX_CONDITION:
        raise SettingError(
            f"the colour matrix is too close to singular to invert (condition number {condition:.3g} > {MAX_CONDITION:g})"
        )
    return matrix


class ColorMap:
    """Decorrelated values ``z`` -> images in [0, 1], and back: ``squash(M z)`` per pixel.

    Args:
        matrix: ``Tensor[C, C]``, the colour mixing (:func:`as_color_matrix`).
        squash: ``"sigmoid"``: ``x = sigmoid(M z)``; ``"linear"``: ``x = 0.5 + M z``.

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization" (lucid's
    ``_linear_decorrelate_color`` and ``to_valid_rgb``).
    """

    EPS = 1e-4
    """:meth:`inverse` clamps images to ``[EPS, 1 - EPS]`` before the sigmoid's inverse."""

    def __init__(self, matrix: Tensor, squash: str = "sigmoid") -> None:
        if squash not in SQUASHES:
            raise SettingError(f"squash must be one of {SQUASHES}, got {squash!r}")
        self.matrix = matrix.double()
        self.inverse_matrix = torch.linalg.inv(self.matrix)
        self.squash = squash
        self._identity = bool(torch.equal(self.matrix, torch.eye(matrix.shape[0], dtype=torch.float64)))
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    def _matrices(self, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = (self.matrix.to(like.device, like.dtype), self.inverse_matrix.to(like.device, like.dtype))
        return self._cache[key]

    def __call__(self, values: Tensor) -> Tensor:
        """``Tensor[N, C, H, W]`` decorrelated values -> images in [0, 1] (differentiable)."""
        if not self._identity:
            values = torch.einsum("ck,nkhw->nchw", self._matrices(values)[0], values)
        return torch.sigmoid(values) if self.squash == "sigmoid" else values + 0.5

    def inverse(self, images: Tensor) -> Tensor:
        """Images in [0, 1] -> decorrelated values (images clamped to ``[EPS, 1 - EPS]`` for the sigmoid)."""
        if self.squash == "sigmoid":
            values = torch.logit(images.clamp(self.EPS, 1.0 - self.EPS))
        else:
            values = images - 0.5
        if self._identity:
            return values
        return torch.einsum("ck,nkhw->nchw", self._matrices(images)[1], values)
