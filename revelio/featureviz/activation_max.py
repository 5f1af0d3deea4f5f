"""Activation maximization: gradient ascent on the pixels of an image.

PytorchRevelio's three variants are three configurations of one loop, not three
copies of it:

- plain (Erhan et al. 2009): ``ActivationMaximization(model)``;
- Gaussian blur (Øygard 2015): ``ActivationMaximization(model, regularizers=[GaussianBlur(...)])``;
- bilateral blur (Tyka 2016): ``ActivationMaximization(model, regularizers=[BilateralBlur(...)])``.

:meth:`ActivationMaximization.variant` builds them by name with the defaults of
:data:`VARIANTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from revelio.featureviz.base import FeatureVisualizer
from revelio.featureviz.regularizers import BilateralBlur, GaussianBlur, Regularizer

VARIANTS: dict[str, Callable[[], list[Regularizer]]] = {
    "plain": list,
    "gaussian": lambda: [GaussianBlur(1.0, 0.3)],
    "bilateral": lambda: [BilateralBlur(5, sigma_space=(2.0, 1.0), sigma_color=(0.5, 0.1))],
}
"""The regularizers of each named variant (a fresh list per call)."""


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

    @classmethod
    def variant(cls, name: str, model: nn.Module, **options: Any) -> ActivationMaximization:
        """Build a named variant: ``"plain"``, ``"gaussian"`` or ``"bilateral"`` (:data:`VARIANTS`).

        ``options`` go to the constructor; extra ``regularizers`` are applied after the
        variant's own.

        Raises:
            ValueError: an unknown variant name.
        """
        if name not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {name!r}")
        regularizers = VARIANTS[name]() + list(options.pop("regularizers", ()))
        return cls(model, regularizers=regularizers, **options)
