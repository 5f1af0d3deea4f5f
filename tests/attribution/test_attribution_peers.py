"""Cross-checks with Captum on torchvision models (random weights, 64x64 inputs).

Skipped when Captum is absent. Where Captum is known to be wrong (functional ReLU,
which it never sees), the test documents the difference and checks revelio against an
independent reference instead.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from attribution_nets import reference_modified_gradient

from revelio.attribution import Deconvolution, GradCAM, GuidedBackprop, GuidedGradCAM, Saliency

captum_attr = pytest.importorskip("captum.attr")

TARGET = [3, 7]
ARCHS = ["vgg11", "resnet18"]  # ReLU only through nn.ReLU modules: Captum sees them all
CAM_LAYERS = [("resnet18", "layer4"), ("vgg11", "features.18"), ("vgg11", "features.20")]


def _inputs() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64)


def _close(actual, expected):
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)


def _captum(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum warns about in-place ReLU and input requires_grad
        return method(*args).attribute(**kwargs)


@pytest.mark.parametrize("abs_", [True, False])
@pytest.mark.parametrize("arch", ARCHS)
def test_saliency_matches_captum(arch, abs_, request):
    model = request.getfixturevalue(arch)
    x = _inputs()
    expected = _captum(captum_attr.Saliency, model, inputs=x.clone(), target=TARGET, abs=abs_)
    _close(Saliency(model).attribute(x, target=TARGET, abs=abs_), expected)


@pytest.mark.parametrize(("ours", "theirs"), [(GuidedBackprop, "GuidedBackprop"), (Deconvolution, "Deconvolution")])
@pytest.mark.parametrize("arch", ARCHS)
def test_modified_backprop_matches_captum(arch, ours, theirs, request):
    model = request.getfixturevalue(arch)
    x = _inputs()
    expected = _captum(getattr(captum_attr, theirs), model, inputs=x.clone(), target=TARGET)
    _close(ours(model).attribute(x, target=TARGET), expected)


@pytest.mark.parametrize(("arch", "layer"), CAM_LAYERS)
def test_gradcam_matches_captum_layer_gradcam(arch, layer, request):
    model = request.getfixturevalue(arch)
    module = dict(model.named_modules())[layer]
    x = _inputs()
    coarse = _captum(captum_attr.LayerGradCam, model, module, inputs=x.clone(), target=TARGET, relu_attributions=True)
    expected = captum_attr.LayerAttribution.interpolate(coarse, x.shape[-2:], "bilinear")
    _close(GradCAM(model, layer).attribute(x, target=TARGET), expected)
    _close(GradCAM(model, layer).attribute(x, target=TARGET, upsample=False), coarse)


@pytest.mark.parametrize(("arch", "layer"), CAM_LAYERS[:2])
def test_guided_gradcam_matches_captum(arch, layer, request):
    model = request.getfixturevalue(arch)
    module = dict(model.named_modules())[layer]
    x = _inputs()
    expected = _captum(captum_attr.GuidedGradCam, model, module, inputs=x.clone(), target=TARGET,
                       interpolate_mode="bilinear")
    _close(GuidedGradCAM(model, layer).attribute(x, target=TARGET), expected)


@pytest.mark.parametrize(("ours", "theirs", "rule"), [(GuidedBackprop, "GuidedBackprop", "guided"),
                                                      (Deconvolution, "Deconvolution", "deconvolution")])
def test_captum_misses_densenets_functional_relu(densenet121, ours, theirs, rule, monkeypatch):
    # DenseNet ends its features with F.relu(features, inplace=True): Captum hooks only
    # nn.ReLU modules, so that ReLU keeps its plain backward there. revelio covers it.
    x = _inputs()
    reference = reference_modified_gradient(monkeypatch, densenet121, x, TARGET, rule)
    ours_map = ours(densenet121).attribute(x, target=TARGET)
    _close(ours_map, reference)
    captum_map = _captum(getattr(captum_attr, theirs), densenet121, inputs=x.clone(), target=TARGET)
    assert (captum_map - reference).abs().max() > 0.05 * reference.abs().max()
