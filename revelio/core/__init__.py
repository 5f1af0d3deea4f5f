"""Model plumbing shared by every method: layers, targets, state, capture, ReLU rules, normalisation."""

from revelio.core.capture import LayerCapture
from revelio.core.layers import resolve_layer
from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize
from revelio.core.overrides import BackwardRule, DeconvolutionRule, GradientRule, GuidedRule, ReLUOverride
from revelio.core.state import preserved_model_state
from revelio.core.targets import Target, TargetSpec, resolve_target

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BackwardRule",
    "DeconvolutionRule",
    "GradientRule",
    "GuidedRule",
    "LayerCapture",
    "ReLUOverride",
    "Target",
    "TargetSpec",
    "denormalize",
    "normalize",
    "preserved_model_state",
    "resolve_layer",
    "resolve_target",
]
