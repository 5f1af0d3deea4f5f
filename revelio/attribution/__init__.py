"""Attribution: which input pixels drive a model's score for a class."""

from revelio.attribution.base import Attribution, LayerAttribution
from revelio.attribution.gradcam import GradCAM, GuidedGradCAM, vit_reshape
from revelio.attribution.guided import Deconvolution, GuidedBackprop, ModifiedReLUGradient
from revelio.attribution.registry import METHODS, create_method
from revelio.attribution.saliency import Saliency

__all__ = [
    "Attribution",
    "Deconvolution",
    "GradCAM",
    "GuidedBackprop",
    "GuidedGradCAM",
    "LayerAttribution",
    "METHODS",
    "ModifiedReLUGradient",
    "Saliency",
    "create_method",
    "vit_reshape",
]
