"""A1: known answers. On small built-in nets, each method must give what theory says.

- Linear model ``f(x) = W x + b``: the gradient is the weight row ``W_c`` (Simonyan et al. 2013).
- A one-hidden-layer ReLU net ``f(x) = W2 ReLU(W1 x + b1)``, with hidden units off and
  negative output weights, where each rule gives its own map by hand: the gradient is
  ``W1^T (m * w2)`` with ``m = [W1 x + b1 > 0]``; guided backpropagation
  (Springenberg et al. 2014, Sec. 3.4: only positive signals pass, where the unit
  was on) ``W1^T (m * ReLU(w2))``; deconvolution (Zeiler and Fergus 2014, Sec. 2.1:
  the ReLU of the signal coming down, whatever the forward pass) ``W1^T ReLU(w2)``.
  The check also confirms that the three answers differ on this net, so it can fail.
- Convolutions, global average pooling and a linear layer: Grad-CAM at the last
  feature map is CAM, ``sum_k w_ck A^k`` (Selvaraju et al. 2017, Sec. 3.1; Zhou et al.
  2016), up to the constant ``1 / (h w)``.
- Guided Grad-CAM is guided backpropagation times the upsampled Grad-CAM, per pixel
  (Selvaraju et al. 2017).
- Linear model: gradient times input is ``x * W_c`` (Shrikumar et al. 2016); integrated
  gradients from a zero baseline is ``x * W_c`` too, exactly, whatever the quadrature
  (completeness, Sundararajan et al. 2017).
- Linear model: the gradient is ``W_c`` at every noisy copy, so SmoothGrad of the
  gradient is ``W_c`` (Smilkov et al. 2017), SmoothGrad-squared ``W_c^2`` (Hooker et al.
  2019) and VarGrad 0 (Adebayo et al. 2018).
- On the same net the gradient at the last feature map is ``g_k = w_ck / (h w)`` at every
  position, so the other gradient CAMs follow by hand: XGrad-CAM (Fu et al. 2020) and
  HiResCAM (Draelos and Carin 2020) are CAM ``/ (h w)`` exactly, LayerCAM (Jiang et al.
  2021) is ``sum_k ReLU(g_k) A^k``, and Grad-CAM++ (Chattopadhay et al. 2018, Eq. 19)
  weighs channel k by ``h w ReLU(g_k) / (2 + g_k sum_ij A^k_ij)``.
- Activations of rank one plus a per-channel offset, ``A^k = u_k B + b_k``: their first
  principal component is ``B``, so Eigen-CAM (Muhammad and Yeasin 2020) is
  ``|u| (B - mean B)``, signed to correlate positively with ``sum_k A^k``.
- Linear model, zero baseline, a one-pixel window over all channels: occlusion's drop at
  a pixel is ``sum_c w_c x_c`` there (Zeiler and Fergus 2014, Sec. 4.2).
- Linear model, every binary mask of a 3x3 image, ``p = 1/2``: RISE is exactly
  ``E[f(x M) | pixel kept] = b + S / 2 + (sum_c w_c x_c) / 2`` with ``S = w . x``
  (Petsiuk et al. 2018, Sec. 3).

The nets are seeded and tiny; the checks do not depend on the model under test.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from revelio.attribution import (
    RISE,
    Deconvolution,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    GradientXInput,
    GuidedBackprop,
    GuidedGradCAM,
    HiResCAM,
    IntegratedGradients,
    LayerCAM,
    Occlusion,
    Saliency,
    SmoothGrad,
    SmoothGradSquared,
    VarGrad,
    XGradCAM,
)
from revelio.eval.methods import Explainer
from revelio.eval.outcome import Measurement, not_applicable
from revelio.eval.similarity import pearson

TOLERANCE = 1e-5
"""Largest error, relative to the largest value of the expected map, counted as equal."""

MIN_PEARSON = 0.999
"""Grad-CAM must correlate with CAM at least this much."""

def seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` in eval mode, its weights initialised from ``seed``; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


def linear_net(seed: int = 0, size: int = 8, classes: int = 4) -> nn.Module:
    """``Flatten`` then ``Linear(3 * size * size, classes)``, seeded."""
    return seeded(seed, lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, classes)))


def hidden_relu_net(seed: int = 0, size: int = 6, hidden: int = 16, classes: int = 4) -> nn.Module:
    """``Flatten``, ``Linear(3 size^2, hidden)`` (``"1"``), ``ReLU``, ``Linear(hidden, classes)`` (``"3"``), seeded."""
    return seeded(
        seed,
        lambda: nn.Sequential(
            nn.Flatten(), nn.Linear(3 * size * size, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        ),
    )


def relu_rule_answers(net: nn.Module, inputs: Tensor, classes: Tensor) -> dict[str, Tensor]:
    """The gradient, guided-backprop and deconvolution maps of :func:`hidden_relu_net` by hand, input-shaped."""
    first, last = net[1], net[3]
    with torch.no_grad():
        on = (inputs.flatten(1) @ first.weight.T + first.bias > 0).to(inputs.dtype)  # [N, hidden]
        down = last.weight[classes]  # [N, hidden]: the signal reaching the ReLU's output
        answers = {
            "gradient": (on * down) @ first.weight,
            "guided": (on * down.clamp(min=0)) @ first.weight,
            "deconvolution": down.clamp(min=0) @ first.weight,
        }
    return {name: value.view_as(inputs) for name, value in answers.items()}


def gap_net(seed: int = 0, classes: int = 4) -> nn.Module:
    """Conv, ReLU, 2x2 max pooling, conv, ReLU (layer ``"4"``: the CAM features), GAP, linear (``"7"``)."""
    return seeded(
        seed,
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, classes),
        ),
    )


def rank_one_net(seed: int = 0, channels: int = 6, classes: int = 4) -> nn.Module:
    """Conv to one channel ``B`` (``"0"``), a 1x1 conv to ``u_k B + b_k`` (``"1"``: rank one plus offsets), GAP, linear."""
    return seeded(
        seed,
        lambda: nn.Sequential(
            nn.Conv2d(3, 1, 3, padding=1),
            nn.Conv2d(1, channels, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, classes),
        ),
    )


def _saliency(explainer: Explainer, seed: int, images: int) -> Measurement:
    net = linear_net(seed)
    inputs = torch.randn(images, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    classes = torch.arange(images) % 4
    maps = explainer.rebind(net).attribution.attribute(inputs, classes, abs=False)
    return _equal(maps, net[1].weight.detach()[classes].view_as(inputs))


def _relu_rule(rule: str) -> Callable[[Explainer, int, int], Measurement]:
    """A1 for guided backpropagation (``rule="guided"``) or deconvolution on :func:`hidden_relu_net`."""

    def check(explainer: Explainer, seed: int, images: int) -> Measurement:
        net = hidden_relu_net(seed)
        inputs = torch.randn(images, 3, 6, 6, generator=torch.Generator().manual_seed(seed))
        classes = torch.arange(images) % 4
        answers = relu_rule_answers(net, inputs, classes)
        result = _equal(explainer.rebind(net)(inputs, classes), answers[rule])
        scale = float(answers[rule].abs().max())
        apart = min(float((answers[rule] - answers[other]).abs().max()) / scale for other in answers if other != rule)
        result.values["distance_to_other_rules"] = apart
        if apart <= 100 * TOLERANCE:
            result.met = None
            result.note = "the net does not tell the rules apart: no verdict"
        return result

    return check


def _grad_cam(explainer: Explainer, seed: int, images: int) -> Measurement:
    net = gap_net(seed)
    inputs = torch.randn(images, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    classes = torch.arange(images) % 4
    maps = explainer.rebind(net, "4").attribution.attribute(inputs, classes, upsample=False, relu=False)
    with torch.no_grad():
        features = net[:5](inputs)  # (N, 8, 8, 8)
    cam = torch.einsum("nk,nkhw->nhw", net[7].weight.detach()[classes], features)
    correlation = pearson(maps[:, 0], cam)
    worst = float(correlation.min())
    return Measurement(
        summary=f"Pearson {worst:.6f}", met=worst >= MIN_PEARSON, values={"min_pearson": worst, "pearson": correlation.tolist()}
    )


def _guided_grad_cam(explainer: Explainer, seed: int, images: int) -> Measurement:
    net = gap_net(seed)
    inputs = torch.randn(images, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    classes = torch.arange(images) % 4
    expected = GuidedBackprop(net).attribute(inputs, classes) * GradCAM(net, "4").attribute(inputs, classes)
    return _equal(explainer.rebind(net, "4")(inputs, classes), expected)


def _input_times_weight(explainer: Explainer, seed: int, images: int) -> Measurement:
    net = linear_net(seed)
    inputs = torch.randn(images, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    classes = torch.arange(images) % 4
    return _equal(explainer.rebind(net)(inputs, classes), inputs * net[1].weight.detach()[classes].view_as(inputs))


def _smoothed_gradient(statistic: Callable[[Tensor], Tensor]) -> Callable[[Explainer, int, int], Measurement]:
    """The check for a noise wrapper around the gradient: ``statistic`` of the linear model's gradient map.

    Errors are relative to the largest squared gradient when the expected map is 0 (VarGrad).
    """

    def check(explainer: Explainer, seed: int, images: int) -> Measurement:
        wrapper = explainer.attribution
        if type(wrapper.method) is not Saliency:
            inner = type(wrapper.method).__name__
            return not_applicable(f"the known answer is for smoothing the gradient, not {inner}")
        net = linear_net(seed)
        inputs = torch.randn(images, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
        classes = torch.arange(images) % 4
        options = {**wrapper.method_defaults, **(explainer.options.get("method_options") or {})}
        gradient = Saliency(net).attribute(inputs, classes, **options)
        expected = statistic(gradient)
        scale = float(gradient.square().max()) if not expected.any() else None
        return _equal(explainer.rebind(net)(inputs, classes), expected, scale)

    return check


def _on_gap_net(weights: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Explainer, int, int], Measurement]:
    """The check that a gradient CAM's map (no ReLU, on the grid) is ``sum_k weights(g, A)_k A^k`` on the GAP net.

    ``weights(g, A)`` gets the gradient ``g = w_c / (h w)``, ``Tensor[N, K]`` (the same at every
    position), and the features ``A``, and returns ``Tensor[N, K]`` or ``Tensor[N, K, h, w]``.
    """

    def check(explainer: Explainer, seed: int, images: int) -> Measurement:
        net = gap_net(seed)
        inputs = torch.randn(images, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
        classes = torch.arange(images) % 4
        with torch.no_grad():
            features = net[:5](inputs)  # (N, 8, 8, 8)
        gradient = net[7].weight.detach()[classes] / (features.shape[-2] * features.shape[-1])
        expected_weights = weights(gradient, features)
        if expected_weights.ndim == 2:
            expected_weights = expected_weights[:, :, None, None]
        expected = (expected_weights * features).sum(dim=1, keepdim=True)
        maps = explainer.rebind(net, "4").attribution.attribute(inputs, classes, upsample=False, relu=False)
        return _equal(maps, expected)

    return check


def _grad_cam_plus_plus_weights(gradient: Tensor, features: Tensor) -> Tensor:
    """``h w ReLU(g_k) / (2 + g_k sum_ij A^k_ij)``: alpha is the same at every position (0 where undefined)."""
    denominator = 2 + gradient * features.sum(dim=(2, 3))
    positions = features.shape[-2] * features.shape[-1]
    return torch.where(denominator != 0, positions * gradient.clamp(min=0) / denominator, 0)


def _eigen_cam(explainer: Explainer, seed: int, images: int) -> Measurement:
    net = rank_one_net(seed)
    inputs = torch.randn(images, 3, 12, 12, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        pattern = net[0](inputs)  # B, (N, 1, 12, 12)
    u = net[1].weight.detach().flatten()
    expected = torch.sign(u.sum()) * u.norm() * (pattern - pattern.mean(dim=(2, 3), keepdim=True))
    maps = explainer.rebind(net, "1").attribution.attribute(inputs, None, upsample=False, relu=False)
    return _equal(maps, expected)


def _occlusion(explainer: Explainer, seed: int, images: int) -> Measurement:
    net = linear_net(seed)
    inputs = torch.randn(images, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    classes = torch.arange(images) % 4
    maps = explainer.rebind(net).attribution.attribute(inputs, classes, window=(1, 1), strides=1, baseline=0.0,
                                                      score="logit")
    per_pixel = (net[1].weight.detach()[classes].view_as(inputs) * inputs).sum(dim=1, keepdim=True)
    return _equal(maps, per_pixel.expand_as(inputs))


def _rise(explainer: Explainer, seed: int, images: int) -> Measurement:
    net = linear_net(seed, size=3)
    inputs = torch.randn(images, 3, 3, 3, generator=torch.Generator().manual_seed(seed))
    classes = torch.arange(images) % 4
    every_mask = (torch.arange(2**9)[:, None] >> torch.arange(9) & 1).float().view(-1, 1, 3, 3)
    maps = explainer.rebind(net).attribution.attribute(inputs, classes, masks=every_mask, p=0.5, score="logit")
    contributions = net[1].weight.detach()[classes].view_as(inputs) * inputs
    total = contributions.sum(dim=(1, 2, 3)).view(-1, 1, 1, 1)
    bias = net[1].bias.detach()[classes].view(-1, 1, 1, 1)
    return _equal(maps, bias + total / 2 + contributions.sum(dim=1, keepdim=True) / 2)


KNOWN_ANSWERS: dict[type, tuple[str, Callable[[Explainer, int, int], Measurement]]] = {
    Saliency: (f"linear model: gradient = w (relative error <= {TOLERANCE:g})", _saliency),
    GuidedBackprop: (
        f"ReLU net: guided = W1^T([W1 x + b1 > 0] ReLU(w2)) by hand (relative error <= {TOLERANCE:g})",
        _relu_rule("guided"),
    ),
    Deconvolution: (
        f"ReLU net: deconvolution = W1^T ReLU(w2) by hand (relative error <= {TOLERANCE:g})", _relu_rule("deconvolution")
    ),
    GradCAM: (f"GAP + linear net: Grad-CAM equals CAM (Pearson >= {MIN_PEARSON})", _grad_cam),
    GuidedGradCAM: (
        f"guided Grad-CAM = guided x upsampled Grad-CAM (relative error <= {TOLERANCE:g})", _guided_grad_cam
    ),
    GradientXInput: (f"linear model: gradient x input = x * w (relative error <= {TOLERANCE:g})", _input_times_weight),
    IntegratedGradients: (
        f"linear model, zero baseline: integrated gradients = x * w (relative error <= {TOLERANCE:g})",
        _input_times_weight,
    ),
    SmoothGrad: (
        f"linear model: SmoothGrad of the gradient = w (relative error <= {TOLERANCE:g})",
        _smoothed_gradient(lambda gradient: gradient),
    ),
    SmoothGradSquared: (
        f"linear model: SmoothGrad-squared of the gradient = w^2 (relative error <= {TOLERANCE:g})",
        _smoothed_gradient(lambda gradient: gradient * gradient),
    ),
    VarGrad: (
        f"linear model: VarGrad of the gradient = 0 (error <= {TOLERANCE:g} of the largest w^2)",
        _smoothed_gradient(lambda gradient: torch.zeros_like(gradient)),
    ),
    GradCAMPlusPlus: (
        f"GAP + linear net: weights h w ReLU(g) / (2 + g sum A) by hand (relative error <= {TOLERANCE:g})",
        _on_gap_net(_grad_cam_plus_plus_weights),
    ),
    XGradCAM: (f"GAP + linear net: XGrad-CAM = CAM / (h w) (relative error <= {TOLERANCE:g})",
               _on_gap_net(lambda gradient, features: gradient)),
    LayerCAM: (
        f"GAP + linear net: LayerCAM = sum_k ReLU(w_ck) A^k / (h w) (relative error <= {TOLERANCE:g})",
        _on_gap_net(lambda gradient, features: gradient.clamp(min=0)),
    ),
    HiResCAM: (f"GAP + linear net: HiResCAM = CAM / (h w) (relative error <= {TOLERANCE:g})",
               _on_gap_net(lambda gradient, features: gradient)),
    EigenCAM: (
        f"rank-one activations u_k B + b_k: Eigen-CAM = |u| (B - mean B) (relative error <= {TOLERANCE:g})",
        _eigen_cam,
    ),
    Occlusion: (
        f"linear model, zero baseline, one-pixel windows: occlusion = sum_c w x (relative error <= {TOLERANCE:g})",
        _occlusion,
    ),
    RISE: (
        f"linear model, all 2^9 masks: RISE = b + w.x/2 + sum_c w x/2 (relative error <= {TOLERANCE:g})", _rise
    ),
}
"""The known answer of each method class: the criterion in words, and the check."""


def criterion(explainer: Explainer) -> str:
    """A1's criterion for ``explainer``'s method."""
    entry = KNOWN_ANSWERS.get(type(explainer.attribution))
    return entry[0] if entry else "known answers (for the methods revelio ships a known answer for)"


def known_answer(explainer: Explainer, *, seed: int = 0, images: int = 6) -> Measurement:
    """Run A1 for ``explainer``'s method; n/a for a class without a known answer (a control, a plugin)."""
    entry = KNOWN_ANSWERS.get(type(explainer.attribution))
    if entry is None:
        return not_applicable(f"no known answer for {type(explainer.attribution).__name__}")
    return entry[1](explainer, seed, images)


def _equal(maps: Tensor, expected: Tensor, scale: float | None = None) -> Measurement:
    """The largest error relative to ``scale`` (default: the largest value of the expected map)."""
    scale = float(expected.abs().max()) if scale is None else scale
    error = float((maps - expected).abs().max()) / (scale if scale > 0 else 1.0)
    return Measurement(summary=f"error {error:.1e}", met=error <= TOLERANCE, values={"relative_error": error})
