"""Every registered attribution method, read from the library's registry, for tests that must cover them all.

The lists come from :func:`revelio.registry.methods` when the tests are collected: a
method registered there (built in, or by an installed plugin's ``revelio.methods``
entry point) is enrolled in the lifecycle, bad-input and property tests with no edit
here. Layer methods explain ``conv2`` of :class:`attribution_nets.SmallCNN`. A few
option variants of the built-ins are tested besides their defaults.
"""

from __future__ import annotations

from revelio import registry
from revelio.attribution import EigenCAM, GradCAM, Saliency, ScoreCAM

CAM_LAYER = "conv2"


def _factory(spec: registry.MethodSpec):
    return lambda model: spec.create(model, CAM_LAYER)


REGISTERED = registry.methods()
"""The library's registered methods (the controls left out: they never call the model)."""

FAST_OPTIONS: dict[str, dict] = {
    "integrated-gradients": {"steps": 6},
    "smoothgrad": {"samples": 3},
    "smoothgrad-squared": {"samples": 3},
    "vargrad": {"samples": 3},
    "occlusion": {"window": (3, 3), "strides": (2, 2)},
    "rise": {"masks": 12, "grid": 3},
}
"""Options that keep a costly method's defaults quick on the 8x8 test net (fewer steps, samples or masks)."""



def runs_several_passes(method) -> bool:
    """Whether a method may run the model several times per call: work in internal batches (its option says so)."""
    return "internal_batch_size" in method.options()


# name -> (factory(model) -> method, options for attribute, output kind)
METHODS = {
    **{
        name: (_factory(spec), {**spec.defaults, **FAST_OPTIONS.get(name, {})}, spec.map_kind)
        for name, spec in REGISTERED.items()
    },
    "saliency-signed-max": (Saliency, {"abs": False, "channels": "max"}, "cam"),
    "gradcam-grid": (lambda model: GradCAM(model, CAM_LAYER), {"upsample": False, "relu": False}, "grid"),
    # internal batches of 5 masked copies: batches that split an example's channels (conv2 has 6)
    "scorecam-grid-batch5": (lambda model: ScoreCAM(model, CAM_LAYER), {"upsample": False, "internal_batch_size": 5},
                             "grid"),
    "eigencam-grid-uncentred": (lambda model: EigenCAM(model, CAM_LAYER),
                                {"upsample": False, "relu": False, "center": False}, "grid"),
}

# one entry per registered method, for tests about the class rather than its options
CLASSES = {name: _factory(spec) for name, spec in REGISTERED.items()}
