"""Attribution methods by name, for the command line, the sanity checks and the benchmarks."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from torch import Tensor, nn

from revelio.attribution.base import Attribution, LayerAttribution
from revelio.attribution.gradcam import GradCAM, GuidedGradCAM
from revelio.attribution.guided import Deconvolution, GuidedBackprop
from revelio.attribution.saliency import Saliency

METHODS: dict[str, type[Attribution]] = {
    "saliency": Saliency,
    "guided-backprop": GuidedBackprop,
    "deconvolution": Deconvolution,
    "gradcam": GradCAM,
    "guided-gradcam": GuidedGradCAM,
}
"""Every built-in method under its command-line name."""


def create_method(
    name: str,
    model: nn.Module,
    layer: str | nn.Module | None = None,
    reshape: Callable[[Tensor], Tensor] | None = None,
) -> Attribution:
    """Build the method called ``name`` for ``model``.

    Args:
        name: a key of :data:`METHODS` (``"gradcam"``, ``"guided-backprop"``, ...).
        model: the network.
        layer: the layer of a layer method (Grad-CAM and guided Grad-CAM); ignored by
            input methods.
        reshape: for layer methods, maps the layer's output to ``(N, K, h, w)``
            (:func:`~revelio.attribution.vit_reshape` for ViT tokens).

    Raises:
        ValueError: an unknown name (the message lists the known ones), or a layer
            method without a layer.
    """
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown method {name!r}; {hint}choose from {', '.join(METHODS)}")
    method = METHODS[name]
    if not issubclass(method, LayerAttribution):
        return method(model)
    if layer is None:
        raise ValueError(f"{name} needs a layer: pass the dotted name of a convolutional block, e.g. 'layer4'")
    return method(model, layer, reshape) if reshape is not None else method(model, layer)
