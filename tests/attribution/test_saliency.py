"""Saliency: hand-computed gradients and every reduction of them."""

from __future__ import annotations

import pytest
import torch
from attribution_nets import OUT_OF_PLACE_FORMS, RELU_FORMS, HandNet, plain_gradient
from torch import nn

from revelio.attribution import Saliency

# Flatten + Linear(4 -> 2) on inputs (N, 2, 1, 2): the gradient of class c is row c of
# W, laid out as (channel, 1, position).
W = [[1.0, -2.0, 3.0, -4.0], [0.5, 1.0, -1.5, 2.0]]
B = [0.3, -0.1]


@pytest.fixture(scope="module")
def linear_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(W))
        model[1].bias.copy_(torch.tensor(B))
    return model


def _inputs() -> torch.Tensor:
    # logits by hand: example 0 -> [1.3, 0.4] (top class 0); example 1 -> [-1.7, 0.9] (top 1)
    return torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]]], [[[0.0, 1.0]], [[0.0, 0.0]]]], dtype=torch.float64)


# (abs, channels, map for class 0, map for class 1), all worked out from W by hand
LINEAR_CASES = [
    (False, None, [[[1, -2]], [[3, -4]]], [[[0.5, 1]], [[-1.5, 2]]]),
    (True, None, [[[1, 2]], [[3, 4]]], [[[0.5, 1]], [[1.5, 2]]]),
    (True, "max", [[[3, 4]]], [[[1.5, 2]]]),
    (True, "sum", [[[4, 6]]], [[[2, 3]]]),
    (True, "mean", [[[2, 3]]], [[[1, 1.5]]]),
    (False, "max", [[[3, -2]]], [[[0.5, 2]]]),
    (False, "sum", [[[4, -6]]], [[[-1, 3]]]),
    (False, "mean", [[[2, -3]]], [[[-0.5, 1.5]]]),
]


@pytest.mark.parametrize(("abs_", "channels", "class0", "class1"), LINEAR_CASES)
def test_linear_model_saliency_is_the_weight_row(linear_model, abs_, channels, class0, class1):
    expected = torch.tensor([class0, class1], dtype=torch.float64)
    maps = Saliency(linear_model).attribute(_inputs(), target=[0, 1], abs=abs_, channels=channels)
    torch.testing.assert_close(maps, expected, rtol=0, atol=0)


def test_linear_model_top_class_and_int_targets(linear_model):
    x = _inputs()
    top = Saliency(linear_model).attribute(x, abs=False)  # top classes are 0 and 1
    torch.testing.assert_close(top, torch.tensor([LINEAR_CASES[0][2], LINEAR_CASES[0][3]], dtype=torch.float64))
    both_one = Saliency(linear_model).attribute(x, target=1, abs=False)
    torch.testing.assert_close(both_one, torch.tensor([LINEAR_CASES[0][3]] * 2, dtype=torch.float64))


def test_default_is_absolute_gradient_input_shaped(linear_model):
    maps = Saliency(linear_model).attribute(_inputs(), target=[0, 1])
    torch.testing.assert_close(maps, torch.tensor([LINEAR_CASES[1][2], LINEAR_CASES[1][3]], dtype=torch.float64))


@pytest.mark.parametrize("form", list(RELU_FORMS))
def test_relu_net_saliency_on_paper(form):
    # HandNet: plain gradient [-5, -2] (see attribution_nets.HandNet)
    model = HandNet(form)
    x = torch.tensor(HandNet.X, dtype=torch.float64)
    signed = Saliency(model).attribute(x, target=0, abs=False)
    torch.testing.assert_close(signed, torch.tensor([[-5.0, -2.0]], dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(Saliency(model).attribute(x, target=0), torch.tensor([[5.0, 2.0]], dtype=torch.float64))


@pytest.mark.parametrize("form", OUT_OF_PLACE_FORMS)
def test_relu_input_feeding_another_branch(form):
    model = HandNet(form, residual=True)
    x = torch.tensor(HandNet.X, dtype=torch.float64)
    signed = Saliency(model).attribute(x, target=0, abs=False)
    torch.testing.assert_close(signed, torch.tensor([[-8.0, -6.0]], dtype=torch.float64), rtol=0, atol=0)


def test_resnet18_saliency_equals_autograd(resnet18):
    x = torch.randn(2, 3, 64, 64)
    reference = plain_gradient(resnet18, x, [3, 7])
    maps = Saliency(resnet18).attribute(x, target=[3, 7], abs=False)
    torch.testing.assert_close(maps, reference)
    paper_map = Saliency(resnet18).attribute(x, target=[3, 7], channels="max")
    torch.testing.assert_close(paper_map, reference.abs().amax(dim=1, keepdim=True))
