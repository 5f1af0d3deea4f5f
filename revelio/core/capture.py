"""Record the outputs of chosen layers during one forward pass.

A plain forward hook that keeps the layer's output tensor sees it change when the next
module is an in-place ReLU (torchvision VGG and AlexNet do ``Conv2d`` then
``ReLU(inplace=True)``): the stored "activation" is the rectified one. The hook here
keeps the layer's output and hands a copy to the rest of the network, so what is
recorded is the layer's true output whatever runs after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from revelio.core.calls import current_call
from revelio.errors import LayerNotReachedError, LayerOutputError


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once every needed layer has run."""


class LayerCapture:
    """Context manager that records layer outputs; hooks are removed on exit.

    Args:
        layers: ``(name, module)`` pairs, as :func:`~revelio.core.layers.resolve_layer`
            returns them.
        detach: record each output as a new leaf that requires grad, and feed it to the
            rest of the network, so that a backward pass from the output stops at the
            layer (gradients w.r.t. the layer, nothing below it in the graph).
        stop: end the forward pass as soon as every layer has run; nothing after the
            deepest layer is computed, and :meth:`forward` returns ``None``.

    A module called several times in one forward pass is recorded at its first call.
    The hooks record the forward passes of the revelio call that entered the capture
    only (:mod:`revelio.core.calls`): another thread's forward pass on the same model,
    or a nested revelio call's, passes through them untouched.

    Example:
        >>> with LayerCapture([resolve_layer(model, "layer4")]) as capture:
        ...     logits = capture.forward(model, images)
        >>> activation = capture["layer4"]
    """

    def __init__(self, layers: Sequence[tuple[str, nn.Module]], *, detach: bool = False, stop: bool = False) -> None:
        self.layers = list(layers)
        self.detach = detach
        self.stop = stop
        self.outputs: dict[str, Tensor] = {}
        self._handles: list[RemovableHandle] = []
        self._owner: object | None = None

    def __enter__(self) -> LayerCapture:
        self.outputs.clear()
        self._owner = current_call()
        for name, module in self.layers:
            self._handles.append(module.register_forward_hook(self._hook_for(name)))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook_for(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> Tensor | None:
            if name in self.outputs or current_call() is not self._owner:
                return None
            if not isinstance(output, Tensor):
                raise LayerOutputError(
                    f"layer {name!r} ({type(module).__name__}) returns a {type(output).__name__}, "
                    "not a tensor; choose one of its submodules whose output is a tensor"
                )
            if self.detach:
                output = output.detach().requires_grad_(True)
            self.outputs[name] = output
            if self.stop and len(self.outputs) == len({layer_name for layer_name, _ in self.layers}):
                raise _StopForward
            return output.clone()

        return hook

    def forward(self, model: nn.Module, inputs: Any) -> Any:
        """Run ``model(inputs)``; return its output (``None`` if stopped early).

        Raises:
            LayerNotReachedError: a layer did not run during the forward pass.
        """
        self.outputs.clear()
        try:
            output = model(inputs)
        except _StopForward:
            output = None
        missing = [name for name, _ in self.layers if name not in self.outputs]
        if missing:
            raise LayerNotReachedError(
                f"layer(s) {missing} never ran in the model's forward pass; choose a layer "
                "on the path from input to output (`revelio layers` lists them in call order)"
            )
        return output

    def __getitem__(self, name: str) -> Tensor:
        return self.outputs[name]
