"""Integrated gradients: quadrature rules, integrals by hand, completeness, baselines, internal batches, Captum."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from attribution_nets import HandNet, assert_any_internal_batch_size_agrees, forward_batch_sizes, small_cnn
from torch import nn

from revelio.attribution import IntegratedGradients
from revelio.core.quadrature import QUADRATURE_RULES, quadrature
from revelio.errors import InputError

RULES = list(QUADRATURE_RULES)

# --- the quadrature rules, on paper ---------------------------------------------------------

# n = 4: nodes and weights worked out by hand
HAND_RULES = {
    "riemann_left": ([0, 1 / 4, 2 / 4, 3 / 4], [1 / 4] * 4),
    "riemann_right": ([1 / 4, 2 / 4, 3 / 4, 1], [1 / 4] * 4),
    "riemann_middle": ([1 / 8, 3 / 8, 5 / 8, 7 / 8], [1 / 4] * 4),
    "riemann_trapezoid": ([0, 1 / 3, 2 / 3, 1], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
}


@pytest.mark.parametrize("rule", list(HAND_RULES))
def test_riemann_nodes_and_weights_by_hand(rule):
    nodes, weights = quadrature(rule, 4)
    expected_nodes, expected_weights = HAND_RULES[rule]
    torch.testing.assert_close(nodes, torch.tensor(expected_nodes, dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(weights, torch.tensor(expected_weights, dtype=torch.float64), rtol=0, atol=1e-15)


def test_gauss_legendre_matches_numpy_and_is_quick_for_many_nodes():
    for steps in (1, 3, 50, 160):  # SciPy switches method above 150 nodes
        nodes, weights = quadrature("gausslegendre", steps)
        expected_nodes, expected_weights = np.polynomial.legendre.leggauss(steps)  # as Captum computes them
        torch.testing.assert_close(nodes, torch.from_numpy((expected_nodes + 1) / 2), rtol=0, atol=1e-14)
        torch.testing.assert_close(weights, torch.from_numpy(expected_weights / 2), rtol=0, atol=1e-13)
    nodes, weights = quadrature("gausslegendre", 2000)
    assert float(weights.sum()) == pytest.approx(1, abs=1e-13) and float((weights * nodes**3).sum()) == pytest.approx(
        1 / 4, abs=1e-13)
    weights[0] = 7  # a fresh tensor each call: the cached rule stays as it was
    assert float(quadrature("gausslegendre", 2000)[1][0]) < 1e-5


def test_gauss_legendre_with_two_nodes_by_hand():
    # on [-1, 1]: nodes -+1/sqrt(3), weights 1, 1; on [0, 1]: (1 -+ 1/sqrt(3)) / 2, weights 1/2
    nodes, weights = quadrature("gausslegendre", 2)
    root = 1 / np.sqrt(3)
    torch.testing.assert_close(nodes, torch.tensor([(1 - root) / 2, (1 + root) / 2], dtype=torch.float64))
    torch.testing.assert_close(weights, torch.tensor([0.5, 0.5], dtype=torch.float64))


@pytest.mark.parametrize("rule", RULES)
def test_weights_sum_to_one_and_nodes_lie_in_the_interval(rule):
    for steps in [2, 5, 50] if rule == "riemann_trapezoid" else [1, 2, 5, 50]:
        _check_rule(rule, steps)


def _check_rule(rule, steps):
    nodes, weights = quadrature(rule, steps)
    assert nodes.shape == weights.shape == (steps,)
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-14)
    assert bool((nodes >= 0).all() and (nodes <= 1).all() and (weights > 0).all())


def test_each_rule_integrates_what_it_should_exactly():
    powers = torch.arange(14, dtype=torch.float64)
    exact = 1 / (powers + 1)  # integral_0^1 t^p dt
    for steps in (3, 6):
        nodes, weights = quadrature("gausslegendre", steps)
        integrals = (weights[:, None] * nodes[:, None] ** powers).sum(0)
        degree = 2 * steps - 1  # Gauss-Legendre with n nodes is exact up to degree 2n - 1
        torch.testing.assert_close(integrals[: degree + 1], exact[: degree + 1], rtol=1e-13, atol=0)
        assert abs(float(integrals[degree + 1] - exact[degree + 1])) > 1e-8
    for rule in ("riemann_middle", "riemann_trapezoid"):  # exact on straight lines, not on t^2
        nodes, weights = quadrature(rule, 5)
        assert float((weights * nodes).sum()) == pytest.approx(0.5, abs=1e-15)
        assert float((weights * nodes**2).sum()) != pytest.approx(1 / 3, abs=1e-4)


def test_left_and_right_sums_bracket_an_increasing_integrand():
    for steps in (4, 16, 64):
        (left_nodes, left_weights), (right_nodes, right_weights) = (quadrature(rule, steps) for rule in
                                                                    ("riemann_left", "riemann_right"))
        left, right = float((left_weights * left_nodes**2).sum()), float((right_weights * right_nodes**2).sum())
        assert left < 1 / 3 < right
        assert right - left == pytest.approx(1 / steps, rel=1e-12)


# --- known answers ---------------------------------------------------------------------------

# Flatten + Linear(4 -> 2) on inputs (N, 2, 1, 2): the gradient of class c is row c of W
W = torch.tensor([[1.0, -2.0, 3.0, -4.0], [0.5, 1.0, -1.5, 2.0]], dtype=torch.float64)


@pytest.fixture(scope="module")
def linear_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(W)
        model[1].bias.copy_(torch.tensor([0.3, -0.1]))
    return model


def _linear_inputs() -> torch.Tensor:
    return torch.tensor([[[[1.0, 2.0]], [[-1.0, 0.5]]], [[[0.0, 3.0]], [[2.0, -2.0]]]], dtype=torch.float64)


BASELINES = {
    "zero": lambda x: 0.0,
    "number": lambda x: -0.5,
    "int": lambda x: 1,
    "one-for-all": lambda x: torch.tensor([[[0.5, -1.0]], [[2.0, 0.0]]], dtype=torch.float64),  # (C, H, W)
    "per-example": lambda x: torch.arange(8, dtype=torch.float64).view(2, 2, 1, 2) / 4,  # (N, C, H, W)
    "per-channel": lambda x: torch.tensor([0.25, -0.75], dtype=torch.float64).view(1, 2, 1, 1),
}


@pytest.mark.parametrize("baseline", list(BASELINES))
@pytest.mark.parametrize("rule", RULES)
def test_linear_model_gives_x_minus_baseline_times_w_exactly(linear_model, rule, baseline):
    x = _linear_inputs()
    start = BASELINES[baseline](x)
    ig = IntegratedGradients(linear_model)
    maps = ig.attribute(x, target=[0, 1], baseline=start, steps=3, method=rule)
    expected = (x - torch.as_tensor(start, dtype=torch.float64)) * W.view(2, 2, 1, 2)
    torch.testing.assert_close(maps, expected, rtol=1e-14, atol=1e-14)
    delta = ig.convergence_delta(x, maps, target=[0, 1], baseline=start)
    assert delta.shape == (2,) and float(delta.abs().max()) < 1e-13


def test_linear_model_several_classes_and_top_class(linear_model):
    x = _linear_inputs()
    ig = IntegratedGradients(linear_model)
    maps = ig.attribute(x, target=[[0, 1], [1, 0]], steps=2)
    assert maps.shape == (2, 2, 2, 1, 2)
    torch.testing.assert_close(maps[0, 1], x[0] * W[1].view(2, 1, 2), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(maps[1, 1], x[1] * W[0].view(2, 1, 2), rtol=1e-14, atol=1e-14)
    delta = ig.convergence_delta(x, maps, target=[[0, 1], [1, 0]])
    assert delta.shape == (2, 2) and float(delta.abs().max()) < 1e-13
    # logits: example 0 -> [1.3 + 1 - 2 ... ] worked out as W x + b; the top class is what None explains
    top = (x.flatten(1) @ W.T + torch.tensor([0.3, -0.1], dtype=torch.float64)).argmax(1)
    torch.testing.assert_close(ig.attribute(x, steps=2), ig.attribute(x, target=top, steps=2), rtol=0, atol=0)


# HandNet: out = w2 . relu(W1 x), W1 = [[1, -1], [2, 1], [1, 1]], w2 = [2, -3, 1], x = [1, 2].
# From the baseline x' = [0, -1]: h(x') = [1, -1, -1], h(x) = [-1, 4, 3], so along the path
# h(t) = [1 - 2t, -1 + 5t, -1 + 4t]: unit 0 is active for t < 1/2, unit 1 for t > 1/5, unit 2 for t > 1/4.
# The integrated gradient is sum_j w2_j W1_j * (active fraction of unit j)
#   = 2 (1/2) [1, -1] - 3 (4/5) [2, 1] + 1 (3/4) [1, 1] = [-3.05, -2.65],
# times x - x' = [1, 3]: IG = [-3.05, -7.95], summing to f(x) - f(x') = -9 - 2 = -11.
HAND_BASELINE = [[0.0, -1.0]]
HAND_IG = [[-3.05, -7.95]]


def test_relu_net_integral_computed_piecewise_by_hand():
    net = HandNet()
    x = torch.tensor(HandNet.X, dtype=torch.float64)
    baseline = torch.tensor(HAND_BASELINE, dtype=torch.float64)
    ig = IntegratedGradients(net)
    # the middle rule with 20 nodes counts each unit's active fraction exactly (no node on a kink)
    maps = ig.attribute(x, target=0, baseline=baseline, steps=20, method="riemann_middle")
    torch.testing.assert_close(maps, torch.tensor(HAND_IG, dtype=torch.float64), rtol=1e-13, atol=1e-13)
    assert float(ig.convergence_delta(x, maps, target=0, baseline=baseline).abs()) < 1e-12
    # the left rule with 7 nodes k/7 counts 4/7, 5/7, 5/7 active: 2 (4/7) [1, -1] - 3 (5/7) [2, 1] + (5/7) [1, 1]
    # = [-17/7, -18/7], times [1, 3]: [-17/7, -54/7], which misses completeness by 71/7 - 11 = 6/7
    left = ig.attribute(x, target=0, baseline=baseline, steps=7, method="riemann_left")
    torch.testing.assert_close(left, torch.tensor([[-17 / 7, -54 / 7]], dtype=torch.float64), rtol=1e-13, atol=1e-13)
    assert float(ig.convergence_delta(x, left, target=0, baseline=baseline)) == pytest.approx(-71 / 7 + 11, abs=1e-12)


@pytest.mark.parametrize("rule", RULES)
def test_completeness_delta_shrinks_as_steps_grow(rule):
    net = HandNet()
    x = torch.tensor(HandNet.X, dtype=torch.float64)
    baseline = torch.tensor(HAND_BASELINE, dtype=torch.float64)
    ig = IntegratedGradients(net)
    deltas = []
    for steps in (7, 70, 700):
        maps = ig.attribute(x, target=0, baseline=baseline, steps=steps, method=rule)
        deltas.append(float(ig.convergence_delta(x, maps, target=0, baseline=baseline).abs()))
    assert deltas[0] > 1e-3  # the kinks make a few nodes miss: the check can fail
    assert deltas[2] < deltas[0] / 5 and deltas[2] < 0.03


def test_completeness_on_a_small_cnn_with_batchnorm():
    model = small_cnn(torch.float64, seed=2)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ig = IntegratedGradients(model)
    gaps = []
    for steps in (4, 64):
        maps = ig.attribute(x, target=[0, 2, 4], steps=steps)
        gaps.append(float(ig.convergence_delta(x, maps, target=[0, 2, 4]).abs().max()))
    with torch.no_grad():
        scale = float((model(x) - model(torch.zeros_like(x))).abs().max())
    assert gaps[1] < 0.01 * scale and gaps[1] < gaps[0]


# --- internal batches and baselines --------------------------------------------------------------


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid"])
def test_any_internal_batch_size_gives_the_same_map(rule):
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    ig = IntegratedGradients(small_cnn(torch.float64, seed=4))
    assert_any_internal_batch_size_agrees(
        lambda size: ig.attribute(x, [[1, 2], [0, 4], [3, 3]], steps=5, method=rule, internal_batch_size=size),
        sizes=(None, 1, 2, 3, 4, 7, 100), reference_size=15,
    )


def test_internal_batches_bound_the_forward_batch():
    model = small_cnn()
    ig = IntegratedGradients(model)
    x = torch.randn(3, 3, 8, 8)
    sizes = forward_batch_sizes(model, lambda: ig.attribute(x, 1, steps=10, internal_batch_size=4))
    assert sizes == [3] + [4] * 7 + [2]  # the clean pass, then 30 (example, step) items four at a time


def test_baseline_forms_equal_the_full_tensor():
    model = small_cnn(torch.float64, seed=1)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    ig = IntegratedGradients(model)
    per_channel = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64).view(1, 3, 1, 1)
    full = per_channel.expand_as(x).clone()
    expected = ig.attribute(x, target=[1, 3], baseline=full, steps=4)
    for baseline in (per_channel, per_channel[0], per_channel.expand(2, 3, 6, 6)):
        torch.testing.assert_close(ig.attribute(x, target=[1, 3], baseline=baseline, steps=4), expected, rtol=0, atol=0)
    torch.testing.assert_close(ig.attribute(x, target=1, baseline=0.0, steps=3), ig.attribute(x, target=1, steps=3))


# --- errors before any work ------------------------------------------------------------------------

BAD_OPTIONS = [
    ({"steps": 0}, ValueError, r"steps must be an int >= 1 for 'gausslegendre', got 0"),
    ({"steps": 2.5}, ValueError, "option 'steps' takes an int, got 2.5"),
    ({"steps": True}, ValueError, "option 'steps' takes an int, got True"),
    ({"steps": 1, "method": "riemann_trapezoid"}, ValueError, r"steps must be an int >= 2 for 'riemann_trapezoid'"),
    ({"method": "riemann"}, ValueError, r"option 'method' takes one of 'riemann_left', .*'gausslegendre', got 'riemann'"),
    ({"internal_batch_size": 0}, InputError, "internal_batch_size must be a positive int"),
    ({"baseline": "black"}, TypeError, "baseline must be a number or a tensor broadcastable to the inputs, got str"),
    ({"baseline": True}, TypeError, "got bool"),
    ({"baseline": float("nan")}, InputError, "must be finite"),
    ({"baseline": torch.zeros(3, 3, 3)}, InputError, r"broadcast to the inputs' shape \(2, 3, 8, 8\), got \(3, 3, 3\)"),
    ({"baseline": torch.zeros(4, 3, 8, 8)}, InputError, r"got \(4, 3, 8, 8\); give one baseline"),
    ({"baseline": torch.zeros(2, 3, 8, 8, device="meta")}, InputError, r"baseline is on meta .* baseline\.to\('cpu'\)"),
    ({"baseline": torch.zeros(2, 3, 8, 8, dtype=torch.bool)}, InputError, "real numbers, got torch.bool"),
]


@pytest.mark.parametrize(("options", "error", "match"), BAD_OPTIONS, ids=[str(case[0])[:40] for case in BAD_OPTIONS])
def test_bad_options_are_refused_before_any_forward_pass(options, error, match):
    model = small_cnn()
    with pytest.raises(error, match=match):
        IntegratedGradients(model).attribute(torch.randn(2, 3, 8, 8), target=1, **options)
    assert model.forward_calls == 0


def test_convergence_delta_refuses_maps_of_another_shape():
    model = small_cnn()
    ig = IntegratedGradients(model)
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(InputError, match=r"shape \(2, 3, 3, 8, 8\), got \(2, 3, 8, 8\)"):
        ig.convergence_delta(x, torch.zeros(2, 3, 8, 8), target="top3")
    with pytest.raises(InputError, match="got list"):
        ig.convergence_delta(x, [0.0], target=1)
    assert model.forward_calls == 0


def test_convergence_delta_leaves_the_model_as_found():
    model = small_cnn()
    model.train()
    x = torch.randn(2, 3, 8, 8)
    ig = IntegratedGradients(model)
    maps = ig.attribute(x, target=1, steps=3)
    ig.convergence_delta(x, maps, target=1)
    assert all(m.training for m in model.modules()) and all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


# --- Captum, on three torchvision architectures ---------------------------------------------------

captum_attr = pytest.importorskip("captum.attr")


def _close(actual, expected, rtol=1e-4):
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=1e-5 * scale)


def _captum_ig(model, x, baseline, rule, steps, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return captum_attr.IntegratedGradients(model).attribute(
            x.clone(), baselines=baseline, target=[3, 7], n_steps=steps, method=rule, **kwargs
        )


ARCH_RULES = [("resnet18", rule) for rule in RULES] + [("densenet121", "gausslegendre"),
                                                       ("densenet121", "riemann_trapezoid"),
                                                       ("vgg11", "riemann_middle")]


@pytest.mark.parametrize(("arch", "rule"), ARCH_RULES)
def test_matches_captum(arch, rule, request):
    model = request.getfixturevalue(arch)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 32, generator=generator)
    baseline = torch.randn(2, 3, 32, 32, generator=generator) * 0.5  # off the origin: a curved path
    steps = 6
    theirs = _captum_ig(model, x, baseline, rule, steps)
    if rule == "riemann_trapezoid":  # Captum's trapezoid weights sum to (n - 1) / n
        theirs = theirs * steps / (steps - 1)
    ours = IntegratedGradients(model).attribute(x, target=[3, 7], baseline=baseline, steps=steps, method=rule,
                                                internal_batch_size=5)
    _close(ours, theirs)


def test_convergence_delta_matches_captums(resnet18):
    x = torch.randn(2, 3, 32, 32)
    ig = IntegratedGradients(resnet18)
    maps = ig.attribute(x, target=[3, 7], baseline=0.5, steps=4, method="riemann_left")
    theirs, delta = _captum_ig(resnet18, x, 0.5, "riemann_left", 4, return_convergence_delta=True)
    _close(maps, theirs)
    torch.testing.assert_close(ig.convergence_delta(x, maps, target=[3, 7], baseline=0.5), delta, rtol=1e-3, atol=1e-5)
