"""Parameterizations: each against an independent numpy reference, round trips, seeds, any channel count,
the planted pattern recovered by each, batches equal single runs, the model untouched, bad input refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from featureviz_nets import small_cnn
from torch import nn

from revelio.errors import InputError, SettingError, SettingTypeError
from revelio.featureviz import (
    IMAGENET_COLOR_CORRELATION,
    MACO,
    ActivationMaximization,
    Decorrelated,
    Fourier,
    Jitter,
    Pixels,
    RandomRotate,
    as_parameterization,
    channel,
    color_matrix_from_images,
    neuron,
)
from revelio.featureviz.spectrum import natural_magnitude, spectrum_scale

SIZES = [(12, 16), (9, 11)]  # even and odd widths: the Nyquist column is there or not
CPU = torch.device("cpu")


def _all(channels: int = 3) -> dict[str, object]:
    return {
        "pixels": Pixels(),
        "decorrelated": Decorrelated(),
        "fourier": Fourier(),
        "fourier-decorrelated": Fourier(color="auto"),
        "maco": MACO(),
    }


def _numpy_scale(size: tuple[int, int], decay: float) -> np.ndarray:
    """The 1/f scaling written out again in numpy: w = 1 / max(f, 1 / max(H, W))^decay over its full-spectrum RMS."""
    height, width = size
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    weights = 1.0 / np.maximum(np.sqrt(fy**2 + fx**2), 1.0 / max(height, width)) ** decay
    counts = np.full(width // 2 + 1, 2.0)  # inner columns stand twice in the full spectrum
    counts[0] = 0.5  # self-paired columns: irfft2 keeps their Hermitian part, half the energy of random coefficients
    if width % 2 == 0:
        counts[-1] = 0.5
    return weights / np.sqrt((weights**2 * counts).sum() / (height * width))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _lucid_matrix() -> np.ndarray:
    matrix = np.asarray(IMAGENET_COLOR_CORRELATION, dtype=np.float64)
    return matrix / np.max(np.linalg.norm(matrix, axis=0))


# -- each against numpy ------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_fourier_renders_the_scaled_inverse_rfft_as_numpy_computes_it(size, decay):
    parameters = torch.randn(2, 3, size[0], size[1] // 2 + 1, 2, dtype=torch.float64)
    image = Fourier(decay).render(parameters, size)
    coefficients = parameters[..., 0].numpy() + 1j * parameters[..., 1].numpy()
    expected = _sigmoid(np.fft.irfft2(coefficients * _numpy_scale(size, decay), s=size, norm="ortho"))
    np.testing.assert_allclose(image.numpy(), expected, atol=1e-12, rtol=0)


def test_fourier_linear_squash_and_decorrelated_colour_as_numpy_computes_them():
    size = (8, 10)
    parameters = torch.randn(1, 3, 8, 6, 2, dtype=torch.float64)
    values = np.fft.irfft2((parameters[..., 0].numpy() + 1j * parameters[..., 1].numpy()) * _numpy_scale(size, 1.0),
                           s=size, norm="ortho")
    linear = Fourier(squash="linear").render(parameters, size)
    np.testing.assert_allclose(linear.numpy(), 0.5 + values, atol=1e-12)
    colored = Fourier(color="imagenet").render(parameters, size)
    np.testing.assert_allclose(colored.numpy(), _sigmoid(np.einsum("ck,nkhw->nchw", _lucid_matrix(), values)), atol=1e-12)


def test_decorrelated_is_the_lucid_matrix_then_a_sigmoid():
    z = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    image = Decorrelated().render(z, (5, 7))
    np.testing.assert_allclose(image.numpy(), _sigmoid(np.einsum("ck,nkhw->nchw", _lucid_matrix(), z.numpy())), atol=1e-12)
    # one channel: "auto" is the identity
    grey = torch.randn(2, 1, 5, 7, dtype=torch.float64)
    np.testing.assert_allclose(Decorrelated().render(grey, (5, 7)).numpy(), _sigmoid(grey.numpy()), atol=1e-12)


def test_maco_is_the_fixed_magnitude_with_the_optimised_phase():
    size = (10, 12)
    magnitude = torch.rand(3, 10, 7, dtype=torch.float64) + 0.1
    phase = torch.rand(2, 3, 10, 7, dtype=torch.float64) * 6.28 - 3.14
    maco = MACO(magnitude, color=None, squash="linear")
    image = maco.render(phase, size)
    expected = 0.5 + np.fft.irfft2(magnitude.numpy() * np.exp(1j * phase.numpy()), s=size, norm="ortho")
    np.testing.assert_allclose(image.numpy(), expected, atol=1e-12)
    # Whatever the phase, the image's spectrum keeps the magnitude, but in the first and (even widths) last
    # column, whose bins pair up as complex conjugates: there irfft2 keeps the Hermitian part only.
    spectrum = np.abs(np.fft.rfft2(image.numpy() - 0.5, norm="ortho"))
    np.testing.assert_allclose(spectrum[..., 1:-1], np.broadcast_to(magnitude.numpy(), spectrum.shape)[..., 1:-1],
                               rtol=1e-9)
    # parameterize gives back the phase (in the inner columns, where irfft2 keeps it)
    recovered = maco.parameterize(image)[..., 1:-1]
    np.testing.assert_allclose(np.exp(1j * recovered.numpy()), np.exp(1j * phase[..., 1:-1].numpy()), atol=1e-9)


def test_the_natural_magnitude_gives_the_pixel_standard_deviation_asked():
    magnitude = natural_magnitude(3, (32, 32), std=0.7)
    phases = torch.rand(64, 3, 32, 17, dtype=torch.float64) * 6.283
    values = MACO(magnitude, color=None, squash="linear").render(phases, (32, 32)) - 0.5
    assert abs(float(values.std()) - 0.7) < 0.02
    assert float(magnitude[:, 0, 0].abs().max()) == 0.0  # no mean


def test_the_spectrum_scale_gives_unit_pixel_variance_for_unit_coefficients():
    size = (24, 20)
    generator = torch.Generator().manual_seed(0)
    coefficients = torch.randn(4000, 24, 11, 2, generator=generator, dtype=torch.float64) / 2**0.5
    scaled = torch.view_as_complex(coefficients * spectrum_scale(size, 1.0)[..., None])
    pixels = torch.fft.irfft2(scaled, s=size, norm="ortho")
    assert abs(float(pixels.var()) - 1.0) < 0.05


# -- round trips and determinism --------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "make",
    [
        Pixels,
        Decorrelated,
        lambda: Decorrelated(squash="linear"),
        Fourier,
        lambda: Fourier(squash="linear", decay=0.5),
        lambda: Fourier(color="auto"),
        lambda: Fourier(color="auto", squash="linear"),
    ],
    ids=["pixels", "decorrelated", "decorrelated-linear", "fourier", "fourier-linear", "fourier-decorrelated",
         "fourier-decorrelated-linear"],
)
def test_images_round_trip_through_the_parameters(make, size):
    parameterization = make()
    images = torch.rand(2, 3, *size, dtype=torch.float64) * 0.98 + 0.01
    back = parameterization.render(parameterization.parameterize(images), size)
    torch.testing.assert_close(back, images, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", ["pixels", "decorrelated", "fourier", "fourier-decorrelated", "maco"])
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_start_parameters_are_a_function_of_the_seed_alone(name, channels):
    parameterization = as_parameterization(name)
    size = (9, 12)
    batch = parameterization.initial([4, 7, 4], channels, size, CPU, torch.float32)
    again = parameterization.initial([4, 7, 4], channels, size, CPU, torch.float32)
    single = parameterization.initial([7], channels, size, CPU, torch.float32)
    assert torch.equal(batch, again) and torch.equal(batch[1:2], single) and torch.equal(batch[0], batch[2])
    assert not torch.equal(batch[0], batch[1])
    images = parameterization.render(batch, size)
    assert images.shape == (3, channels, *size)
    assert torch.equal(images, parameterization.render(batch.clone(), size))  # the image: a function of the parameters
    assert 0 <= float(images.min()) and float(images.max()) <= 1


def test_the_colour_matrix_from_images_is_the_square_root_of_their_covariance():
    generator = torch.Generator().manual_seed(1)
    mixing = torch.tensor([[1.0, 0.2, 0.0], [0.9, 0.0, 0.3], [0.8, -0.2, 0.1]], dtype=torch.float64)
    noise = torch.randn(4, 3, 16, 16, generator=generator, dtype=torch.float64)
    images = torch.einsum("ck,nkhw->nchw", mixing, noise)
    matrix = color_matrix_from_images(images)
    pixels = images.transpose(0, 1).reshape(3, -1)
    covariance = torch.cov(pixels)
    ratio = (matrix @ matrix.T) / covariance
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0, 0])), rtol=1e-6, atol=0)
    assert float(torch.linalg.vector_norm(matrix, dim=0).max()) == pytest.approx(1.0)


def test_maco_from_images_estimates_their_magnitude_and_refuses_another_size():
    images = torch.rand(6, 3, 20, 20)
    maco = MACO.from_images(images, size=(16, 16), color=None, squash="linear")
    assert maco.magnitude.shape == (3, 16, 9)
    resized = torch.nn.functional.interpolate(images.double(), size=(16, 16), mode="bilinear", antialias=True)
    expected = np.abs(np.fft.rfft2(resized.numpy() - 0.5, norm="ortho")).mean(axis=0)
    np.testing.assert_allclose(maco.magnitude.numpy(), expected, rtol=1e-5)
    with pytest.raises(SettingError, match=r"MACO.from_images\(images, size\)"):
        ActivationMaximization(small_cnn(), parameterization=maco, image_size=24, mean=None, std=None)


# -- in the loop ---------------------------------------------------------------------------------


def _planted_model() -> tuple[nn.Module, torch.Tensor]:
    """One valid 9x9 convolution whose kernel is a planted grey Gabor patch (wavelength 8 pixels), no bias."""
    coordinates = torch.arange(9, dtype=torch.float32) - 4
    y, x = coordinates[:, None], coordinates[None, :]
    along = x * math.cos(math.pi / 6) + y * math.sin(math.pi / 6)
    wave = torch.exp(-(x**2 + y**2) / 18) * torch.cos(2 * math.pi * along / 8)
    pattern = wave.expand(3, 9, 9) - wave.mean()
    model = nn.Sequential(nn.Conv2d(3, 1, 9))
    with torch.no_grad():
        model[0].weight[0] = pattern
        model[0].bias.zero_()
    return model.eval(), pattern


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten().double(), b.flatten().double()]))[0, 1])


@pytest.mark.parametrize("name", ["pixels", "decorrelated", "fourier", "fourier-decorrelated", "maco"])
def test_every_parameterization_recovers_the_planted_pattern(name):
    """The centre unit's maximising 9x9 patch is the planted kernel (up to the [0, 1] bounds, which saturate it:
    sign(pattern) itself correlates 0.88 with it); the start image does not correlate with it."""
    model, pattern = _planted_model()
    am = ActivationMaximization(model, parameterization=name, image_size=27, mean=(0.5,) * 3, std=(0.5,) * 3,
                                step="adam", lr=0.05)
    start = am.parameterization.render(am.parameterization.initial([3], 3, (27, 27), CPU, torch.float32), (27, 27))
    assert abs(_pearson(start[0, :, 9:18, 9:18], pattern)) < 0.3
    result = am.visualize(neuron("0", 0), steps=64, seed=3)
    assert _pearson(result.display[0, :, 9:18, 9:18], pattern) >= 0.8
    assert result.history[-1, 0] > result.history[0, 0]


@pytest.mark.parametrize("name", ["pixels", "decorrelated", "fourier", "fourier-decorrelated", "maco"])
def test_a_batch_equals_single_runs_for_every_parameterization(name):
    model = small_cnn().double()
    am = ActivationMaximization(model, parameterization=name, image_size=20, step="adam", lr=0.05,
                                regularizers=[Jitter(2, mode="crop"), RandomRotate(5.0)])
    units = [1, 4, 1]
    batch = am.visualize(channel("6", units), steps=5, seed=3)
    for i, unit in enumerate(units):
        single = am.visualize(channel("6", unit), steps=5, seed=3 + i)
        torch.testing.assert_close(batch.images[i : i + 1], single.images, atol=1e-9, rtol=1e-9)
        torch.testing.assert_close(batch.history[:, i : i + 1], single.history, atol=1e-9, rtol=1e-9)
        if batch.transparency is not None:
            torch.testing.assert_close(batch.transparency[i : i + 1], single.transparency, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("name", ["fourier-decorrelated", "maco"])
def test_the_model_is_left_as_it_was_found(name):
    model = small_cnn()
    model.train()
    model[3].weight.requires_grad_(False)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    am = ActivationMaximization(model, parameterization=name, image_size=16, regularizers=[RandomRotate(5.0)])
    am.visualize(channel("6", [0, 1]), steps=3)
    assert all(module.training for module in model.modules())
    assert [p.requires_grad for p in model.parameters()] == [name != "3.weight" for name, _ in model.named_parameters()]
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(value, model.state_dict()[key]) for key, value in before.items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_maco_gives_a_transparency_map_where_the_unit_looks():
    model, _ = _planted_model()
    am = ActivationMaximization(model, parameterization="maco", image_size=27, mean=(0.5,) * 3, std=(0.5,) * 3,
                                step="adam", lr=0.1)
    result = am.visualize(neuron("0", 0), steps=8)
    transparency = result.transparency
    assert transparency.shape == (1, 1, 27, 27) and float(transparency.max()) == pytest.approx(1.0)
    inside = transparency[0, 0, 9:18, 9:18]  # the centre unit's 9x9 receptive field
    outside = transparency.clone()
    outside[..., 9:18, 9:18] = 0
    assert float(outside.abs().max()) == 0.0
    # the accumulated |gradient| is the kernel's magnitude summed over channels, times the steps
    expected = _planted_model()[1].abs().sum(0)
    torch.testing.assert_close(inside, expected / expected.max(), atol=1e-5, rtol=1e-5)
    plain = ActivationMaximization(model, image_size=27).visualize(neuron("0", 0), steps=2)
    assert plain.transparency is None


@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("name", ["pixels", "decorrelated", "fourier", "fourier-decorrelated", "maco"])
def test_models_of_any_channel_count(channels, name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3)).eval()
    am = ActivationMaximization(model, parameterization=name, image_size=12, channels=channels, mean=None, std=None)
    result = am.visualize(channel("2", [0, 3]), steps=4)
    assert result.display.shape == (2, channels, 12, 12)
    assert bool((result.history[-1] > result.history[0]).all())
    normalised = ActivationMaximization(model, parameterization=name, image_size=12, mean=[0.5] * channels,
                                        std=[0.25] * channels)
    assert normalised.visualize(channel("2", 1), steps=2).images.shape == (1, channels, 12, 12)


# -- refused before any work ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: as_parameterization("wavelet"), SettingError, "choose from pixels"),
        (lambda: as_parameterization(3), SettingTypeError, r"a name \(pixels, .*\) or a Parameterization"),
        (lambda: Pixels((0.5, 0.2)), SettingError, "noise_range"),
        (lambda: Fourier(decay=-1.0), SettingError, "decay"),
        (lambda: Fourier(squash="tanh"), SettingError, "squash"),
        (lambda: Decorrelated(color="srgb"), SettingError, "color must be"),
        (lambda: MACO(torch.full((3, 4, 3), -1.0)), SettingError, "non-negative"),
        (lambda: MACO(torch.ones(4, 3)), SettingError, r"Tensor\[C, H, W // 2 \+ 1\]"),
        (lambda: MACO.from_images(torch.ones(4, 3)), InputError, r"Tensor\[N, C, H, W\]"),
    ],
)
def test_bad_parameterizations_are_refused_when_built(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("parameterization", "channels", "match"),
    [
        (Decorrelated(color="imagenet"), 1, "for 3 channels"),
        (Fourier(color=torch.eye(3)), 4, "4x4 matrix"),
        (Fourier(color=[[1.0, 1.0], [1.0, 1.0]]), 2, "singular"),
        (MACO(torch.ones(1, 16, 9)), 1, "need \\(1, 12, 7\\)"),
    ],
)
def test_a_parameterization_that_does_not_fit_the_model_is_refused_before_any_forward(parameterization, channels, match):
    model = nn.Sequential(nn.Conv2d(channels, 2, 3)).eval()
    calls = []
    model[0].register_forward_hook(lambda *args: calls.append(1))
    with pytest.raises(SettingError, match=match):
        am = ActivationMaximization(model, parameterization=parameterization, image_size=12, channels=channels,
                                    mean=None, std=None)
        am.visualize(channel("0", 0), steps=3)
    assert calls == []
