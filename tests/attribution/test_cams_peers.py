"""The CAM family against pytorch-grad-cam and torch-cam on torchvision models with random weights.

Skipped when either peer is absent. Conventions aligned here, each stated where it is used:

- pytorch-grad-cam returns ``minmax(resize(minmax(ReLU(map))))`` per image (``1e-7`` in each
  denominator, OpenCV's bilinear resize); revelio's map on the layer's grid is normalised,
  upsampled and normalised the same way for the comparison.
- torch-cam returns the map on the layer's grid (``normalized=False``), ReLU applied: compared
  with revelio's ``upsample=False`` map as it is.
- Layers where a hook sees what revelio sees: DenseNet ends its features with
  ``F.relu(norm5, inplace=True)``, so a hook on ``features.norm5`` holds the rectified output
  (on the CPU; :func:`test_peers_read_densenets_norm5_after_its_in_place_relu` shows the
  difference); ``features.denseblock4`` feeds a BatchNorm and is left alone. VGG11's
  ``features.20`` is the pooling after its last in-place ReLU.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from revelio.attribution import EigenCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM

gradcam_lib = pytest.importorskip("pytorch_grad_cam")
torchcam = pytest.importorskip("torchcam.methods")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

TARGET = [3, 7]
LAYERS = [("resnet18", "layer4"), ("densenet121", "features.denseblock4"), ("vgg11", "features.20")]
GRADIENT_CAMS = [(XGradCAM, "XGradCAM", "XGradCAM"), (LayerCAM, "LayerCAM", "LayerCAM"), (HiResCAM, "HiResCAM", None)]


def _inputs(n: int = 2, size: int = 64) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(7))


def _minmax(maps: torch.Tensor) -> torch.Tensor:
    shifted = maps - maps.flatten(1).amin(1).view(-1, 1, 1, 1)
    return shifted / (shifted.flatten(1).amax(1).view(-1, 1, 1, 1) + 1e-7)


def _as_gradcam_lib_shows_it(grid: torch.Tensor, size) -> torch.Tensor:
    """revelio's rectified map on the layer's grid, as pytorch-grad-cam presents a map: ``(N, H, W)``."""
    return _minmax(F.interpolate(_minmax(grid), size=tuple(size), mode="bilinear", align_corners=False))[:, 0]


def _gradcam_lib(cls, model: nn.Module, layer: str, x: torch.Tensor, target) -> torch.Tensor:
    module = dict(model.named_modules())[layer]
    with cls(model=model, target_layers=[module]) as cam:
        maps = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(t) for t in target])
    model.zero_grad(set_to_none=True)  # it writes every parameter's .grad
    return torch.from_numpy(np.asarray(maps))


def _torchcam(cls, model: nn.Module, layer: str, x: torch.Tensor, target, **kwargs) -> torch.Tensor:
    with warnings.catch_warnings(), cls(model, layer, **kwargs) as extractor:
        warnings.simplefilter("ignore")
        scores = model(x.clone())
        (cam,) = extractor(class_idx=target, scores=scores, normalized=False)
    return cam[:, None].detach()


def _close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-4) -> None:
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=1e-5 * scale)


# --- gradient CAMs --------------------------------------------------------------------------------------------


def _with_epsilon(method, epsilon: float):
    if epsilon:
        method.epsilon = epsilon
    return method


@pytest.mark.parametrize(("ours", "theirs", "torchcam_name"), GRADIENT_CAMS, ids=[c[1] for c in GRADIENT_CAMS])
@pytest.mark.parametrize(("arch", "layer"), LAYERS)
def test_gradient_cams_match_both_peers(arch, layer, ours, theirs, torchcam_name, request):
    # XGrad-CAM: pytorch-grad-cam adds 1e-7 to each channel's sum, torch-cam 1e-8 (revelio: 0, a weight of 0
    # where the sum is 0); set as theirs here
    model, x = request.getfixturevalue(arch), _inputs()
    grid = _with_epsilon(ours(model, layer), 1e-7 if ours is XGradCAM else 0).attribute(x, TARGET, upsample=False)
    theirs_map = _gradcam_lib(getattr(gradcam_lib, theirs), model, layer, x, TARGET)
    _close(theirs_map, _as_gradcam_lib_shows_it(grid, (64, 64)))
    if torchcam_name is not None:
        grid = _with_epsilon(ours(model, layer), 1e-8 if ours is XGradCAM else 0).attribute(x, TARGET, upsample=False)
        _close(_torchcam(getattr(torchcam, torchcam_name), model, layer, x, TARGET), grid)


@pytest.mark.parametrize(("arch", "layer"), LAYERS)
def test_grad_cam_plus_plus_matches_pytorch_grad_cam(arch, layer, request):
    # pytorch-grad-cam adds 1e-6 to alpha's denominator g^2 (2 + g sum A); on these random nets g is
    # 1e-4 to 1e-2, so that moves its maps by up to a few percent: set here as theirs
    model, x = request.getfixturevalue(arch), _inputs()
    theirs = _gradcam_lib(gradcam_lib.GradCAMPlusPlus, model, layer, x, TARGET)
    aligned = _with_epsilon(GradCAMPlusPlus(model, layer), 1e-6).attribute(x, TARGET, upsample=False)
    _close(theirs, _as_gradcam_lib_shows_it(aligned, (64, 64)))
    paper = GradCAMPlusPlus(model, layer).attribute(x, TARGET, upsample=False)
    assert (_as_gradcam_lib_shows_it(paper, (64, 64)) - theirs).abs().max() > 1e-4  # the 1e-6 is visible


def test_torchcam_grad_cam_plus_plus_keeps_alpha_at_g_squared(resnet18):
    # torch-cam 0.5 divides alpha[mask] (a copy made by boolean indexing) in place, so the division is
    # lost: its weights are sum_ij g^2 ReLU(g), not Grad-CAM++'s. Shown against that formula by hand.
    x = _inputs()
    theirs = _torchcam(torchcam.GradCAMpp, resnet18, "layer4", x, TARGET)
    activation = resnet18.layer4(resnet18.layer3(resnet18.layer2(resnet18.layer1(
        resnet18.maxpool(resnet18.relu(resnet18.bn1(resnet18.conv1(x)))))))).detach()
    gradient = resnet18.fc.weight[TARGET].detach()[:, :, None, None] / 4 * torch.ones_like(activation)  # GAP of 2x2
    weights = (gradient.square() * gradient.clamp(min=0)).sum(dim=(2, 3))
    lost_division = torch.relu((weights[:, :, None, None] * activation).sum(dim=1, keepdim=True))
    _close(theirs, lost_division)
    ours = GradCAMPlusPlus(resnet18, "layer4").attribute(x, TARGET, upsample=False)
    assert (_minmax(ours) - _minmax(theirs)).abs().max() > 0.05


def test_peers_read_densenets_norm5_after_its_in_place_relu(densenet121):
    # revelio reads norm5's true output, as a plain reference split at norm5 does; the hook-based peer
    # reads the tensor after F.relu(..., inplace=True) has rectified it
    x = _inputs()
    features = densenet121.features(x).detach().requires_grad_(True)
    head = densenet121.classifier(torch.flatten(F.adaptive_avg_pool2d(F.relu(features), 1), 1))
    (gradient,) = torch.autograd.grad(head.gather(1, torch.tensor(TARGET).view(-1, 1)).sum(), features)
    weights = (features * gradient).sum(dim=(2, 3)) / features.sum(dim=(2, 3))
    reference = torch.relu((weights[:, :, None, None] * features).sum(dim=1, keepdim=True)).detach()
    ours = XGradCAM(densenet121, "features.norm5").attribute(x, TARGET, upsample=False)
    _close(ours, reference)
    theirs = _gradcam_lib(gradcam_lib.XGradCAM, densenet121, "features.norm5", x, TARGET)
    assert (theirs - _as_gradcam_lib_shows_it(reference, (64, 64))).abs().max() > 0.05


# --- Eigen-CAM ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "layer"), [*LAYERS, ("resnet18", "layer3")])
def test_eigen_cam_matches_pytorch_grad_cam_up_to_its_sign(arch, layer, request):
    # pytorch-grad-cam centres the activations too, and keeps the SVD's sign as LAPACK returns it:
    # per example its map is ours or that of the negated projection (then rectified and normalised)
    model, x = request.getfixturevalue(arch), _inputs(3)
    raw = EigenCAM(model, layer).attribute(x, upsample=False, relu=False)
    recorded = []
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, a, out: recorded.append(out.clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    projection = torch.from_numpy(get_2d_projection(recorded[0].numpy()))[:, None]
    theirs = _gradcam_lib(gradcam_lib.EigenCAM, model, layer, x, TARGET * 2)
    for i in range(3):
        sign = 1 if (projection[i] * raw[i]).sum() > 0 else -1
        _close(sign * projection[i], raw[i])
        _close(theirs[i : i + 1], _as_gradcam_lib_shows_it((sign * raw[i : i + 1]).clamp(min=0), (64, 64)))
        total = recorded[0][i].sum(dim=0).flatten()
        assert torch.corrcoef(torch.stack([raw[i].flatten(), total]))[0, 1] > 0  # revelio's sign convention


# --- Score-CAM ------------------------------------------------------------------------------------------------

# Grids of 2x2: every grid value is a corner, which bilinear upsampling keeps, so torch-cam's
# min-max normalisation before upsampling equals the paper's (and revelio's) after it.
SCORE_LAYERS = [
    ("resnet18", "layer3", 32),  # 256 channels
    ("densenet121", "features.denseblock4.denselayer16.conv2", 64),  # 32 channels
    pytest.param("vgg11", "features.19", 32, marks=pytest.mark.slow),  # 512 channels of VGG11: slow
]


class _UpsampleAsTorch(nn.Module):
    """``nn.UpsamplingBilinear2d`` (``align_corners=True``) as ``F.interpolate(align_corners=False)``."""

    def __init__(self, size) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)


@pytest.mark.parametrize(("arch", "layer", "size"), SCORE_LAYERS)
def test_score_cam_matches_both_peers(arch, layer, size, request, monkeypatch):
    model, x, target = request.getfixturevalue(arch), _inputs(1, size), [5]
    grid = ScoreCAM(model, layer).attribute(x, target, upsample=False, internal_batch_size=64)
    # torch-cam: the paper's softmax over channels of the logits (it subtracts the clean score, which cancels)
    _close(_torchcam(torchcam.ScoreCAM, model, layer, x, target, batch_size=64), grid)
    # pytorch-grad-cam: the same weights; its masks are upsampled with align_corners=True (patched to
    # revelio's, the convention of torch-cam and of the authors' code)
    monkeypatch.setattr(torch.nn, "UpsamplingBilinear2d", _UpsampleAsTorch)
    module = dict(model.named_modules())[layer]
    cam = gradcam_lib.ScoreCAM(model=model, target_layers=[module])
    cam.batch_size = 64
    try:
        theirs = torch.from_numpy(cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(t) for t in target]))
    finally:
        cam.activations_and_grads.release()
    _close(theirs, _as_gradcam_lib_shows_it(grid, (size, size)))
