"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

import torch
from torch import Tensor

from revelio.attribution.base import warn_if_no_relu
from revelio.attribution.cam import CAMAttribution, check_spatial, weighted_map
from revelio.core.capture import LayerCapture
from revelio.core.gradients import input_leaf, score_gradient
from revelio.core.overrides import GradientRule, GuidedRule, ReLUOverride
from revelio.core.targets import TargetSpec, resolve_target
from revelio.errors import LayerNotReachedError


class GradCAM(CAMAttribution):
    """Gradient-weighted class activation map of a layer.

    ``a_k = mean_ij d f_c / d A^k_ij``; ``L = ReLU(sum_k a_k A^k)``, upsampled
    bilinearly to the input size. The backward pass stops at the layer: nothing below
    it keeps a graph, so the cost is close to one plain forward pass.

    Args: ``model``, ``layer``, ``reshape``, as
    :class:`~revelio.attribution.cam.CAMAttribution`: the usual layer is the last
    convolutional block (``"layer4"`` in ResNet, ``"features.28"`` in VGG16).

    Subclasses override :meth:`channel_weights` to define another gradient CAM: one
    weight per channel (Grad-CAM++, XGrad-CAM) or a weight per channel and position
    (LayerCAM, HiResCAM); layer capture, the backward pass, several targets, ReLU and
    upsampling stay.

    Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization".

    Example:
        >>> maps = GradCAM(model, "layer4").attribute(images)  # (N, 1, H, W)
    """

    multiple_targets = True

    def attribute(
        self, inputs: Tensor, target: TargetSpec = None, *, upsample: bool = True, relu: bool = True
    ) -> Tensor:
        """The class activation map of ``target`` for each example: ``Tensor[N, 1, H, W]``.

        Several classes per example (``target`` of shape ``(N, K)`` or ``"topK"``) give
        ``Tensor[N, K, 1, H, W]`` from one forward pass and one backward pass from the
        layer, batched over the K classes.

        Args:
            inputs: ``Tensor[N, C, H, W]`` on the model's device.
            target: ``None`` (top class), a class, one class per example, K classes per
                example, ``"topK"``, or a callable.
            upsample: resize bilinearly to the input's ``(H, W)``; ``False`` keeps the
                layer's grid ``(h, w)``.
            relu: clamp negative evidence to zero, as in the paper.
        """
        target = resolve_target(target, inputs.shape[0])
        if upsample:
            check_spatial(inputs, "; pass upsample=False to keep the layer's grid")
        output, activation = self.record(inputs)
        scores, _ = target.scores(output)
        gradient = _layer_gradient(scores, activation, self.layer_name)
        return self.cam(activation, gradient, inputs.shape[-2:] if upsample else None, relu=relu)

    def cam(self, activation: Tensor, gradient: Tensor, size: torch.Size | None, *, relu: bool = True) -> Tensor:
        """The map from a layer's activation and the score's gradient w.r.t. it.

        Args:
            activation: the layer's output, ``Tensor[N, ...]``.
            gradient: the scores' gradient w.r.t. it, shaped like ``activation``, or
                ``Tensor[N, K, ...]`` for K classes per example.
            size: the ``(H, W)`` to upsample to; ``None`` keeps the layer's grid.
            relu: clamp negative evidence to zero.

        Returns:
            ``Tensor[N, 1, h, w]`` (``(H, W)`` when ``size`` is given), or
            ``Tensor[N, K, 1, h, w]`` for K classes per example.
        """
        count = gradient.shape[1] if gradient.ndim == activation.ndim + 1 else None
        if count is not None:  # each example's activation once per class: the weights are per class
            activation, gradient = activation.repeat_interleave(count, dim=0), gradient.flatten(0, 1)
        activation, gradient = self.feature_map(activation.detach()), self.feature_map(gradient)
        cam = weighted_map(self.channel_weights(activation, gradient), activation, size, relu=relu)
        return cam if count is None else cam.unflatten(0, (-1, count))

    def channel_weights(self, activation: Tensor, gradient: Tensor) -> Tensor:
        """The weights of the layer's channels, from its activation and the gradient w.r.t. it.

        Args:
            activation: the feature map ``A``, ``Tensor[N, K, h, w]``.
            gradient: ``d f_c / d A``, ``Tensor[N, K, h, w]``.

        Returns:
            ``Tensor[N, K]``, one weight per channel (here the spatial mean of the
            gradient), or ``Tensor[N, K, h, w]``, a weight per channel and position;
            the map is ``sum_k weight_k * A^k``.
        """
        return gradient.mean(dim=(2, 3))


class GuidedGradCAM(GradCAM):
    """Guided backpropagation times the upsampled Grad-CAM map, per pixel.

    Grad-CAM uses ordinary gradients; only the guided part uses the guided ReLU rule.
    Both share one forward pass: the ordinary gradient is taken down to the layer
    only, then the guided gradient down to the input, so the cost is close to one
    guided backpropagation. Returns an input-shaped map (the CAM is broadcast over
    the input's channels). A subclass that overrides :meth:`channel_weights` guides
    another CAM.

    Args: as :class:`GradCAM`.

    Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization".
    """

    def attribute(self, inputs: Tensor, target: TargetSpec = None, *, relu: bool = True) -> Tensor:  # type: ignore[override]
        """Guided Grad-CAM of ``target`` for each example: input-shaped ``Tensor[N, C, H, W]``.

        Several classes per example give ``Tensor[N, K, C, H, W]`` from one forward pass.

        Args:
            inputs: ``Tensor[N, C, H, W]`` on the model's device.
            target: ``None`` (top class), a class, one class per example, K classes per
                example, ``"topK"``, or a callable.
            relu: clamp the CAM's negative evidence to zero, as in the paper.
        """
        target = resolve_target(target, inputs.shape[0])
        check_spatial(inputs, "; for other inputs use GradCAM with upsample=False")
        leaf, x = input_leaf(inputs)
        with LayerCapture([(self.layer_name, self.layer)]) as capture, ReLUOverride(GuidedRule()) as override:
            output = capture.forward(self.model, x)
        scores, _ = target.scores(output)
        activation = capture[self.layer_name]
        with override.using(GradientRule()):
            layer_gradient = _layer_gradient(scores, activation, self.layer_name, retain_graph=True)
        guided = score_gradient(scores, leaf)
        warn_if_no_relu(override, type(self).__name__)  # only once the call cannot fail
        return guided * self.cam(activation, layer_gradient, inputs.shape[-2:], relu=relu)


def _layer_gradient(scores: Tensor, activation: Tensor, layer_name: str, retain_graph: bool = False) -> Tensor:
    """Gradient of the scores w.r.t. a layer's output (per class for several); a clear error if they do not depend on it."""
    gradient = None
    if scores.requires_grad:
        gradient = score_gradient(scores, activation, retain_graph=retain_graph, allow_unused=True)
    if gradient is None:
        raise LayerNotReachedError(
            f"the target scores do not depend on layer {layer_name!r}: its output never reaches the model's "
            "output; choose a layer on the path from input to output (`revelio layers` lists them)"
        )
    return gradient
