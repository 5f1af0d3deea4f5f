"""The control explainers: an edge detector that ignores the model, and noise."""

import pytest
import torch
from torch import nn

from revelio.errors import InputError
from revelio.eval import EdgeDetector, RandomMap


def _model():
    return nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_edge_detector_is_the_sobel_magnitude_hand_computed():
    image = torch.zeros(1, 3, 5, 5)
    image[:, 0, :, 3:] = 1.0  # a vertical step in channel 0 between columns 2 and 3
    edges = EdgeDetector(_model()).attribute(image, target=0)
    assert edges.shape == (1, 1, 5, 5)
    # Sobel x across the step: (1 + 2 + 1) at columns 2 and 3, zero elsewhere (replicated borders)
    assert edges[0, 0, 2].tolist() == pytest.approx([0.0, 0.0, 4.0, 4.0, 0.0])
    assert edges[0, 0, :, 0].abs().sum() == 0


def test_edge_detector_ignores_target_model_and_constant_shifts():
    inputs = torch.rand(2, 3, 8, 8)
    first = EdgeDetector(_model()).attribute(inputs, target=0)
    assert torch.equal(first, EdgeDetector(_model()).attribute(inputs, target=1))
    assert torch.allclose(first, EdgeDetector(_model()).attribute(inputs + 0.7, target=0), atol=1e-5)


def test_random_map_is_fresh_noise_per_call_and_seeded():
    inputs = torch.rand(3, 3, 8, 8)
    first, second = RandomMap(_model(), seed=4), RandomMap(_model(), seed=4)
    a, b = first.attribute(inputs, 0), first.attribute(inputs, 0)
    assert a.shape == (3, 1, 8, 8) and 0 <= a.min() and a.max() < 1
    assert not torch.equal(a, b)
    assert torch.equal(a, second.attribute(inputs, 1))  # same seed, same draw: the target plays no part


def test_controls_need_images():
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        EdgeDetector(nn.Linear(4, 2)).attribute(torch.rand(2, 4), target=0)


def test_spectral_residual_is_model_free_and_finds_a_blob_on_a_flat_background():
    from revelio.eval import SpectralResidual

    image = torch.full((1, 3, 64, 64), 0.5)
    image[:, :, 40:48, 10:18] = 1.0  # one bright square
    saliency = SpectralResidual(_model()).attribute(image, target=0)
    assert saliency.shape == (1, 1, 64, 64)
    row, column = divmod(int(saliency.flatten().argmax()), 64)
    assert 36 <= row <= 51 and 6 <= column <= 21  # on or beside the square
    assert torch.equal(saliency, SpectralResidual(nn.Linear(2, 2)).attribute(image, target=3))
    with pytest.raises(InputError, match="sigma"):
        SpectralResidual(_model(), sigma=0)
