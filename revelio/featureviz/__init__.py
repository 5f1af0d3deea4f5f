"""Feature visualization: which input a unit of the network responds to most.

- :class:`ActivationMaximization`: gradient ascent from random start images, in any
  :mod:`~revelio.featureviz.parameterizations` (:class:`Pixels`, :class:`Decorrelated`,
  :class:`Fourier`, :class:`MACO`), with regularizers and transformations; named
  configurations in :data:`PRESETS` (:data:`DEFAULT_PRESET` reads best);
- :class:`DeepDream`: amplify a layer's activity in given images, over octaves;
- :func:`accentuate`: feature accentuation of natural images;
- objectives (:func:`channel`, :func:`neuron`, :func:`class_logit`, :func:`direction`,
  :func:`deepdream`, :func:`diversity`, :func:`interpolate`), composable with ``+`` and
  ``*``; a list of units is one batch;
- regularizers (:class:`GaussianBlur`, :class:`BilateralBlur`, :class:`L2Decay`,
  :class:`Clip`) and transformations (:class:`Pad`, :class:`Jitter`,
  :class:`RandomScale`, :class:`RandomRotate`, :func:`standard_transforms`) with
  schedules (:class:`Constant`, :class:`Linear`, :class:`Cosine`); step rules
  (:class:`NormalizedGradient`, :class:`Adam`).

Example:
    >>> am = get_preset(DEFAULT_PRESET).create(model)
    >>> result = am.visualize(channel("features.6", [0, 1, 2, 3]), steps=256, seed=0)
    >>> result.display  # Tensor[4, 3, 224, 224] in [0, 1]
"""

from revelio.core.filters import bilateral_blur, gaussian_blur
from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD
from revelio.errors import NonFiniteError, SettingError, SettingTypeError, UnitIndexError
from revelio.featureviz.accentuation import ActivationDistance, accentuate
from revelio.featureviz.activation_max import ActivationMaximization
from revelio.featureviz.base import FeatureVisualizer
from revelio.featureviz.batch_objectives import Diversity, Interpolation, diversity, interpolate
from revelio.featureviz.color import IMAGENET_COLOR_CORRELATION, color_matrix_from_images
from revelio.featureviz.deep_dream import DeepDream
from revelio.featureviz.objectives import (
    Channel,
    ClassLogit,
    Direction,
    LayerActivation,
    Neuron,
    Objective,
    channel,
    class_logit,
    deepdream,
    direction,
    neuron,
)
from revelio.featureviz.parameterizations import (
    MACO,
    PARAMETERIZATIONS,
    Decorrelated,
    Fourier,
    Parameterization,
    Pixels,
    as_parameterization,
)
from revelio.featureviz.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset, register_preset
from revelio.featureviz.regularizers import BilateralBlur, Clip, GaussianBlur, L2Decay, Regularizer
from revelio.featureviz.schedules import Constant, Cosine, Linear, Schedule
from revelio.featureviz.steps import Adam, NormalizedGradient, StepRule
from revelio.featureviz.transforms import (
    TRANSFORM_SETS,
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    scaled_transforms,
    standard_transforms,
    transform_set,
)
from revelio.featureviz.visualization import Visualization

__all__ = [
    "DEFAULT_PRESET",
    "IMAGENET_COLOR_CORRELATION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MACO",
    "PARAMETERIZATIONS",
    "PRESETS",
    "TRANSFORM_SETS",
    "ActivationDistance",
    "ActivationMaximization",
    "Adam",
    "BilateralBlur",
    "Channel",
    "ClassLogit",
    "Clip",
    "Constant",
    "Cosine",
    "Decorrelated",
    "DeepDream",
    "Direction",
    "Diversity",
    "FeatureVisualizer",
    "Fourier",
    "GaussianBlur",
    "Interpolation",
    "Jitter",
    "L2Decay",
    "LayerActivation",
    "Linear",
    "Neuron",
    "NonFiniteError",
    "NormalizedGradient",
    "Objective",
    "Pad",
    "Parameterization",
    "Pixels",
    "Preset",
    "RandomRotate",
    "RandomScale",
    "Regularizer",
    "Schedule",
    "SettingError",
    "SettingTypeError",
    "StepRule",
    "UnitIndexError",
    "Visualization",
    "accentuate",
    "as_parameterization",
    "bilateral_blur",
    "channel",
    "class_logit",
    "color_matrix_from_images",
    "deepdream",
    "direction",
    "diversity",
    "gaussian_blur",
    "get_preset",
    "interpolate",
    "neuron",
    "register_preset",
    "scaled_transforms",
    "standard_transforms",
    "transform_set",
]
