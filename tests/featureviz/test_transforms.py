"""Transformation robustness: each transformation equals torchvision's on the values it drew, draws per image
from its own seed, passes gradients, and fits into the loop (sizes, probes, batches)."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from featureviz_nets import small_cnn
from torchvision.transforms import InterpolationMode

from revelio.errors import SettingError
from revelio.featureviz import (
    ActivationMaximization,
    GaussianBlur,
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    channel,
    neuron,
    scaled_transforms,
    standard_transforms,
    transform_set,
)
from revelio.featureviz.base import stream_seeds

IMAGES = torch.rand(3, 3, 17, 22, generator=torch.Generator().manual_seed(5))
SEEDS = [11, 12, 13]


def _twin(transform, seeds=SEEDS):
    """The transformation and a second one started from the same seeds: the second tells what the first draws."""
    first, second = transform(), transform()
    first.start(seeds)
    second.start(seeds)
    return first, second


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_equals_torchvision(mode):
    ours = Pad(4, fill=0.25, mode=mode)(IMAGES, 0.0)
    expected = TF.pad(IMAGES, [4], fill=0.25, padding_mode=mode)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    assert Pad(4).output_size((17, 22)) == (25, 30)


def test_jitter_crop_equals_torchvision_crop_at_the_offsets_drawn():
    jitter, twin = _twin(lambda: Jitter(5, mode="crop"))
    for _ in range(3):  # a new offset each step
        offsets = twin.offsets(3)
        ours = jitter(IMAGES, 0.0)
        expected = torch.stack([TF.crop(image, dy, dx, 12, 17) for image, (dy, dx) in zip(IMAGES, offsets)])
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)
        assert all(0 <= dy <= 5 and 0 <= dx <= 5 for dy, dx in offsets)
    assert Jitter(5, mode="crop").output_size((17, 22)) == (12, 17)


def test_jitter_roll_equals_torch_roll_at_the_offsets_drawn():
    jitter, twin = _twin(lambda: Jitter(3))
    offsets = twin.offsets(3)
    expected = torch.stack([torch.roll(image, offset, dims=(-2, -1)) for image, offset in zip(IMAGES, offsets)])
    torch.testing.assert_close(jitter(IMAGES, 0.0), expected, rtol=0, atol=0)
    assert all(-3 <= dy <= 3 and -3 <= dx <= 3 for dy, dx in offsets)


def test_random_scale_equals_torchvision_affine_with_the_factors_drawn():
    scale, twin = _twin(lambda: RandomScale((0.8, 1.25), fill=0.3))
    factors = twin._uniform(3, 0.8, 1.25)
    ours = scale(IMAGES, 0.0)
    for image, factor, result in zip(IMAGES, factors, ours):
        expected = TF.affine(image, angle=0.0, translate=[0.0, 0.0], scale=factor, shear=[0.0, 0.0],
                             interpolation=InterpolationMode.BILINEAR, fill=[0.3] * 3)
        torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)
    assert len(set(factors)) == 3 and all(0.8 <= f <= 1.25 for f in factors)


def test_random_rotate_equals_torchvision_rotate_with_the_angles_drawn():
    rotate, twin = _twin(lambda: RandomRotate(30.0, fill=0.7))
    angles = twin._uniform(3, -30.0, 30.0)
    ours = rotate(IMAGES, 0.0)
    for image, angle, result in zip(IMAGES, angles, ours):
        expected = TF.rotate(image, angle, interpolation=InterpolationMode.BILINEAR, fill=[0.7] * 3)
        torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "make",
    [lambda: Jitter(3), lambda: Jitter(3, mode="crop"), lambda: RandomScale(), lambda: RandomRotate(15.0)],
    ids=["roll", "crop", "scale", "rotate"],
)
def test_image_i_of_a_batch_sees_what_a_single_run_with_its_seed_sees(make):
    batch, _ = _twin(make)
    outputs = [batch(IMAGES, 0.0) for _ in range(3)]
    for i, seed in enumerate(SEEDS):
        single, _ = _twin(make, [seed])
        for step in range(3):
            torch.testing.assert_close(outputs[step][i : i + 1], single(IMAGES[i : i + 1], 0.0), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "make", [lambda: Pad(2), lambda: Jitter(3, mode="crop"), lambda: RandomScale(), lambda: RandomRotate(15.0)],
    ids=["pad", "crop", "scale", "rotate"],
)
def test_gradients_flow_back_through_every_transformation(make):
    transform, _ = _twin(make)
    images = IMAGES.clone().requires_grad_(True)
    weights = torch.rand(transform.output_size((17, 22)), generator=torch.Generator().manual_seed(0))
    (gradient,) = torch.autograd.grad((transform(images, 0.0) * weights).sum(), images)
    assert gradient.abs().sum() > 0 and torch.isfinite(gradient).all()
    # The transformation is affine in the image, T(x) = A x + b (b: the fill), so its gradient is A^T w:
    # <T(x) - T(0), w> = <x, A^T w>. Twins draw the same values, so each call sees the same A.
    at_x, at_zero = _twin(make)
    x = torch.rand(3, 3, 17, 22, generator=torch.Generator().manual_seed(1))
    linear_part = ((at_x(x, 0.0) - at_zero(torch.zeros_like(x), 0.0)) * weights).sum()
    assert float(linear_part) == pytest.approx(float((x * gradient).sum()), rel=1e-4)


def test_two_transformations_of_one_list_draw_independent_values():
    first, second = Jitter(4), Jitter(4)
    first.start(stream_seeds([7], 0))
    second.start(stream_seeds([7], 1))
    assert [first.offsets(1) for _ in range(8)] != [second.offsets(1) for _ in range(8)]


def test_lucids_standard_set_and_the_named_sets():
    transforms = standard_transforms()
    assert [type(t).__name__ for t in transforms] == ["Pad", "Jitter", "RandomScale", "RandomRotate", "Jitter"]
    size = (64, 64)
    for transform in transforms:
        size = transform.output_size(size)
    assert size == (64 + 24 - 8 - 4,) * 2
    scaled = scaled_transforms(112)
    assert [getattr(t, "width", getattr(t, "max_shift", None)) for t in scaled] == [6, 4, None, None, 2]
    assert transform_set("none", (64, 64)) == []
    with pytest.raises(SettingError, match="choose from none, lucid"):
        transform_set("kornia", (64, 64))


def test_the_loop_probes_the_model_at_the_size_the_transformations_give():
    model = small_cnn()
    sizes = []
    model[0].register_forward_pre_hook(lambda module, args: sizes.append(tuple(args[0].shape[-2:])))
    am = ActivationMaximization(model, image_size=24, regularizers=standard_transforms())
    result = am.visualize(neuron("6", [0, 1]), steps=2)
    assert sizes == [(36, 36)] * 3  # the probe and two steps, at 24 + 24 - 8 - 4
    assert result.images.shape == (2, 3, 24, 24)


def test_a_neuron_position_is_checked_against_the_transformed_size():
    am = ActivationMaximization(small_cnn(), image_size=24, regularizers=[Pad(8)])
    am.visualize(neuron("6", 0, (9, 9)), steps=1)  # layer "6" is 10x10 after padding to 40
    with pytest.raises(IndexError, match="outside"):
        am.visualize(neuron("6", 0, (10, 0)), steps=1)


@pytest.mark.parametrize(
    ("regularizers", "match"),
    [
        ([Jitter(24, mode="crop")], "shift of 24 pixels"),
        ([Pad(2, every=2)], "every=1"),
        ([Pad(30, mode="reflect")], "reflect padding"),
        ([Jitter(20, mode="crop"), GaussianBlur(3.0)], "kernel spans 25 pixels"),
    ],
)
def test_transformations_that_do_not_fit_are_refused_when_the_visualizer_is_built(regularizers, match):
    with pytest.raises(SettingError, match=match):
        ActivationMaximization(small_cnn(), image_size=24, regularizers=regularizers)


def test_bad_transformation_settings_are_refused_when_built():
    for make, match in [
        (lambda: Pad(-1), "width"),
        (lambda: Pad(2, fill=2.0), "fill"),
        (lambda: Pad(2, mode="wrap"), "mode"),
        (lambda: RandomScale((1.2, 0.8)), "low <= high"),
        (lambda: RandomScale(0.0), "0 < low"),
        (lambda: RandomRotate(270.0), "within"),
        (lambda: RandomRotate((5.0, 1.0)), "low <= high"),
    ]:
        with pytest.raises(SettingError, match=match):
            make()


def test_a_batch_with_transformations_equals_single_runs():
    model = small_cnn().double()
    am = ActivationMaximization(model, image_size=24, regularizers=standard_transforms(), step="adam")
    units = [2, 5]
    batch = am.visualize(channel("6", units), steps=4, seed=8)
    for i, unit in enumerate(units):
        single = am.visualize(channel("6", unit), steps=4, seed=8 + i)
        torch.testing.assert_close(batch.images[i : i + 1], single.images, atol=1e-9, rtol=1e-9)
