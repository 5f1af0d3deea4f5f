"""Guided backpropagation and deconvolution: values on paper, known answers, real models."""

from __future__ import annotations

import pytest
import torch
from attribution_nets import (
    HAND_EXPECTED,
    OUT_OF_PLACE_FORMS,
    RELU_FORMS,
    HandNet,
    plain_gradient,
    reference_modified_gradient,
)
from torch import nn

from revelio.attribution import Deconvolution, GuidedBackprop, ModifiedReLUGradient, Saliency
from revelio.core.overrides import BackwardRule

METHODS = {"guided": GuidedBackprop, "deconvolution": Deconvolution}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("form", list(RELU_FORMS))
def test_hand_values_for_every_relu_form(method, form):
    model = HandNet(form)
    x = torch.tensor(HandNet.X, dtype=torch.float64)
    maps = METHODS[method](model).attribute(x, target=0)
    torch.testing.assert_close(maps, torch.tensor([HAND_EXPECTED[False, method]], dtype=torch.float64), rtol=0, atol=0)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("form", OUT_OF_PLACE_FORMS)
def test_rule_changes_only_the_relu_branch(method, form):
    # h feeds both relu(h) and the identity branch: only the gradient through the ReLU changes
    model = HandNet(form, residual=True)
    x = torch.tensor(HandNet.X, dtype=torch.float64)
    maps = METHODS[method](model).attribute(x, target=0)
    torch.testing.assert_close(maps, torch.tensor([HAND_EXPECTED[True, method]], dtype=torch.float64), rtol=0, atol=0)


class ReusedReLU(nn.Module):
    """One nn.ReLU module called twice, as in torchvision's ResNet blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))


@pytest.mark.parametrize("method", list(METHODS))
def test_reused_relu_module_matches_reference(method, monkeypatch):
    model = ReusedReLU().double()
    x = torch.randn(5, 4, dtype=torch.float64)
    expected = reference_modified_gradient(monkeypatch, model, x, [0, 1, 2, 0, 1], method)
    maps = METHODS[method](model).attribute(x, target=[0, 1, 2, 0, 1])
    torch.testing.assert_close(maps, expected, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(maps, plain_gradient(model, x, [0, 1, 2, 0, 1]))  # the rule did something


def _relu_free_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3), nn.GELU(), nn.Flatten(), nn.LazyLinear(3)
    ).double()


@pytest.mark.parametrize("method", list(METHODS))
def test_relu_free_net_gives_the_gradient_and_warns(method):
    model = _relu_free_net()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    model(x)  # materialise the lazy layer
    with pytest.warns(RuntimeWarning, match="no ReLU") as record:
        maps = METHODS[method](model).attribute(x, target=[2, 0])
    torch.testing.assert_close(maps, plain_gradient(model, x, [2, 0]), rtol=0, atol=0)
    # the warning points at the caller's line, not at revelio's internals
    assert record[0].filename == __file__


def test_no_warning_when_a_relu_runs(recwarn):
    model = HandNet("F.relu")
    GuidedBackprop(model).attribute(torch.tensor(HandNet.X, dtype=torch.float64), target=0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_other_activations_keep_their_ordinary_backward(monkeypatch):
    # ReLU6 and LeakyReLU are not ReLU: only the nn.ReLU follows the guided rule
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU6(), nn.Linear(8, 8), nn.LeakyReLU(0.1), nn.Linear(8, 8), nn.ReLU(),
                          nn.Linear(8, 3)).double()
    x = 3 * torch.randn(6, 4, dtype=torch.float64)
    expected = reference_modified_gradient(monkeypatch, model, x, [0] * 6, "guided")
    torch.testing.assert_close(GuidedBackprop(model).attribute(x, target=0), expected, rtol=1e-12, atol=1e-12)


def test_new_rule_is_one_subclass():
    class Negated(BackwardRule):
        def __call__(self, grad_out, out):
            return -grad_out * (out > 0)

    class NegatedReLUGradient(ModifiedReLUGradient):
        rule = Negated()

    # on HandNet the gradient at h is -[0, -3, 1] = [0, 3, -1], so d/dx = W1^T [0, 3, -1] = [5, 2]
    model = HandNet()
    maps = NegatedReLUGradient(model).attribute(torch.tensor(HandNet.X, dtype=torch.float64), target=0)
    torch.testing.assert_close(maps, torch.tensor([[5.0, 2.0]], dtype=torch.float64), rtol=0, atol=0)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("arch", ["vgg11", "resnet18", "densenet121"])
def test_torchvision_models_match_reference(method, arch, request, monkeypatch):
    model = request.getfixturevalue(arch)
    x = torch.randn(2, 3, 64, 64)
    expected = reference_modified_gradient(monkeypatch, model, x, [3, 7], method)
    maps = METHODS[method](model).attribute(x, target=[3, 7])
    assert maps.shape == x.shape
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item())


def test_guided_differs_from_saliency_on_a_real_model(resnet18):
    x = torch.randn(1, 3, 64, 64)
    guided = GuidedBackprop(resnet18).attribute(x, target=3)
    signed = Saliency(resnet18).attribute(x, target=3, abs=False)
    assert not torch.allclose(guided, signed, atol=1e-3 * signed.abs().max().item())


def test_guided_grad_cam_warns_at_the_callers_line_when_no_relu_runs():
    import warnings

    from revelio import GuidedGradCAM

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Tanh(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(2, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GuidedGradCAM(model, "0").attribute(torch.rand(1, 1, 5, 5), target=0)
    assert [w.filename for w in caught if "no ReLU" in str(w.message)] == [__file__]
