"""Similarity measures against hand-computed values, scipy, and a direct implementation of SSIM."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from revelio.errors import InputError
from revelio.eval.similarity import constant, pearson, rank, spearman, ssim


def test_spearman_hand_computed():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    b = torch.tensor([[1.0, 3.0, 2.0, 4.0]])
    # 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60
    assert spearman(a, b).item() == pytest.approx(0.8)
    assert spearman(a, -a).item() == pytest.approx(-1.0)


def test_spearman_with_ties_uses_average_ranks():
    a = torch.tensor([[1.0, 1.0, 2.0, 3.0]])  # ranks 1.5, 1.5, 3, 4
    b = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert rank(a).tolist() == [[1.5, 1.5, 3.0, 4.0]]
    assert spearman(a, b).item() == pytest.approx(3 / math.sqrt(10))  # 4.5 / sqrt(4.5 * 5)


def test_absolute_spearman_ignores_the_sign():
    a = torch.tensor([[-4.0, 1.0, 2.0, 3.0]])
    b = torch.tensor([[4.0, 1.0, 2.0, 3.0]])
    assert spearman(a, b, absolute=True).item() == pytest.approx(1.0)
    assert spearman(a, b).item() == pytest.approx(-0.2)  # ranks 1,2,3,4 vs 4,1,2,3: 1 - 6 * 12 / 60


def test_pearson_hand_computed():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    b = torch.tensor([[1.0, 3.0, 2.0, 4.0], [2.0, 4.0, 6.0, 8.0]])
    assert pearson(a, b).tolist() == pytest.approx([0.8, 1.0])


def test_constant_maps_give_nan_not_zero():
    flat = torch.zeros(2, 1, 4, 4)
    other = torch.rand(2, 1, 4, 4)
    assert constant(flat).tolist() == [True, True]
    assert torch.isnan(spearman(flat, other)).all()
    assert torch.isnan(pearson(other, flat)).all()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), p=st.integers(3, 40), levels=st.integers(2, 6), seed=st.integers(0, 1000))
def test_rank_and_spearman_match_scipy(n, p, levels, seed):
    generator = torch.Generator().manual_seed(seed)
    a = torch.randint(0, levels, (n, p), generator=generator).double()  # many ties
    b = torch.randn(n, p, generator=generator, dtype=torch.float64)
    ours = spearman(a, b)
    for i in range(n):
        assert np.allclose(rank(a)[i].numpy(), scipy.stats.rankdata(a[i].numpy()))
        if constant(a[i : i + 1]).item():
            assert math.isnan(ours[i].item())
        else:
            assert ours[i].item() == pytest.approx(scipy.stats.spearmanr(a[i], b[i]).statistic, abs=1e-10)
            assert pearson(a, b)[i].item() == pytest.approx(scipy.stats.pearsonr(a[i], b[i]).statistic, abs=1e-10)


def _ssim_direct(x: np.ndarray, y: np.ndarray, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> float:
    """SSIM from the formula of Wang et al. 2004, window by window, in plain numpy."""
    offsets = np.arange(window) - window // 2
    weights = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    weights /= weights.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for top in range(x.shape[0] - window + 1):
        for left in range(x.shape[1] - window + 1):
            px, py = x[top : top + window, left : left + window], y[top : top + window, left : left + window]
            mx, my = (weights * px).sum(), (weights * py).sum()
            vx, vy = (weights * (px - mx) ** 2).sum(), (weights * (py - my) ** 2).sum()
            cov = (weights * (px - mx) * (py - my)).sum()
            values.append(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_matches_the_formula_window_by_window():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(3, 16, 18, generator=generator, dtype=torch.float64)
    b = (0.6 * a + 0.4 * torch.rand(3, 16, 18, generator=generator, dtype=torch.float64)).clamp(0, 1)
    ours = ssim(a, b)
    for i in range(3):
        assert ours[i].item() == pytest.approx(_ssim_direct(a[i].numpy(), b[i].numpy()), abs=1e-10)


def test_ssim_hand_computed_for_flat_images():
    # flat images: no variance, no covariance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b = torch.full((1, 12, 12), 0.2), torch.full((1, 12, 12), 0.6)
    c1 = 0.01**2
    assert ssim(a, b).item() == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1), rel=1e-6)
    x = torch.rand(2, 3, 16, 16)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0])


def test_ssim_matches_scikit_image_when_installed():
    metrics = pytest.importorskip("skimage.metrics")
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(24, 20, generator=generator, dtype=torch.float64)
    b = (a + 0.3 * torch.rand(24, 20, generator=generator, dtype=torch.float64)).clamp(0, 1)
    theirs = metrics.structural_similarity(
        a.numpy(), b.numpy(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )
    assert ssim(a[None], b[None]).item() == pytest.approx(theirs, abs=1e-8)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ssim(torch.rand(1, 8, 8), torch.rand(1, 8, 8)), "smaller window_size"),
        (lambda: ssim(torch.rand(1, 16, 16), torch.rand(1, 16, 15)), "one shape"),
        (lambda: spearman(torch.rand(2, 4), torch.rand(2, 5)), "one shape"),
        (lambda: pearson(torch.rand(4), torch.rand(4)), "batch"),
    ],
)
def test_bad_inputs_say_what_to_do(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_hog_matches_scikit_image():
    feature = pytest.importorskip("skimage.feature")
    from revelio.eval import hog

    generator = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 40, 56, generator=generator, dtype=torch.float64)
    maps[1] = 0.0
    maps[2] = torch.outer(torch.arange(40.0), torch.arange(56.0)).double() / 500
    ours = hog(maps)
    for index in range(3):
        reference = torch.from_numpy(feature.hog(maps[index].numpy()))
        assert ours[index].shape == reference.shape
        assert torch.allclose(ours[index], reference, atol=1e-9)


def test_hog_similarity_is_one_for_equal_maps_and_nan_for_constant_or_tiny_ones():
    from revelio.eval import hog_similarity

    maps = torch.rand(2, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(hog_similarity(maps, maps), torch.ones(2, dtype=maps.dtype))
    assert torch.isnan(hog_similarity(maps, torch.zeros_like(maps))).all()
    assert torch.isnan(hog_similarity(maps[:, :8, :8], maps[:, :8, :8])).all()
