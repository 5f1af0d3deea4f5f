"""Why a model rejected its inputs, in words, when the inputs do not fit its first layer."""

from __future__ import annotations

from torch import Tensor, nn

_CONVOLUTIONS = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def first_layer(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The first convolution or linear layer in the order the model registers its modules, or ``None``."""
    for name, module in model.named_modules():
        if type(module) in _CONVOLUTIONS or isinstance(module, nn.Linear):
            return name, module
    return None


def input_mismatch(model: nn.Module, inputs: Tensor) -> str | None:
    """How ``inputs`` fail to fit the model's first layer, as a sentence; ``None`` when they fit it.

    Used after the model raised, to turn a raw shape error into one that names the
    input, what it was and what the model expects. A model that reshapes its inputs
    before its first layer fits whatever this says, so it is only a diagnosis of a
    failure, never a reason to refuse inputs.
    """
    found = first_layer(model)
    if found is None:
        return None
    name, layer = found
    shape = tuple(inputs.shape)
    where = f"the model's first layer {name!r} ({type(layer).__name__})"
    if isinstance(layer, nn.Linear):
        if inputs.shape[-1] != layer.in_features:
            return (
                f"inputs of shape {shape} do not fit {where}, which takes {layer.in_features} features in the last "
                f"dimension; give inputs of shape (N, ..., {layer.in_features})"
            )
        return None
    spatial = _CONVOLUTIONS[type(layer)]
    expected = f"(N, {layer.in_channels}, {_SPATIAL[spatial]})"
    if inputs.ndim != spatial + 2:
        return (
            f"inputs of shape {shape} have {inputs.ndim} dimensions, but {where} takes a batch {expected}; "
            f"give a batch of that shape (add a batch dimension with inputs.unsqueeze(0))"
        )
    if inputs.shape[1] != layer.in_channels:
        return (
            f"inputs of shape {shape} have {inputs.shape[1]} channels, but {where} takes {layer.in_channels}; "
            f"give {expected} (grayscale images for an RGB model: repeat the channel)"
        )
    return None
