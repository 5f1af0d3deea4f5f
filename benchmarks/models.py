"""Models with random weights, the Grad-CAM layer of each, and seeded inputs.

Random weights are fine for timing, and nothing downloads. The Grad-CAM layer of each
model is the usual one (the last convolutional block); for ViT it is the input norm of
the last encoder block, read through :func:`revelio.vit_reshape`.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from benchmarks.measure import MEMORY_FORMATS, BenchmarkError

CAM_LAYERS = {
    "resnet18": "layer4",
    "resnet50": "layer4",
    "vgg11": "features.19",
    "vgg16": "features.29",
    "densenet121": "features.norm5",
    "mobilenet_v3_large": "features.16",
    "vit_b_16": "encoder.layers.encoder_layer_11.ln_1",
}
"""The Grad-CAM layer of each model the suite knows."""

TOKEN_MODELS = {"vit_b_16"}
"""Models whose Grad-CAM layer outputs tokens (reshaped with ``vit_reshape``); no ReLU, so Grad-CAM only."""

FIXED_SIZE = {"vit_b_16": 224}
"""Models that only take one input size."""


def build_model(name: str, device: torch.device, memory_format: str = "contiguous", seed: int = 0) -> nn.Module:
    """A torchvision model with seeded random weights, in eval mode, on ``device``.

    Raises:
        BenchmarkError: an unknown model name.
    """
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise BenchmarkError(f"unknown torchvision classification model {name!r}")
    torch.manual_seed(seed)
    model = torchvision.models.get_model(name, weights=None).eval().to(device)
    if memory_format != "contiguous":
        model = model.to(memory_format=MEMORY_FORMATS[memory_format])
    return model


def check_size(name: str, size: int) -> None:
    """Raise for an input size the model cannot take."""
    fixed = FIXED_SIZE.get(name)
    if fixed is not None and size != fixed:
        raise BenchmarkError(f"{name} takes {fixed}x{fixed} inputs only, got --size {size}")


def make_inputs(
    batch: int, size: int, device: torch.device, memory_format: str = "contiguous", seed: int = 0
) -> torch.Tensor:
    """A seeded batch ``Tensor[batch, 3, size, size]`` of standard-normal values (model-input space)."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 3, size, size, generator=generator).to(device)
    return inputs.contiguous(memory_format=MEMORY_FORMATS[memory_format])


def top_classes(model: nn.Module, inputs: torch.Tensor) -> list[int]:
    """The model's top class for each input (float32, no autocast): the targets every workload uses."""
    with torch.no_grad():
        return model(inputs).argmax(1).tolist()
