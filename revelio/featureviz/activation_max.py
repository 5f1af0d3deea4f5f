"""Activation maximization: gradient ascent from random start images.

PytorchRevelio's three variants and the readable ones of Olah et al. (2017) and Fel et
al. (2023) are configurations of one loop, not copies of it:

- plain (Erhan et al. 2009): ``ActivationMaximization(model)``;
- Gaussian blur (Øygard 2015): ``ActivationMaximization(model, regularizers=[GaussianBlur(...)])``;
- bilateral blur (Tyka 2016): ``ActivationMaximization(model, regularizers=[BilateralBlur(...)])``;
- Fourier, decorrelated colour, transformation robustness (Olah et al. 2017):
  ``ActivationMaximization(model, parameterization="fourier-decorrelated", regularizers=standard_transforms())``;
- MACO (Fel et al. 2023): ``ActivationMaximization(model, parameterization="maco", ...)``.

:mod:`revelio.featureviz.presets` builds them by name (``get_preset("lucid").create(model)``).
"""

from __future__ import annotations

from revelio.featureviz.base import FeatureVisualizer


class ActivationMaximization(FeatureVisualizer):
    """Maximise an objective from random start images (the parameterization's own noise).

    Arguments as :class:`~revelio.featureviz.base.FeatureVisualizer`: ``model``,
    ``parameterization``, ``regularizers``, ``step``, ``lr``, ``clamp``, ``image_size``,
    ``channels``, ``mean``, ``std``, ``steps``, ``progress``.

    Example:
        >>> am = ActivationMaximization(model, regularizers=[GaussianBlur((1.0, 0.5))])
        >>> result = am.visualize(channel("features.6", [0, 1, 2, 3]), steps=64)
        >>> result.display.shape  # four images, one per channel, in [0, 1]
        torch.Size([4, 3, 224, 224])

    Erhan, Bengio, Courville and Vincent 2009, "Visualizing Higher-Layer Features of a
    Deep Network".
    """
