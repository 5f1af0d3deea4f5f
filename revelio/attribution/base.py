"""Base classes: a new attribution method is one subclass with one method.

:class:`Attribution` owns the plumbing every method shares: input and target checks
before any work, the model-state guard (eval mode for the call, parameters frozen so
no parameter gradient is computed, hooks and flags restored afterwards, also on
error), and option checking against the subclass's signature. A subclass implements
only :meth:`Attribution._attribute`.
"""

from __future__ import annotations

import inspect
import warnings
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

from revelio.core.layers import resolve_layer
from revelio.core.overrides import BackwardRule, ReLUOverride
from revelio.core.state import preserved_model_state
from revelio.core.targets import Target, TargetSpec, resolve_target
from revelio.errors import InputError


class Attribution(ABC):
    """Explain a model's score for a target class in terms of its input.

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to an output. It is run in
            eval mode for the call and left exactly as it was found.

    Subclasses implement :meth:`_attribute`; its keyword-only arguments are the
    method's options, checked by name before any work.
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model

    def attribute(self, inputs: Tensor, target: TargetSpec = None, **options: Any) -> Tensor:
        """Return the attribution of ``target`` for each example of ``inputs``.

        Args:
            inputs: a batch ``Tensor[N, C, H, W]`` (input methods accept any
                ``Tensor[N, ...]``), on the model's device.
            target: ``None`` (top class), an ``int``, one class per example, or a
                callable ``output -> Tensor[N]``; see :mod:`revelio.core.targets`.
            **options: the method's options (see the subclass).

        Returns:
            A tensor on the inputs' device: input-shaped for input methods,
            ``Tensor[N, 1, H, W]`` for CAM methods.

        Gradients are enabled for the call, so it also works inside ``torch.no_grad()``;
        inside ``torch.inference_mode()`` it raises ``RuntimeError``.
        """
        self._check_inputs(inputs)
        checked_target = resolve_target(target, inputs.shape[0])
        signature = inspect.signature(self._attribute)
        try:
            signature.bind(inputs, checked_target, **options)
        except TypeError as error:
            valid = [name for name, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY]
            raise TypeError(
                f"{type(self).__name__}.attribute: {error}; its options are: {', '.join(valid) or 'none'}"
            ) from None
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                f"{type(self).__name__} needs gradients, which torch.inference_mode() disables; call it "
                "outside that block (inside torch.no_grad() is fine: gradients are enabled for the call)"
            )
        with preserved_model_state(self.model, eval_mode=True, freeze=True), torch.enable_grad():
            return self._attribute(inputs, checked_target, **options)

    __call__ = attribute

    @abstractmethod
    def _attribute(self, inputs: Tensor, target: Target, **options: Any) -> Tensor:
        """Compute the attribution; inputs and target are already checked."""

    def _check_inputs(self, inputs: Any) -> None:
        if not isinstance(inputs, Tensor):
            raise InputError(f"inputs must be a torch.Tensor batch (N, C, H, W), got {type(inputs).__name__}")
        if not inputs.is_floating_point():
            raise InputError(
                f"inputs must be floating point, got {inputs.dtype}; convert with .float() and "
                "normalise as the model expects"
            )
        if inputs.ndim < 2:
            raise InputError(
                f"inputs must be a batch (N, ...), got shape {tuple(inputs.shape)}; "
                "add a batch dimension with inputs.unsqueeze(0)"
            )
        if inputs.shape[0] == 0:
            raise InputError(
                f"inputs must hold at least one example, got an empty batch of shape {tuple(inputs.shape)}"
            )
        device = next((p.device for p in self.model.parameters()), inputs.device)
        if device != inputs.device:
            raise InputError(
                f"inputs are on {inputs.device} but the model is on {device}; "
                f"move them with inputs.to({str(device)!r})"
            )

    def _input_gradient(self, inputs: Tensor, target: Target, rule: BackwardRule | None = None) -> Tensor:
        """Gradient of the target scores w.r.t. ``inputs``, ReLUs following ``rule`` if given."""
        # a copy: an inference tensor cannot be made to require grad, and the caller's tensor stays out of the graph
        x = inputs.detach().clone().requires_grad_(True)
        if rule is None:
            output = self.model(x)
        else:
            with ReLUOverride(rule) as override:
                output = self.model(x)
            warn_if_no_relu(override, type(self).__name__)
        scores, _ = target.scores(output)
        (gradient,) = torch.autograd.grad(scores.sum(), x)
        return gradient

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__})"


class LayerAttribution(Attribution):
    """Attribution computed at an inner layer of the model (Grad-CAM and kin).

    Args:
        model: the network.
        layer: a submodule of ``model`` or its dotted name (``"layer4"``,
            ``"features.28"``); a wrong name raises
            :class:`~revelio.errors.LayerNotFoundError` listing the closest names.
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module) -> None:
        super().__init__(model)
        self.layer_name, self.layer = resolve_layer(model, layer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, layer={self.layer_name!r})"


def warn_if_no_relu(override: ReLUOverride, method: str, stacklevel: int = 5) -> None:
    """Warn that a modified-ReLU method equals the gradient when the forward pass called no ReLU."""
    if override.calls == 0:
        warnings.warn(
            f"{method}: the model called no ReLU in its forward pass, so its result equals the plain "
            "gradient (other activations such as GELU, SiLU or ReLU6 keep their ordinary backward)",
            RuntimeWarning,
            stacklevel=stacklevel,  # default: warn_if_no_relu < _input_gradient < _attribute < attribute < caller
        )
