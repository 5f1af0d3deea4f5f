"""Every attribution method, as (factory, options), for tests that must cover them all.

Adding a method here enrolls it in the lifecycle, bad-input and property tests. CAM
methods explain ``conv2`` of :class:`attribution_nets.SmallCNN`.
"""

from __future__ import annotations

from revelio.attribution import Deconvolution, GradCAM, GuidedBackprop, GuidedGradCAM, Saliency

CAM_LAYER = "conv2"

# name -> (factory(model) -> method, options for attribute, output kind)
METHODS = {
    "Saliency": (Saliency, {}, "input"),
    "Saliency-signed-max": (Saliency, {"abs": False, "channels": "max"}, "channel-reduced"),
    "GuidedBackprop": (GuidedBackprop, {}, "input"),
    "Deconvolution": (Deconvolution, {}, "input"),
    "GradCAM": (lambda model: GradCAM(model, CAM_LAYER), {}, "cam"),
    "GradCAM-grid": (lambda model: GradCAM(model, CAM_LAYER), {"upsample": False, "relu": False}, "grid"),
    "GuidedGradCAM": (lambda model: GuidedGradCAM(model, CAM_LAYER), {}, "input"),
}

# one entry per public class, for tests about the class rather than its options
CLASSES = {
    "Saliency": Saliency,
    "GuidedBackprop": GuidedBackprop,
    "Deconvolution": Deconvolution,
    "GradCAM": lambda model: GradCAM(model, CAM_LAYER),
    "GuidedGradCAM": lambda model: GuidedGradCAM(model, CAM_LAYER),
}
