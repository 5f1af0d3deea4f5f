"""Deletion and insertion (RISE) against curves worked out by hand on a model that sums a region."""

import pytest
import torch
from torch import nn

from revelio.errors import InputError
from revelio.eval import auc, deletion_insertion
from revelio.eval.faithfulness import pixel_order


class LeftHalf(nn.Module):
    """Score = mean of channel 0 over the left half of the image; one output."""

    def forward(self, x):
        return x[:, :1, :, : x.shape[-1] // 2].mean(dim=(1, 2, 3))[:, None]


def _identity(output):
    return output


def test_auc_is_the_trapezoid_rule():
    fractions = torch.tensor([0.0, 0.5, 1.0])
    assert auc(fractions, torch.tensor([[1.0, 0.5, 0.0], [1.0, 1.0, 1.0]])).tolist() == pytest.approx([0.5, 1.0])


def test_pixel_order_ranks_by_heat_and_breaks_ties_randomly():
    maps = torch.tensor([[[[3.0, 1.0], [2.0, 0.0]]]])
    assert pixel_order(maps).tolist() == [[0, 2, 1, 3]]
    flat = torch.zeros(1, 1, 8, 8)
    first, second = pixel_order(flat, seed=0), pixel_order(flat, seed=1)
    assert sorted(first[0].tolist()) == list(range(64))
    assert not torch.equal(first, second) and not torch.equal(first[0], torch.arange(64))


def test_curves_of_a_perfect_map_match_the_hand_computed_ones():
    inputs = torch.ones(1, 3, 4, 4)
    perfect = torch.zeros(1, 1, 4, 4)
    perfect[..., :2] = 1.0  # the left half: exactly what the model reads
    curves = deletion_insertion(
        LeftHalf(), inputs, perfect, torch.tensor([0]), probability=_identity, steps=4,
        insertion_start=torch.zeros_like(inputs),
    )
    assert curves.fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curves.deletion[0].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.0])
    assert curves.insertion[0].tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0, 1.0])
    assert curves.deletion_auc().item() == pytest.approx(0.25)  # 0.25 * (0.75 + 0.25)
    assert curves.insertion_auc().item() == pytest.approx(0.75)
    worst = deletion_insertion(
        LeftHalf(), inputs, 1.0 - perfect, torch.tensor([0]), probability=_identity, steps=4,
        insertion_start=torch.zeros_like(inputs),
    )
    assert worst.deletion_auc().item() == pytest.approx(0.75)
    assert worst.insertion_auc().item() == pytest.approx(0.25)


def test_batching_does_not_change_the_curves():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    inputs, maps = torch.randn(5, 3, 8, 8), torch.rand(5, 1, 8, 8)
    classes = torch.tensor([0, 1, 2, 3, 0])
    one = deletion_insertion(model, inputs, maps, classes, steps=6, batch_size=1)
    many = deletion_insertion(model, inputs, maps, classes, steps=6, batch_size=1000)
    assert torch.allclose(one.deletion, many.deletion, atol=1e-6)
    assert torch.allclose(one.insertion, many.insertion, atol=1e-6)
    assert torch.allclose(one.deletion[:, 0], torch.softmax(model(inputs), 1)[torch.arange(5), classes], atol=1e-6)


def test_the_model_is_left_in_its_mode_and_bad_maps_are_refused():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten()).train()
    deletion_insertion(model, torch.randn(2, 3, 4, 4), torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), steps=2)
    assert model.training and model[1].training
    with pytest.raises(InputError, match="upsample=True"):
        deletion_insertion(model, torch.randn(2, 3, 4, 4), torch.rand(2, 1, 2, 2), torch.tensor([0, 1]))
