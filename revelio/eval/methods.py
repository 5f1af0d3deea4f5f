"""The methods the sanity checks run: registered methods, by name or as instances, with their options bound.

An :class:`Explainer` is a callable ``explain(inputs, classes) -> maps``: an
attribution method (or a control) with the options of its registry entry bound, so
that every check calls every method the same way, and with what the literature
expects of it (:meth:`Explainer.expected`). Methods come from
:mod:`revelio.registry`; an ``Attribution`` instance of any class works too (a class
that is not registered has no expectations: its results are reported, not judged).
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from torch import Tensor, nn

from revelio import registry
from revelio.attribution import Attribution, LayerAttribution
from revelio.errors import InputError, MethodNotFoundError
from revelio.registry import Expectation, MethodSpec

Reshape = Callable[[Tensor], Tensor]

Method = str | MethodSpec | Attribution
"""A method as the sanity checks take it: a registered name, a spec, or an instance."""


@dataclass
class Explainer:
    """A method with its options bound: ``explainer(inputs, classes) -> maps``.

    Attributes:
        spec: the method's registry entry (derived from its class when it has none).
        attribution: the attribution object.
        options: keyword options passed to ``attribute`` (the spec's defaults).
    """

    spec: MethodSpec
    attribution: Attribution
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The method's name in the report."""
        return self.spec.name

    @property
    def title(self) -> str:
        """The method's display name."""
        return self.spec.title

    def expected(self, check: str) -> Expectation:
        """What the literature expects of the method in ``check``."""
        return self.spec.expected(check)

    def __call__(self, inputs: Tensor, classes: Tensor) -> Tensor:
        with warnings.catch_warnings():
            # a ReLU-free known-answer net makes guided methods warn that they equal the gradient: that is the point
            warnings.filterwarnings("ignore", message=".*called no ReLU.*", category=RuntimeWarning)
            return self.attribution.attribute(inputs, classes, **self.options).detach()

    def reseeded(self, seed: int) -> Explainer:
        """The same method drawing its random numbers (RISE's masks, SmoothGrad's noise) from ``seed``.

        Two models' maps compared with the same draws share the draws' pattern, which makes
        them alike whatever the models do; the checks that compare two models give the
        second one fresh draws. A method that draws nothing is returned as it is.
        """
        if "seed" in inspect.signature(self.attribution.attribute).parameters:  # drawn per call (RISE)
            return replace(self, options={**self.options, "seed": seed})
        if isinstance(getattr(self.attribution, "seed", None), int):  # drawn by the instance (noise)
            attribution = copy.copy(self.attribution)
            attribution.seed = seed
            return replace(self, attribution=attribution)
        return self

    def rebind(self, model: nn.Module, layer: str | None = None) -> Explainer:
        """The same method and options for another model (a randomised or retrained copy, a test net).

        Args:
            model: the other model.
            layer: for layer methods, the layer to explain in it (default: the same name).
        """
        if isinstance(self.attribution, LayerAttribution):
            return replace(self, attribution=self.attribution.rebind(model, layer))
        return replace(self, attribution=self.attribution.rebind(model))


def resolve_methods(methods: Any, *, controls: bool = True) -> list[Method]:
    """``methods`` as a list of registered names, specs or instances (``None``: every registered method).

    Args:
        methods: ``None``, a comma-separated string, or an iterable of names, specs
            and ``Attribution`` instances.
        controls: with ``None``, include the control explainers.

    Raises:
        InputError: an unknown name (the message suggests the closest), or no method.
    """
    if methods is None:
        return list(registry.methods(controls=controls).values())
    if isinstance(methods, (str, MethodSpec, Attribution)):
        methods = [methods]
    if not isinstance(methods, Iterable):
        raise InputError(f"methods must be names, specs or Attribution instances, got {type(methods).__name__}")
    resolved: list[Method] = []
    for method in methods:
        parts = [part.strip() for part in method.split(",") if part.strip()] if isinstance(method, str) else [method]
        for part in parts:
            try:
                spec = registry.spec_of(part)
            except MethodNotFoundError as error:
                raise InputError(str(error)) from None
            resolved.append(part if isinstance(part, Attribution) else spec)
    if not resolved:
        raise InputError(f"no methods given; choose from: {', '.join(registry.names(controls=True))}")
    return list({_key(m): m for m in resolved}.values())


def build_explainer(
    method: Method,
    model: nn.Module,
    layer: str | nn.Module | None = None,
    reshape: Reshape | None = None,
    *,
    seed: int = 0,
    preview: bool = False,
) -> Explainer:
    """The explainer of ``method`` for ``model``.

    Args:
        method: a registered name, a spec, or an ``Attribution`` instance (used as it
            is when it explains ``model``, else rebound to it).
        model: the network.
        layer: the layer of layer methods (``None``: the method picks the model's last
            spatial layer).
        reshape: turns that layer's output into a feature map (``vit_reshape``), if needed.
        seed: seeds methods that draw random numbers (their ``seed`` argument, of the
            constructor or of ``attribute``).
        preview: bind the registry entry's ``preview`` options over its defaults (fewer
            integration steps, noise samples, masks or windows: the quick run).

    Raises:
        InputError: an unknown name.
    """
    if isinstance(method, Attribution):
        spec = registry.spec_of(method)
        attribution = method if method.model is model else method.rebind(model)
        return Explainer(spec, attribution, _options(spec, preview))
    try:
        spec = registry.spec_of(method)
    except MethodNotFoundError as error:
        raise InputError(str(error)) from None
    seeded = "seed" in inspect.signature(spec.load().__init__).parameters  # noise, the random map
    attribution = spec.create(model, layer, reshape, **({"seed": seed} if seeded else {}))
    return Explainer(spec, attribution, _options(spec, preview)).reseeded(seed)


def _options(spec: MethodSpec, preview: bool) -> dict[str, Any]:
    return {**spec.defaults, **spec.preview} if preview else dict(spec.defaults)


def method_name(method: Method) -> str:
    """The report name of a method given by name, spec or instance."""
    return registry.spec_of(method).name


def _key(method: Method) -> Any:
    return id(method) if isinstance(method, Attribution) else method.name if isinstance(method, MethodSpec) else method
