"""Find a layer of a model by module or by dotted name."""

from __future__ import annotations

import difflib

from torch import nn

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
