"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

from collections.abc import Callable
from math import isqrt

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revelio.attribution.base import LayerAttribution, warn_if_no_relu
from revelio.core.capture import LayerCapture
from revelio.core.overrides import GradientRule, GuidedRule, ReLUOverride
from revelio.core.targets import Target
from revelio.errors import InputError, LayerNotReachedError, LayerOutputError

Reshape = Callable[[Tensor], Tensor]


class GradCAM(LayerAttribution):
    """Gradient-weighted class activation map of a layer.

    ``a_k = mean_ij d f_c / d A^k_ij``; ``L = ReLU(sum_k a_k A^k)``, upsampled
    bilinearly to the input size. The backward pass stops at the layer: nothing below
    it keeps a graph, so the cost is close to one plain forward pass.

    Args:
        model: the network.
        layer: the layer whose output ``A`` is weighted, a module or dotted name; the
            usual choice is the last convolutional block (``"layer4"`` in ResNet,
            ``"features.28"`` in VGG16).
        reshape: maps the layer's output to ``(N, K, h, w)``, for layers whose output
            is not a feature map: :func:`vit_reshape` for ViT tokens.

    Options of :meth:`attribute`:
        upsample: resize to the input's ``(H, W)`` (default); ``False`` keeps the
            layer's grid.
        relu: clamp negative evidence to zero (default, as in the paper).

    Subclasses may override :meth:`channel_weights` to define another CAM.

    Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization".

    Example:
        >>> maps = GradCAM(model, "layer4").attribute(images)  # (N, 1, H, W)
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module, reshape: Reshape | None = None) -> None:
        super().__init__(model, layer)
        if reshape is not None and not callable(reshape):
            raise TypeError(f"reshape must be a callable such as vit_reshape, got {type(reshape).__name__}")
        self.reshape = reshape

    def _attribute(self, inputs: Tensor, target: Target, *, upsample: bool = True, relu: bool = True) -> Tensor:
        if upsample:
            _check_spatial(inputs, "; pass upsample=False to keep the layer's grid")
        with LayerCapture([(self.layer_name, self.layer)], detach=True) as capture:
            # a copy: a model that writes its input in place must not write the caller's tensor
            output = capture.forward(self.model, inputs.detach().clone())
        scores, _ = target.scores(output)
        activation = capture[self.layer_name]
        gradient = _layer_gradient(scores, activation, self.layer_name)
        return self.cam(activation, gradient, inputs.shape[-2:] if upsample else None, relu=relu)

    def cam(self, activation: Tensor, gradient: Tensor, size: torch.Size | None, *, relu: bool = True) -> Tensor:
        """The map from a layer's activation and the score's gradient w.r.t. it.

        Returns:
            ``Tensor[N, 1, h, w]``, or ``Tensor[N, 1, *size]`` when ``size`` is given.
        """
        activation, gradient = self._as_feature_map(activation), self._as_feature_map(gradient)
        weights = self.channel_weights(activation.detach(), gradient)
        cam = torch.einsum("nk,nkhw->nhw", weights, activation.detach())[:, None]
        if relu:
            cam = cam.clamp(min=0)
        if size is not None:
            cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)
        return cam

    def channel_weights(self, activation: Tensor, gradient: Tensor) -> Tensor:
        """Weight ``a_k`` of each channel, ``Tensor[N, K]``: the spatial mean of the gradient."""
        return gradient.mean(dim=(2, 3))

    def _as_feature_map(self, tensor: Tensor) -> Tensor:
        if self.reshape is not None:
            tensor = self.reshape(tensor)
        if tensor.ndim != 4:
            raise LayerOutputError(
                f"layer {self.layer_name!r} outputs shape {tuple(tensor.shape)}, not a feature map "
                "(N, K, h, w); pick a convolutional layer, or pass reshape= (vit_reshape for ViT tokens)"
            )
        return tensor


class GuidedGradCAM(LayerAttribution):
    """Guided backpropagation times the upsampled Grad-CAM map, per pixel.

    Grad-CAM uses ordinary gradients; only the guided part uses the guided ReLU rule.
    Both share one forward pass: the ordinary gradient is taken down to the layer
    only, then the guided gradient down to the input, so the cost is close to one
    guided backpropagation. Returns an input-shaped map (the CAM is broadcast over
    the input's channels).

    Args and options: as :class:`GradCAM`, except that the result is always at the
    input's size.

    Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization".
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module, reshape: Reshape | None = None) -> None:
        super().__init__(model, layer)
        self.grad_cam = GradCAM(model, self.layer, reshape)

    def _attribute(self, inputs: Tensor, target: Target, *, relu: bool = True) -> Tensor:
        _check_spatial(inputs, "; for other inputs use GradCAM with upsample=False")
        x = inputs.detach().clone().requires_grad_(True)
        with LayerCapture([(self.layer_name, self.layer)]) as capture, ReLUOverride(GuidedRule()) as override:
            output = capture.forward(self.model, x)
        scores, _ = target.scores(output)
        activation = capture[self.layer_name]
        with override.using(GradientRule()):
            layer_gradient = _layer_gradient(scores, activation, self.layer_name, retain_graph=True)
        (guided,) = torch.autograd.grad(scores.sum(), x)
        warn_if_no_relu(override, type(self).__name__, stacklevel=4)  # only once the call cannot fail
        return guided * self.grad_cam.cam(activation, layer_gradient, inputs.shape[-2:], relu=relu)


def vit_reshape(tokens: Tensor, class_token: bool = True) -> Tensor:
    """Turn ViT tokens ``(N, 1 + h*w, D)`` into a feature map ``(N, D, h, w)``.

    Args:
        tokens: a transformer block's output, batch first, on a square patch grid.
        class_token: drop the first token (the class token) before reshaping.

    For torchvision's ``vit_b_16`` use the input norm of the last block,
    ``"encoder.layers.encoder_layer_11.ln_1"``: after the last block only the class
    token reaches the head, so the patch tokens there get zero gradient.
    """
    if tokens.ndim != 3:
        raise LayerOutputError(
            f"vit_reshape expects tokens (N, T, D), got shape {tuple(tokens.shape)}; a layer whose output is "
            "already a feature map (N, K, h, w) needs no reshape="
        )
    if class_token:
        tokens = tokens[:, 1:]
    n, count, dim = tokens.shape
    side = isqrt(count)
    if side * side != count:
        hint = "pass class_token=False if the model has no class token, or " if class_token else ""
        raise LayerOutputError(
            f"vit_reshape needs a square grid of patch tokens, got {count}"
            + (" after dropping the class token" if class_token else "")
            + f"; {hint}pass a reshape= of your own that knows the grid's (h, w)"
        )
    return tokens.transpose(1, 2).reshape(n, dim, side, side)


def _layer_gradient(scores: Tensor, activation: Tensor, layer_name: str, retain_graph: bool = False) -> Tensor:
    """Gradient of the summed scores w.r.t. a layer's output; a clear error if they do not depend on it."""
    gradient = None
    if scores.requires_grad:
        (gradient,) = torch.autograd.grad(scores.sum(), activation, retain_graph=retain_graph, allow_unused=True)
    if gradient is None:
        raise LayerNotReachedError(
            f"the target scores do not depend on layer {layer_name!r}: its output never reaches the model's "
            "output; choose a layer on the path from input to output (`revelio layers` lists them)"
        )
    return gradient


def _check_spatial(inputs: Tensor, hint: str) -> None:
    if inputs.ndim != 4:
        raise InputError(
            f"CAM methods upsample to the input's (H, W) and need inputs (N, C, H, W), got shape "
            f"{tuple(inputs.shape)}{hint}"
        )
