"""Display normalisation, colormaps and overlays against hand-computed values.

Grids, PNG files, charts and the HTML report are tested beside this file.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from revelio.errors import InputError
from revelio.render import COLORMAPS, colormap, normalize_map, overlay, to_display

INFERNO_ENDS = ((0.001462, 0.000466, 0.013866), (0.988362, 0.998364, 0.644924))
VIRIDIS_ENDS = ((0.267004, 0.004874, 0.329415), (0.993248, 0.906157, 0.143936))


def _rgb(image: torch.Tensor, y: int = 0, x: int = 0) -> list[float]:
    return image[..., :, y, x].reshape(-1, 3)[0].tolist()


# normalize_map ----------------------------------------------------------------------


def test_percentile_clipping_is_exact_on_a_small_map():
    maps = torch.arange(1.0, 11.0).view(1, 1, 2, 5)  # |map| = 1..10; 50th percentile = 5.5
    expected = (torch.arange(1.0, 11.0) / 5.5).clamp(max=1.0).view(1, 1, 2, 5)
    assert torch.allclose(normalize_map(maps, percentile=50), expected)
    # 99.5th of 200 values: position 0.995 * 199 = 198.005 -> 1 + 0.005 * (1000 - 1) = 5.995
    outlier = torch.ones(1, 1, 10, 20)
    outlier[0, 0, 3, 7] = 1000.0
    out = normalize_map(outlier)
    assert out[0, 0, 0, 0].item() == pytest.approx(1 / 5.995, rel=1e-5)
    assert out[0, 0, 3, 7].item() == 1.0
    assert torch.allclose(normalize_map(outlier, percentile=100), outlier / 1000.0)


def test_unsigned_shows_magnitude():
    maps = torch.tensor([[[[-4.0, -2.0, 0.0, 2.0, 4.0]]]])
    assert normalize_map(maps, percentile=100).flatten().tolist() == [1.0, 0.5, 0.0, 0.5, 1.0]


def test_signed_is_symmetric_around_one_half():
    maps = torch.tensor([[[[-2.0, -1.0, 0.0, 1.0, 2.0]]]])
    assert normalize_map(maps, percentile=100, signed=True).flatten().tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    clipped = normalize_map(torch.tensor([[[[-8.0, 0.0, 1.0, 1.0, 1.0]]]]), percentile=50, signed=True)
    assert clipped.flatten().tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]  # scale = median |map| = 1


def test_zero_maps_give_zeros_or_grey_and_no_nan():
    zeros = torch.zeros(2, 3, 4, 4)
    assert torch.equal(normalize_map(zeros), zeros)
    assert torch.equal(normalize_map(zeros, signed=True), torch.full_like(zeros, 0.5))


def test_sparse_map_falls_back_to_the_maximum():
    maps = torch.zeros(1, 1, 40, 40)  # 1 pixel in 1600: the 99.5th percentile is 0
    maps[0, 0, 5, 5] = 3.0
    maps[0, 0, 6, 6] = 1.5
    out = normalize_map(maps)
    assert out[0, 0, 5, 5].item() == 1.0 and out[0, 0, 6, 6].item() == 0.5
    assert out.sum().item() == 1.5


def test_each_example_is_scaled_on_its_own():
    generator = torch.Generator().manual_seed(1)
    maps = torch.randn(3, 3, 8, 8, generator=generator) * torch.tensor([1.0, 1000.0, 0.001]).view(3, 1, 1, 1)
    maps[2] = 0.0
    for signed in (False, True):
        batch = normalize_map(maps, signed=signed)
        alone = torch.cat([normalize_map(maps[i : i + 1], signed=signed) for i in range(3)])
        assert torch.equal(batch, alone)
    assert torch.allclose(normalize_map(maps[:1]), normalize_map(maps[:1] * 1e6))  # scale-free


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.sampled_from([1, 3]),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    q=st.floats(1.0, 100.0),
    seed=st.integers(0, 2**16),
)
def test_matches_numpy_percentile(n, c, h, w, q, seed):
    maps = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = normalize_map(maps, percentile=q)
    array = maps.numpy().reshape(n, -1)
    for i in range(n):
        scale = np.percentile(np.abs(array[i]), q)
        scale = scale if scale > 0 else np.abs(array[i]).max()
        expected = np.clip(np.abs(array[i]) / scale, 0, 1)
        np.testing.assert_allclose(out[i].flatten().numpy(), expected, rtol=1e-9, atol=1e-12)
    assert out.dtype == torch.float64 and out.min() >= 0 and out.max() <= 1


def test_keeps_device_and_accepts_integers(device):
    maps = torch.tensor([[[[0, 2, 4]]]], device=device)
    out = normalize_map(maps, percentile=100)
    assert out.device.type == torch.device(device).type and out.dtype == torch.float32
    assert out.cpu().flatten().tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(
    "maps, options, match",
    [
        (torch.zeros(4, 4), {}, "unsqueeze"),
        (torch.tensor([[[[1.0, float("nan")]]]]), {}, "NaN"),
        (torch.ones(1, 1, 2, 2), {"percentile": 0}, "percentile"),
        (torch.ones(1, 1, 2, 2), {"percentile": 101}, "percentile"),
        ([[1.0]], {}, "torch.Tensor"),
    ],
)
def test_bad_maps_fail_clearly(maps, options, match):
    with pytest.raises(InputError, match=match):
        normalize_map(maps, **options)


# to_display -------------------------------------------------------------------------


def test_heat_reduces_channels_by_magnitude_and_uses_inferno():
    maps = torch.zeros(1, 3, 1, 3)
    maps[0, 2, 0, 0] = -4.0  # the largest magnitude, negative, in the last channel
    maps[0, 0, 0, 1] = 2.0
    shown = to_display(maps, "heat", percentile=100)
    assert shown.shape == (1, 3, 1, 3)
    assert _rgb(shown, 0, 0) == pytest.approx(INFERNO_ENDS[1], abs=1e-6)
    assert _rgb(shown, 0, 2) == pytest.approx(INFERNO_ENDS[0], abs=1e-6)
    assert torch.allclose(shown[0, :, 0, 1], colormap(torch.tensor([[0.5]]), "inferno")[:, 0, 0], atol=1e-6)
    assert _rgb(to_display(maps, "heat", cmap="jet"), 0, 0) == pytest.approx([0.5, 0.0, 0.0])


def test_signed_keeps_rgb_around_grey():
    maps = torch.tensor([[[[2.0, 0.0]], [[-2.0, 0.0]], [[1.0, 0.0]]]])  # (1, 3, 1, 2)
    shown = to_display(maps, "signed", percentile=100)
    assert _rgb(shown, 0, 0) == pytest.approx([1.0, 0.0, 0.75])
    assert _rgb(shown, 0, 1) == [0.5, 0.5, 0.5]
    single = to_display(maps[:, :1], "signed", percentile=100)
    assert single.shape == (1, 3, 1, 2) and _rgb(single, 0, 0) == [1.0, 1.0, 1.0] and _rgb(single, 0, 1) == [0.5] * 3
    cool = to_display(maps[:, :1], "signed", cmap="coolwarm", percentile=100)
    assert _rgb(cool, 0, 1) == pytest.approx([0.865] * 3, abs=2e-3)


def test_gray_is_normalised_magnitude():
    maps = torch.tensor([[[[4.0, -1.0, 0.0]], [[0.0, -2.0, 0.0]]]])  # (1, 2, 1, 3)
    shown = to_display(maps, "gray", percentile=100)
    assert shown[0].permute(1, 2, 0).reshape(-1, 3).tolist() == [[1.0] * 3, [0.5] * 3, [0.0] * 3]


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(InputError, match="heat, signed, gray"):
        to_display(torch.ones(1, 1, 2, 2), "hot")
    with pytest.raises(InputError, match="1 or 3 channels"):
        to_display(torch.ones(1, 2, 2, 2), "signed")


# colormap ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, low, high",
    [
        ("inferno", *INFERNO_ENDS),
        ("viridis", *VIRIDIS_ENDS),
        ("gray", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        ("jet", (0.0, 0.0, 0.5), (0.5, 0.0, 0.0)),  # dark blue -> dark red
        ("coolwarm", (59 / 255, 76 / 255, 192 / 255), (180 / 255, 4 / 255, 38 / 255)),
    ],
)
def test_endpoints(name, low, high):
    rgb = colormap(torch.tensor([[0.0, 1.0]]), name)
    assert rgb.shape == (3, 1, 2)
    assert _rgb(rgb, 0, 0) == pytest.approx(low, abs=1e-6)
    assert _rgb(rgb, 0, 1) == pytest.approx(high, abs=1e-6)


def _luminance(rgb: torch.Tensor) -> torch.Tensor:
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("name", ["inferno", "viridis", "gray"])
def test_luminance_rises_monotonically(name):
    luminance = _luminance(colormap(torch.linspace(0, 1, 512).view(1, -1), name)[:, 0])
    assert (luminance[1:] > luminance[:-1]).all()


def test_interpolates_between_table_entries():
    values = torch.tensor([[0.5, 128 / 255, 0.25]])
    jet, viridis, gray = (colormap(values, name) for name in ("jet", "viridis", "gray"))
    assert _rgb(jet, 0, 0) == pytest.approx([0.5, 1.0, 0.5])  # halfway from (0, 1, 1) to (1, 1, 0)
    assert _rgb(viridis, 0, 1) == pytest.approx([0.127568, 0.566949, 0.550556], abs=1e-6)  # entry 128
    assert _rgb(gray, 0, 2) == pytest.approx([0.25] * 3)
    assert _rgb(colormap(torch.tensor([[0.5]]), "coolwarm")) == pytest.approx([0.865] * 3, abs=2e-3)


def test_shapes_clipping_and_nan(device):
    values = torch.tensor([[-1.0, 0.0, 2.0, float("nan")]], device=device)
    rgb = colormap(values, "viridis").cpu()
    assert torch.equal(rgb[:, :, 0], rgb[:, :, 1]) and torch.equal(rgb[:, :, 0], rgb[:, :, 3])
    assert _rgb(rgb, 0, 2) == pytest.approx(VIRIDIS_ENDS[1], abs=1e-6)
    batch = torch.rand(2, 1, 3, 4, device=device)
    assert colormap(batch).shape == (2, 3, 3, 4) and colormap(batch[0]).shape == (3, 3, 4)
    assert colormap(batch).device == batch.device
    assert torch.equal(colormap(batch)[1], colormap(batch[1, 0]))


def test_every_colormap_stays_in_range():
    values = torch.linspace(0, 1, 1001).view(1, -1)
    for name in COLORMAPS:
        rgb = colormap(values, name)
        assert rgb.min() >= 0 and rgb.max() <= 1 and rgb.dtype == torch.float32


def test_colormap_errors():
    with pytest.raises(InputError, match="jet, inferno, viridis, gray, coolwarm"):
        colormap(torch.zeros(2, 2), "rainbow")
    with pytest.raises(InputError, match=r"\(N, 1, H, W\)"):
        colormap(torch.zeros(1, 3, 2, 2))


# overlay ----------------------------------------------------------------------------


def test_alpha_zero_gives_the_image_and_one_the_colormap():
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(2, 3, 5, 6, generator=generator)
    heat = torch.rand(2, 1, 5, 6, generator=generator)
    assert torch.equal(overlay(images, heat, alpha=0.0), images)
    assert torch.allclose(overlay(images, heat, alpha=1.0, cmap="viridis"), colormap(heat, "viridis"))
    half = overlay(images, heat, alpha=0.5)
    assert torch.allclose(half, 0.5 * images + 0.5 * colormap(heat, "jet"), atol=1e-6)


def test_heat_is_resized_bilinearly():
    images = torch.zeros(1, 3, 2, 4)
    heat = torch.tensor([[[[0.0, 1.0]]]])  # (1, 1, 1, 2) -> width 4: 0, 0.25, 0.75, 1
    out = overlay(images, heat, alpha=1.0, cmap="gray")
    assert out[0, 0, 1].tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])
    assert torch.equal(out[0, 0], out[0, 2])


def test_unbatched_grey_images_and_device(device):
    image = torch.full((1, 3, 3), 0.2, device=device)  # a grey image
    out = overlay(image.expand(3, -1, -1), torch.ones(1, 3, 3, device=device), alpha=0.25, cmap="gray")
    assert out.shape == (3, 3, 3) and out.device == image.device
    assert torch.allclose(out.cpu(), torch.full((3, 3, 3), 0.75 * 0.2 + 0.25))
    grey = overlay(image.unsqueeze(0), torch.zeros(1, 1, 3, 3, device=device), alpha=0.0)
    assert grey.shape == (1, 3, 3, 3) and torch.allclose(grey.cpu(), torch.full((1, 3, 3, 3), 0.2))


@pytest.mark.parametrize(
    "images, heat, alpha, match",
    [
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), 0.5, "one channel|\\(N, 1, h, w\\)"),
        (torch.zeros(2, 3, 2, 2), torch.zeros(1, 1, 2, 2), 0.5, "one map per image"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2), 1.5, "alpha"),
        (torch.zeros(1, 4, 2, 2), torch.zeros(1, 1, 2, 2), 0.5, "images must be"),
    ],
)
def test_overlay_errors(images, heat, alpha, match):
    with pytest.raises(InputError, match=match):
        overlay(images, heat, alpha=alpha)
