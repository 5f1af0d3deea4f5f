"""The methods the sanity checks run, by the names the command line uses.

An explainer here is a callable ``explain(inputs, classes) -> maps``: an attribution
method of :mod:`revelio.attribution` (or a control of :mod:`revelio.eval.controls`)
with its options bound, so that every check calls every method the same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from revelio.attribution import Attribution, Deconvolution, GradCAM, GuidedBackprop, GuidedGradCAM, Saliency
from revelio.errors import InputError
from revelio.eval.controls import EdgeDetector, RandomMap

Reshape = Callable[[Tensor], Tensor]

ATTRIBUTION_METHODS: tuple[str, ...] = ("saliency", "guided-backprop", "deconvolution", "gradcam", "guided-gradcam")
"""The attribution methods, in report order."""

CONTROLS: tuple[str, ...] = ("edge-detector", "random-map")
"""The control explainers (:mod:`revelio.eval.controls`)."""

ALL_METHODS: tuple[str, ...] = ATTRIBUTION_METHODS + CONTROLS

TITLES: dict[str, str] = {
    "saliency": "Saliency (gradient)",
    "guided-backprop": "Guided backprop",
    "deconvolution": "Deconvolution",
    "gradcam": "Grad-CAM",
    "guided-gradcam": "Guided Grad-CAM",
    "edge-detector": "Edge detector (control)",
    "random-map": "Random map (control)",
}
"""Display names."""

LAYER_METHODS = frozenset({"gradcam", "guided-gradcam"})
"""Methods that need a layer (the model's Grad-CAM layer)."""


@dataclass
class Explainer:
    """A method with its options bound: ``explainer(inputs, classes) -> maps``.

    Attributes:
        name: the method's command-line name.
        attribution: the attribution object.
        options: keyword options passed to ``attribute``.
    """

    name: str
    attribution: Attribution
    options: dict[str, Any] = field(default_factory=dict)

    def __call__(self, inputs: Tensor, classes: Tensor) -> Tensor:
        with warnings.catch_warnings():
            # a ReLU-free known-answer net makes guided methods warn that they equal the gradient: that is the point
            warnings.filterwarnings("ignore", message=".*called no ReLU.*", category=RuntimeWarning)
            return self.attribution.attribute(inputs, classes, **self.options).detach()


def check_methods(methods: Any) -> tuple[str, ...]:
    """``methods`` as a tuple of known names (``None``: all of :data:`ALL_METHODS`).

    Raises:
        InputError: an unknown name; the message lists the known ones.
    """
    if methods is None:
        return ALL_METHODS
    if isinstance(methods, str):
        methods = [part.strip() for part in methods.split(",") if part.strip()]
    names = tuple(dict.fromkeys(str(name) for name in methods))
    unknown = [name for name in names if name not in ALL_METHODS]
    if unknown:
        raise InputError(f"unknown method(s) {', '.join(map(repr, unknown))}; choose from: {', '.join(ALL_METHODS)}")
    if not names:
        raise InputError(f"no methods given; choose from: {', '.join(ALL_METHODS)}")
    return names


def build_explainer(
    name: str,
    model: nn.Module,
    layer: str | nn.Module | None = None,
    reshape: Reshape | None = None,
    *,
    seed: int = 0,
) -> Explainer:
    """The explainer ``name`` for ``model``.

    Args:
        name: one of :data:`ALL_METHODS`.
        model: the network.
        layer: the layer of the CAM methods (``"block3"`` for the shapes CNN).
        reshape: turns that layer's output into a feature map (``vit_reshape``), if needed.
        seed: seeds the random-map control.

    Raises:
        InputError: an unknown name, or a CAM method without a layer.
    """
    check_methods([name])
    if name in LAYER_METHODS and layer is None:
        raise InputError(
            f"{name} needs a layer and the model has no known Grad-CAM layer; choose one with `revelio layers` "
            "and pass it (ZooModel.gradcam_layer)"
        )
    if name == "saliency":
        return Explainer(name, Saliency(model), {"abs": False})
    if name == "guided-backprop":
        return Explainer(name, GuidedBackprop(model))
    if name == "deconvolution":
        return Explainer(name, Deconvolution(model))
    if name == "gradcam":
        return Explainer(name, GradCAM(model, layer, reshape))
    if name == "guided-gradcam":
        return Explainer(name, GuidedGradCAM(model, layer, reshape))
    if name == "edge-detector":
        return Explainer(name, EdgeDetector(model))
    return Explainer(name, RandomMap(model, seed))
