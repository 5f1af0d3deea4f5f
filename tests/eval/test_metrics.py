"""Faithfulness correlation, max-sensitivity, sparseness and complexity.

Each metric is checked on tiny inputs whose value is known by hand, and against Quantus
0.6.0 on the same maps and the same random draws: Quantus draws its subsets and noise
from numpy's global generator, so the tests hand it the draws revelio made (numpy's
``random.choice`` and ``random.uniform`` replaced for the call), which makes the two
agree to float32 rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from revelio.attribution import Saliency
from revelio.errors import InputError, SettingError, SettingTypeError, TargetError
from revelio.eval import complexity, faithfulness_correlation, max_sensitivity, sparseness
from revelio.eval.metrics import random_subsets


def _tiny_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)
    )
    return model.eval()


def _linear(weight: torch.Tensor) -> nn.Module:
    """``f(x) = W x`` on flattened inputs, no bias."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(weight.shape[1], weight.shape[0], bias=False))
    with torch.no_grad():
        model[1].weight.copy_(weight)
    return model.eval()


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(1)
    inputs = torch.rand(6, 3, 8, 8, generator=generator) * 2 - 1
    maps = torch.rand(6, 1, 8, 8, generator=generator) * 2 - 1
    return inputs, maps, torch.tensor([0, 1, 2, 0, 1, 2])


# -- hand-computed values ---------------------------------------------------------------


def test_sparseness_of_known_maps():
    d = 16
    one_hot = torch.zeros(2, 1, 4, 4)
    one_hot[0, 0, 1, 2] = 3.0
    one_hot[1, 0, 3, 3] = -0.5  # the sign does not count
    assert torch.allclose(sparseness(one_hot), torch.full((2,), (d - 1) / d, dtype=torch.float64))
    assert torch.allclose(sparseness(torch.full((1, 3, 4, 4), -2.0)), torch.zeros(1, dtype=torch.float64))
    # |v| sorted [0, 0, 1, 3]: sum_k (2k - 5) v_k / (4 * 4) = (1 + 9) / 16
    assert sparseness(torch.tensor([[0.0, 3.0, -1.0, 0.0]])).item() == pytest.approx(10 / 16)
    assert sparseness(torch.tensor([[5.0, 0.0], [2.0, 2.0]])).tolist() == pytest.approx([0.5, 0.0])
    assert torch.isnan(sparseness(torch.zeros(1, 4))).all()


def test_complexity_of_known_maps():
    assert complexity(torch.ones(2, 3, 5, 5)).tolist() == pytest.approx([math.log(75)] * 2)
    one_hot = torch.zeros(1, 1, 4, 4)
    one_hot[0, 0, 0, 0] = -7.0
    assert complexity(one_hot).item() == 0.0
    # shares 1/4, 1/4, 1/2: entropy 1.5 log 2
    assert complexity(torch.tensor([[1.0, -1.0, 2.0, 0.0]])).item() == pytest.approx(1.5 * math.log(2))
    assert torch.isnan(complexity(torch.zeros(1, 4))).all()


@pytest.mark.parametrize("features", ["elements", "pixels"])
def test_faithfulness_correlation_of_gradient_times_input_on_a_linear_model_is_one(features):
    # f(x) = w . x with the baseline 0: the drop of removing S is sum_{i in S} w_i x_i,
    # exactly the map w * x summed over S, so the correlation is 1 (and -1 for -w * x).
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(4, 2, 3, 3, generator=generator, dtype=torch.float64) + 0.5
    weight = torch.randn(2, 18, generator=generator, dtype=torch.float64)
    model = _linear(weight).double()
    targets = torch.tensor([0, 1, 1, 0])
    maps = weight[targets].view(4, 2, 3, 3) * inputs
    score = faithfulness_correlation(model, inputs, maps, targets, subset_size=3, runs=30, features=features)
    assert torch.allclose(score, torch.ones(4, dtype=torch.float64), atol=1e-12)
    opposite = faithfulness_correlation(model, inputs, -maps, targets, subset_size=3, runs=30, features=features)
    assert torch.allclose(opposite, -torch.ones(4, dtype=torch.float64), atol=1e-12)


def test_faithfulness_correlation_of_a_map_that_ignores_the_model():
    # f sums the first channel; the map lies on the second only. |S| is fixed, so a subset
    # with more attribution holds fewer of the features f reads: the correlation is negative.
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(8, 2, 4, 4, generator=generator, dtype=torch.float64) + 0.5
    weight = torch.cat([torch.ones(1, 16), torch.zeros(1, 16)], dim=1).double()
    model = _linear(weight).double()
    maps = torch.cat([torch.zeros(8, 1, 4, 4), torch.rand(8, 1, 4, 4, generator=generator)], dim=1).double()
    score = faithfulness_correlation(model, inputs, maps, 0, subset_size=8, runs=50)
    assert (score < -0.3).all()
    constant = faithfulness_correlation(model, inputs, torch.zeros_like(maps), 0, subset_size=8, runs=50)
    assert torch.isnan(constant).all()  # no variance in the sums: no correlation


def test_max_sensitivity_of_maps_known_in_closed_form():
    # a(x) = 2 x: ||a(x + u) - a(x)|| = 2 ||u||, the largest over the draws of the seed.
    inputs = torch.rand(3, 2, 4, 4, generator=torch.Generator().manual_seed(0)) + 1
    radius, samples, seed = 0.1, 7, 5
    generator = torch.Generator().manual_seed(seed)
    noises = [(2 * torch.rand(inputs.shape, generator=generator) - 1) * radius for _ in range(samples)]
    expected = torch.stack([(2 * ((inputs + u) - inputs)).flatten(1).double().norm(dim=1) for u in noises]).amax(0)

    def doubled(x, targets):
        return 2 * x

    score = max_sensitivity(doubled, inputs, 0, radius=radius, samples=samples, seed=seed)
    assert torch.allclose(score, expected, rtol=1e-12)
    assert (score <= 2 * radius * math.sqrt(32) + 1e-6).all()  # inside the ball
    relative = max_sensitivity(doubled, inputs, 0, radius=radius, samples=samples, seed=seed, relative=True)
    assert torch.allclose(relative, expected / (2 * inputs).flatten(1).double().norm(dim=1), rtol=1e-6)
    assert max_sensitivity(lambda x, t: torch.ones_like(x), inputs, 0, samples=3).eq(0).all()
    assert max_sensitivity(doubled, inputs, 0, radius=0.0, samples=3).eq(0).all()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 4),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_sparseness_and_complexity_bounds_and_invariances(n, shape, scale, seed):
    maps = torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    maps[:, (0,) * len(shape)] = 1.0  # no map is zero everywhere
    d = maps[0].numel()
    gini, entropy = sparseness(maps), complexity(maps)
    assert gini.shape == entropy.shape == (n,)
    assert (gini >= -1e-12).all() and (gini <= 1 - 1 / d + 1e-12).all()
    assert (entropy >= -1e-12).all() and (entropy <= math.log(d) + 1e-12).all()
    # the scale and the signs do not count, and each image is scored alone
    assert torch.allclose(sparseness(-scale * maps), gini) and torch.allclose(complexity(scale * maps.abs()), entropy)
    assert torch.allclose(torch.cat([sparseness(m[None]) for m in maps]), gini)
    assert torch.allclose(torch.cat([complexity(m[None]) for m in maps]), entropy)


# -- the same maps and draws as Quantus ---------------------------------------------------


def _replay(monkeypatch, name: str, draws: list[np.ndarray]) -> list[tuple]:
    """Make ``numpy.random.<name>`` return ``draws`` in order; returns the calls' arguments."""
    calls: list[tuple] = []
    queue = iter(draws)

    def replay(*args, **kwargs):
        calls.append((args, kwargs))
        return next(queue)

    monkeypatch.setattr(np.random, name, replay)
    return calls


def test_faithfulness_correlation_matches_quantus(batch, monkeypatch):
    quantus = pytest.importorskip("quantus")
    inputs, maps, targets = batch
    model = _tiny_cnn()
    runs, size, seed = 12, 20, 3
    generator = torch.Generator().manual_seed(seed)
    subsets = [random_subsets(generator, len(inputs), inputs[0].numel(), size) for _ in range(runs)]
    # Quantus' "black" baseline is each image's minimum; it calls np.random.choice once per
    # image and run, runs outside, images inside.
    calls = _replay(monkeypatch, "choice", [row.numpy() for subset in subsets for row in subset])
    metric = quantus.FaithfulnessCorrelation(
        nr_runs=runs, subset_size=size, return_aggregate=False, disable_warnings=True
    )
    theirs = metric(model=model, x_batch=inputs.numpy(), y_batch=targets.numpy(), a_batch=maps.numpy(), device="cpu")
    monkeypatch.undo()
    assert len(calls) == runs * len(inputs) and calls[0][0] == (inputs[0].numel(), size)
    baseline = inputs.amin(dim=(1, 2, 3), keepdim=True)
    ours = faithfulness_correlation(
        model, inputs, maps, targets, subset_size=size, runs=runs, baseline=baseline, seed=seed, batch_size=16
    )
    assert np.allclose(ours.numpy(), np.asarray(theirs), rtol=0, atol=1e-5)
    assert ours.std() > 0.1  # a comparison of varied numbers, not of one constant


def test_max_sensitivity_matches_quantus(batch, monkeypatch):
    quantus = pytest.importorskip("quantus")
    inputs, _, targets = batch
    model = _tiny_cnn()
    saliency = Saliency(model)
    maps = saliency.attribute(inputs, targets)
    samples, radius, seed = 5, 0.2, 11
    generator = torch.Generator().manual_seed(seed)
    noises = [((2 * torch.rand(inputs.shape, generator=generator) - 1) * radius) for _ in range(samples)]
    calls = _replay(monkeypatch, "uniform", [u.flatten(1).double().numpy() for u in noises])

    def explain(model, inputs, targets, **kwargs):
        return Saliency(model).attribute(torch.as_tensor(inputs), torch.as_tensor(targets)).numpy()

    metric = quantus.MaxSensitivity(nr_samples=samples, lower_bound=radius, disable_warnings=True)
    theirs = metric(
        model=model,
        x_batch=inputs.numpy(),
        y_batch=targets.numpy(),
        a_batch=maps.numpy(),
        explain_func=explain,
        device="cpu",
    )
    monkeypatch.undo()
    assert len(calls) == samples and calls[0][1]["low"] == -radius
    ours = max_sensitivity(
        saliency.attribute, inputs, targets, radius=radius, samples=samples, seed=seed, relative=True
    )
    assert np.allclose(ours.numpy(), np.asarray(theirs), rtol=1e-5, atol=0)
    assert ours.std() > 0.01
    paper = max_sensitivity(saliency.attribute, inputs, targets, radius=radius, samples=samples, seed=seed, maps=maps)
    assert torch.allclose(paper, ours * maps.flatten(1).double().norm(dim=1), rtol=1e-6)
    # several samples per call of the explainer: the same noise, the same values
    batched = max_sensitivity(
        saliency.attribute, inputs, targets, radius=radius, samples=samples, seed=seed, maps=maps, batch_size=18
    )
    assert torch.allclose(batched, paper, rtol=1e-5)


def _unit_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map divided by its largest |value|, so Quantus' batch-wide max normalisation leaves it as it is."""
    return maps / maps.flatten(1).abs().amax(1).view(-1, *[1] * (maps.ndim - 1))


def test_sparseness_matches_quantus(batch):
    quantus = pytest.importorskip("quantus")
    inputs, maps, targets = batch
    maps = _unit_max(maps * (torch.arange(6).view(6, 1, 1, 1) + 1.0) ** 2)  # some sparse, some not
    theirs = quantus.Sparseness(disable_warnings=True)(
        model=None, x_batch=inputs.numpy(), y_batch=targets.numpy(), a_batch=maps.numpy()
    )
    # Quantus adds 1e-7 to |map| (after its max normalisation): with the same shift, the same Gini index
    ours = sparseness(maps.abs().double() + 1e-7)
    assert np.allclose(ours.numpy(), np.asarray(theirs), rtol=0, atol=1e-6)
    assert np.allclose(sparseness(maps).numpy(), np.asarray(theirs), rtol=0, atol=1e-5)


def test_complexity_matches_quantus(batch):
    quantus = pytest.importorskip("quantus")
    inputs, maps, targets = batch
    maps = _unit_max(maps**3)
    theirs = quantus.Complexity(disable_warnings=True)(
        model=None, x_batch=inputs.numpy(), y_batch=targets.numpy(), a_batch=maps.numpy()
    )
    assert np.allclose(complexity(maps).numpy(), np.asarray(theirs), rtol=1e-5, atol=0)


# -- determinism, batching, the model's state ---------------------------------------------


def test_faithfulness_correlation_is_seeded_and_batching_does_not_change_it(batch):
    inputs, maps, targets = batch
    model = _tiny_cnn()
    one = faithfulness_correlation(model, inputs, maps, targets, subset_size=10, runs=9, batch_size=6)
    many = faithfulness_correlation(model, inputs, maps, targets, subset_size=10, runs=9, batch_size=1000)
    assert torch.allclose(one, many, atol=1e-6)
    other = faithfulness_correlation(model, inputs, maps, targets, subset_size=10, runs=9, seed=1)
    assert not torch.allclose(one, other)


def test_the_model_is_left_as_found(batch):
    inputs, maps, targets = batch
    model = _tiny_cnn().train()
    model[0].weight.requires_grad_(False)
    grad = torch.ones_like(model[4].weight)
    model[4].weight.grad = grad
    faithfulness_correlation(model, inputs, maps, targets, subset_size=10, runs=3)
    assert model.training and all(module.training for module in model.modules())
    assert not model[0].weight.requires_grad and model[4].weight.requires_grad
    assert model[4].weight.grad is grad and model[0].weight.grad is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"maps": torch.zeros(6, 2, 8, 8)}, InputError, "maps must have the inputs' shape"),
        ({"maps": torch.zeros(6, 1, 8, 8, dtype=torch.long)}, InputError, "floating-point"),
        ({"inputs": [1.0]}, InputError, "torch.Tensor"),
        ({"targets": torch.tensor([0, 1])}, TargetError, "one class per input"),
        ({"targets": 0.5}, TargetError, "int or a Tensor"),
        ({"targets": torch.tensor([0, 1, 2, 0, 1, 3])}, TargetError, "below the number of classes"),
        ({"targets": -1}, TargetError, ">= 0"),
        ({"subset_size": 193}, SettingError, "at most the number of features, 192"),
        ({"subset_size": 0}, SettingError, "subset_size must be >= 1"),
        ({"runs": 1}, SettingError, "runs must be >= 2"),
        ({"runs": 2.0}, SettingTypeError, "runs must be an int"),
        ({"features": "channels"}, SettingError, "'elements' or 'pixels'"),
        ({"baseline": torch.zeros(2, 3)}, InputError, "broadcastable"),
        ({"score": "softmax"}, SettingTypeError, "score must be a callable"),
        ({"seed": -1}, SettingError, "seed must be >= 0"),
    ],
)
def test_faithfulness_correlation_refuses_bad_arguments(batch, kwargs, error, match):
    inputs, maps, targets = batch
    arguments = {"model": _tiny_cnn(), "inputs": inputs, "maps": maps, "targets": targets, "subset_size": 10} | kwargs
    with pytest.raises(error, match=match):
        faithfulness_correlation(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"explainer": "saliency"}, SettingTypeError, "callable"),
        ({"radius": -0.1}, SettingError, "radius must be a number >= 0"),
        ({"samples": 0}, SettingError, "samples must be >= 1"),
        ({"relative": 1}, SettingTypeError, "True or False"),
        ({"seed": 0.5}, SettingTypeError, "seed must be an int"),
        ({"batch_size": 0}, SettingError, "batch_size must be >= 1"),
        ({"maps": torch.zeros(6, 1, 8, 8)}, InputError, "keep one shape"),
        ({"maps": torch.zeros(2, 1, 8, 8)}, InputError, "one map per input"),
        ({"explainer": lambda x, t: x.sum()}, InputError, "one map per input"),
        ({"targets": torch.zeros(6, 2, dtype=torch.long)}, TargetError, "one class per input"),
    ],
)
def test_max_sensitivity_refuses_bad_arguments(batch, kwargs, error, match):
    inputs, _, targets = batch
    arguments = {"explainer": lambda x, t: x, "inputs": inputs, "targets": targets} | kwargs
    with pytest.raises(error, match=match):
        max_sensitivity(**arguments)


@pytest.mark.parametrize("metric", [sparseness, complexity])
def test_sparseness_and_complexity_refuse_what_is_not_a_batch_of_maps(metric):
    with pytest.raises(InputError, match="batch"):
        metric(torch.ones(5))
    with pytest.raises(InputError, match="floating-point"):
        metric(torch.ones(2, 5, dtype=torch.long))
