"""Vanilla saliency: the gradient of the class score w.r.t. the input."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

from revelio.attribution.base import Attribution
from revelio.core.targets import TargetSpec, resolve_target

ChannelReduction = Literal["max", "sum", "mean"]


class Saliency(Attribution):
    """Gradient of the target score w.r.t. the input: ``S = d f_c / d x``.

    One forward and one backward pass; gradients are computed for the input only.

    Simonyan, Vedaldi, Zisserman 2013, "Deep Inside Convolutional Networks: Visualising
    Image Classification Models and Saliency Maps".

    Example:
        >>> maps = Saliency(model).attribute(images, target=281, channels="max")
    """

    multiple_targets = True

    def attribute(
        self, inputs: Tensor, target: TargetSpec = None, *, abs: bool = True, channels: ChannelReduction | None = None
    ) -> Tensor:
        """The gradient of the target score w.r.t. each example of ``inputs``.

        Args:
            inputs: ``Tensor[N, ...]`` on the model's device.
            target: ``None`` (top class), a class, one class per example, or a callable.
            abs: take ``|S|`` (the paper's display); ``False`` keeps the signed gradient.
            channels: ``None`` keeps the input's shape; ``"max"``, ``"sum"`` or ``"mean"``
                reduce over the input's dim 1 to ``Tensor[N, 1, H, W]`` (``abs=True,
                channels="max"`` is the paper's map).
        """
        target = resolve_target(target, inputs.shape[0])
        gradient = self.input_gradient(inputs, target)
        if abs:
            gradient = gradient.abs()
        dim = 2 if target.multiple else 1  # the input's channels, after the target dimension
        if channels == "max":
            return gradient.amax(dim=dim, keepdim=True)
        if channels == "sum":
            return gradient.sum(dim=dim, keepdim=True)
        if channels == "mean":
            return gradient.mean(dim=dim, keepdim=True)
        return gradient
