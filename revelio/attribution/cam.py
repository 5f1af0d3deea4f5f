"""What every class activation map method shares: the layer's feature map, the weighted sum, ReLU, upsampling.

A CAM method reads a layer's output ``A`` as a feature map ``(N, K, h, w)`` (through
``reshape`` for layers whose output is not one, such as ViT tokens), weights its K
channels, sums them into one map on the layer's grid, clamps it (ReLU, an option) and
upsamples it bilinearly to the input's ``(H, W)`` (``align_corners=False``, as
OpenCV's ``resize`` and torch-cam do). The methods differ only in the weights:
gradients (Grad-CAM and kin), masked forward passes (Score-CAM), or none at all
(Eigen-CAM).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revelio.attribution.base import LayerAttribution
from revelio.core.capture import LayerCapture
from revelio.errors import InputError, LayerOutputError

Reshape = Callable[[Tensor], Tensor]


class CAMAttribution(LayerAttribution):
    """Base of the methods that weight a layer's channels into one map per example.

    Args:
        model: the network.
        layer: the layer whose output ``A`` is weighted, a module or dotted name; the
            usual choice is the last convolutional block (``"layer4"`` in ResNet,
            ``"features.28"`` in VGG16). ``None`` picks the model's last spatial layer
            at the first call, with a warning that names it.
        reshape: maps the layer's output to ``(N, K, h, w)``, for layers whose output
            is not a feature map: :func:`~revelio.core.reshape.vit_reshape` for ViT tokens.
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None, reshape: Reshape | None = None) -> None:
        super().__init__(model, layer)
        if reshape is not None and not callable(reshape):
            raise TypeError(f"reshape must be a callable such as vit_reshape, got {type(reshape).__name__}")
        self.reshape = reshape

    def record(self, inputs: Tensor) -> tuple[Any, Tensor]:
        """One forward pass of a copy of ``inputs``: ``(output, the layer's output)``.

        The layer's output is recorded as a leaf that requires grad and is fed to the
        rest of the network, so a backward pass from the output stops there; under
        ``torch.no_grad()`` no graph is kept at all.
        """
        with LayerCapture([(self.layer_name, self.layer)], detach=True) as capture:
            # a copy: a model that writes its input in place must not write the caller's tensor
            output = capture.forward(self.model, inputs.detach().clone())
        return output, capture[self.layer_name]

    def feature_map(self, tensor: Tensor) -> Tensor:
        """The layer's output (or a gradient shaped like it) as ``(N, K, h, w)``, through ``reshape`` if given.

        Raises:
            LayerOutputError: the result is not 4-D (a token layer without ``reshape``).
        """
        if self.reshape is not None:
            tensor = self.reshape(tensor)
        if tensor.ndim != 4:
            raise LayerOutputError(
                f"layer {self.layer_name!r} outputs shape {tuple(tensor.shape)}, not a feature map "
                "(N, K, h, w); pick a convolutional layer, or pass reshape= (vit_reshape for ViT tokens)"
            )
        return tensor


def weighted_map(weights: Tensor, activation: Tensor, size: torch.Size | None, *, relu: bool) -> Tensor:
    """``sum_k weights_k * A^k``, clamped and upsampled: ``Tensor[N, 1, h, w]`` (``(H, W)`` given ``size``).

    Args:
        weights: ``Tensor[N, K]``, one weight per channel, or ``Tensor[N, K, h, w]``, a
            weight per channel and position.
        activation: the feature map ``Tensor[N, K, h, w]``.
        size: the ``(H, W)`` to upsample to; ``None`` keeps the layer's grid.
        relu: clamp negative evidence to zero.
    """
    if weights.ndim == 2:  # one weight per channel, the same at every position
        weights = weights[:, :, None, None]
    return finish((weights * activation).sum(dim=1, keepdim=True), size, relu=relu)


def finish(cam: Tensor, size: torch.Size | None, *, relu: bool) -> Tensor:
    """A map ``Tensor[N, 1, h, w]`` on the layer's grid, clamped if ``relu`` and upsampled bilinearly to ``size``."""
    if relu:
        cam = cam.clamp(min=0)
    if size is not None:
        cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)
    return cam


def check_spatial(inputs: Tensor, hint: str) -> None:
    """Refuse inputs that are not ``(N, C, H, W)`` when the map is to be upsampled to their size."""
    if inputs.ndim != 4:
        raise InputError(
            f"CAM methods upsample to the input's (H, W) and need inputs (N, C, H, W), got shape "
            f"{tuple(inputs.shape)}{hint}"
        )
