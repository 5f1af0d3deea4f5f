"""Grad-CAM and guided Grad-CAM: maps on paper, known answers, ViT tokens, in-place ReLU.

Paper computation for :class:`CamNet` (input ``kron(S, ones(2,2)) / 4``, S = [[1, -2], [3, -1]]):
conv output ``A^0 = S``, ``A^1 = -S``; after ReLU ``R^0 = [[1, 0], [3, 0]]``,
``R^1 = [[0, 2], [0, 1]]``; GAP gives [1, 0.75]; logits ``W @ [1, 0.75]`` = [2.75, 1.25],
so the top class is 0.

Layer ``conv`` (pre-ReLU), class c: ``d f_c / d A^k = W[c, k] / 4 * [A^k > 0]``.
  class 0: a = [0.5 * 2/4, 0.25 * 2/4] = [0.25, 0.125]; map = 0.25 S - 0.125 S = 0.125 S.
  class 1: a = [-0.25 * 2/4, 0.75 * 2/4] = [-0.125, 0.375]; map = -0.125 S - 0.375 S = -0.5 S.
Layer ``relu`` (post-ReLU): gradient is ``W[c, k] / 4`` everywhere, so a = W[c] / 4.
  class 0: 0.5 R^0 + 0.25 R^1 = [[0.5, 0.5], [1.5, 0.25]].
  class 1: -0.25 R^0 + 0.75 R^1 = [[-0.25, 1.5], [-0.75, 0.75]].
Guided backprop at the input (conv weights +1 / -1, one 2x2 block per grid cell):
  class 0: the gradient at R is [0.5, 0.25] > 0, so blocks 0.5 [S > 0] - 0.25 [S < 0]
           = [[0.5, -0.25], [0.5, -0.25]].
  class 1: the gradient at R is [-0.25, 0.75]; guided keeps only 0.75 on R^1: blocks
           -0.75 [S < 0] = [[0, -0.75], [0, -0.75]].
Deconvolution ignores the forward sign: class 0 gives 0.5 - 0.25 = 0.25 everywhere, class 1
  gives 0 - 0.75 = -0.75 everywhere.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from attribution_nets import CamNet, bilinear_2_to_4, manual_gradcam, small_cnn
from torch import nn

from revelio.attribution import Deconvolution, GradCAM, GuidedBackprop, GuidedGradCAM, Saliency, vit_reshape
from revelio.errors import LayerNotReachedError, LayerOutputError

S = torch.tensor(CamNet.S, dtype=torch.float64)


def t64(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def up(grid: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x2 -> 4x4 by the hand-derived matrix (separable)."""
    m = bilinear_2_to_4()
    return m @ grid @ m.T


# (layer, class, relu, 2x2 grid worked out in the module docstring)
GRID_CASES = [
    ("conv", 0, False, 0.125 * S),
    ("conv", 0, True, t64([[0.125, 0], [0.375, 0]])),
    ("conv", 1, False, -0.5 * S),
    ("conv", 1, True, t64([[0, 1], [0, 0.5]])),
    ("relu", 0, False, t64([[0.5, 0.5], [1.5, 0.25]])),
    ("relu", 0, True, t64([[0.5, 0.5], [1.5, 0.25]])),
    ("relu", 1, False, t64([[-0.25, 1.5], [-0.75, 0.75]])),
    ("relu", 1, True, t64([[0, 1.5], [0, 0.75]])),
]


@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu_inplace"])
@pytest.mark.parametrize(("layer", "cls", "relu", "grid"), GRID_CASES)
def test_gradcam_on_paper(inplace, layer, cls, relu, grid):
    model = CamNet(inplace=inplace)
    x = CamNet.example_input()
    cam = GradCAM(model, layer)
    on_grid = cam.attribute(x, target=cls, relu=relu, upsample=False)
    torch.testing.assert_close(on_grid, grid[None, None], rtol=0, atol=1e-15)
    upsampled = cam.attribute(x, target=cls, relu=relu)
    assert upsampled.shape == (1, 1, 4, 4)
    torch.testing.assert_close(upsampled, up(grid)[None, None], rtol=0, atol=1e-15)


def test_gradcam_on_paper_batch_and_top_class():
    model = CamNet()
    x = torch.cat([CamNet.example_input(), CamNet.example_input()])
    maps = GradCAM(model, "conv").attribute(x, target=[1, 0], upsample=False, relu=False)
    torch.testing.assert_close(maps, torch.stack([-0.5 * S, 0.125 * S])[:, None], rtol=0, atol=1e-15)
    top = GradCAM(model, "conv").attribute(x, upsample=False, relu=False)  # top class is 0
    torch.testing.assert_close(top, torch.stack([0.125 * S, 0.125 * S])[:, None], rtol=0, atol=1e-15)


def test_layer_given_as_module_equals_layer_given_by_name():
    model = CamNet()
    x = CamNet.example_input()
    by_module = GradCAM(model, model.conv).attribute(x, target=1, upsample=False, relu=False)
    torch.testing.assert_close(by_module, (-0.5 * S)[None, None], rtol=0, atol=1e-15)


def test_in_place_relu_after_the_layer_does_not_leak_into_the_map():
    # had the recorded activation been rectified in place, class 0 would read
    # 0.25 R^0 + 0.125 R^1 = [[0.25, 0.25], [0.75, 0.125]] instead of 0.125 S
    model = CamNet(inplace=True)
    on_grid = GradCAM(model, "conv").attribute(CamNet.example_input(), target=0, relu=False, upsample=False)
    torch.testing.assert_close(on_grid, (0.125 * S)[None, None], rtol=0, atol=1e-15)


def test_channel_weights_is_the_one_method_a_new_cam_overrides():
    class PositiveGradCAM(GradCAM):
        def channel_weights(self, activation, gradient):
            return gradient.clamp(min=0).mean(dim=(2, 3))

    # class 1 at conv: gradient -0.25 [S > 0] on A^0 (clamped to 0), 0.75 [S < 0] on A^1 (mean 0.375)
    # map = 0.375 * (-S), rectified: [[0, 0.75], [0, 0.375]]
    cam = PositiveGradCAM(CamNet(), "conv").attribute(CamNet.example_input(), target=1, upsample=False)
    torch.testing.assert_close(cam, t64([[0, 0.75], [0, 0.375]])[None, None], rtol=0, atol=1e-15)


GUIDED_ON_PAPER = {0: t64([[0.5, -0.25], [0.5, -0.25]]), 1: t64([[0, -0.75], [0, -0.75]])}
DECONV_ON_PAPER = {0: torch.full((2, 2), 0.25, dtype=torch.float64), 1: torch.full((2, 2), -0.75, dtype=torch.float64)}


def blocks(grid: torch.Tensor) -> torch.Tensor:
    return torch.kron(grid, torch.ones(2, 2, dtype=torch.float64))[None, None]


@pytest.mark.parametrize("cls", [0, 1])
@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu_inplace"])
def test_guided_and_deconvolution_on_paper(cls, inplace):
    model = CamNet(inplace=inplace)
    x = CamNet.example_input()
    guided = GuidedBackprop(model).attribute(x, target=cls)
    torch.testing.assert_close(guided, blocks(GUIDED_ON_PAPER[cls]), rtol=0, atol=0)
    deconvolution = Deconvolution(model).attribute(x, target=cls)
    torch.testing.assert_close(deconvolution, blocks(DECONV_ON_PAPER[cls]), rtol=0, atol=0)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("cls", [0, 1])
@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu_inplace"])
def test_guided_gradcam_on_paper(cls, relu, inplace):
    grid = {(c, r): g for layer, c, r, g in GRID_CASES if layer == "conv"}[cls, relu]
    expected = blocks(GUIDED_ON_PAPER[cls]) * up(grid)
    maps = GuidedGradCAM(CamNet(inplace=inplace), "conv").attribute(CamNet.example_input(), target=cls, relu=relu)
    torch.testing.assert_close(maps, expected, rtol=0, atol=1e-15)


# --- known answers (SANITY A1) -----------------------------------------------------------


class GapLinearNet(nn.Module):
    """Convs -> last ReLU (the CAM layer) -> global average pooling -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 6, 3), nn.ReLU())
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


@pytest.mark.parametrize("relu", [False, True])
def test_gradcam_equals_classic_cam_on_gap_linear_net(relu):
    model = GapLinearNet().double().eval()
    x = torch.randn(3, 3, 12, 9, dtype=torch.float64)
    classes = torch.tensor([0, 3, 1])
    activation = model.features(x)  # (3, 6, 8, 5)
    h, w = activation.shape[-2:]
    cam = torch.einsum("nk,nkhw->nhw", model.fc.weight[classes], activation)[:, None].detach()  # Zhou et al. 2016
    if relu:
        cam = cam.clamp(min=0)
    grad_cam = GradCAM(model, "features.3").attribute(x, target=classes, relu=relu, upsample=False)
    torch.testing.assert_close(grad_cam, cam / (h * w), rtol=1e-12, atol=1e-14)
    # and upsampled, the SANITY A1 criterion: Pearson >= 0.999 per example
    upsampled = GradCAM(model, "features.3").attribute(x, target=classes, relu=relu)
    reference = F.interpolate(cam, size=(12, 9), mode="bilinear", align_corners=False)
    for a, b in zip(upsampled.flatten(1), reference.flatten(1)):
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] >= 0.999


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize(("arch", "layer"), [("small", "conv2"), ("resnet18", "layer4"), ("vgg11", "features.18")])
def test_guided_gradcam_is_guided_backprop_times_upsampled_gradcam(arch, layer, relu, request):
    if arch == "small":
        model, x = small_cnn(torch.float64), torch.randn(3, 3, 10, 14, dtype=torch.float64)
        tol = {"rtol": 1e-12, "atol": 1e-15}
    else:
        model, x, tol = request.getfixturevalue(arch), torch.randn(2, 3, 64, 64), {}
    target = [1, 2, 0][: x.shape[0]]
    guided = GuidedBackprop(model).attribute(x, target=target)
    cam = GradCAM(model, layer).attribute(x, target=target, relu=relu)
    combined = GuidedGradCAM(model, layer).attribute(x, target=target, relu=relu)
    assert combined.shape == x.shape
    assert combined.abs().sum() > 0
    torch.testing.assert_close(combined, guided * cam, **tol)


# --- real architectures ------------------------------------------------------------------


def test_vgg11_gradcam_uses_the_pre_relu_activation(vgg11):
    # features.18 is VGG11's last conv; features.19 is ReLU(inplace=True) right after it
    x = torch.randn(2, 3, 64, 64)
    features, rest = vgg11.features[:19], vgg11.features[19:]

    def head(activation):  # the in-place ReLU must not write the leaf we differentiate
        return vgg11.classifier(torch.flatten(vgg11.avgpool(rest(activation.clone())), 1))

    for relu in (False, True):
        expected = manual_gradcam(features, head, x, [5, 9], size=(64, 64), relu=relu)
        maps = GradCAM(vgg11, "features.18").attribute(x, target=[5, 9], relu=relu)
        scale = expected.abs().max().item()
        assert scale > 0
        torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5 * scale)
    # the rectified activation gives a different map: the check above can tell them apart
    rectified = manual_gradcam(vgg11.features[:20], lambda a: vgg11.classifier(torch.flatten(vgg11.avgpool(a), 1)),
                               x, [5, 9], relu=False)
    on_grid = GradCAM(vgg11, "features.18").attribute(x, target=[5, 9], relu=False, upsample=False)
    assert not torch.allclose(on_grid, rectified, atol=1e-3 * rectified.abs().max().item())


VIT_LAYER = "encoder.layers.encoder_layer_11.ln_1"


def _manual_vit_gradcam(model, x, classes, layer_name):
    tokens = []
    layer = dict(model.named_modules())[layer_name]
    handle = layer.register_forward_hook(lambda module, args, output: tokens.append(output))
    try:
        out = model(x)
    finally:
        handle.remove()
    score = out.gather(1, torch.tensor(classes).view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(score, tokens[0])
    n, count, dim = tokens[0].shape
    side = int(round((count - 1) ** 0.5))
    # patch p = i * side + j sits at token 1 + p (torchvision flattens the conv grid row-major)
    activation = tokens[0].detach()[:, 1:].reshape(n, side, side, dim).permute(0, 3, 1, 2)
    gradient = grad[:, 1:].reshape(n, side, side, dim).permute(0, 3, 1, 2)
    weights = gradient.mean(dim=(2, 3))
    cam = torch.relu((weights[:, :, None, None] * activation).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False), cam


def test_vit_gradcam_equals_manual_formula(vit_b_16):
    x = torch.randn(2, 3, 64, 64)
    expected, expected_grid = _manual_vit_gradcam(vit_b_16, x, [4, 8], VIT_LAYER)
    cam = GradCAM(vit_b_16, VIT_LAYER, reshape=vit_reshape)
    maps = cam.attribute(x, target=[4, 8])
    assert maps.shape == (2, 1, 64, 64)
    assert torch.isfinite(maps).all()
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5 * scale)
    on_grid = cam.attribute(x, target=[4, 8], upsample=False)
    assert on_grid.shape == (2, 1, 4, 4)
    torch.testing.assert_close(on_grid, expected_grid, rtol=1e-4, atol=1e-5 * scale)


def test_vit_after_the_last_block_patch_tokens_get_no_gradient(vit_b_16):
    # documented in vit_reshape: only the class token reaches the head after the final norm
    cam = GradCAM(vit_b_16, "encoder.ln", reshape=vit_reshape)
    maps = cam.attribute(torch.randn(1, 3, 64, 64), target=0, relu=False)
    assert torch.count_nonzero(maps) == 0


def test_vit_layer_without_reshape_names_reshape(vit_b_16):
    with pytest.raises(LayerOutputError, match="reshape="):
        GradCAM(vit_b_16, VIT_LAYER).attribute(torch.randn(1, 3, 64, 64), target=0)


def test_vit_reshape_layout():
    n, side, dim = 2, 3, 5
    tokens = torch.arange(n * (1 + side * side) * dim, dtype=torch.float64).reshape(n, 1 + side * side, dim)
    grid = vit_reshape(tokens)
    assert grid.shape == (n, dim, side, side)
    for b in range(n):
        for d in range(dim):
            for i in range(side):
                for j in range(side):
                    assert grid[b, d, i, j] == tokens[b, 1 + i * side + j, d]
    no_cls = vit_reshape(tokens[:, 1:], class_token=False)
    torch.testing.assert_close(no_cls, grid, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("tokens", "kwargs", "match"),
    [
        (torch.zeros(1, 1 + 6, 4), {}, "class_token=False"),  # 6 patches: not square
        (torch.zeros(1, 1 + 6, 4), {"class_token": False}, "reshape= of your own"),  # 7 tokens, no class token
        (torch.zeros(1, 4, 2, 2), {}, r"\(N, T, D\)"),  # already a feature map
        (torch.zeros(4, 5), {}, r"\(N, T, D\)"),
    ],
)
def test_vit_reshape_errors_name_the_fix(tokens, kwargs, match):
    with pytest.raises(LayerOutputError, match=match):
        vit_reshape(tokens, **kwargs)


# --- cost: where the backward pass stops, how many forward passes -----------------------


def _watch_conv1(model):
    """Record, for conv1 (below the CAM layer conv2), whether its output is in a graph and
    how many gradients flow into it."""
    seen = {"requires_grad": [], "backward": 0}

    def count(grad):
        seen["backward"] += 1

    def hook(module, args, output):
        seen["requires_grad"].append(output.requires_grad)
        if output.requires_grad:
            output.register_hook(count)

    return seen, model.conv1.register_forward_hook(hook)


@pytest.mark.parametrize(("method", "below_layer_backward"), [("GradCAM", 0), ("Saliency", 1)])
def test_gradcam_backward_stops_at_the_layer(method, below_layer_backward):
    model = small_cnn(torch.float64)
    seen, handle = _watch_conv1(model)
    try:
        explainer = GradCAM(model, "conv2") if method == "GradCAM" else Saliency(model)
        explainer.attribute(torch.randn(2, 3, 8, 8, dtype=torch.float64), target=1)
    finally:
        handle.remove()
    assert seen["requires_grad"] == [bool(below_layer_backward)]  # Saliency is the control
    assert seen["backward"] == below_layer_backward


@pytest.mark.parametrize("method", [GradCAM, GuidedGradCAM])
def test_cam_methods_run_one_forward_pass(method):
    model = small_cnn()
    before = model.forward_calls
    method(model, "conv2").attribute(torch.randn(2, 3, 8, 8), target=[0, 1])
    assert model.forward_calls - before == 1


# --- layers that cannot give a map ---------------------------------------------------------


class SideBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.side = nn.Conv2d(4, 4, 1)  # runs, but its output is thrown away
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        a = self.conv(x)
        self.side(a)
        return self.fc(a.mean(dim=(2, 3)))


class _Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y, y


class TupleLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = _Pair()  # returns (tensor, tensor): not a feature map
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        a, _ = self.block(x)
        return self.fc(a.mean(dim=(2, 3)))


@pytest.mark.parametrize("method", [GradCAM, GuidedGradCAM])
@pytest.mark.parametrize(
    ("build", "layer", "error", "match"),
    [
        (lambda: small_cnn(), "unused", LayerNotReachedError, "never ran"),
        (SideBranch, "side", LayerNotReachedError, "do not depend on layer 'side'"),
    ],
)
def test_layer_that_cannot_explain_the_score(method, build, layer, error, match):
    with pytest.raises(error, match=match):
        method(build(), layer).attribute(torch.randn(2, 3, 8, 8), target=0)


@pytest.mark.parametrize("method", [GradCAM, GuidedGradCAM])
def test_layer_returning_a_tuple(method):
    model = TupleLayer()
    with pytest.raises(LayerOutputError, match="choose one of its submodules"):
        method(model, "block").attribute(torch.randn(1, 3, 8, 8), target=0)
