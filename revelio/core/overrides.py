"""Modified backward rules for ReLU, for every way a model can call it.

Guided backpropagation and deconvolution change only the backward rule of ReLU. The
rule is a small object, ``grad_in = rule(grad_out, out)``; :class:`ReLUOverride`
puts it in place of every ReLU called during a forward pass:

- ``nn.ReLU`` and ``nn.ReLU(inplace=True)`` (they call ``F.relu``);
- one ReLU module called several times (torchvision ResNet blocks);
- functional ``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``, ``Tensor.relu``
  and ``Tensor.relu_`` (torchvision DenseNet, Inception);
- ATen's ``torch.ops.aten.relu`` and ``aten.relu_`` (what ``torch.export`` and
  decompositions produce), and ``F.threshold(x, 0, 0)``, which is ReLU;
- a ReLU whose input also feeds other branches: the rule is an autograd node of the
  ReLU's own, so only gradient that flows through the ReLU is changed.

It works as a :class:`torch.overrides.TorchFunctionMode`, which sees module and
functional calls alike, and replaces each call by an autograd function with the same
forward (in place where the call was in place) and the rule's backward. Nothing is
patched and no hook is registered on the model.

An override acts on the forward passes of the revelio call that made it only
(:mod:`revelio.core.calls`): not on another thread's, nor on a nested revelio call's
inside it (a model whose forward explains a submodule).

Other activations are left plain, on purpose: ``ReLU6``, ``LeakyReLU``, ``SiLU``,
``GELU``, ``Hardswish`` and ``clamp(min=0)`` backpropagate their ordinary gradient.
The guided and deconvolution rules are defined for ReLU (Springenberg et al. 2014;
Zeiler and Fergus 2014); a model without ReLU gets the ordinary gradient, and
:attr:`ReLUOverride.calls` tells how many ReLU calls were overridden. TorchScript
modules do not dispatch to Python and are not seen (revelio refuses them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from revelio.core.calls import current_call


class BackwardRule(ABC):
    """A backward rule for ReLU: ``grad_in = rule(grad_out, out)``.

    ``out`` is the ReLU's forward output, so ``out > 0`` is where its input was
    positive. Subclass and implement :meth:`__call__` to add a modified-backprop
    method.
    """

    @abstractmethod
    def __call__(self, grad_out: Tensor, out: Tensor) -> Tensor:
        """Return the gradient w.r.t. the ReLU's input."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GradientRule(BackwardRule):
    """The ordinary ReLU derivative: ``g_in = g_out * [out > 0]``."""

    def __call__(self, grad_out: Tensor, out: Tensor) -> Tensor:
        return _where_positive(grad_out, out)


class GuidedRule(BackwardRule):
    """Guided backpropagation: ``g_in = g_out * [x > 0] * [g_out > 0]``.

    Springenberg et al. 2014, "Striving for Simplicity: The All Convolutional Net".
    """

    def __call__(self, grad_out: Tensor, out: Tensor) -> Tensor:
        return _where_positive(grad_out.clamp(min=0), out)


class DeconvolutionRule(BackwardRule):
    """Deconvolution: ``g_in = g_out * [g_out > 0]``, ignoring the forward sign.

    Zeiler and Fergus 2014, "Visualizing and Understanding Convolutional Networks".
    """

    def __call__(self, grad_out: Tensor, out: Tensor) -> Tensor:
        return grad_out.clamp(min=0)


def _where_positive(grad: Tensor, out: Tensor) -> Tensor:
    """``grad * [out > 0]`` in one kernel: ATen's own ReLU backward."""
    return torch.ops.aten.threshold_backward(grad, out, 0)


class _RuleReLU(torch.autograd.Function):
    """ReLU forward; backward given by ``override.rule`` at the time of the backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, override: ReLUOverride, inplace: bool) -> Tensor:
        if inplace:
            out = torch.relu_(x)
            ctx.mark_dirty(out)
        else:
            out = torch.relu(x)
        ctx.override = override
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None]:
        (out,) = ctx.saved_tensors
        return ctx.override.rule(grad_out, out), None, None


_aten = torch.ops.aten
_INPLACE = {
    F.relu_: True, torch.relu_: True, Tensor.relu_: True, _aten.relu_: True, _aten.relu_.default: True,
    torch.relu: False, Tensor.relu: False, _aten.relu: False, _aten.relu.default: False,
}
_THRESHOLD = {F.threshold: False, F.threshold_: True, torch.threshold: False, torch.threshold_: True}


class ReLUOverride(TorchFunctionMode):
    """Context manager: every ReLU called inside uses ``rule`` in its backward pass.

    Only the forward pass needs to run inside the context; the backward pass may run
    after it. The rule is read when the backward pass runs, so :meth:`using` can swap
    it between two backward passes over one forward graph.

    Args:
        rule: the backward rule, e.g. :class:`GuidedRule`.

    Example:
        >>> with ReLUOverride(GuidedRule()) as override:
        ...     score = model(x)[:, 3].sum()
        >>> guided, = torch.autograd.grad(score, x)
    """

    def __init__(self, rule: BackwardRule) -> None:
        super().__init__()
        self.rule = rule
        self.calls = 0
        self.owner: object | None = None

    def __enter__(self) -> ReLUOverride:
        self.calls = 0
        self.owner = current_call()
        return super().__enter__()

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        inplace = _relu_call(func, args, kwargs)
        if inplace is None or current_call() is not self.owner:
            return func(*args, **kwargs)
        self.calls += 1
        x = args[0] if args else kwargs["input"]
        return _RuleReLU.apply(x, self, inplace)

    @contextmanager
    def using(self, rule: BackwardRule) -> Iterator[ReLUOverride]:
        """Use ``rule`` instead for the backward passes run inside this block."""
        previous, self.rule = self.rule, rule
        try:
            yield self
        finally:
            self.rule = previous


def _relu_call(func: Any, args: tuple, kwargs: dict) -> bool | None:
    """Whether the call is a ReLU: ``None`` if not, else whether it works in place."""
    if func is F.relu:
        return bool(args[1] if len(args) > 1 else kwargs.get("inplace", False))
    if func in _INPLACE:
        return _INPLACE[func]
    if func in _THRESHOLD:  # threshold(x, 0, 0) is ReLU
        threshold = args[1] if len(args) > 1 else kwargs.get("threshold")
        value = args[2] if len(args) > 2 else kwargs.get("value")
        if threshold == 0 and value == 0:
            return _THRESHOLD[func] or bool(args[3] if len(args) > 3 else kwargs.get("inplace", False))
    return None
