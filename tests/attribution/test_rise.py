"""RISE: a map on paper, the exact expectation with every mask, a loop reference, the masks, a planted region.

On paper, ``f(x) = 2 x0 + 3 x1 + 1`` on a 1x2 image ``x = [1, 1]``: the four binary masks
00, 01, 10, 11 score 1, 4, 3, 6 (as logits); with ``p = 1/2``, pixel 0's map is
``(3 + 6) / (4 * 0.5) = 4.5`` and pixel 1's ``(4 + 6) / 2 = 5``. In general, with every
binary mask of n pixels, ``S(λ) = E[f(x M) | M(λ) = 1] = b + (w . x) / 2 + w_λ x_λ / 2``.
"""

from __future__ import annotations

import math

import pytest
import torch
from attribution_nets import small_cnn
from torch import nn

from revelio.attribution import RISE, rise_masks
from revelio.errors import InputError, OptionError


def every_mask(height: int, width: int) -> torch.Tensor:
    """All ``2^(h w)`` binary masks, ``(2^(h w), 1, h, w)``."""
    pixels = height * width
    return (torch.arange(2**pixels)[:, None] >> torch.arange(pixels) & 1).double().view(-1, 1, height, width)


def linear(weights, bias=0.0) -> nn.Module:
    weights = torch.as_tensor(weights, dtype=torch.float64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(weights.shape[1], weights.shape[0])).double()
    with torch.no_grad():
        model[1].weight.copy_(weights)
        model[1].bias.fill_(bias)
    return model


def test_on_paper():
    model = linear([[2.0, 3.0], [0.0, 0.0]], bias=1.0)
    maps = RISE(model).attribute(torch.ones(1, 1, 1, 2, dtype=torch.float64), 0, masks=every_mask(1, 2), p=0.5,
                                 score="logit")
    torch.testing.assert_close(maps, torch.tensor([[[[4.5, 5.0]]]], dtype=torch.float64), rtol=0, atol=1e-15)


def test_every_mask_gives_the_conditional_expectation_exactly():
    model = linear(torch.randn(3, 2 * 2 * 3, dtype=torch.float64), bias=0.4)
    x = torch.randn(2, 2, 2, 3, dtype=torch.float64)
    maps = RISE(model).attribute(x, [0, 2], masks=every_mask(2, 3), p=0.5, score="logit")
    w = model[1].weight.detach()[[0, 2]].view_as(x)
    contributions = (w * x).sum(dim=1, keepdim=True)  # a mask keeps or drops a pixel in every channel
    expected = 0.4 + (w * x).sum(dim=(1, 2, 3)).view(-1, 1, 1, 1) / 2 + contributions / 2
    torch.testing.assert_close(maps, expected, rtol=1e-12, atol=1e-12)


# --- an independent reference: explicit loops over masks and examples ----------------------


def reference_rise(model, x, classes, masks, p, probability):
    """``sum_i f_c(x * M_i) M_i / (N p)``, one mask and one example at a time."""
    maps = torch.zeros(x.shape[0], 1, *x.shape[2:], dtype=x.dtype)
    for n in range(x.shape[0]):
        for mask in masks:
            with torch.no_grad():
                out = model(x[n : n + 1] * mask)
            out = out.softmax(dim=1) if probability else out
            maps[n] += out[0, classes[n]] * mask
    return maps / (len(masks) * p)


@pytest.mark.parametrize("probability", [True, False], ids=["probability", "logit"])
@pytest.mark.parametrize(("grid", "p"), [(3, 0.5), ((2, 4), 0.3), (7, 1.0)])
def test_matches_the_loop_reference_with_the_same_masks(grid, p, probability):
    model = small_cnn(torch.float64, seed=4)
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    score = "probability" if probability else "logit"
    maps = RISE(model).attribute(x, [1, 3], masks=24, grid=grid, p=p, score=score, seed=5)
    masks = rise_masks(24, (9, 11), grid=grid, p=p, seed=5, dtype=torch.float64)
    torch.testing.assert_close(maps, reference_rise(model, x, [1, 3], masks, p, probability), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "mobilenet_v3_small"])
def test_torchvision_models_match_the_loop_reference(arch, request):
    model = request.getfixturevalue(arch)
    x = torch.randn(2, 3, 32, 32)
    maps = RISE(model).attribute(x, [3, 7], masks=8, seed=1, internal_batch_size=16)
    reference = reference_rise(model, x, [3, 7], rise_masks(8, (32, 32), seed=1), 0.5, probability=True)
    torch.testing.assert_close(maps, reference, rtol=1e-4, atol=1e-5 * reference.abs().max().item())


def test_k_classes_and_a_callable_from_the_same_passes():
    model = small_cnn(torch.float64, seed=4)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    masks = rise_masks(16, (8, 8), grid=3, seed=2, dtype=torch.float64)
    maps = RISE(model).attribute(x, [[0, 4], [2, 2]], masks=masks, score="logit")
    assert maps.shape == (2, 2, 1, 8, 8)
    for k, classes in enumerate([[0, 2], [4, 2]]):
        torch.testing.assert_close(maps[:, k], reference_rise(model, x, classes, masks, 0.5, False), rtol=1e-10,
                                   atol=1e-13)
    margin = RISE(model).attribute(x, lambda out: out[:, 4] - out[:, 0], masks=masks)  # used as it returns it
    difference = RISE(model).attribute(x, 4, masks=masks, score="logit") - RISE(model).attribute(
        x, 0, masks=masks, score="logit")
    torch.testing.assert_close(margin, difference, rtol=1e-10, atol=1e-13)


# --- the masks ---------------------------------------------------------------------------


def test_masks_match_scikit_image_upsampling():
    # Drawn as documented: the cells, then the row shifts, then the column shifts, from one
    # generator; upsampled by scikit-image with edge clamping (mode="edge") and cropped.
    transform = pytest.importorskip("skimage.transform")
    count, size, grid, p, seed = 6, (20, 13), (4, 3), 0.4, 11
    cell = (math.ceil(20 / 4), math.ceil(13 / 3))
    generator = torch.Generator().manual_seed(seed)
    cells = (torch.rand(count, 1, *grid, generator=generator) < p).double().numpy()
    rows = torch.randint(0, cell[0], (count,), generator=generator)
    columns = torch.randint(0, cell[1], (count,), generator=generator)
    masks = rise_masks(count, size, grid=grid, p=p, seed=seed, dtype=torch.float64)
    for i in range(count):
        up = transform.resize(cells[i, 0], ((grid[0] + 1) * cell[0], (grid[1] + 1) * cell[1]), order=1,
                              mode="edge", anti_aliasing=False)
        expected = torch.from_numpy(up[rows[i] : rows[i] + 20, columns[i] : columns[i] + 13].copy())
        torch.testing.assert_close(masks[i, 0], expected, rtol=0, atol=1e-12)


def test_masks_are_seeded_smooth_and_keep_a_share_p():
    masks = rise_masks(400, (28, 28), grid=7, p=0.3, seed=3)
    assert masks.shape == (400, 1, 28, 28) and masks.dtype == torch.float32
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1
    assert abs(float(masks.mean()) - 0.3) < 0.02  # 400 * 49 cells: the share kept is p within a few SE
    assert torch.equal(masks, rise_masks(400, (28, 28), grid=7, p=0.3, seed=3))
    assert not torch.equal(masks, rise_masks(400, (28, 28), grid=7, p=0.3, seed=4))
    steps = (masks[..., 1:] - masks[..., :-1]).abs()
    assert float(steps.max()) <= 1 / (28 / 7 * 8 / 7) + 1e-6  # bilinear: at most one cell's rise per cell width
    assert torch.equal(rise_masks(3, (8, 8), p=1.0), torch.ones(3, 1, 8, 8))


def test_seeded_masks_equal_the_same_masks_given():
    model = small_cnn(torch.float64, seed=4)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    drawn = RISE(model).attribute(x, "top2", masks=20, grid=3, seed=9)
    given = rise_masks(20, (8, 8), grid=3, seed=9, dtype=torch.float64)
    torch.testing.assert_close(RISE(model).attribute(x, "top2", masks=given), drawn, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(RISE(model).attribute(x, "top2", masks=given[:, 0]), drawn, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("internal_batch_size", [1, 2, 5, 7, 10_000])
def test_internal_batch_size_does_not_change_the_map(internal_batch_size):
    model = small_cnn(torch.float64, seed=1)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    auto = RISE(model).attribute(x, [0, 1, 2], masks=10, grid=3)
    sizes = []
    handle = model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        maps = RISE(model).attribute(x, [0, 1, 2], masks=10, grid=3, internal_batch_size=internal_batch_size)
    finally:
        handle.remove()
    torch.testing.assert_close(maps, auto, rtol=1e-12, atol=1e-15)
    assert sizes[0] == 3 and sum(sizes[1:]) == 3 * 10 and max(sizes[1:]) <= internal_batch_size


def test_forward_only_without_a_graph():
    model = small_cnn(seed=1)
    grad_modes = []
    handle = model.register_forward_pre_hook(lambda module, args: grad_modes.append(torch.is_grad_enabled()))
    try:
        maps = RISE(model).attribute(torch.randn(2, 3, 8, 8, requires_grad=True), 1, masks=8)
    finally:
        handle.remove()
    assert grad_modes and not any(grad_modes)
    assert not maps.requires_grad


# --- a planted answer: a score that reads one region ----------------------------------------


class RegionMean(nn.Module):
    """Class 0 scores the input's mean over rows 8..15, columns 16..23 (one cell of a 4 x 4 grid); class 1 is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        region = x[:, :, 8:16, 16:24].mean(dim=(1, 2, 3))
        return torch.stack([region, torch.zeros_like(region)], dim=1)


def test_the_map_concentrates_on_the_region_the_score_reads():
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[8:16, 16:24] = True
    far = torch.ones(32, 32, dtype=torch.bool)
    far[:24, 8:] = False  # more than a cell away from the region
    maps = RISE(RegionMean()).attribute(torch.ones(2, 3, 32, 32), 0, masks=500, grid=4, score="logit")[:, 0]
    # far from the region a kept pixel says nothing about the score: the map is E[f] = E[M] = p = 0.5 there ...
    assert abs(float(maps[:, far].mean()) - 0.5) < 0.05
    # ... inside, a kept pixel means the region's cells were more likely kept: clearly higher
    assert float(maps[:, inside].mean()) > float(maps[:, far].mean()) + 0.1
    peak = maps.flatten(1).argmax(dim=1)
    assert bool(inside.flatten()[peak].all())


# --- bad options: refused before any forward pass ---------------------------------------

BAD_OPTIONS = [
    ({"masks": 0}, OptionError, "option 'masks' must be at least 1, got 0"),
    ({"masks": -5}, OptionError, "option 'masks' must be at least 1"),
    ({"masks": 10.0}, OptionError, r"option 'masks' takes an int \(how many\) or a tensor of masks, got 10.0"),
    ({"masks": True}, OptionError, "option 'masks' takes an int"),
    ({"masks": torch.rand(4, 1, 7, 8)}, OptionError,
     r"option 'masks' must be \(M, 1, H, W\) or \(M, H, W\) with \(H, W\) = \(8, 8\)"),
    ({"masks": torch.rand(4, 3, 8, 8)}, OptionError, r"got shape \(4, 3, 8, 8\)"),
    ({"masks": torch.rand(0, 1, 8, 8)}, OptionError, "option 'masks' holds no mask"),
    ({"masks": torch.rand(4, 8, 8) + 1}, OptionError, r"option 'masks' must hold values in \[0, 1\]"),
    ({"masks": torch.full((4, 8, 8), float("nan"))}, OptionError, r"must hold values in \[0, 1\]"),
    ({"grid": 0}, OptionError, "option 'grid' needs at least 1 cell per side, got 0"),
    ({"grid": (3, 0)}, OptionError, "at least 1 cell per side"),
    ({"grid": (3, 3, 3)}, OptionError, r"option 'grid' takes an int or a pair of ints \(rows, columns\), got \(3, 3, 3\)"),
    ({"grid": 3.5}, OptionError, "option 'grid' takes an int or a pair of ints"),
    ({"p": 0}, OptionError, r"option 'p' must be in \(0, 1\] \(the probability of keeping a cell\), got 0"),
    ({"p": 1.5}, OptionError, r"option 'p' must be in \(0, 1\]"),
    ({"p": -0.1}, OptionError, r"option 'p' must be in \(0, 1\]"),
    ({"p": "half"}, OptionError, "option 'p' takes a float, got 'half'"),
    ({"score": "logits"}, OptionError, "option 'score' takes one of 'logit', 'probability', got 'logits'"),
    ({"seed": 1.5}, OptionError, "option 'seed' takes an int, got 1.5"),
    ({"internal_batch_size": 0}, InputError, "internal_batch_size must be a positive int"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_OPTIONS, ids=[str(case[0])[:40] for case in BAD_OPTIONS])
def test_bad_options_are_refused_before_any_forward_pass(kwargs, error, match):
    model = small_cnn()
    with pytest.raises(error, match=match):
        RISE(model).attribute(torch.randn(2, 3, 8, 8), **kwargs)
    assert model.forward_calls == 0


def test_inputs_that_are_not_images_are_refused():
    model = nn.Linear(8, 2)
    with pytest.raises(InputError, match=r"need inputs \(N, C, H, W\), got shape \(2, 8\)"):
        RISE(model).attribute(torch.randn(2, 8))
