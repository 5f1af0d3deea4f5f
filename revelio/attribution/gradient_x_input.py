"""Gradient times input: each input value times the gradient of the class score w.r.t. it."""

from __future__ import annotations

from torch import Tensor

from revelio.attribution.base import Attribution
from revelio.core.targets import TargetSpec, resolve_target


class GradientXInput(Attribution):
    """Gradient times input: ``x * d f_c / d x``, elementwise.

    One forward and one backward pass, as :class:`~revelio.attribution.Saliency`. On a
    linear model ``f_c(x) = w_c . x + b_c`` the map is ``x * w_c``, each input's
    contribution to the score. It is not input invariant: a constant shift of the input
    that the first layer absorbs leaves the model's function and gradient unchanged but
    changes ``x`` and so the map (Kindermans et al. 2019, "The (Un)reliability of
    Saliency Methods").

    Shrikumar et al. 2016, "Not Just a Black Box: Learning Important Features Through
    Propagating Activation Differences". Captum: ``InputXGradient``, the same map.

    Example:
        >>> maps = GradientXInput(model).attribute(images, target=281)
    """

    multiple_targets = True

    def attribute(self, inputs: Tensor, target: TargetSpec = None) -> Tensor:
        """The gradient of the target score times the input, a signed input-shaped map.

        Args:
            inputs: ``Tensor[N, ...]`` on the model's device.
            target: ``None`` (top class), a class, one class per example, K classes per
                example, ``"topK"``, or a callable.

        Returns:
            ``Tensor[N, ...]`` like ``inputs``; ``Tensor[N, K, ...]`` for K classes per
            example, from one forward and one batched backward pass.
        """
        target = resolve_target(target, inputs.shape[0])
        gradient = self.input_gradient(inputs, target)
        x = inputs.detach()
        return gradient * (x.unsqueeze(1) if target.multiple else x)
