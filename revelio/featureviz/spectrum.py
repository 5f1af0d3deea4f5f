"""Fourier helpers of the parameterizations: frequencies, the 1/f scaling, natural magnitude spectra.

All spectra are the half spectra of real images (``torch.fft.rfft2`` with
``norm="ortho"``): ``Tensor[..., H, W // 2 + 1]``. Natural images have an amplitude
spectrum that falls as ``1 / f`` (Field 1987, "Relations between the statistics of
natural images and the response properties of cortical cells"); scaling the
coefficients that the optimiser moves by it makes a normalised step change low
frequencies more than high ones (Olah, Mordvintsev and Schubert 2017, "Feature
Visualization").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.errors import InputError


def frequencies(size: tuple[int, int], *, dtype: torch.dtype = torch.float64) -> Tensor:
    """``Tensor[H, W // 2 + 1]``: the spatial frequency ``sqrt(fy^2 + fx^2)`` of each rfft2 bin, in cycles per pixel."""
    height, width = size
    fy = torch.fft.fftfreq(height, dtype=dtype).view(-1, 1)
    fx = torch.fft.rfftfreq(width, dtype=dtype).view(1, -1)
    return (fy * fy + fx * fx).sqrt()


def energy_weights(size: tuple[int, int], *, dtype: torch.dtype = torch.float64) -> Tensor:
    """``Tensor[W // 2 + 1]``: the expected share of ``|c|^2`` that a coefficient ``c`` of each rfft2 column adds to
    the image's sum of squares (``norm="ortho"``), for coefficients of random phase.

    An inner column stands twice in the full spectrum (as ``c`` and its conjugate): 2.
    The first column, and the last for even widths, pair their own bins as conjugates,
    and ``irfft2`` keeps only the Hermitian part: 1/2.
    """
    width = size[1]
    weights = torch.full((width // 2 + 1,), 2.0, dtype=dtype)
    weights[0] = 0.5
    if width % 2 == 0:
        weights[-1] = 0.5
    return weights


def spectrum_scale(size: tuple[int, int], decay: float = 1.0, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """The Fourier parameterization's scaling ``w / c`` of each coefficient, ``Tensor[H, W // 2 + 1]``.

    ``w = 1 / max(f, 1 / max(H, W)) ** decay`` (Olah et al. 2017), and
    ``c = sqrt(sum(e w^2) / (H W))`` with ``e`` the :func:`energy_weights` of each column:
    the constant makes independent coefficients of unit complex variance give pixels of
    unit variance (``norm="ortho"``), whatever the size and decay, so that one learning
    rate suits every image size.
    """
    height, width = size
    weights = 1.0 / frequencies(size, dtype=dtype).clamp_min(1.0 / max(height, width)) ** decay
    rms = ((weights * weights * energy_weights(size, dtype=dtype)).sum() / (height * width)).sqrt()
    return weights / rms


def natural_magnitude(channels: int, size: tuple[int, int], decay: float = 1.0, std: float = 1.0) -> Tensor:
    """A natural-image magnitude spectrum ``Tensor[C, H, W // 2 + 1]``: ``1/f^decay``, every channel alike.

    Scaled so that an image with this magnitude and random phases has a pixel standard
    deviation of ``std`` in expectation; the mean (DC) bin is zero. The default spectrum of :class:`~revelio.featureviz.parameterizations.MACO`
    when no images are given to estimate one from.
    """
    scale = spectrum_scale(size, decay)
    scale[0, 0] = 0.0
    height, width = size
    energy = (scale * scale * energy_weights(size)).sum() / (height * width)
    return (scale * (std / energy.sqrt())).expand(channels, -1, -1).clone()


def magnitude_from_values(values: Tensor) -> Tensor:
    """The mean magnitude spectrum ``Tensor[C, H, W // 2 + 1]`` of ``Tensor[N, C, H, W]`` (float64, CPU)."""
    if not isinstance(values, Tensor) or values.ndim != 4 or not values.is_floating_point():
        raise InputError("images must be a floating-point Tensor[N, C, H, W]")
    spectrum = torch.fft.rfft2(values.detach().double().cpu(), norm="ortho")
    return spectrum.abs().mean(dim=0)


def resize_images(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Images resized to ``size`` (bilinear, antialiased when shrinking); unchanged when they have it."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrink = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrink)
