"""Eigen-CAM: principal components on paper, the sign convention, no class, no gradient.

The model is ``Identity`` (the layer ``"0"``) then GAP and a linear head, so the
activation is the input itself and can be chosen by hand: each of the 2x2 positions is
a sample, each channel a feature.

- ``A^k = u_k B + b_k`` with ``B = [[1, 2], [3, 4]]`` (mean 2.5): centred, the data is
  ``(B - 2.5) u^T``, of rank one; the first principal direction is ``u / |u|`` and the
  projection ``|u| (B - 2.5)``, up to sign. The sum over channels is ``(sum u) B + const``,
  so the sign that correlates positively with it is ``sign(sum u)``:
  ``u = (1, 2)`` gives ``sqrt(5) (B - 2.5)``; ``u = (1, -1.5)`` gives ``-sqrt(3.25) (B - 2.5)``.
- Centred samples ``(1, 0), (-1, 0), (0, 0.5), (0, -0.5)`` (raw: plus 1): the variances are 2
  and 0.5, the first direction is channel 0, the projection ``[1, -1, 0, 0]``; the channel
  sum ``[1, -1, 0.5, -0.5] + 2`` correlates positively with it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from attribution_nets import TokenNet, bilinear_2_to_4
from torch import nn

from revelio.attribution import EigenCAM, vit_reshape
from revelio.attribution.eigen_cam import principal_projection

B = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)


def identity_net(channels: int = 2) -> nn.Module:
    return nn.Sequential(nn.Identity(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 3)).double().eval()


def rank_one(u, b=(5.0, -1.0)) -> torch.Tensor:
    return torch.stack([uk * B + bk for uk, bk in zip(u, b)])[None]


@pytest.mark.parametrize(("u", "expected"), [((1.0, 2.0), math.sqrt(5) * (B - 2.5)),
                                             ((1.0, -1.5), -math.sqrt(3.25) * (B - 2.5))])
def test_rank_one_activations_on_paper(u, expected):
    activation = rank_one(u)
    maps = EigenCAM(identity_net(), "0").attribute(activation, upsample=False, relu=False)
    torch.testing.assert_close(maps, expected[None, None], rtol=1e-12, atol=1e-12)
    rectified = EigenCAM(identity_net(), "0").attribute(activation, upsample=False)
    torch.testing.assert_close(rectified, expected.clamp(min=0)[None, None], rtol=1e-12, atol=1e-12)


def test_two_directions_on_paper():
    centred = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [0.0, -0.5]], dtype=torch.float64)
    activation = (centred + 1).T.reshape(1, 2, 2, 2)  # positions in row-major order
    maps = EigenCAM(identity_net(), "0").attribute(activation, upsample=False, relu=False)
    torch.testing.assert_close(maps, torch.tensor([[[[1.0, -1.0], [0.0, 0.0]]]], dtype=torch.float64),
                               rtol=1e-12, atol=1e-12)


def test_uncentred_is_the_svd_of_the_raw_activations():
    # an independent reference: NumPy's SVD of the (positions, channels) matrix, sign fixed by hand
    activation = torch.randn(3, 5, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.5
    maps = EigenCAM(identity_net(5), "0").attribute(activation, upsample=False, relu=False, center=False)
    for example, got in zip(activation.numpy(), maps):
        samples = example.reshape(5, -1).T
        _, _, vt = np.linalg.svd(samples, full_matrices=False)
        projection = samples @ vt[0]
        total = example.sum(axis=0).ravel()
        if np.corrcoef(projection, total)[0, 1] < 0:
            projection = -projection
        np.testing.assert_allclose(got.numpy().ravel(), projection, rtol=1e-10, atol=1e-12)


def test_the_map_ignores_the_class_and_several_classes_repeat_it():
    activation = rank_one((1.0, 2.0)).repeat(2, 1, 1, 1)
    method = EigenCAM(identity_net(), "0")
    first, second = method.attribute(activation, 0), method.attribute(activation, 2)
    assert torch.equal(first, second)
    several = method.explain(activation, [[0, 1, 2], [2, 1, 0]])
    assert several.maps.shape == (2, 3, 1, 2, 2)
    for k in range(3):
        assert torch.equal(several.maps[:, k], first)
    assert torch.equal(several.classes, torch.tensor([[0, 1, 2], [2, 1, 0]]))


def test_no_gradient_is_computed():
    activation = rank_one((1.0, 2.0)).requires_grad_(True)
    maps = EigenCAM(identity_net(), "0").attribute(activation)
    assert not maps.requires_grad and activation.grad is None


def test_upsampled_bilinearly_like_the_other_cams():
    # 2x2 average pooling first: a 4x4 input whose 2x2 blocks are the activation, upsampled back by hand
    net = nn.Sequential(nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3)).double().eval()
    activation = rank_one((1.0, 2.0))
    x = torch.kron(activation, torch.ones(2, 2, dtype=torch.float64))
    grid = (math.sqrt(5) * (B - 2.5)).clamp(min=0)
    m = bilinear_2_to_4()
    torch.testing.assert_close(EigenCAM(net, "0").attribute(x), (m @ grid @ m.T)[None, None], rtol=1e-12, atol=1e-12)


def test_low_precision_activations_are_decomposed_in_float32():
    activation = rank_one((1.0, 2.0)).float()
    expected = principal_projection(activation)
    half = principal_projection(activation.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), expected, rtol=1e-2, atol=1e-2)


def test_token_layers_through_reshape():
    torch.manual_seed(0)
    model, x = TokenNet().double().eval(), torch.randn(2, 3, 8, 8, dtype=torch.float64)
    tokens = EigenCAM(model, "tokens", reshape=vit_reshape).attribute(x)
    torch.testing.assert_close(tokens, EigenCAM(model, "patch").attribute(x), rtol=0, atol=0)
    assert tokens.shape == (2, 1, 8, 8) and tokens.abs().max() > 0
