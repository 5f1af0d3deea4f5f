"""Control "explainers": what a failing and an uninformative method look like.

Run through the same sanity checks as the real methods, they calibrate the report:

- :class:`EdgeDetector` ignores the model and the class: it returns the image's
  edges. Edges often land on objects, so it can look convincing; it must fail model
  randomization (Adebayo et al. 2018 show that guided backpropagation behaves much
  like it).
- :class:`SpectralResidual` ignores the model and the class too: it is a model-free
  objectness map (Hou and Zhang 2007), the bar a localization score must clear before
  it says anything about the model.
- :class:`RandomMap` returns fresh noise at every call. It depends on nothing, so it
  scores at the chance baseline of localization; it also "passes" the randomization
  tests, because noise is never similar to noise: those tests are necessary, not
  sufficient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revelio.attribution.base import Attribution
from revelio.core.targets import TargetSpec
from revelio.errors import InputError

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


class EdgeDetector(Attribution):
    """Sobel gradient magnitude of the input image, summed over channels: ``Tensor[N, 1, H, W]``.

    Ignores the model and the target. Borders are padded by replication, so adding a
    constant to the input changes nothing (it passes the input-invariance check).

    Adebayo et al. 2018, "Sanity Checks for Saliency Maps", use an edge detector as the
    example of a map that depends on neither the model nor the data.
    """

    def attribute(self, inputs: Tensor, target: TargetSpec = None) -> Tensor:
        if inputs.ndim != 4:
            raise InputError(f"EdgeDetector needs images (N, C, H, W), got shape {tuple(inputs.shape)}")
        n, c, h, w = inputs.shape
        kernels = torch.stack([_SOBEL, _SOBEL.T])[:, None].to(inputs.device, inputs.dtype)
        padded = F.pad(inputs.detach().reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
        gradients = F.conv2d(padded, kernels)  # (N*C, 2, H, W)
        magnitude = gradients.pow(2).sum(dim=1).sqrt()
        return magnitude.view(n, c, h, w).sum(dim=1, keepdim=True)


class RandomMap(Attribution):
    """Uniform noise in [0, 1), fresh at every call: ``Tensor[N, 1, H, W]``.

    Args:
        model: the network (unused, kept for the common interface).
        seed: seeds the noise; the ``k``-th call of two instances with one seed agree.
    """

    def __init__(self, model: nn.Module, seed: int = 0) -> None:
        super().__init__(model)
        self.generator = torch.Generator().manual_seed(seed)

    def attribute(self, inputs: Tensor, target: TargetSpec = None) -> Tensor:
        if inputs.ndim != 4:
            raise InputError(f"RandomMap needs images (N, C, H, W), got shape {tuple(inputs.shape)}")
        n, _, h, w = inputs.shape
        return torch.rand(n, 1, h, w, generator=self.generator).to(inputs.device, inputs.dtype)


class SpectralResidual(Attribution):
    """Spectral-residual saliency of the input image, a model-free objectness map: ``Tensor[N, 1, H, W]``.

    Hou and Zhang 2007, "Saliency Detection: A Spectral Residual Approach", Sec. 2: of
    the grey image's Fourier transform, the log amplitude minus its 3x3 local mean
    (the spectral residual) is recombined with the phase, transformed back, squared and
    smoothed by a Gaussian (``sigma`` in units of the image side; the paper smooths a
    64-pixel-wide image with sigma 8, i.e. 1/8). Ignores the model and the target.

    Args:
        model: the network (unused, kept for the common interface).
        sigma: the smoothing Gaussian's standard deviation, as a share of the image width.
    """

    def __init__(self, model: nn.Module, sigma: float = 1 / 8) -> None:
        super().__init__(model)
        if not sigma > 0:
            raise InputError(f"sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)

    def attribute(self, inputs: Tensor, target: TargetSpec = None) -> Tensor:
        if inputs.ndim != 4:
            raise InputError(f"SpectralResidual needs images (N, C, H, W), got shape {tuple(inputs.shape)}")
        width = inputs.shape[-1]
        grey = inputs.detach().float().mean(dim=1)
        spectrum = torch.fft.fft2(grey)
        amplitude = spectrum.abs()
        # a floor of 1e-3 of the mean amplitude: the spectrum of a flat synthetic image has exact zeros,
        # whose log would otherwise dominate the residual
        floor = 1e-3 * amplitude.mean(dim=(1, 2), keepdim=True) + torch.finfo(amplitude.dtype).tiny
        log_amplitude = torch.log(amplitude + floor)
        phase = torch.angle(spectrum)
        # the spectrum is periodic: its 3x3 local mean wraps around
        local_mean = F.avg_pool2d(F.pad(log_amplitude[:, None], (1, 1, 1, 1), mode="circular"), 3, stride=1)[:, 0]
        residual = log_amplitude - local_mean
        saliency = torch.fft.ifft2(torch.exp(torch.complex(residual, phase))).abs().pow(2)
        smoothed = _gaussian_blur(saliency[:, None], self.sigma * width)
        return smoothed.to(inputs.device, inputs.dtype)


def _gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``(N, 1, H, W)`` with reflected borders (radius ``3 sigma``, capped by the size)."""
    _, _, h, w = images.shape
    radius = max(1, min(int(3 * sigma), h - 1, w - 1))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    padded = F.pad(rows, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1))
