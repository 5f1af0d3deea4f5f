"""Which models revelio can explain, and the module it runs for a compiled one.

revelio's layer hooks and ReLU rules act on Python-level calls: module calls and
``torch`` functions. Most models make those; three kinds do not, or not all of them:

- ``torch.compile`` (a whole model): the compiled graph does not run Python hooks or
  torch-function modes added after compilation. The compiled module keeps the module
  it was made from, which computes the same function; revelio explains that one, in
  eager mode. A model with compiled *submodules* is refused: explain it uncompiled.
- TorchScript (``torch.jit.script`` / ``torch.jit.trace``): its forward never calls back
  into Python, so neither hooks nor rules can reach it. Refused.
- ``torch.export(...).module()``: a graph of ATen calls. Input methods work (its ReLUs
  are ``aten.relu`` calls, which the rules cover); it calls no submodules, so methods
  that explain a layer are refused.
"""

from __future__ import annotations

import torch
from torch import nn

from revelio.errors import UnsupportedModelError


def explainable(model: nn.Module, *, needs_layers: bool = False) -> nn.Module:
    """The module revelio runs to explain ``model``: ``model`` itself, or the original of a compiled model.

    Args:
        model: the network.
        needs_layers: the method records a layer's output (its forward must call submodules).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        UnsupportedModelError: TorchScript, compiled submodules, or (for layer methods)
            an exported graph; the message says what to pass instead.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if _is_compiled(model):
        model = model._orig_mod
    for name, module in model.named_modules():
        if isinstance(module, torch.jit.ScriptModule):
            where = "the model is" if not name else f"its submodule {name!r} is"
            raise UnsupportedModelError(
                f"{where} TorchScript ({type(module).__name__}), whose forward never calls back into Python, so no "
                "hook or backward rule can reach it; explain the original nn.Module (before torch.jit.script/trace)"
            )
        if _is_compiled(module):
            raise UnsupportedModelError(
                f"its submodule {name!r} is compiled with torch.compile, which runs no hook added after compilation; "
                "explain the model built without torch.compile on its submodules (or compile the whole model)"
            )
    if needs_layers and is_exported(model):
        raise UnsupportedModelError(
            "the model is a torch.export graph: it calls no submodules, so a layer's output cannot be recorded; "
            "explain the original nn.Module, or use an input method (saliency, guided backprop, ...)"
        )
    return model


def _is_compiled(module: nn.Module) -> bool:
    """A module made by ``torch.compile`` (told by its type's name, so that torch._dynamo is not imported)."""
    return type(module).__name__ == "OptimizedModule" and isinstance(getattr(module, "_orig_mod", None), nn.Module)


def is_exported(model: nn.Module) -> bool:
    """A module made by ``torch.export(...).module()``: an fx graph whose training mode cannot change."""
    return isinstance(model, torch.fx.GraphModule) and any(
        node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload) for node in model.graph.nodes
    )
