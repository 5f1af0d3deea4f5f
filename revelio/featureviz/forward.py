"""The truncated forward pass of the optimisation loop: compute what the objective reads, nothing more.

Every step runs the model only up to the deepest layer the objective needs
(:class:`~revelio.core.LayerCapture` with ``stop=True``). When that deepest layer is a
plain ``nn.Linear`` or ``nn.Conv1d/2d/3d`` (``groups=1``, the class's own ``forward``,
no hooks of its own) and the objective reads only a few of its output channels
(:meth:`~revelio.featureviz.objectives.Objective.units_needed`), the layer itself is
computed for those channels only: its input is caught by a pre-hook, the forward
stops there, and ``conv(input, weight[units], bias[units])`` gives the read channels.
The other channels of the activation handed to the objective are zeros, which it never
reads. On VGG11 ``features.6`` this skips a 256-channel convolution and its backward
pass for a single-channel objective: about half of each step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from revelio.core.capture import LayerCapture
from revelio.errors import LayerNotReachedError
from revelio.featureviz.objectives import Objective

_SLICEABLE = {
    nn.Linear: nn.Linear.forward,
    nn.Conv1d: nn.Conv1d.forward,
    nn.Conv2d: nn.Conv2d.forward,
    nn.Conv3d: nn.Conv3d.forward,
}
MAX_SLICED_SHARE = 0.5
"""Compute only the read channels of the deepest layer when they are at most this share of it."""


class _ReachedLayer(Exception):
    """Raised by the pre-hook on the deepest layer once its input is known."""


def probe(
    model: nn.Module, layers: Sequence[tuple[str, nn.Module]], inputs: Tensor
) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """One forward pass under ``no_grad``, stopped after the layers: their output shapes, in call order.

    Raises:
        LayerNotReachedError: a layer never ran.
    """
    with torch.no_grad(), LayerCapture(layers, stop=True) as capture:
        capture.forward(model, inputs)
        return {name: tuple(output.shape) for name, output in capture.outputs.items()}, list(capture.outputs)


class TruncatedForward:
    """Context manager: ``activations = forward(inputs)`` for the objective's layers; hooks removed on exit.

    Args:
        model: the network.
        objective: the (resolved) objective; its :meth:`units_needed` decides slicing.
        layers: ``(name, module)`` of every layer the objective reads.
        order: the layer names in call order (from :func:`probe`); the last is the deepest.
        shapes: each layer's output shape (from :func:`probe`).
        allow_slicing: compute only the read channels of the deepest layer when possible.
        channels_last: feed the model channels-last inputs.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        layers: Sequence[tuple[str, nn.Module]],
        order: Sequence[str],
        shapes: dict[str, tuple[int, ...]],
        *,
        allow_slicing: bool = True,
        channels_last: bool = False,
    ) -> None:
        self.model = model
        self.channels_last = channels_last
        modules = dict(layers)
        deepest = order[-1]
        self.sliced_units: tuple[int, ...] | None = None
        if allow_slicing:
            self.sliced_units = _units_to_slice(objective, deepest, modules[deepest], shapes[deepest])
        self.deepest = (deepest, modules[deepest])
        self.shape = shapes[deepest][1:]
        captured = [(name, module) for name, module in layers if self.sliced_units is None or name != deepest]
        self._capture = LayerCapture(captured, stop=self.sliced_units is None)
        self._handle: RemovableHandle | None = None
        self._input: Tensor | None = None
        self._index: Tensor | None = None

    def __enter__(self) -> TruncatedForward:
        self._capture.__enter__()
        if self.sliced_units is not None:
            self._handle = self.deepest[1].register_forward_pre_hook(self._catch_input)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._capture.__exit__(*exc_info)

    def _catch_input(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if self._input is None:
            self._input = args[0]
            raise _ReachedLayer

    def __call__(self, inputs: Tensor) -> dict[str, Tensor]:
        """Run the model on ``inputs`` as far as needed; return ``{layer_name: activation}``."""
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self.sliced_units is None:
            self._capture.forward(self.model, inputs)
            return dict(self._capture.outputs)
        self._input = None
        try:
            self._capture.forward(self.model, inputs)
        except _ReachedLayer:
            pass
        name, module = self.deepest
        if self._input is None or len(self._capture.outputs) != len(self._capture.layers):
            raise LayerNotReachedError(
                f"layer {name!r} was not reached after the objective's other layers, as it was in the first "
                "forward pass; a model whose call order changes from pass to pass needs allow_slicing=False"
            )
        layer_input, self._input = self._input, None
        if self._index is None or self._index.device != layer_input.device:
            self._index = torch.tensor(self.sliced_units, device=layer_input.device)
        weight = module.weight.index_select(0, self._index)
        bias = None if module.bias is None else module.bias.index_select(0, self._index)
        if isinstance(module, nn.Linear):
            partial = F.linear(layer_input, weight, bias)
        else:
            partial = module._conv_forward(layer_input, weight, bias)
        full = partial.new_zeros(partial.shape[0], self.shape[0], *partial.shape[2:])  # the step's size, not the probe's
        full = full.index_copy(1, self._index, partial)
        return {**self._capture.outputs, name: full}


def _units_to_slice(
    objective: Objective, name: str, module: nn.Module, shape: tuple[int, ...]
) -> tuple[int, ...] | None:
    units = objective.units_needed(name)
    if units is None or len(shape) < 2 or len(units) > MAX_SLICED_SHARE * shape[1]:
        return None
    if _SLICEABLE.get(type(module)) is not type(module).forward:
        return None
    if isinstance(module, nn.modules.conv._ConvNd) and module.groups != 1:
        return None
    if module._forward_hooks or module._forward_pre_hooks or _global_hooks():
        return None  # someone else watches or changes this layer's call: run it as it is
    return tuple(sorted(set(units))) or (0,)


def _global_hooks() -> bool:
    hooks = nn.modules.module
    return bool(getattr(hooks, "_global_forward_hooks", None) or getattr(hooks, "_global_forward_pre_hooks", None))
