"""Per-channel normalisation of images: the ImageNet statistics, and the map both ways.

Models take *normalised* inputs: images in [0, 1], minus a per-channel mean, divided
by a per-channel standard deviation. :func:`normalize` does that and
:func:`denormalize` undoes it; both are pure functions of ``(N, C, H, W)`` tensors
(any shape with the channels at dim -3 works) and compute on the input's device and
in its dtype.

Example:
    >>> inputs = normalize(images, IMAGENET_MEAN, IMAGENET_STD)
    >>> torch.allclose(denormalize(inputs, IMAGENET_MEAN, IMAGENET_STD), images, atol=1e-6)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from revelio.errors import InputError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel ImageNet mean, the normalisation torchvision's classifiers expect."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel ImageNet standard deviation."""


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Images in [0, 1] ``(N, C, H, W)`` -> model inputs: ``(images - mean) / std`` per channel.

    Args:
        images: float images, channels at dim -3.
        mean: one value per channel.
        std: one value per channel, none zero.

    Returns:
        a new tensor of the same shape, device and dtype.

    Raises:
        InputError: ``images`` is not a floating-point tensor with ``len(mean)``
            channels at dim -3, or ``mean`` and ``std`` do not fit each other.
    """
    mean_, std_ = _stats(images, mean, std)
    return (images - mean_) / std_


def denormalize(inputs: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Model inputs ``(N, C, H, W)`` -> images in [0, 1] scale (not clamped): ``inputs * std + mean`` per channel.

    The inverse of :func:`normalize`; same arguments, same errors.
    """
    mean_, std_ = _stats(inputs, mean, std)
    return inputs * std_ + mean_


def _stats(like: Tensor, mean: Sequence[float], std: Sequence[float]) -> tuple[Tensor, Tensor]:
    """``mean`` and ``std`` as ``(C, 1, 1)`` tensors on ``like``'s device and in its dtype, checked against it."""
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if not mean or len(mean) != len(std):
        raise InputError(f"mean and std need one value per channel, got {len(mean)} and {len(std)}")
    if any(s == 0 for s in std):
        raise InputError(f"std must not be zero, got {std}")
    if not isinstance(like, Tensor):
        raise InputError(f"expected images as a torch.Tensor, got {type(like).__name__}")
    if not like.is_floating_point():
        raise InputError(f"expected floating-point images, got dtype {like.dtype}; convert uint8 images with .float() / 255")
    channels = len(mean)
    if like.ndim < 3 or like.shape[-3] != channels:
        raise InputError(f"expected images with {channels} channels at dim -3, got shape {tuple(like.shape)}")
    mean_ = torch.tensor(mean, dtype=like.dtype, device=like.device)[:, None, None]
    std_ = torch.tensor(std, dtype=like.dtype, device=like.device)[:, None, None]
    return mean_, std_


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "denormalize", "normalize"]
