"""Activation maximization: gradient ascent on the pixels of an image.

PytorchRevelio's three variants are three configurations of one loop, not three
copies of it:

- plain (Erhan et al. 2009): ``ActivationMaximization(model)``;
- Gaussian blur (Øygard 2015): ``ActivationMaximization(model, regularizers=[GaussianBlur(...)])``;
- bilateral blur (Tyka 2016): ``ActivationMaximization(model, regularizers=[BilateralBlur(...)])``.

:mod:`revelio.featureviz.presets` builds them by name (``get_preset("gaussian").create(model)``).
"""

from __future__ import annotations

from torch import Tensor

from revelio.featureviz.base import FeatureVisualizer


class ActivationMaximization(FeatureVisualizer):
    """Maximise an objective over the pixels of an image, from random noise.

    The image's parameters are its pixels in [0, 1]. Arguments as
    :class:`~revelio.featureviz.base.FeatureVisualizer`: ``model``, ``regularizers``,
    ``step``, ``lr``, ``clamp``, ``image_size``, ``mean``, ``std``, ``steps``,
    ``progress``.

    Example:
        >>> am = ActivationMaximization(model, regularizers=[GaussianBlur(1.0, 0.5)])
        >>> result = am.visualize(channel("features.6", [0, 1, 2, 3]), steps=64)
        >>> result.display.shape  # four images, one per channel, in [0, 1]
        torch.Size([4, 3, 224, 224])

    Erhan, Bengio, Courville and Vincent 2009, "Visualizing Higher-Layer Features of a
    Deep Network".
    """

    def parameterize(self, images: Tensor) -> Tensor:
        return images

    def render(self, parameters: Tensor) -> Tensor:
        return parameters
