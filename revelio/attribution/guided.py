"""Guided backpropagation and deconvolution: the gradient with a modified ReLU rule."""

from __future__ import annotations

from torch import Tensor

from revelio.attribution.base import Attribution
from revelio.core.overrides import BackwardRule, DeconvolutionRule, GuidedRule
from revelio.core.targets import TargetSpec


class ModifiedReLUGradient(Attribution):
    """Input gradient computed with every ReLU following :attr:`rule` in the backward pass.

    A new modified-backprop method is a subclass that sets ``rule`` to a
    :class:`~revelio.core.overrides.BackwardRule`. ``nn.ReLU`` (in place or not,
    reused or not) and functional ReLU calls are all covered; other activations keep
    their ordinary backward (see :mod:`revelio.core.overrides`).
    """

    rule: BackwardRule
    multiple_targets = True

    def attribute(self, inputs: Tensor, target: TargetSpec = None) -> Tensor:
        """The input gradient of the target score under :attr:`rule`: an input-shaped, signed map."""
        return self.input_gradient(inputs, target, rule=self.rule)


class GuidedBackprop(ModifiedReLUGradient):
    """Guided backpropagation: ReLUs pass gradient where input and gradient are positive.

    ``g_in = g_out * [x > 0] * [g_out > 0]`` at every ReLU. Returns the signed,
    input-shaped map. Known limits, reproduced by ``revelio sanity``: nearly unchanged
    when the top layers are randomised (Adebayo et al. 2018) and not class
    discriminative.

    Springenberg et al. 2014, "Striving for Simplicity: The All Convolutional Net".

    Example:
        >>> maps = GuidedBackprop(model).attribute(images, target=[3, 7])
    """

    rule = GuidedRule()


class Deconvolution(ModifiedReLUGradient):
    """Deconvolution: ReLUs pass gradient where the gradient is positive.

    ``g_in = g_out * [g_out > 0]`` at every ReLU, ignoring the forward sign.

    Zeiler and Fergus 2014, "Visualizing and Understanding Convolutional Networks".
    """

    rule = DeconvolutionRule()
