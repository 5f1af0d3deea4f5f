"""revelio: see what PyTorch vision models see and learn.

Attribution methods live in :mod:`revelio.attribution`; the model plumbing they share
(layers, targets, the model-state guard, ReLU backward rules) in :mod:`revelio.core`.
"""

from revelio.attribution import (
    Attribution,
    Deconvolution,
    GradCAM,
    GuidedBackprop,
    GuidedGradCAM,
    LayerAttribution,
    Saliency,
    vit_reshape,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "Attribution",
    "Deconvolution",
    "GradCAM",
    "GuidedBackprop",
    "GuidedGradCAM",
    "LayerAttribution",
    "Saliency",
    "__version__",
    "vit_reshape",
]
