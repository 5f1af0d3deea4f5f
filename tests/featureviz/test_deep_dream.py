"""Deep dream: layer objective from a given image, over octaves."""

from __future__ import annotations

import pytest
import torch
from featureviz_nets import natural_images

from revelio.core import LayerCapture, resolve_layer
from revelio.errors import InputError, LayerNotFoundError
from revelio.featureviz import DeepDream, Jitter, channel, deepdream


def _layer_energy(model, layer, inputs):
    with torch.no_grad(), LayerCapture([resolve_layer(model, layer)], stop=True) as capture:
        capture.forward(model, inputs)
    return capture[layer].flatten(1).square().mean(1)


def test_deep_dream_amplifies_the_layer_and_keeps_the_image(cnn):
    dream = DeepDream(cnn, octaves=3, octave_scale=1.4, steps=8)
    image = dream.normalize(natural_images(2, 40, seed=1))
    result = dream.visualize("6", start=image)
    assert result.images.shape == image.shape and result.history.shape == (3 * 8, 2)
    assert result.units == ("6:mean_square", "6:mean_square")
    assert bool((_layer_energy(cnn, "6", result.images) > 1.5 * _layer_energy(cnn, "6", image)).all())
    original, dreamed = dream.denormalize(image), result.display
    correlation = torch.corrcoef(torch.stack([original.flatten(), dreamed.flatten()]))[0, 1]
    assert correlation > 0.5  # still the same picture


def test_octaves_run_smallest_first(cnn):
    sizes: list[tuple[int, int]] = []
    handle = cnn[0].register_forward_hook(lambda module, args, output: sizes.append(tuple(args[0].shape[-2:])))
    try:
        DeepDream(cnn, octaves=3, octave_scale=2.0, steps=2).visualize(cnn[6], start=torch.randn(1, 3, 64, 48))
    finally:
        handle.remove()
    assert sizes == [(16, 12)] * 3 + [(32, 24)] * 3 + [(64, 48)] * 3  # each octave: a probe, then the steps


def test_a_batch_of_images_equals_single_dreams(cnn):
    dream = DeepDream(cnn, octaves=2, steps=3, regularizers=[Jitter(3)])
    images = torch.randn(3, 3, 32, 32)
    batch = dream.visualize(deepdream("3", "l2"), start=images, seed=4)
    for i in range(3):
        single = dream.visualize(deepdream("3", "l2"), start=images[i : i + 1], seed=4 + i)
        torch.testing.assert_close(batch.images[i : i + 1], single.images, atol=1e-5, rtol=1e-5)


def test_deep_dream_takes_any_objective_and_leaves_the_model_alone(cnn):
    cnn.train()
    result = DeepDream(cnn, octaves=1, steps=3).visualize(channel("6", [0, 1]), start=torch.randn(2, 3, 20, 20))
    assert result.history.shape == (3, 2)
    assert all(m.training for m in cnn.modules()) and all(p.requires_grad and p.grad is None for p in cnn.parameters())


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda m: DeepDream(m, octaves=4, octave_scale=3.0).visualize("6", start=torch.randn(1, 3, 64, 64)),
            ValueError,
            "fewer octaves",
        ),
        (lambda m: DeepDream(m).visualize("66", start=torch.randn(1, 3, 64, 64)), LayerNotFoundError, "closest names"),
        (lambda m: DeepDream(m).visualize("6", start=torch.randn(1, 1, 64, 64)), InputError, "channels"),
        (lambda m: DeepDream(m).visualize("6", start=torch.randn(3, 64, 64)), InputError, r"Tensor\[N, C, H, W\]"),
        (lambda m: DeepDream(m).visualize("6"), InputError, "pass start="),
        (
            lambda m: DeepDream(m).visualize(channel("6", [0, 1]), start=torch.randn(3, 3, 64, 64)),
            InputError,
            "2 units",
        ),
        (lambda m: DeepDream(m, octaves=0), ValueError, "octaves must be"),
        (lambda m: DeepDream(m, octave_scale=0.5), ValueError, "octave_scale must be"),
    ],
)
def test_deep_dream_errors(cnn, make, error, match):
    with pytest.raises(error, match=match):
        make(cnn)
