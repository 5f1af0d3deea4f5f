"""revelio.core.normalization: per-channel normalisation both ways, checked against hand-computed values."""

import pytest
import torch

from revelio.core import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize
from revelio.errors import InputError


def _images():
    # (N=1, C=2, H=1, W=2): channel 0 holds 0.5 and 1.0, channel 1 holds 0.0 and 0.25.
    return torch.tensor([[[[0.5, 1.0]], [[0.0, 0.25]]]])


def test_normalize_by_hand():
    # channel 0: (x - 0.5) / 0.25 -> 0, 2; channel 1: (x - 0.25) / 0.5 -> -0.5, 0.
    expected = torch.tensor([[[[0.0, 2.0]], [[-0.5, 0.0]]]])
    assert torch.equal(normalize(_images(), (0.5, 0.25), (0.25, 0.5)), expected)


def test_denormalize_by_hand():
    inputs = torch.tensor([[[[0.0, 2.0]], [[-0.5, 0.0]]]])
    assert torch.equal(denormalize(inputs, [0.5, 0.25], [0.25, 0.5]), _images())


def test_imagenet_statistics():
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    grey = torch.full((1, 3, 1, 1), 0.485)
    assert normalize(grey, IMAGENET_MEAN, IMAGENET_STD)[0, 0, 0, 0].item() == pytest.approx(0.0, abs=1e-7)
    white = torch.ones(1, 3, 1, 1)
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]  # 2.2489, 2.4286, 2.64
    assert normalize(white, IMAGENET_MEAN, IMAGENET_STD).flatten().tolist() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_round_trip_keeps_shape_dtype_and_device(dtype):
    images = torch.rand(4, 3, 5, 7, generator=torch.Generator().manual_seed(0)).to(dtype)
    inputs = normalize(images, IMAGENET_MEAN, IMAGENET_STD)
    assert inputs.shape == images.shape and inputs.dtype == dtype and inputs.device == images.device
    back = denormalize(inputs, IMAGENET_MEAN, IMAGENET_STD)
    assert back.dtype == dtype
    tolerance = 1e-2 if dtype == torch.float16 else 1e-6
    assert torch.allclose(back, images, atol=tolerance)


def test_pure_functions_leave_the_input_alone_and_accept_tensor_statistics():
    images = _images()
    copy = images.clone()
    out = normalize(images, torch.tensor([0.5, 0.25]), torch.tensor([0.25, 0.5]))
    assert torch.equal(images, copy) and out.data_ptr() != images.data_ptr()


def test_channels_at_dim_minus_3_without_batch():
    image = _images()[0]  # (C, H, W)
    assert torch.equal(normalize(image, (0.5, 0.25), (0.25, 0.5)), normalize(_images(), (0.5, 0.25), (0.25, 0.5))[0])


@pytest.mark.parametrize(
    ("images", "mean", "std", "match"),
    [
        (torch.zeros(1, 3, 4, 4), (0.5, 0.5), (0.2, 0.2), "2 channels at dim -3"),
        (torch.zeros(4, 4), (0.5,), (0.2,), "1 channels at dim -3"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.uint8), (0.5, 0.5), (0.2, 0.2), "floating-point"),
        (torch.zeros(1, 2, 4, 4), (0.5, 0.5), (0.2,), "one value per channel"),
        (torch.zeros(1, 2, 4, 4), (0.5, 0.5), (0.2, 0.0), "not be zero"),
        ([[0.0]], (0.5,), (0.2,), "torch.Tensor"),
    ],
)
def test_bad_arguments_raise_input_error(images, mean, std, match):
    with pytest.raises(InputError, match=match):
        normalize(images, mean, std)
    with pytest.raises(InputError, match=match):
        denormalize(images, mean, std)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_the_input_device():
    images = _images().cuda()
    inputs = normalize(images, (0.5, 0.25), (0.25, 0.5))
    assert inputs.device == images.device
    assert torch.equal(denormalize(inputs, (0.5, 0.25), (0.25, 0.5)).cpu(), _images())


def test_one_copy_of_the_statistics_re_exported_where_they_were():
    from revelio import featureviz, zoo
    from revelio.featureviz import base as featureviz_base
    from revelio.zoo import base as zoo_base

    for module in (featureviz, featureviz_base, zoo, zoo_base):
        assert module.IMAGENET_MEAN is IMAGENET_MEAN and module.IMAGENET_STD is IMAGENET_STD, module.__name__


def test_zoo_and_featureviz_normalise_with_these_functions():
    from torch import nn

    from revelio.featureviz import ActivationMaximization
    from revelio.zoo import ZooModel

    images = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    expected = normalize(images, IMAGENET_MEAN, IMAGENET_STD)
    zoo_model = ZooModel(model=nn.Identity(), name="identity", input_size=(4, 4))
    visualizer = ActivationMaximization(nn.Conv2d(3, 1, 1), image_size=4)
    assert torch.equal(zoo_model.normalize(images), expected)
    assert torch.equal(visualizer.normalize(images), expected)
    assert torch.equal(zoo_model.denormalize(expected), denormalize(expected, IMAGENET_MEAN, IMAGENET_STD))
    assert torch.equal(visualizer.denormalize(expected), denormalize(expected, IMAGENET_MEAN, IMAGENET_STD))
    with pytest.raises(InputError, match="3 channels at dim -3"):
        zoo_model.normalize(torch.zeros(1, 1, 4, 4))
