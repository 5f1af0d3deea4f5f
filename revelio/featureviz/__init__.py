"""Feature visualization: which input a unit of the network responds to most.

- :class:`ActivationMaximization`: gradient ascent on an image from noise; plain,
  with Gaussian blur or with bilateral blur (named configurations: :data:`PRESETS`);
- :class:`DeepDream`: amplify a layer's activity in a given image, over octaves;
- objectives (:func:`channel`, :func:`neuron`, :func:`class_logit`,
  :func:`deepdream`), composable with ``+`` and ``*``; a list of units is one batch;
- regularizers (:class:`GaussianBlur`, :class:`BilateralBlur`, :class:`Jitter`,
  :class:`L2Decay`, :class:`Clip`) with schedules (:class:`Constant`,
  :class:`Linear`, :class:`Cosine`); step rules (:class:`NormalizedGradient`, :class:`Adam`).

Example:
    >>> am = ActivationMaximization(model, regularizers=[GaussianBlur(1.0, 0.5)])
    >>> result = am.visualize(channel("features.6", [0, 1, 2, 3]), steps=64, seed=0)
    >>> result.display  # Tensor[4, 3, 224, 224] in [0, 1]
"""

from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD
from revelio.errors import UnitIndexError
from revelio.featureviz.activation_max import ActivationMaximization
from revelio.featureviz.base import FeatureVisualizer, Visualization
from revelio.featureviz.deep_dream import DeepDream
from revelio.core.filters import bilateral_blur, gaussian_blur
from revelio.featureviz.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset, register_preset
from revelio.featureviz.objectives import (
    Channel,
    ClassLogit,
    LayerActivation,
    Neuron,
    Objective,
    channel,
    class_logit,
    deepdream,
    neuron,
)
from revelio.featureviz.regularizers import BilateralBlur, Clip, GaussianBlur, Jitter, L2Decay, Regularizer
from revelio.featureviz.schedules import Constant, Cosine, Linear, Schedule
from revelio.featureviz.steps import Adam, NormalizedGradient, StepRule

__all__ = [
    "DEFAULT_PRESET",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "ActivationMaximization",
    "Adam",
    "BilateralBlur",
    "Channel",
    "ClassLogit",
    "Clip",
    "Constant",
    "Cosine",
    "DeepDream",
    "FeatureVisualizer",
    "GaussianBlur",
    "Jitter",
    "L2Decay",
    "LayerActivation",
    "Linear",
    "Neuron",
    "NormalizedGradient",
    "Objective",
    "Preset",
    "Regularizer",
    "Schedule",
    "StepRule",
    "UnitIndexError",
    "Visualization",
    "bilateral_blur",
    "channel",
    "class_logit",
    "deepdream",
    "gaussian_blur",
    "get_preset",
    "neuron",
    "register_preset",
]
