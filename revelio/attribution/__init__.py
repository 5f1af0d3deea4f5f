"""Attribution: which input pixels drive a model's score for a class.

Every method is a subclass of :class:`Attribution` (input methods) or
:class:`LayerAttribution` (methods that explain an inner layer), and is listed in
:mod:`revelio.registry`, which the command line, the sanity checks, the benchmarks and
dataset runs read.
"""

from revelio.attribution.base import Attribution, Explanation, LayerAttribution
from revelio.attribution.cam import CAMAttribution
from revelio.attribution.controls import EdgeDetector, RandomMap, SpectralResidual
from revelio.attribution.eigen_cam import EigenCAM
from revelio.attribution.gradcam import GradCAM, GuidedGradCAM
from revelio.attribution.gradcam_variants import GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from revelio.attribution.gradient_x_input import GradientXInput
from revelio.attribution.guided import Deconvolution, GuidedBackprop, ModifiedReLUGradient
from revelio.attribution.integrated_gradients import IntegratedGradients
from revelio.attribution.noise import SmoothGrad, SmoothGradSquared, VarGrad
from revelio.attribution.occlusion import Occlusion
from revelio.attribution.rise import RISE, rise_masks
from revelio.attribution.saliency import Saliency
from revelio.attribution.score_cam import ScoreCAM
from revelio.core.reshape import vit_reshape

__all__ = [
    "Attribution",
    "CAMAttribution",
    "Deconvolution",
    "EdgeDetector",
    "EigenCAM",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "HiResCAM",
    "IntegratedGradients",
    "LayerAttribution",
    "LayerCAM",
    "ModifiedReLUGradient",
    "Occlusion",
    "RISE",
    "RandomMap",
    "SpectralResidual",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "SmoothGradSquared",
    "VarGrad",
    "XGradCAM",
    "rise_masks",
    "vit_reshape",
]
