"""Regularizers and schedules: semantics, settings, per-image randomness, and their effect (F3)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from revelio.core.filters import bilateral_blur, gaussian_blur
from revelio.errors import SettingError, SettingTypeError
from revelio.featureviz import (
    ActivationMaximization,
    BilateralBlur,
    Clip,
    Constant,
    Cosine,
    GaussianBlur,
    Jitter,
    L2Decay,
    Linear,
    Regularizer,
    channel,
    get_preset,
)
from revelio.featureviz.regularizers import FunctionRegularizer, as_regularizer
from revelio.featureviz.schedules import as_schedule

# -- schedules --------------------------------------------------------------------------------


def test_schedules_values():
    assert Constant(2.0)(0.3) == 2.0
    assert Linear(2.0, 1.0)(0.0) == 2.0 and Linear(2.0, 1.0)(1.0) == 1.0 and Linear(2.0, 1.0)(0.25) == 1.75
    cosine = Cosine(2.0, 1.0)
    assert cosine(0.0) == 2.0 and math.isclose(cosine(1.0), 1.0) and math.isclose(cosine(0.5), 1.5)
    assert cosine(0.1) > Linear(2.0, 1.0)(0.1)  # flat at the start
    assert as_schedule(3)(0.7) == 3.0 and (cosine.start, cosine.end) == (2.0, cosine(1.0))


def test_every_schedule_takes_a_number_a_pair_or_a_schedule():
    assert repr(as_schedule(2, "sigma")) == "Constant(2.0)"
    assert repr(as_schedule((2.0, 1.0), "sigma")) == "Linear(2.0, 1.0)"
    assert repr(as_schedule((2.0, 1.0), "sigma", "cosine")) == "Cosine(2.0, 1.0)"
    cosine = Cosine(2.0, 1.0)
    assert as_schedule(cosine, "sigma") is cosine
    # the regularizers all take the same three forms
    for make in (lambda v: GaussianBlur(v), lambda v: BilateralBlur(3, v, v), lambda v: L2Decay(v), lambda v: Clip(v)):
        for value in (0.2, (0.3, 0.1), Linear(0.3, 0.1)):
            assert make(value) is not None


def test_schedule_errors():
    with pytest.raises(SettingTypeError, match="number, a pair"):
        as_schedule("fast")
    with pytest.raises(SettingError, match="finite"):
        Linear(float("inf"), 1.0)
    with pytest.raises(SettingError, match="schedule must be one of"):
        as_schedule((1.0, 0.5), "sigma", "exponential")
    with pytest.raises(SettingError, match=r"\(start, end\)"):
        as_schedule((1.0, 0.5, 0.2), "sigma")


# -- each regularizer ---------------------------------------------------------------------------


def test_gaussian_blur_follows_its_sigma_schedule():
    images = torch.rand(2, 3, 12, 12)
    blur = GaussianBlur((2.0, 1.0))
    torch.testing.assert_close(blur(images, 0.5), gaussian_blur(images, 1.5))
    torch.testing.assert_close(GaussianBlur(Cosine(2.0, 1.0))(images, 0.5), gaussian_blur(images, 1.5))
    torch.testing.assert_close(GaussianBlur(0.7)(images, 0.9), gaussian_blur(images, 0.7))
    torch.testing.assert_close(
        GaussianBlur((2.0, 1.0), schedule="cosine")(images, 0.2), gaussian_blur(images, Cosine(2.0, 1.0)(0.2))
    )


def test_bilateral_blur_follows_its_schedules():
    images = torch.rand(2, 3, 12, 12)
    blur = BilateralBlur(5, sigma_space=(2.0, 1.0), sigma_color=(0.4, 0.2))
    torch.testing.assert_close(blur(images, 0.5), bilateral_blur(images, 5, 1.5, 0.3))
    torch.testing.assert_close(BilateralBlur(3, 1.0, 0.1)(images, 0.3), bilateral_blur(images, 3, 1.0, 0.1))


def test_l2_decay_and_clip():
    images = torch.tensor([[[[0.0, 1.0], [0.5, 0.7]]]]).expand(1, 3, 2, 2)
    torch.testing.assert_close(L2Decay(0.5)(images, 0.0), 0.5 + 0.5 * (images - 0.5))
    clipped = Clip(50.0)(images, 0.0)  # the two weakest of four pixels (0.5 and 0.7) become grey
    torch.testing.assert_close(clipped[0, 0], torch.tensor([[0.0, 1.0], [0.5, 0.5]]))


def test_jitter_rolls_each_image_from_its_own_seed_and_passes_gradients():
    images = torch.rand(3, 3, 10, 10)
    jitter = Jitter(3)
    jitter.start([7, 8, 9])
    batch = [jitter(images, 0.0) for _ in range(4)]
    for i, seed in enumerate([7, 8, 9]):
        single = Jitter(3)
        single.start([seed])
        for step in range(4):
            torch.testing.assert_close(batch[step][i : i + 1], single(images[i : i + 1], 0.0))
    shifted = [torch.equal(b, images) for b in batch]
    assert not all(shifted)
    x = images.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(jitter(x, 0.0).sum(), x)
    torch.testing.assert_close(gradient, torch.ones_like(x))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GaussianBlur(-1.0), r"sigma must stay in \(0, 256\]"),
        (lambda: GaussianBlur(0.0), r"sigma must stay in \(0, 256\]"),
        (lambda: GaussianBlur(1e200), r"sigma must stay in \(0, 256\]"),
        (lambda: GaussianBlur((1.0, 0.0)), r"sigma must stay in \(0, 256\]"),
        (lambda: GaussianBlur(float("nan")), "finite"),
        (lambda: GaussianBlur(1.0, truncate=0.0), "truncate"),
        (lambda: GaussianBlur(1.0, mode="bogus"), "mode must be one of"),
        (lambda: BilateralBlur(4), "kernel_size must be an odd integer"),
        (lambda: BilateralBlur(5, sigma_color=(0.3, 0.0)), "sigma_color must stay in"),
        (lambda: BilateralBlur(5, sigma_space=1e200), "sigma_space must stay in"),
        (lambda: BilateralBlur(5, sigma_space=(1.0, 2.0, 3.0)), r"\(start, end\)"),
        (lambda: BilateralBlur(5, distance="l3"), "distance must be one of"),
        (lambda: Jitter(-1), "max_shift"),
        (lambda: Jitter(2, mode="wrap"), "mode must be one of"),
        (lambda: L2Decay(1.0), r"rate must stay in \[0, 1\)"),
        (lambda: L2Decay(0.1, center=2.0), "center"),
        (lambda: Clip(100.0), "percentile"),
        (lambda: GaussianBlur(1.0, every=0), "every must be"),
    ],
)
def test_regularizers_refuse_settings_out_of_range_when_built(make, match):
    with pytest.raises(SettingError, match=match):
        make()


@pytest.mark.parametrize(
    ("make", "size", "match"),
    [
        (lambda: GaussianBlur(1.0), (8, 20), "kernel spans 9 pixels, more than the 8x20 image"),
        (lambda: GaussianBlur((0.5, 3.0)), (20, 20), "kernel spans 25 pixels"),
        (lambda: BilateralBlur(9), (8, 8), "kernel spans 9 pixels"),
        (lambda: Jitter(8, mode="crop"), (8, 8), "shift of 8 pixels"),
    ],
)
def test_settings_that_do_not_fit_the_image_are_refused_by_the_visualizer(cnn, make, size, match):
    with pytest.raises(SettingError, match=match):
        ActivationMaximization(cnn, image_size=size, regularizers=[make()])
    make().check((64, 64))  # fits a larger image


def test_the_wrong_kind_of_setting_is_a_type_error():
    with pytest.raises(SettingTypeError, match="kernel_size must be an integer"):
        BilateralBlur(5.0)
    with pytest.raises(SettingTypeError, match="must be a number"):
        GaussianBlur("wide")
    assert issubclass(SettingError, ValueError) and issubclass(SettingTypeError, TypeError)


def test_regularizers_show_and_keep_their_settings():
    blur = BilateralBlur(7, sigma_space=(3.0, 1.0), sigma_color=0.2, every=4)
    assert repr(blur) == (
        "BilateralBlur(kernel_size=7, sigma_space=Linear(3.0, 1.0), sigma_color=Constant(0.2), "
        "distance='l1', mode='mirror', every=4)"
    )
    assert repr(GaussianBlur((1.0, 0.5))) == "GaussianBlur(sigma=Linear(1.0, 0.5), truncate=4.0, mode='reflect')"
    clone = copy.copy(blur)
    images = torch.rand(1, 3, 9, 9)
    torch.testing.assert_close(clone(images, 0.4), blur(images, 0.4))
    assert clone.every == 4 and clone.kernel_size == 7


def test_a_plain_callable_is_an_image_stage_regularizer_applied_every_step(cnn):
    calls: list[float] = []

    def record(images: torch.Tensor, progress: float) -> torch.Tensor:
        calls.append(progress)
        return images

    regularizer = as_regularizer(record)
    assert isinstance(regularizer, FunctionRegularizer) and regularizer.stage == "image"
    ActivationMaximization(cnn, image_size=16, regularizers=[record]).visualize(channel("3", 0), steps=5)
    assert calls == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(SettingTypeError, match="callable"):
        as_regularizer(3)


def test_every_k_steps(cnn):
    class Count(Regularizer):
        def __init__(self, every: int) -> None:
            super().__init__(every=every)
            self.steps: list[float] = []

        def __call__(self, images, progress):
            self.steps.append(round(progress * 8))
            return images

    image_stage, input_stage = Count(every=3), Count(every=3)
    input_stage.stage = "input"  # type: ignore[misc]
    ActivationMaximization(cnn, image_size=16, regularizers=[image_stage, input_stage]).visualize(
        channel("3", 0), steps=9
    )
    assert image_stage.steps == [2, 5, 8]  # after every third update, the last included
    assert input_stage.steps == [0, 3, 6]


# -- F3: the regularizers' effect ------------------------------------------------------------------


def _high_frequency_share(images: torch.Tensor) -> torch.Tensor:
    """Share of spectral power above half the Nyquist frequency, per image."""
    centred = images - images.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(centred).abs().square()
    fy = torch.fft.fftfreq(images.shape[-2]).abs().view(-1, 1)
    fx = torch.fft.fftfreq(images.shape[-1]).abs().view(1, -1)
    high = torch.maximum(fy, fx) > 0.25
    return (power * high).sum(dim=(-3, -2, -1)) / power.sum(dim=(-3, -2, -1))


def _total_variation(images: torch.Tensor) -> torch.Tensor:
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(-3, -2, -1))
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(-3, -2, -1))
    return dy + dx


def test_f3_blurred_visualizations_have_less_high_frequency_power_and_variation(cnn):
    units = list(range(6))
    results = {
        name: get_preset(name).create(cnn, image_size=48).visualize(channel("6", units), steps=48).display
        for name in ("plain", "gaussian", "bilateral")
    }
    plain_hf, plain_tv = _high_frequency_share(results["plain"]), _total_variation(results["plain"])
    assert bool((_high_frequency_share(results["gaussian"]) < 0.7 * plain_hf).all())
    assert bool((_total_variation(results["bilateral"]) < 0.7 * plain_tv).all())


def test_f3_bilateral_blur_smooths_noise_but_keeps_a_step_edge_sharper_than_gaussian():
    generator = torch.Generator().manual_seed(0)
    edge = torch.zeros(1, 3, 32, 32)
    edge[..., 16:] = 1.0
    noisy = edge + 0.03 * torch.randn(edge.shape, generator=generator)
    sigma = 2.0
    gaussian = GaussianBlur(sigma)(noisy, 0.0)
    bilateral = BilateralBlur(7, sigma_space=sigma, sigma_color=0.2)(noisy, 0.0)

    def edge_contrast(images):  # the largest step between neighbouring columns, across the edge
        return (images[..., 1:] - images[..., :-1]).mean(dim=(0, 1, 2)).max()

    def flat_noise(images):  # variation away from the edge
        return _total_variation(images[..., :, 2:12]).item()

    assert edge_contrast(bilateral) > 0.9
    assert edge_contrast(gaussian) < 0.3
    assert flat_noise(bilateral) < 0.5 * flat_noise(noisy)
