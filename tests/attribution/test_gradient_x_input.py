"""Gradient x input: hand-computed maps on a linear model and a ReLU net, and Captum on three architectures."""

from __future__ import annotations

import warnings

import pytest
import torch
from attribution_nets import HAND_EXPECTED, HandNet, plain_gradient
from torch import nn

from revelio.attribution import GradientXInput

# Flatten + Linear(4 -> 2) on inputs (N, 2, 1, 2): class c's gradient is row c of W
W = [[1.0, -2.0, 3.0, -4.0], [0.5, 1.0, -1.5, 2.0]]


@pytest.fixture(scope="module")
def linear_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(W))
        model[1].bias.copy_(torch.tensor([0.3, -0.1]))
    return model


def test_linear_model_gives_x_times_w(linear_model):
    x = torch.tensor([[[[1.0, 2.0]], [[-1.0, 0.5]]], [[[0.0, 3.0]], [[2.0, -2.0]]]], dtype=torch.float64)
    # by hand: example 0, class 0: [1, 2, -1, 0.5] * [1, -2, 3, -4] = [1, -4, -3, -2]
    #          example 1, class 1: [0, 3, 2, -2] * [0.5, 1, -1.5, 2] = [0, 3, -3, -4]
    expected = torch.tensor([[[[1.0, -4.0]], [[-3.0, -2.0]]], [[[0.0, 3.0]], [[-3.0, -4.0]]]], dtype=torch.float64)
    maps = GradientXInput(linear_model).attribute(x, target=[0, 1])
    torch.testing.assert_close(maps, expected, rtol=0, atol=0)
    both = GradientXInput(linear_model).attribute(x, target=[[0, 1], [0, 1]])
    torch.testing.assert_close(both[0, 0], expected[0], rtol=0, atol=0)
    torch.testing.assert_close(both[1, 1], expected[1], rtol=0, atol=0)


@pytest.mark.parametrize("residual", [False, True])
def test_relu_net_gives_x_times_the_hand_gradient(residual):
    # HandNet's plain gradients at x = [1, 2] are [-5, -2] and [-8, -6] (with the identity branch)
    x = torch.tensor(HandNet.X, dtype=torch.float64)
    maps = GradientXInput(HandNet(residual=residual)).attribute(x, target=0)
    expected = x * torch.tensor(HAND_EXPECTED[(residual, "plain")], dtype=torch.float64)
    torch.testing.assert_close(maps, expected, rtol=0, atol=0)


def test_equals_the_input_times_an_independent_gradient():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).double().eval()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(GradientXInput(model).attribute(x, target=[0, 1, 2, 0]),
                               x * plain_gradient(model, x, [0, 1, 2, 0]), rtol=1e-12, atol=1e-14)


captum_attr = pytest.importorskip("captum.attr")


@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "vgg11"])
def test_matches_captum_input_x_gradient(arch, request):
    model = request.getfixturevalue(arch)
    x = torch.randn(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = captum_attr.InputXGradient(model).attribute(x.clone(), target=[3, 7])
    ours = GradientXInput(model).attribute(x, target=[3, 7])
    scale = theirs.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * scale)
