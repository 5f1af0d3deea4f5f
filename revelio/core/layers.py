"""Find a layer of a model by module or by dotted name."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from revelio.core.state import preserved_model_state
from revelio.errors import LayerNotFoundError


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Return ``(dotted_name, module)`` for ``layer`` inside ``model``.

    Args:
        model: the network.
        layer: a submodule of ``model`` or its dotted name (``"layer4"``,
            ``"features.28"``, ``"encoder.layers.encoder_layer_11"``).

    Raises:
        LayerNotFoundError: the name is not a submodule, or the module is not part of
            ``model``. The message lists the closest real names.
        TypeError: ``layer`` is neither a string nor a module.
    """
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules(remove_duplicate=False):
            if module is layer:
                return name, module
        raise LayerNotFoundError(
            f"the module {type(layer).__name__} passed as layer is not part of the model; "
            "pass one of model's own submodules or its dotted name "
            "(`revelio layers --model ...` lists them)"
        )
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a module or a dotted name, got {type(layer).__name__}")
    modules = dict(model.named_modules(remove_duplicate=False))
    if layer in modules:
        return layer, modules[layer]
    names = [name for name in modules if name]
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
    if not close:
        close = [name for name in names if "." not in name][:5]
    hint = ", ".join(repr(name) for name in close)
    raise LayerNotFoundError(f"no layer named {layer!r} in {type(model).__name__}; closest names: {hint}")


@dataclass(frozen=True)
class LayerInfo:
    """One row of :func:`describe_layers`.

    Attributes:
        name: the dotted name.
        type: the module's class name.
        output_shape: a tuple for a tensor output (of the first call), else the
            output's type name.
        parameters: the module's own parameters (not its children's).
        calls: how often the forward pass called it.
        finished: the order in which its first call returned (0 first).
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | str
    parameters: int
    calls: int = 1
    finished: int = 0


def describe_layers(model: nn.Module, inputs: Tensor) -> list[LayerInfo]:
    """Every submodule that runs on ``inputs``, in the order they are entered, with output shapes.

    One forward pass in eval mode under ``no_grad``; the model is left as it was
    found. A module called several times is listed at its first call; modules the
    forward pass never calls are left out. The output shape is a tuple for a tensor
    output, else the output's type name.
    """
    names = {module: name for name, module in model.named_modules() if name}
    entered: list[nn.Module] = []
    outputs: dict[nn.Module, Any] = {}
    finished: dict[nn.Module, int] = {}
    calls: dict[nn.Module, int] = {}

    def enter(module: nn.Module, args: Any) -> None:
        calls[module] = calls.get(module, 0) + 1
        if module not in entered:
            entered.append(module)

    def leave(module: nn.Module, args: Any, output: Any) -> None:
        if module not in outputs:
            outputs[module] = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            finished[module] = len(finished)

    with preserved_model_state(model, eval_mode=True), torch.no_grad():
        handles = [module.register_forward_pre_hook(enter) for module in names]
        handles += [module.register_forward_hook(leave) for module in names]
        try:
            model(inputs)
        finally:
            for handle in handles:
                handle.remove()
    return [
        LayerInfo(names[module], type(module).__name__, outputs.get(module, "?"), _own_parameters(module),
                  calls[module], finished.get(module, -1))
        for module in entered
    ]


def default_layer(layers: list[LayerInfo]) -> str | None:
    """The layer a CAM method explains when given none: the model's last spatial layer.

    Of the modules called once whose output is a feature map ``(N, K, h, w)`` with more
    than one position, and that are not pooling layers, the one whose call returned
    last: the last convolutional block before the pooling and the head (``"layer4"``
    in a ResNet, ``"features"`` in VGG, DenseNet and MobileNet). ``None`` when no
    module outputs a feature map. A heuristic, as in torch-cam: check it with
    ``revelio layers``, and pass a layer where it guesses wrong.
    """
    candidates = [
        layer
        for layer in layers
        if layer.calls == 1
        and isinstance(layer.output_shape, tuple)
        and len(layer.output_shape) == 4
        and layer.output_shape[2] * layer.output_shape[3] > 1
        and "Pool" not in layer.type
    ]
    return max(candidates, key=lambda layer: layer.finished).name if candidates else None


def find_default_layer(model: nn.Module, inputs: Tensor) -> str:
    """:func:`default_layer` of ``model`` on ``inputs`` (one forward pass; use one example).

    Raises:
        LayerNotFoundError: no module of the model outputs a feature map.
    """
    name = default_layer(describe_layers(model, inputs))
    if name is None:
        raise LayerNotFoundError(
            f"{type(model).__name__} has no layer whose output is a feature map (N, K, h, w); pass layer= "
            "(`revelio layers` lists the layers), and reshape= for layers such as ViT tokens"
        )
    return name


def _own_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters(recurse=False))
