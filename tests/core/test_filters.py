"""Gaussian and bilateral blur against scipy and OpenCV, on every available device."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter

from revelio.core.filters import PADDING_MODES, bilateral_blur, gaussian_blur, gaussian_kernel1d, pad_axis

# -- Gaussian blur: scipy.ndimage.gaussian_filter over the spatial axes -------------------


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize(("sigma", "truncate"), [(0.5, 4.0), (1.3, 4.0), (2.0, 2.5), (7.0, 4.0)])
def test_gaussian_blur_equals_scipy(device, mode, sigma, truncate):
    images = torch.rand(2, 3, 17, 23, generator=torch.Generator().manual_seed(1))
    expected = gaussian_filter(images.double().numpy(), sigma=(0, 0, sigma, sigma), truncate=truncate, mode=mode)
    result = gaussian_blur(images.to(device), sigma, truncate, mode)
    assert result.device.type == torch.device(device).type and result.dtype == torch.float32
    np.testing.assert_allclose(result.cpu().numpy(), expected, atol=1e-5, rtol=0)


def test_gaussian_kernel_has_scipys_taps_and_sums_to_one():
    # scipy: radius = int(truncate * sigma + 0.5)
    assert gaussian_kernel1d(1.0, 4.0).numel() == 9
    assert gaussian_kernel1d(0.3, 4.0).numel() == 3
    assert gaussian_kernel1d(2.5, 2.0).numel() == 11
    assert torch.isclose(gaussian_kernel1d(1.7).sum(), torch.tensor(1.0))


def test_gaussian_blur_with_sigma_zero_is_the_identity():
    images = torch.rand(1, 3, 5, 5)
    assert torch.equal(gaussian_blur(images, 0.0), images)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": -1.0}, "sigma must be"),
        ({"sigma": float("nan")}, "sigma must be"),
        ({"sigma": 1.0, "truncate": 0.0}, "truncate must be"),
        ({"sigma": 1.0, "mode": "reflect101"}, "mode must be one of"),
    ],
)
def test_gaussian_blur_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gaussian_blur(torch.rand(1, 3, 8, 8), **kwargs)


def test_filters_reject_non_image_tensors():
    with pytest.raises(ValueError, match=r"Tensor\[N, C, H, W\]"):
        gaussian_blur(torch.rand(3, 8, 8), 1.0)
    with pytest.raises(ValueError, match=r"Tensor\[N, C, H, W\]"):
        bilateral_blur(torch.ones(1, 3, 8, 8, dtype=torch.long), 3, 1.0, 1.0)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_padding_matches_numpy_for_pads_wider_than_the_axis(mode):
    row = torch.arange(4.0).view(1, 1, 1, 4)
    numpy_mode = {
        "reflect": "symmetric",
        "mirror": "reflect",
        "nearest": "edge",
        "wrap": "wrap",
        "constant": "constant",
    }
    expected = np.pad(row.numpy(), ((0, 0), (0, 0), (0, 0), (9, 6)), mode=numpy_mode[mode])
    np.testing.assert_array_equal(pad_axis(row, 3, 9, 6, mode).numpy(), expected)


# -- Bilateral blur: cv2.bilateralFilter on float32 images ---------------------------------
#
# Convention mapping (checked here): cv2.bilateralFilter(src, d, sigmaColor, sigmaSpace)
# == bilateral_blur(images, kernel_size=d, sigma_space=sigmaSpace, sigma_color=sigmaColor)
# with OpenCV's window (the disc of radius d // 2), colour distance (sum of absolute
# channel differences) and border (BORDER_DEFAULT = reflect-101, our "mirror"). OpenCV
# reads its colour weights for float images from a lookup table with linear
# interpolation, hence a tolerance rather than equality.


def _cv2_bilateral(images: torch.Tensor, d: int, sigma_color: float, sigma_space: float) -> np.ndarray:
    out = []
    for image in images.cpu().numpy():
        hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
        filtered = cv2.bilateralFilter(hwc, d, sigma_color, sigma_space)
        out.append(filtered.reshape(hwc.shape).transpose(2, 0, 1))
    return np.stack(out)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize(("sigma_space", "sigma_color"), [(0.8, 0.05), (2.0, 0.2), (3.0, 1.0)])
@pytest.mark.parametrize("offsets_per_pass", [None, 4])
def test_bilateral_blur_equals_opencv(device, channels, kernel_size, sigma_space, sigma_color, offsets_per_pass):
    images = torch.rand(2, channels, 21, 26, generator=torch.Generator().manual_seed(kernel_size))
    images[:, :, :, 13:] += 0.5  # a step edge, where the colour weight matters most
    expected = _cv2_bilateral(images, kernel_size, sigma_color, sigma_space)
    result = (
        bilateral_blur(images.to(device), kernel_size, sigma_space, sigma_color, offsets_per_pass=offsets_per_pass)
        .cpu()
        .numpy()
    )
    r = kernel_size // 2
    np.testing.assert_allclose(result[..., r:-r, r:-r], expected[..., r:-r, r:-r], atol=1e-5, rtol=0)
    np.testing.assert_allclose(result, expected, atol=1e-4, rtol=0)  # borders too: same reflect-101


def _bilateral_reference(image: np.ndarray, d: int, sigma_space: float, sigma_color: float, l2: bool) -> np.ndarray:
    """A float64 loop over pixels, written from the definition."""
    c, h, w = image.shape
    r = d // 2
    padded = np.pad(image, ((0, 0), (r, r), (r, r)), mode="reflect")
    out = np.empty_like(image)
    for y in range(h):
        for x in range(w):
            total, weights = np.zeros(c), 0.0
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if dy * dy + dx * dx > r * r:
                        continue
                    q = padded[:, y + r + dy, x + r + dx]
                    diff = q - image[:, y, x]
                    dist = np.sqrt((diff**2).sum()) if l2 else np.abs(diff).sum()
                    wgt = np.exp(-(dy * dy + dx * dx) / (2 * sigma_space**2) - dist**2 / (2 * sigma_color**2))
                    total += wgt * q
                    weights += wgt
            out[:, y, x] = total / weights
    return out


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_bilateral_blur_equals_a_float64_reference(distance):
    image = torch.rand(1, 3, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    expected = _bilateral_reference(image[0].numpy(), 5, 1.5, 0.3, l2=distance == "l2")
    result = bilateral_blur(image, 5, 1.5, 0.3, distance=distance)[0].numpy()
    np.testing.assert_allclose(result, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((4, 1.0, 1.0), {}, "kernel_size must be an odd integer"),
        ((0, 1.0, 1.0), {}, "kernel_size must be an odd integer"),
        ((3, 0.0, 1.0), {}, "sigma_space must be"),
        ((3, 1.0, -1.0), {}, "sigma_color must be"),
        ((3, 1.0, 1.0), {"distance": "linf"}, "distance must be"),
        ((3, 1.0, 1.0), {"offsets_per_pass": 0}, "offsets_per_pass must be"),
    ],
)
def test_bilateral_blur_rejects_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bilateral_blur(torch.rand(1, 3, 8, 8), *args, **kwargs)


# -- properties over shapes and batch sizes ----------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 4),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    sigma=st.floats(0.0, 3.0),
    kernel_size=st.sampled_from([1, 3, 5]),
)
def test_blurs_act_per_image_and_keep_constants(n, c, h, w, sigma, kernel_size):
    generator = torch.Generator().manual_seed(n * 1000 + c * 100 + h * 10 + w)
    images = torch.rand(n, c, h, w, generator=generator, dtype=torch.float64)
    for blur in (
        lambda x: gaussian_blur(x, sigma),
        lambda x: bilateral_blur(x, kernel_size, 1.0 + sigma, 0.2),
    ):
        batch = blur(images)
        assert batch.shape == images.shape
        singles = torch.cat([blur(images[i : i + 1]) for i in range(n)])
        torch.testing.assert_close(batch, singles, atol=1e-12, rtol=0)
        constant = torch.full((n, c, h, w), 0.3, dtype=torch.float64)
        torch.testing.assert_close(blur(constant), constant, atol=1e-12, rtol=0)
        assert batch.min() >= images.min() - 1e-12 and batch.max() <= images.max() + 1e-12  # averages
