"""Occlusion: maps on paper, an explicit-loop reference for every window, stride and baseline form, Captum.

On paper: a linear score ``f(x) = sum w x + b`` drops by ``sum_{i in window} w_i (x_i - b_i)``
when a window is replaced by the baseline ``b``; each element's attribution is the mean of
the drops of the windows that cover it.
"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from attribution_nets import small_cnn
from torch import nn

from revelio.attribution import Occlusion
from revelio.attribution.occlusion import sliding_windows, window_count
from revelio.errors import InputError, NonFiniteError, OptionError

# inputs (1, 2, 1, 3): channel 0 = [1, 2, 3], channel 1 = [-1, 0, 2]; class 0's weights below.
# Per-pixel contributions sum_c w x: [1 - 0.5, -2 + 0, 6 - 2] = [0.5, -2, 4].
X = [[[[1.0, 2.0, 3.0]], [[-1.0, 0.0, 2.0]]]]
W0 = [[[1.0, -1.0, 2.0]], [[0.5, 1.0, -1.0]]]


@pytest.fixture(scope="module")
def linear_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 2)).double()
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0] = torch.tensor(W0).flatten()  # class 1 has zero weights
        model[1].bias.copy_(torch.tensor([0.7, -0.2], dtype=torch.float64))
    return model


def t64(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# (window, strides, baseline, map of class 0), every number worked out by hand from the contributions
ON_PAPER = [
    # one pixel over both channels: each pixel's contribution, in both channels
    ((1, 1), 1, 0.0, [[[0.5, -2, 4]], [[0.5, -2, 4]]]),
    # one element: w x itself
    ((1, 1, 1), 1, 0.0, [[[1, -2, 6]], [[-0.5, 0, -2]]]),
    # width 2, stride 1: windows {0, 1} drop -1.5 and {1, 2} drop 2; the middle pixel is their mean 0.25
    ((1, 2), 1, 0.0, [[[-1.5, 0.25, 2]], [[-1.5, 0.25, 2]]]),
    # width 2, stride 2: windows {0, 1} (-1.5) and {2}, cut at the border (4)
    ((1, 2), 2, 0.0, [[[-1.5, -1.5, 4]], [[-1.5, -1.5, 4]]]),
    # baseline 1: w (x - 1) per element
    ((1, 1, 1), 1, 1.0, [[[0, -1, 4]], [[-1, -1, -1]]]),
    # the whole input at once: f(x) - f(0) = 2.5 everywhere
    ((2, 1, 3), 1, 0.0, [[[2.5, 2.5, 2.5]], [[2.5, 2.5, 2.5]]]),
]


@pytest.mark.parametrize(("window", "strides", "baseline", "expected"), ON_PAPER)
def test_linear_model_on_paper(linear_model, window, strides, baseline, expected):
    maps = Occlusion(linear_model).attribute(t64(X), target=0, window=window, strides=strides, baseline=baseline)
    torch.testing.assert_close(maps, t64([expected]), rtol=0, atol=1e-14)


def test_linear_model_probability_score_on_paper(linear_model):
    # class 1 has zero weights: f = [w.x + 0.7, -0.2]; occluding pixel j changes only the first logit
    x = t64(X)
    maps = Occlusion(linear_model).attribute(x, target=1, window=(1, 1), strides=1, score="probability")
    contributions = t64([0.5, -2.0, 4.0])

    def p1(first_logit):
        return torch.softmax(torch.stack([first_logit, torch.full_like(first_logit, -0.2)]), dim=0)[1]

    expected = p1(torch.tensor(2.5 + 0.7, dtype=torch.float64)) - p1(2.5 + 0.7 - contributions)
    torch.testing.assert_close(maps, expected.view(1, 1, 1, 3).expand(1, 2, 1, 3), rtol=0, atol=1e-15)


def test_vector_inputs():
    # (N, D) inputs: a window of 2 features with stride 1 over w = [1, 2, 3, 4], x = [1, 1, 1, 1]
    model = nn.Linear(4, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(t64([[1.0, 2.0, 3.0, 4.0]]))
    maps = Occlusion(model).attribute(torch.ones(1, 4, dtype=torch.float64), target=0, window=2, strides=1)
    # windows drop 3, 5, 7; elements 1 and 2 are covered twice: [3, 4, 6, 7]
    torch.testing.assert_close(maps, t64([[3.0, 4.0, 6.0, 7.0]]), rtol=0, atol=1e-14)


# --- an independent reference: explicit loops over the window positions -----------------


def reference_occlusion(model, x, classes, window, strides, baseline, probability=False):
    """Replace each window in turn (positions 0, s, 2s, ... until a window reaches the end, cut there)."""

    def starts(extent, size, step):
        found, start = [], 0
        while True:
            found.append(start)
            if start + size >= extent:
                return found
            start += step

    def score(inputs):
        with torch.no_grad():
            out = model(inputs)
        out = out.softmax(dim=1) if probability else out
        return out[torch.arange(len(classes)), torch.as_tensor(classes)]

    base = torch.broadcast_to(torch.as_tensor(baseline, dtype=x.dtype), x.shape)
    clean = score(x)
    total, counts = torch.zeros_like(x), torch.zeros_like(x[0])
    ranges = [starts(e, w, s) for e, w, s in zip(x.shape[1:], window, strides)]
    for corner in itertools.product(*ranges):
        region = (slice(None), *(slice(c, c + w) for c, w in zip(corner, window)))
        occluded = x.clone()
        occluded[region] = base[region]
        drop = clean - score(occluded)
        total[region] += drop.view(-1, *([1] * (x.ndim - 1)))
        counts[region[1:]] += 1
    return total / counts


N = 2
FORMS = [
    # (window, strides, baseline): the window and strides forms, each against the same reference
    ("default", None, None, 0.0),
    ("int-window", 3, None, 0.0),
    ("spatial-window", (3, 2), (2, 1), 0.0),
    ("full-window", (1, 3, 3), (1, 2, 2), 0.0),
    ("full-window-channel-step", (2, 4, 3), (1, 2, 3), 0.0),
    ("int-strides", (4, 4), 3, 0.0),
    ("whole-input", (3, 7, 9), 1, 0.0),
    ("number-baseline", (3, 3), 2, -0.7),
    ("full-baseline", (3, 3), 2, torch.randn(N, 3, 7, 9, dtype=torch.float64)),
    ("example-baseline", (3, 3), 2, torch.randn(3, 7, 9, dtype=torch.float64)),
    ("channel-baseline", (3, 3), 2, torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64).view(3, 1, 1)),
    ("per-example-baseline", (3, 3), 2, torch.tensor([0.25, -0.5], dtype=torch.float64).view(N, 1, 1, 1)),
]


@pytest.mark.parametrize("probability", [False, True], ids=["logit", "probability"])
@pytest.mark.parametrize(("window", "strides", "baseline"), [f[1:] for f in FORMS], ids=[f[0] for f in FORMS])
def test_every_form_matches_the_loop_reference(window, strides, baseline, probability):
    model = small_cnn(torch.float64, seed=2)
    x = torch.randn(N, 3, 7, 9, dtype=torch.float64)
    full_window, full_strides = sliding_windows((3, 7, 9), window, strides)
    expected = reference_occlusion(model, x, [1, 4], full_window, full_strides, baseline, probability)
    maps = Occlusion(model).attribute(x, [1, 4], window=window, strides=strides, baseline=baseline,
                                      score="probability" if probability else "logit")
    torch.testing.assert_close(maps, expected, rtol=1e-10, atol=1e-13)


def test_windows_and_strides_as_captum_takes_them():
    assert sliding_windows((3, 64, 64)) == ((3, 8, 8), (3, 4, 4))
    assert sliding_windows((3, 224, 224)) == ((3, 28, 28), (3, 14, 14))
    assert sliding_windows((3, 10, 10), 4) == ((3, 4, 4), (3, 2, 2))
    assert sliding_windows((3, 10, 10), (1, 4, 4), 2) == ((1, 4, 4), (1, 2, 2))
    assert sliding_windows((3, 10, 10), [5, 3], [2, 3]) == ((3, 5, 3), (3, 2, 3))
    assert sliding_windows((3, 10, 10), (4,)) == ((3, 10, 4), (3, 5, 2))  # the dims left out are spanned whole
    assert sliding_windows((3, 10, 10), (4,), (3,)) == ((3, 10, 4), (3, 10, 3))
    assert sliding_windows((12,)) == ((2,), (1,))
    assert window_count((3, 64, 64)) == 225 and window_count((3, 224, 224)) == 225
    assert window_count((3, 10, 10), (3, 4), 3) == 4 * 3  # rows 0, 3, 6 and 9 (cut at 10); columns 0, 3, 6


def test_k_classes_and_a_callable_from_the_same_passes():
    model = small_cnn(torch.float64, seed=2)
    x = torch.randn(N, 3, 6, 6, dtype=torch.float64)
    options = {"window": (2, 2), "strides": 2}
    maps = Occlusion(model).attribute(x, [[0, 3], [2, 2]], **options)
    for k, classes in enumerate([[0, 2], [3, 2]]):
        torch.testing.assert_close(maps[:, k], reference_occlusion(model, x, classes, (3, 2, 2), (3, 2, 2), 0.0),
                                   rtol=1e-10, atol=1e-13)
    margin = Occlusion(model).attribute(x, lambda out: out[:, 2] - out[:, 0], **options)
    difference = Occlusion(model).attribute(x, 2, **options) - Occlusion(model).attribute(x, 0, **options)
    torch.testing.assert_close(margin, difference, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("internal_batch_size", [1, 2, 5, 9, 10_000])
def test_internal_batch_size_does_not_change_the_map(internal_batch_size):
    model = small_cnn(torch.float64, seed=1)
    x = torch.randn(3, 3, 6, 6, dtype=torch.float64)
    options = {"window": (3, 3), "strides": 1, "baseline": 0.3}
    auto = Occlusion(model).attribute(x, "top2", **options)
    sizes = []
    handle = model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        maps = Occlusion(model).attribute(x, "top2", internal_batch_size=internal_batch_size, **options)
    finally:
        handle.remove()
    torch.testing.assert_close(maps, auto, rtol=1e-12, atol=1e-14)
    assert sizes[0] == 3  # the clean batch, then every window of every example once, in passes of at most the size
    assert sum(sizes[1:]) == 3 * window_count((3, 6, 6), (3, 3), 1) == 3 * 16
    assert max(sizes[1:]) <= internal_batch_size


def test_forward_only_without_a_graph():
    model = small_cnn(seed=1)
    grad_modes = []
    handle = model.register_forward_pre_hook(lambda module, args: grad_modes.append(torch.is_grad_enabled()))
    try:
        maps = Occlusion(model).attribute(torch.randn(2, 3, 8, 8, requires_grad=True), 1, window=4, strides=4)
    finally:
        handle.remove()
    assert grad_modes and not any(grad_modes)
    assert not maps.requires_grad


# --- Captum, on three torchvision architectures -----------------------------------------

captum_attr = pytest.importorskip("captum.attr")

CAPTUM_CASES = [
    ("resnet18", (3, 8, 8), (3, 4, 4), 0.0),
    ("resnet18", (1, 8, 8), (1, 8, 8), 0.5),
    ("densenet121", (3, 8, 8), (3, 4, 4), 0.0),
    ("vgg11", (3, 12, 12), (3, 10, 10), -0.25),
]


@pytest.mark.parametrize(("arch", "window", "strides", "baseline"), CAPTUM_CASES)
def test_matches_captum(arch, window, strides, baseline, request):
    model = request.getfixturevalue(arch)
    x = torch.randn(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = captum_attr.Occlusion(model).attribute(
            x.clone(), target=[3, 7], sliding_window_shapes=window, strides=strides, baselines=baseline,
            perturbations_per_eval=32,
        )
    maps = Occlusion(model).attribute(x, [3, 7], window=window, strides=strides, baseline=baseline,
                                      internal_batch_size=64)
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-4 * scale)


# --- bad options: refused before any forward pass ---------------------------------------

BAD_OPTIONS = [
    ({"window": (9, 9)}, OptionError,
     r"option 'window' \(9, 9\) is larger than the inputs \(3, 8, 8\) in dim 2 \(9 > 8\)"),
    ({"window": (4, 4, 4)}, OptionError, r"larger than the inputs .* in dim 1 \(4 > 3\)"),
    ({"window": 0}, OptionError, "option 'window' needs positive sizes, got 0"),
    ({"window": (2, -1)}, OptionError, "positive sizes"),
    ({"window": (1, 2, 2, 2)}, OptionError, r"has 4 sizes for examples of shape \(3, 8, 8\); give one to 3"),
    ({"window": ()}, OptionError, "has 0 sizes"),
    ({"window": "big"}, OptionError, "option 'window' takes None, an int or a tuple of ints, got 'big'"),
    ({"window": (2.5, 2)}, OptionError, "option 'window' takes None, an int or a tuple of ints"),
    ({"window": True}, OptionError, "option 'window' takes None, an int"),
    ({"window": (2, 2), "strides": 0}, OptionError, "option 'strides' needs positive sizes, got 0"),
    ({"window": (2, 2), "strides": (3, 1)}, OptionError,
     r"option 'strides' \(3, 1\) skips elements: in dim 2 the stride 3 is larger than the window 2"),
    ({"window": (2, 2), "strides": (1, 1, 1, 1)}, OptionError, "option 'strides' .* has 4 sizes"),
    ({"baseline": torch.zeros(5)}, OptionError,
     r"option 'baseline' of shape \(5,\) does not broadcast to the inputs' shape \(2, 3, 8, 8\); .*per channel "
     r"\(3, 1, 1\)"),
    ({"baseline": "grey"}, OptionError, "option 'baseline' takes a number or a tensor, got 'grey'"),
    ({"baseline": None}, OptionError, "option 'baseline' takes a number or a tensor, got None"),
    ({"score": "softmax"}, OptionError, "option 'score' takes one of 'logit', 'probability', got 'softmax'"),
    ({"internal_batch_size": 0}, InputError, "internal_batch_size must be a positive int"),
    ({"internal_batch_size": 2.0}, OptionError, "option 'internal_batch_size' takes"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_OPTIONS, ids=[str(case[0]) for case in BAD_OPTIONS])
def test_bad_options_are_refused_before_any_forward_pass(kwargs, error, match):
    model = small_cnn()
    with pytest.raises(error, match=match):
        Occlusion(model).attribute(torch.randn(2, 3, 8, 8), **kwargs)
    assert model.forward_calls == 0


def test_scores_that_turn_non_finite_under_occlusion_are_refused():
    class Standardising(nn.Module):  # divides by the input's spread: a constant (all-baseline) input gives NaN
        def forward(self, x):
            flat = x.flatten(1)
            return ((flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True))[:, :3]

    with pytest.raises(NonFiniteError, match="NaN or infinite for perturbed copies"):
        Occlusion(Standardising()).attribute(torch.randn(1, 1, 2, 2), 0, window=(1, 2, 2), strides=1)
