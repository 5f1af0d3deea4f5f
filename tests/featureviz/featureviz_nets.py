"""Small fixed-weight models and natural-ish images for the feature visualization tests."""

from __future__ import annotations

import torch
from torch import nn


def small_cnn(seed: int = 0) -> nn.Module:
    """A random-weight ReLU CNN for 32-64 px inputs; conv layers are "0", "3" and "6".

    ``1`` is ``nn.ReLU(inplace=True)`` (so the conv ``0``'s true output needs care); the
    head is global average pooling and a linear layer ``10`` with 10 outputs.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, 10),
        ).eval()


def natural_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``Tensor[n, 3, size, size]`` in [0, 1] with the 1/f amplitude spectrum of natural images.

    Each image is coloured noise: white noise whose Fourier amplitude is divided by the
    spatial frequency, its three channels mixed by a random colour matrix, then
    stretched to [0, 1].
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 3, size, size, generator=generator)
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.fftfreq(size).view(1, -1)
    frequency = (fy**2 + fx**2).sqrt().clamp_min(1.0 / size)
    images = torch.fft.ifft2(torch.fft.fft2(noise) / frequency).real
    mixing = torch.rand(n, 3, 3, generator=generator) + 0.5 * torch.eye(3)
    images = torch.einsum("nij,njhw->nihw", mixing, images)
    low = images.flatten(1).min(1).values.view(-1, 1, 1, 1)
    high = images.flatten(1).max(1).values.view(-1, 1, 1, 1)
    return (images - low) / (high - low)


def grey_cnn(seed: int = 0) -> nn.Module:
    """A random-weight ReLU CNN for 1-channel (grayscale) 32-64 px inputs; conv layers "0" and "2", 4 logits."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 4),
        ).eval()
