"""The truncated forward pass: slicing the deepest layer and channels-last inputs change nothing
but the speed."""

from __future__ import annotations

import pytest
import torch
from featureviz_nets import small_cnn
from torch import nn

from revelio.featureviz import ActivationMaximization, Objective, channel, class_logit, deepdream, neuron
from revelio.featureviz.forward import TruncatedForward, _units_to_slice, probe


def _run(model, objective, *, sliced: bool, channels_last: bool, **options):
    am = ActivationMaximization(model, **{"image_size": 20, **options})
    am.slice_deepest_layer = sliced
    am.channels_last = channels_last
    return am.visualize(objective, steps=4, seed=2)


@pytest.mark.parametrize(
    "objective",
    [
        channel("3", [1, 30]),
        channel("6", 7) + 0.5 * neuron("3", 2, (3, 4)),
        neuron("6", [0, 0, 5]),
        class_logit([2, 9]),
        channel("0", [3, 4]) + deepdream("3"),
    ],
    ids=["conv-batch", "two-layers", "neuron", "class-logit", "deepdream"],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_slicing_and_memory_format_give_the_same_result(objective, channels_last):
    model = small_cnn()
    reference = _run(model, objective, sliced=False, channels_last=False)
    result = _run(model, objective, sliced=True, channels_last=channels_last)
    torch.testing.assert_close(result.history, reference.history, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result.images, reference.images, atol=1e-4, rtol=1e-4)


def _plan(model, objective, size=16):
    objective = objective.resolve(model)
    modules = dict(model.named_modules())
    layers = [(name, modules[name]) for name in objective.layers]
    shapes, order = probe(model, layers, torch.zeros(1, 3, size, size))
    return TruncatedForward(model, objective, layers, order, shapes)


def test_which_layers_are_computed_for_the_read_units_only():
    model = small_cnn()
    assert _plan(model, channel("6", [4, 1, 4])).sliced_units == (1, 4)
    assert _plan(model, channel("6", 1) + channel("3", 2)).sliced_units == (1,)  # "6" is the deepest
    assert _plan(model, class_logit(3)).sliced_units is None  # the output is the Sequential, not a Linear
    assert _plan(model, neuron("10", 3)).sliced_units == (3,)  # the Linear head
    assert _plan(model, deepdream("6")).sliced_units is None  # reads every channel
    assert _plan(model, channel("6", list(range(20)))).sliced_units is None  # most of the layer
    assert _plan(model, channel("7", 1)).sliced_units is None  # a ReLU


class _Reads(Objective):
    """A user objective that does not declare what it reads: gets the whole layer."""

    layers = ("6",)

    def __call__(self, activations):
        return activations["6"].flatten(1).amax(1)

    def resolve(self, model):
        return self

    def check(self, shapes):
        pass

    def labels(self, n):
        return ("max of 6",) * n


def test_objectives_that_do_not_declare_their_units_get_the_whole_layer():
    model = small_cnn()
    assert _plan(model, _Reads()).sliced_units is None
    assert _run(model, _Reads(), sliced=True, channels_last=False).history.shape == (4, 1)


class _ScaledConv(nn.Conv2d):
    def forward(self, x):
        return 2 * super().forward(x)


@pytest.mark.parametrize(
    ("layer", "reason"),
    [
        (_ScaledConv(4, 6, 3), "a subclass with its own forward"),
        (nn.Conv2d(4, 6, 3, groups=2), "grouped convolution"),
    ],
)
def test_layers_that_are_run_whole(layer, reason):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), layer)
    assert _units_to_slice(channel("1", 0), "1", layer, (1, 6, 4, 4)) is None, reason
    am = ActivationMaximization(model, image_size=12)
    with torch.no_grad():
        expected = model(am.normalize(torch.full((1, 3, 12, 12), 0.5)))[:, 5].mean()
    result = am.visualize(channel("1", 5), steps=1, start=am.normalize(torch.full((1, 3, 12, 12), 0.5)))
    torch.testing.assert_close(result.history[0, 0], expected)


def test_a_layer_with_a_users_hook_is_run_whole_and_the_hook_sees_it():
    model = small_cnn()
    seen: list[tuple[int, ...]] = []
    handle = model[6].register_forward_hook(lambda module, args, output: seen.append(tuple(output.shape)))
    try:
        assert _plan(model, channel("6", 1)).sliced_units is None
        ActivationMaximization(model, image_size=16).visualize(channel("6", 1), steps=2)
    finally:
        handle.remove()
    assert seen and all(shape[1] == 32 for shape in seen)


def test_a_linear_layer_is_computed_for_the_read_units_only():
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(12, 5)

        def forward(self, x):
            return self.linear(x.flatten(1))

    model = Flat()
    assert _plan(model, neuron("linear", [1, 3]), size=2).sliced_units == (1, 3)
    am = ActivationMaximization(model, image_size=(2, 2), mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    sliced = am.visualize(neuron("linear", [0, 4]), steps=3)
    am.slice_deepest_layer = False
    whole = am.visualize(neuron("linear", [0, 4]), steps=3)
    torch.testing.assert_close(sliced.history, whole.history)
    assert bool((sliced.history[-1] > sliced.history[0]).all())


class _Viewer(nn.Module):
    """A model whose forward cannot take channels-last feature maps (``.view`` on one)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        return self.head(self.conv(x).view(x.shape[0], -1))


def test_a_model_that_cannot_take_channels_last_gets_contiguous_inputs():
    model = _Viewer().eval()
    with pytest.raises(RuntimeError, match="view"):
        model(torch.rand(1, 3, 8, 8).contiguous(memory_format=torch.channels_last))
    am = ActivationMaximization(model, image_size=8)
    result = am.visualize(class_logit([0, 2]), steps=3)
    assert bool((result.history[-1] > result.history[0]).all())
