"""Feature accentuation: the distance objective by hand, the image kept close, errors before any work."""

from __future__ import annotations

import pytest
import torch
from featureviz_nets import natural_images

from revelio.core import LayerCapture, resolve_layer
from revelio.errors import InputError, SettingError
from revelio.featureviz import ActivationDistance, ActivationMaximization, accentuate, channel, get_preset


def _activation(model, layer, inputs):
    with torch.no_grad(), LayerCapture([resolve_layer(model, layer)], stop=True) as capture:
        capture.forward(model, inputs)
    return capture[layer]


def test_the_distance_is_the_mean_squared_difference_per_image():
    reference = torch.randn(2, 3, 4, 4)
    current = torch.randn(2, 3, 4, 4)
    values = ActivationDistance("c", reference)({"c": current})
    torch.testing.assert_close(values, (current - reference).square().mean(dim=(1, 2, 3)))
    # a reference of another spatial size (transformations that pad) is resized to the activation's
    resized = ActivationDistance("c", reference)({"c": torch.zeros(2, 3, 8, 8)})
    upsampled = torch.nn.functional.interpolate(reference, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(resized, upsampled.square().mean(dim=(1, 2, 3)))


def test_accentuation_changes_the_image_less_than_plain_maximisation_from_it(cnn):
    am = ActivationMaximization(cnn, image_size=32, step="adam", lr=0.05)
    start = am.normalize(natural_images(2, 32, seed=4))
    objective = channel("6", [1, 7])
    plain = accentuate(am, objective, start, layer="0", weight=0.0, steps=16, seed=1)
    same = am.visualize(objective, 16, 1, start=start)
    torch.testing.assert_close(plain.images, same.images)  # weight 0: maximisation from the image
    kept = accentuate(am, objective, start, layer="0", weight=5.0, steps=16, seed=1)
    original = am.denormalize(start)

    def change(result):
        return (result.display - original).abs().mean(dim=(1, 2, 3))

    assert bool((change(kept) < 0.5 * change(plain)).all())
    reached = _activation(cnn, "6", kept.images)[[0, 1], [1, 7]].mean(dim=(1, 2))
    before = _activation(cnn, "6", start)[[0, 1], [1, 7]].mean(dim=(1, 2))
    assert bool((reached > before).all())  # and the unit responds more
    assert kept.units[0] == "6:channel 1 - 5 * 0:distance"


def test_the_accentuation_preset_runs_with_its_transformations(cnn):
    am = get_preset("accentuation").create(cnn, image_size=32)
    start = am.normalize(natural_images(1, 32, seed=2))
    result = accentuate(am, channel("6", 2), start, layer="3", weight=1.0, steps=4)
    assert result.images.shape == start.shape and result.history.shape == (4, 1)


@pytest.mark.parametrize(
    ("start", "kwargs", "error", "match"),
    [
        (torch.rand(1, 1, 16, 16), {}, InputError, "channels"),
        (torch.rand(3, 16, 16), {}, InputError, r"Tensor\[N, C, H, W\]"),
        (torch.full((1, 3, 16, 16), float("nan")), {}, InputError, "NaN"),
        (torch.rand(1, 3, 16, 16), {"weight": -1.0}, SettingError, "weight"),
        (torch.rand(1, 3, 16, 16), {"layer": "33"}, Exception, "closest names"),
    ],
)
def test_bad_accentuations_are_refused_before_any_work(cnn, start, kwargs, error, match):
    calls = []
    cnn[0].register_forward_hook(lambda *args: calls.append(1))
    options = {"layer": "3", "weight": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        accentuate(ActivationMaximization(cnn, image_size=16), channel("6", 0), start, **options)
    assert calls == []
