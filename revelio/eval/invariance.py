"""A2: input invariance (Kindermans et al. 2019, "The (Un)reliability of Saliency Methods").

Two networks that compute the same function of their inputs' *content* should get
the same explanation. Network 2 sees every input shifted by a constant ``c`` per
channel and folds ``-c * sum(W1)`` into its first bias, so every activation, the
output and the gradient below the first layer equal network 1's. A method whose map
changes under the shift (gradient times input, integrated gradients from a zero
baseline) is not input invariant; gradient, guided backpropagation and Grad-CAM are.

The first convolution has no padding, so the shift reaches every output position
the same way and the two networks agree exactly (zero padding would break that at
the border).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from revelio.eval.known_answers import seeded
from revelio.eval.methods import Explainer
from revelio.eval.outcome import Measurement

TOLERANCE = 1e-4
"""Largest difference between the two maps, relative to the largest value of the first."""

SHIFT: tuple[float, float, float] = (1.0, -0.5, 0.25)
"""The constant added to each input channel."""

CRITERION = f"shift input by c, fold -c*sum(W1) into first bias: maps equal to {TOLERANCE:g}"


def invariance_net(seed: int = 0, classes: int = 4) -> nn.Module:
    """Valid conv (``"0"``), ReLU, conv, ReLU (``"3"``: the CAM layer), GAP, linear; seeded."""
    return seeded(
        seed,
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, classes),
        ),
    )


def shifted_twin(net: nn.Sequential, shift: tuple[float, ...] = SHIFT) -> nn.Sequential:
    """A copy of ``net`` whose first layer expects inputs shifted by ``shift`` per channel.

    ``conv(x + c) = conv(x) + sum_{i,u,v} W[:, i, u, v] c_i``, so the twin's first bias is
    ``b - sum_{i,u,v} W[:, i, u, v] c_i``.
    """
    twin = copy.deepcopy(net)
    first = twin[0]
    with torch.no_grad():
        c = torch.tensor(shift, dtype=first.weight.dtype)
        first.bias -= (first.weight * c.view(1, -1, 1, 1)).sum(dim=(1, 2, 3))
    return twin


def input_invariance(explainer: Explainer, *, seed: int = 0, images: int = 6) -> Measurement:
    """Run A2 for ``explainer``'s method: the maps of a network and of its shifted twin on shifted inputs.

    Layer methods explain layer ``"3"`` of the net.
    """
    net = invariance_net(seed)
    twin = shifted_twin(net)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(images, 3, 14, 14, generator=generator)
    shifted = inputs + torch.tensor(SHIFT).view(1, -1, 1, 1)
    classes = torch.arange(images) % 4
    with torch.no_grad():
        gap = float((net(inputs) - twin(shifted)).abs().max())
    first = explainer.rebind(net, "3")(inputs, classes)
    second = explainer.rebind(twin, "3")(shifted, classes)
    scale = float(first.abs().max())
    difference = float((first - second).abs().max()) / (scale if scale > 0 else 1.0)
    return Measurement(
        summary=f"difference {difference:.1e}",
        met=difference <= TOLERANCE,
        values={"relative_difference": difference, "output_difference": gap},
    )
