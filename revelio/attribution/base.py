"""Base classes: a new attribution method is one subclass with one method.

A subclass implements :meth:`Attribution.attribute` with its options as keyword-only
arguments, so that ``help()`` and IDEs show them::

    class GradientXInput(Attribution):
        def attribute(self, inputs, target=None, *, channels_sum: bool = False) -> Tensor:
            maps = inputs * self.input_gradient(inputs, target)
            return maps.sum(dim=1, keepdim=True) if channels_sum else maps

The base class wraps that method (once, when the subclass is defined) in the plumbing
every method shares, run before the method's own code: the inputs and the target are
checked, the options are bound against the signature (a misspelt option names the
valid ones), and the call runs under the model-state guard (eval mode for the call,
parameters frozen so that no parameter gradient is computed, hooks and flags
restored afterwards, also on error). Inside ``attribute``, ``target`` arrives checked,
as a :class:`~revelio.core.targets.Target`.

:meth:`Attribution.explain` runs the same method and also returns what the model
said: its output, the classes explained and their scores, from the method's own
forward pass.
"""

from __future__ import annotations

import copy
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from revelio.core.calls import revelio_call
from revelio.core.explainable import explainable, is_exported
from revelio.core.gradients import input_leaf, score_gradient
from revelio.core.inputs import input_mismatch
from revelio.core.layers import find_default_layer, resolve_layer
from revelio.core.options import check_option_types
from revelio.core.overrides import BackwardRule, ReLUOverride
from revelio.core.state import preserved_model_state
from revelio.core.targets import Target, TargetSpec, resolve_target
from revelio.errors import (
    DefaultLayerWarning,
    InputError,
    NonFiniteError,
    RevelioError,
    UnsupportedModelError,
    warn_caller,
)

Self = TypeVar("Self", bound="Attribution")


@dataclass(frozen=True)
class Explanation:
    """Maps and what the model said, from one call of :meth:`Attribution.explain`.

    Attributes:
        maps: the attribution maps, as :meth:`Attribution.attribute` returns them.
        output: the model's output for the inputs (detached; a dict or tuple when the
            model returns one).
        classes: the class explained per example, ``Tensor[N]`` (the top class when the
            target was ``None``); ``None`` for a callable target.
        scores: the explained score per example, ``Tensor[N]`` (a logit, or what a
            callable target returned).
    """

    maps: Tensor
    output: Any
    classes: Tensor | None
    scores: Tensor


class Attribution(ABC):
    """Explain a model's score for a target class in terms of its input.

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to an output. It is run in
            eval mode for each call and left exactly as it was found.

    Subclasses implement :meth:`attribute`; its keyword-only arguments are the
    method's options, checked by name before any work.

    Attributes:
        multiple_targets: the method explains several classes per example itself, from
            one forward pass (``target`` of shape ``(N, K)`` or ``"topK"``, maps
            ``Tensor[N, K, ...]``). A method that leaves it ``False`` is called once per
            class by the base class and its maps are stacked, so every method takes
            such targets.
    """

    multiple_targets: bool = False

    def __init__(self, model: nn.Module) -> None:
        self.model = explainable(model, needs_layers=isinstance(self, LayerAttribution))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        implementation = cls.__dict__.get("attribute")
        if implementation is not None and not hasattr(implementation, "_implementation"):
            cls.attribute = _public(implementation)  # type: ignore[method-assign]

    @abstractmethod
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

    def explain(self, inputs: Tensor, target: TargetSpec = None, **options: Any) -> Explanation:
        """:meth:`attribute`, and what the model said: its output, the classes and their scores.

        Same arguments and checks as :meth:`attribute`. The output comes from the
        method's own forward pass (a method that never runs the model, such as a
        control, gets one forward pass more).
        """
        implementation = getattr(type(self).attribute, "_implementation", None)
        if implementation is None:
            raise TypeError(f"{type(self).__name__}.attribute is not a revelio method")
        return _run(self, implementation, inputs, target, options, explain=True)

    def __call__(self, inputs: Tensor, target: TargetSpec = None, **options: Any) -> Tensor:
        """Same as :meth:`attribute`."""
        return self.attribute(inputs, target, **options)

    def options(self) -> dict[str, Any]:
        """The method's options and their defaults: the keyword-only arguments of :meth:`attribute`."""
        return _options(type(self).attribute)

    def rebind(self: Self, model: nn.Module) -> Self:
        """The same method with the same settings, for another model of the same architecture.

        The sanity checks use it to explain randomised or retrained copies of a model.
        """
        clone = copy.copy(self)
        clone.model = explainable(model, needs_layers=isinstance(self, LayerAttribution))
        return clone

    # -- for subclasses --------------------------------------------------------------

    def input_gradient(self, inputs: Tensor, target: TargetSpec | Target, rule: BackwardRule | None = None) -> Tensor:
        """Gradient of the target scores w.r.t. ``inputs``, every ReLU following ``rule`` if given.

        One forward and one backward pass; gradients are computed for the input only.
        Returns ``Tensor[N, ...]``, or ``Tensor[N, K, ...]`` for K classes per example
        (one backward pass batched over the K classes).
        """
        target = resolve_target(target, inputs.shape[0])
        leaf, x = input_leaf(inputs)
        if rule is None:
            output = self.model(x)
        else:
            with ReLUOverride(rule) as override:
                output = self.model(x)
        scores, _ = target.scores(output)
        gradient = score_gradient(scores, leaf)
        if rule is not None:
            warn_if_no_relu(override, type(self).__name__)
        return gradient

    def prepare(self, inputs: Tensor) -> None:
        """Called before each call's state guard, once the inputs are checked; a hook for subclasses."""

    def check_inputs(self, inputs: Any) -> None:
        """Refuse inputs that no method can explain, before any work (a subclass may add its own checks).

        Raises:
            InputError: not a floating-point tensor batch, empty, or on another device
                or in another dtype than the model's parameters.
            NonFiniteError: NaN or infinite values.
        """
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
        dtypes = {p.dtype for p in self.model.parameters() if p.is_floating_point()}
        if len(dtypes) == 1 and inputs.dtype not in dtypes:
            (dtype,) = dtypes
            raise InputError(
                f"inputs are {inputs.dtype} but the model's parameters are {dtype}; convert them with "
                f"inputs.to({dtype}) (for mixed precision, run the call under torch.autocast)"
            )
        finite = torch.isfinite(inputs).reshape(inputs.shape[0], -1).all(dim=1)
        if not bool(finite.all()):
            bad = torch.nonzero(~finite).flatten().tolist()
            raise NonFiniteError(
                f"inputs hold NaN or infinite values in examples {bad[:10]}; their attributions would be meaningless: "
                "replace or drop them (torch.nan_to_num, or index them out) before the call"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__})"


class LayerAttribution(Attribution):
    """Attribution computed at an inner layer of the model (Grad-CAM and kin).

    Args:
        model: the network.
        layer: a submodule of ``model`` or its dotted name (``"layer4"``,
            ``"features.28"``); a wrong name raises
            :class:`~revelio.errors.LayerNotFoundError` listing the closest names.
            ``None`` picks the model's last spatial layer at the first call
            (:func:`~revelio.core.layers.default_layer`) and says which with a
            :class:`~revelio.errors.DefaultLayerWarning`.
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None) -> None:
        super().__init__(model)
        self.layer_name: str | None = None
        self.layer: nn.Module | None = None
        if layer is not None:
            self.layer_name, self.layer = resolve_layer(self.model, layer)

    def prepare(self, inputs: Tensor) -> None:
        """Pick the default layer on the first call, if none was given."""
        if self.layer is None:
            name = find_default_layer(self.model, inputs[:1].detach().clone())
            self.layer_name, self.layer = resolve_layer(self.model, name)
            warn_caller(
                f"{type(self).__name__}: no layer given, explaining {name!r}, the model's last layer with a spatial "
                "output; pass layer=... to choose another (`revelio layers` lists them)",
                DefaultLayerWarning,
            )

    def rebind(self, model: nn.Module, layer: str | nn.Module | None = None) -> LayerAttribution:
        """The same method for another model; the layer is found by name unless ``layer`` is given."""
        clone = super().rebind(model)
        name = layer if layer is not None else self.layer_name
        clone.layer_name, clone.layer = resolve_layer(model, name) if name is not None else (None, None)
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, layer={self.layer_name!r})"


def warn_if_no_relu(override: ReLUOverride, method: str) -> None:
    """Warn that a modified-ReLU method equals the gradient when the forward pass called no ReLU."""
    if override.calls == 0:
        warn_caller(
            f"{method}: the model called no ReLU in its forward pass, so its result equals the plain "
            "gradient (other activations such as GELU, SiLU or ReLU6 keep their ordinary backward)"
        )


# -- the plumbing around every subclass's attribute ---------------------------------------


def _public(implementation: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Wrap a subclass's ``attribute`` in the checks and the state guard (see the module's docstring)."""

    @functools.wraps(implementation)
    def attribute(self: Attribution, inputs: Tensor, target: TargetSpec = None, **options: Any) -> Tensor:
        return _run(self, implementation, inputs, target, options, explain=False)

    attribute._implementation = implementation  # type: ignore[attr-defined]
    return attribute


def _run(
    method: Attribution,
    implementation: Callable[..., Tensor],
    inputs: Tensor,
    target: TargetSpec,
    options: dict[str, Any],
    *,
    explain: bool,
) -> Any:
    name = type(method).__name__
    method.check_inputs(inputs)
    checked = resolve_target(target, inputs.shape[0])
    signature = inspect.signature(implementation)
    try:
        signature.bind(method, inputs, checked, **options)
    except TypeError as error:
        valid = [key for key, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY]
        raise TypeError(f"{name}.attribute: {error}; its options are: {', '.join(valid) or 'none'}") from None
    check_option_types(implementation, options, name)
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            f"{name} needs gradients, which torch.inference_mode() disables; call it outside that block "
            "(inside torch.no_grad() is fine: gradients are enabled for the call)"
        )
    with revelio_call():
        method.prepare(inputs)
        with preserved_model_state(method.model, eval_mode=True, freeze=True), torch.enable_grad():
            try:
                if checked.multiple and not method.multiple_targets:
                    maps = _one_class_at_a_time(method, implementation, inputs, checked, options)
                else:
                    maps = implementation(method, inputs, checked, **options)
            except (RuntimeError, AssertionError) as error:
                replacement = _explained(error, method.model, inputs)
                if replacement is not error:
                    raise replacement from error
                raise
            if not explain:
                return maps
            if not checked.recorded:  # the method never ran the model (a control): one forward pass for the output
                _score_once(method.model, inputs, checked)
    return Explanation(maps, checked.output, checked.explained_classes, checked.explained_scores)


def _one_class_at_a_time(
    method: Attribution, implementation: Callable[..., Tensor], inputs: Tensor, target: Target, options: dict[str, Any]
) -> Tensor:
    """Several classes per example for a method that explains one: one call per class, maps stacked at dim 1."""
    if target.top is not None:  # which classes: the model's top K, from one forward pass
        _score_once(method.model, inputs, target)
    singles = [target.per_class(k) for k in range(target.count)]
    maps = torch.stack([implementation(method, inputs, single, **options) for single in singles], dim=1)
    if not target.recorded and singles[0].recorded:
        target.scores(singles[0].output)
    return maps


def _explained(error: Exception, model: nn.Module, inputs: Tensor) -> Exception:
    """The error to raise for one the model raised: an InputError where its inputs did not fit, else itself."""
    if isinstance(error, RevelioError):
        return error
    first_line = (str(error).splitlines() or [type(error).__name__])[0]
    if first_line.startswith("Guard failed") and is_exported(model):
        return UnsupportedModelError(
            f"the exported model accepts only the input shapes it was exported with ({first_line}); methods that run "
            "batches of another size (internal batches, several copies of each example) need it exported with a "
            "dynamic batch dimension: torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim('batch')},))"
        )
    mismatch = input_mismatch(model, inputs) if isinstance(error, RuntimeError) else None
    return InputError(f"{mismatch}; the model raised: {first_line}") if mismatch is not None else error


def _score_once(model: nn.Module, inputs: Tensor, target: Target) -> None:
    """One forward pass without a graph, on a copy of the inputs (a model may write them), scored by ``target``."""
    with torch.no_grad():
        target.scores(model(inputs.detach().clone()))


def _options(attribute: Callable[..., Any]) -> dict[str, Any]:
    implementation = getattr(attribute, "_implementation", attribute)
    return {
        key: parameter.default
        for key, parameter in inspect.signature(implementation).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY
    }
