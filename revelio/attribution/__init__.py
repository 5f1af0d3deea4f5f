"""Attribution: which input pixels drive a model's score for a class.

Every method is a subclass of :class:`Attribution` (input methods) or
:class:`LayerAttribution` (methods that explain an inner layer), and is listed in
:mod:`revelio.registry`, which the command line, the sanity checks, the benchmarks and
dataset runs read.
"""

from revelio.attribution.base import Attribution, Explanation, LayerAttribution
from revelio.attribution.controls import EdgeDetector, RandomMap
from revelio.attribution.gradcam import GradCAM, GuidedGradCAM
from revelio.attribution.gradient_x_input import GradientXInput
from revelio.attribution.guided import Deconvolution, GuidedBackprop, ModifiedReLUGradient
from revelio.attribution.integrated_gradients import IntegratedGradients
from revelio.attribution.noise import SmoothGrad, SmoothGradSquared, VarGrad
from revelio.attribution.saliency import Saliency
from revelio.core.reshape import vit_reshape

__all__ = [
    "Attribution",
    "Deconvolution",
    "EdgeDetector",
    "Explanation",
    "GradCAM",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "IntegratedGradients",
    "LayerAttribution",
    "ModifiedReLUGradient",
    "RandomMap",
    "Saliency",
    "SmoothGrad",
    "SmoothGradSquared",
    "VarGrad",
    "vit_reshape",
]
