"""Activation maximization: known answer (F1), objective attained (F2), batching, model state,
truncated forward, and errors before any step."""

from __future__ import annotations

import pytest
import torch
import torchvision
from featureviz_nets import natural_images, small_cnn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from revelio.core import LayerCapture, resolve_layer
from revelio.errors import LayerNotFoundError, LayerNotReachedError, MethodNotFoundError, NonFiniteError
from revelio.featureviz import (
    ActivationMaximization,
    Adam,
    BilateralBlur,
    Cosine,
    GaussianBlur,
    Jitter,
    L2Decay,
    UnitIndexError,
    Visualization,
    channel,
    class_logit,
    deepdream,
    get_preset,
    neuron,
)


def _activation(model: nn.Module, layer: str, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), LayerCapture([resolve_layer(model, layer)], stop=True) as capture:
        capture.forward(model, inputs)
    return capture[layer]


# -- F1: known answer -----------------------------------------------------------------------------


def _planted_model() -> tuple[nn.Module, torch.Tensor]:
    """conv 7x7 (channel 2 = a planted colour pattern) -> ReLU -> 1x1 conv (unit 1 reads channel 2)."""
    y, x = torch.meshgrid(torch.arange(-3, 4), torch.arange(-3, 4), indexing="ij")
    cross = (y == x) | (y == -x)
    pattern = torch.stack([torch.where(cross, 1.0, -1.0), torch.where(cross, -1.0, 1.0), torch.where(y < 0, 1.0, -1.0)])
    model = nn.Sequential(nn.Conv2d(3, 4, 7, padding=3), nn.ReLU(), nn.Conv2d(4, 2, 1))
    with torch.no_grad():
        model[0].weight[2] = pattern
        model[0].bias[2] = 1.0  # active at the start, so the gradient reaches the pattern
        model[2].weight[1] = 0.0
        model[2].weight[1, 2] = 1.0
        model[2].bias[1] = 0.0
    return model.eval(), pattern


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


@pytest.mark.parametrize(
    "options",
    [{}, {"clamp": False}, {"step": "adam"}, {"regularizers": [L2Decay(0.05)]}],
    ids=["default", "no-clamp", "adam", "l2-decay"],
)
def test_f1_the_maximising_patch_is_the_planted_pattern(options):
    model, pattern = _planted_model()
    am = ActivationMaximization(model, image_size=15, **options)
    result = am.visualize(neuron("2", 1), steps=32, seed=3)  # the centre unit, (7, 7)
    patch = result.display[0, :, 4:11, 4:11]  # its receptive field
    assert _pearson(patch, pattern) >= 0.9
    assert result.history[-1, 0] > result.history[0, 0]


# -- F2: objective attained ---------------------------------------------------------------------------


def test_f2_optimised_activation_beats_natural_images_and_blur_keeps_half():
    model, units, layer = small_cnn(), list(range(8)), "6"
    am = ActivationMaximization(model, image_size=48)
    natural = _activation(model, layer, am.normalize(natural_images(256, 48)))[:, units].flatten(2).mean(2)
    best_natural = natural.max(dim=0).values
    reached = {}
    for variant in ("plain", "gaussian", "bilateral"):
        result = get_preset(variant).create(model, image_size=48).visualize(
            channel(layer, units), steps=64
        )
        reached[variant] = _activation(model, layer, result.images)[torch.arange(8), units].flatten(1).mean(1)
    assert bool((reached["plain"] > best_natural).all())
    for variant in ("gaussian", "bilateral"):
        assert bool((reached[variant] > best_natural).all()), variant
        assert reached[variant].mean() >= 0.5 * reached["plain"].mean(), variant


def test_f2_on_the_bundled_shapes_model_against_its_own_dataset():
    from revelio import zoo

    shapes = zoo.load("shapes")  # its weights ship with the package: a missing file is a failure
    units, layer = list(range(8)), shapes.gradcam_layer
    dataset = zoo.normalize(zoo.make_batch(256, seed=0).images)
    best_natural = _activation(shapes.model, layer, dataset)[:, units].flatten(2).mean(2).max(dim=0).values
    am = ActivationMaximization(shapes.model, image_size=shapes.input_size, mean=shapes.mean, std=shapes.std)
    result = am.visualize(channel(layer, units), steps=64)
    reached = _activation(shapes.model, layer, result.images)[torch.arange(8), units].flatten(1).mean(1)
    assert bool((reached > best_natural).all())


# -- batching and seeds -------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["normalized", "adam"])
def test_a_batch_of_units_equals_single_runs_with_the_same_seeds(cnn, step):
    if step == "adam":
        # Adam divides by the gradient's magnitude, which turns float32 rounding differences between a batched and
        # a single convolution into visible ones where the gradient is near zero; float64 keeps them at 1e-12.
        cnn = cnn.double()
    regularizers = [Jitter(2), GaussianBlur((1.0, 0.5), every=2), BilateralBlur(3, 1.0, (0.3, 0.1))]
    am = ActivationMaximization(cnn, image_size=24, regularizers=regularizers, step=step)
    units = [0, 3, 5, 3]
    batch = am.visualize(channel("6", units), steps=6, seed=10)
    for i, unit in enumerate(units):
        single = am.visualize(channel("6", unit), steps=6, seed=10 + i)
        torch.testing.assert_close(batch.images[i : i + 1], single.images, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch.history[:, i : i + 1], single.history, atol=1e-5, rtol=1e-5)
    assert batch.seeds == (10, 11, 12, 13)


def test_seeds_make_results_reproducible(cnn):
    am = ActivationMaximization(cnn, image_size=16, regularizers=[Jitter(2)])
    first = am.visualize(channel("3", 1), steps=3, seed=5, num_images=2)
    again = am.visualize(channel("3", 1), steps=3, seed=[5, 6])
    other = am.visualize(channel("3", 1), steps=3, seed=7)
    assert torch.equal(first.images, again.images)
    assert not torch.equal(first.images[:1], other.images)
    assert not torch.equal(first.images[0], first.images[1])  # two seeds, two images


def test_one_forward_and_one_backward_per_step_for_the_whole_batch(cnn):
    calls: list[int] = []
    handle = cnn[0].register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    try:
        ActivationMaximization(cnn, image_size=16).visualize(channel("3", list(range(8))), steps=5)
    finally:
        handle.remove()
    assert calls == [1] + [8] * 5  # the probe, then one batched forward per step


# -- the model is left untouched; no parameter gradient; truncated forward ---------------------------------


def test_model_state_is_unchanged_and_parameters_are_frozen_during_the_call(cnn):
    cnn.train()
    cnn[3].weight.requires_grad_(False)
    cnn[0].weight.grad = torch.ones_like(cnn[0].weight)
    user_grad = cnn[0].weight.grad
    seen: list[tuple[bool, bool]] = []
    handle = cnn[0].register_forward_pre_hook(
        lambda module, args: seen.append((module.training, any(p.requires_grad for p in cnn.parameters())))
    )
    before = {name: p.detach().clone() for name, p in cnn.named_parameters()}
    hooks = {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for name, m in cnn.named_modules()}
    am = ActivationMaximization(cnn, image_size=16)
    for objective in (channel("6", [0, 1]), channel("6", 99)):
        try:
            am.visualize(objective, steps=3)
        except UnitIndexError:
            pass
        assert all(module.training for module in cnn.modules())
        assert [p.requires_grad for p in cnn.parameters()] == [name != "3.weight" for name, _ in cnn.named_parameters()]
        assert cnn[0].weight.grad is user_grad and torch.equal(user_grad, torch.ones_like(user_grad))
        assert all(p.grad is None for name, p in cnn.named_parameters() if name != "0.weight")
        assert all(torch.equal(p, before[name]) for name, p in cnn.named_parameters())
        assert {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for name, m in cnn.named_modules()} == hooks
    handle.remove()
    assert seen and all(training is False and grad is False for training, grad in seen)


class _Branchy(nn.Module):
    """Not a Sequential: two branches after a stem; the head raises if it ever runs."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.left = nn.Conv2d(8, 4, 3, padding=1)
        self.right = nn.Conv2d(8, 4, 3, padding=1)
        self.unused = nn.Conv2d(8, 4, 1)
        self.head = nn.Linear(8, 3)
        self.calls: dict[str, int] = {"left": 0, "right": 0, "head": 0}
        self.explode = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        self.calls["left"] += 1
        left = self.left(s)
        self.calls["right"] += 1
        right = self.right(s)
        self.calls["head"] += 1
        if self.explode:
            raise RuntimeError("the head ran")
        return self.head(torch.cat([left, right], 1).mean(dim=(2, 3)))


def test_the_forward_stops_at_the_deepest_layer_the_objective_needs():
    model = _Branchy().eval()
    model.explode = True
    ActivationMaximization(model, image_size=12).visualize(channel("left", [0, 1]), steps=4)
    assert model.calls == {"left": 5, "right": 0, "head": 0}
    ActivationMaximization(model, image_size=12).visualize(channel("left", 0) + neuron("right", 2), steps=4)
    assert model.calls == {"left": 10, "right": 5, "head": 0}
    model.explode = False
    result = ActivationMaximization(model, image_size=12).visualize(class_logit([0, 2]), steps=2)
    assert result.units == ("output:class 0", "output:class 2")


# -- errors, all before the first step -----------------------------------------------------------------------


def _stem_calls(model: _Branchy) -> list[int]:
    calls: list[int] = []
    model.stem.register_forward_hook(lambda module, args, output: calls.append(1))
    return calls


@pytest.mark.parametrize(
    ("objective", "error", "match", "forwards"),
    [
        (channel("left", 4), UnitIndexError, r"channel 4 is out of range for layer 'left'.*0\.\.3", 1),
        (neuron("left", 0, (12, 0)), UnitIndexError, "outside", 1),
        (class_logit(3), UnitIndexError, "class 3", 1),
        (channel("lft", 0), LayerNotFoundError, "closest names: 'left'", 0),
        (channel("unused", 0), LayerNotReachedError, "never ran", 1),
        (channel("left", 0) + deepdream("unused"), LayerNotReachedError, "never ran", 1),
    ],
)
def test_bad_objectives_fail_before_optimising(objective, error, match, forwards):
    model = _Branchy().eval()
    calls = _stem_calls(model)
    with pytest.raises(error, match=match):
        ActivationMaximization(model, image_size=12).visualize(objective, steps=50)
    assert len(calls) == forwards  # at most the probe; no step ran
    assert not model.stem._forward_hooks or len(model.stem._forward_hooks) == 1  # ours only


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda am: am.visualize("left"), TypeError, "must be an Objective"),
        (lambda am: am.visualize(channel("left", 0), steps=0), ValueError, "steps must be"),
        (lambda am: am.visualize(channel("left", [0, 1]), num_images=3), ValueError, "2 units"),
        (lambda am: am.visualize(channel("left", 0), seed=[1, 2], num_images=3), ValueError, "one integer per image"),
        (lambda am: am.visualize(channel("left", 0), start=torch.rand(2, 1, 8, 8)), Exception, "channels"),
    ],
)
def test_bad_arguments_fail_with_clear_messages(call, error, match):
    with pytest.raises(error, match=match):
        call(ActivationMaximization(_Branchy().eval(), image_size=12))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": 0.0}, ValueError, "lr must stay > 0"),
        ({"step": "sgd"}, ValueError, "unknown step .sgd.; choose from normalized, adam"),
        ({"image_size": (8, 0)}, ValueError, "image_size"),
        ({"mean": (0.5,), "std": None}, ValueError, "both mean and std"),
        ({"mean": (0.5, 0.5), "std": (0.2,)}, ValueError, "one value per channel"),
        ({"regularizers": [3]}, TypeError, "callable"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ActivationMaximization(_Branchy(), **kwargs)


def test_inference_mode_is_refused_but_no_grad_is_fine(cnn):
    am = ActivationMaximization(cnn, image_size=12)
    with torch.no_grad():
        assert am.visualize(channel("3", 0), steps=2).history.shape == (2, 1)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        am.visualize(channel("3", 0), steps=2)


# -- the result -------------------------------------------------------------------------------------------------


def test_the_visualization_holds_model_inputs_display_images_and_history(cnn):
    am = ActivationMaximization(cnn, image_size=(16, 20))
    result = am.visualize(channel("6", [1, 2, 3]), steps=7)
    assert isinstance(result, Visualization) and len(result) == 3
    assert result.images.shape == result.display.shape == (3, 3, 16, 20)
    assert result.history.shape == (7, 3)
    assert 0 <= result.display.min() and result.display.max() <= 1
    torch.testing.assert_close(result.images, am.normalize(result.display))
    torch.testing.assert_close(
        _activation(cnn, "6", am.normalize(result.display))[:, 1].mean(),
        _activation(cnn, "6", result.images)[:, 1].mean(),
    )
    assert result.units == ("6:channel 1", "6:channel 2", "6:channel 3")
    assert result.objective == "[6:channel 1, 6:channel 2, 6:channel 3]"
    assert bool((result.history[-1] > result.history[0]).all())


def test_without_clamp_display_is_rescaled_to_the_unit_range(cnn):
    result = ActivationMaximization(cnn, image_size=16, clamp=False, lr=0.5).visualize(channel("3", [0, 1]), steps=5)
    display = result.display.flatten(1)
    torch.testing.assert_close(display.min(1).values, torch.zeros(2))
    torch.testing.assert_close(display.max(1).values, torch.ones(2))


def test_start_images_are_model_inputs(cnn):
    am = ActivationMaximization(cnn, image_size=8)
    start = am.normalize(torch.rand(2, 3, 10, 12))
    result = am.visualize(channel("3", [0, 1]), steps=1, start=start)
    assert result.images.shape == (2, 3, 10, 12)
    first = _activation(cnn, "3", start)
    torch.testing.assert_close(result.history[0], first[[0, 1], [0, 1]].flatten(1).mean(1))


def test_adam_lr_schedules_and_float64(cnn):
    model = cnn.double()
    am = ActivationMaximization(model, image_size=12, step=Adam(), lr=Cosine(0.1, 0.01), mean=None, std=None)
    result = am.visualize(channel("6", 0), steps=10)
    assert result.images.dtype == torch.float64
    assert result.history[-1, 0] > result.history[0, 0]


def test_progress_bar_is_off_by_default_and_on_when_asked(cnn, capsys):
    am = ActivationMaximization(cnn, image_size=12)
    am.visualize(channel("3", 0), steps=3)
    assert capsys.readouterr().err == ""
    am.visualize(channel("3", 0), steps=3, progress=True)
    assert "3/3" in capsys.readouterr().err


def test_presets_are_configurations_of_one_loop(cnn):
    for name, blur in (("plain", None), ("gaussian", GaussianBlur), ("bilateral", BilateralBlur)):
        am = get_preset(name).create(cnn, image_size=12, regularizers=[Jitter(1)])
        assert type(am) is ActivationMaximization
        assert [type(r) for r in am.regularizers] == ([blur] if blur else []) + [Jitter]
    assert "GaussianBlur(sigma=Linear(1.0, 0.3)" in repr(get_preset("gaussian").create(cnn))
    with pytest.raises(MethodNotFoundError, match="did you mean 'bilateral'"):
        get_preset("bilaterl")
    assert get_preset("plain").create(cnn).regularizers == []


def test_runs_on_the_models_device(device):
    model = small_cnn().to(device)
    am = get_preset("bilateral").create(model, image_size=16, regularizers=[Jitter(1)])
    batch = am.visualize(channel("6", [0, 1]), steps=4, seed=1)
    assert batch.images.device.type == batch.history.device.type == torch.device(device).type
    single = am.visualize(channel("6", 1), steps=4, seed=2)
    torch.testing.assert_close(batch.images[1:], single.images, atol=1e-4, rtol=1e-4)


# -- torchvision architectures, random weights ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "objective"),
    [
        ("vgg11", channel("features.6", [0, 255])),
        ("resnet18", channel("layer2.0.conv1", [1, 2]) + 0.1 * deepdream("layer1")),
        ("resnet18", class_logit([0, 999])),
        ("mobilenet_v3_small", neuron("features.3.block.0.0", [5, 6])),
    ],
)
def test_torchvision_models(name, objective):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
    result = ActivationMaximization(model, image_size=64).visualize(objective, steps=3)
    assert result.images.shape == (2, 3, 64, 64) and torch.isfinite(result.history).all()
    assert bool((result.history[-1] > result.history[0]).all())
    assert not model.training and all(p.requires_grad and p.grad is None for p in model.parameters())


@pytest.mark.slow
def test_densenet_functional_relu_model():
    model = torchvision.models.densenet121(weights=None).eval()
    result = ActivationMaximization(model, image_size=64).visualize(channel("features.denseblock2", [0, 1]), steps=3)
    assert bool((result.history[-1] > result.history[0]).all())


def test_a_unit_that_starts_inactive_is_reported():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU())
    with torch.no_grad():
        model[0].bias[1] = -100.0  # channel 1 is zero on every [0, 1] image
    with pytest.warns(RuntimeWarning, match=r"zero for 1 image\(s\) \(1:channel 1\)"):
        result = ActivationMaximization(model, image_size=8).visualize(channel("1", [0, 1]), steps=2)
    assert result.history[-1, 1] == 0


@settings(max_examples=12, deadline=None)
@given(
    size=st.integers(8, 20),
    units=st.lists(st.integers(0, 31), min_size=1, max_size=4),
    steps=st.integers(1, 3),
    layer=st.sampled_from(["3", "6"]),
    seed=st.integers(0, 2**31),
)
def test_property_batches_equal_single_runs(size, units, steps, layer, seed):
    model = small_cnn()
    am = ActivationMaximization(model, image_size=size, regularizers=[Jitter(1), GaussianBlur(0.8)])
    batch = am.visualize(channel(layer, units), steps=steps, seed=seed)
    assert batch.images.shape == (len(units), 3, size, size) and batch.history.shape == (steps, len(units))
    for i, unit in enumerate(units):
        single = am.visualize(channel(layer, unit), steps=steps, seed=seed + i)
        torch.testing.assert_close(batch.history[:, i : i + 1], single.history, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch.images[i : i + 1], single.images, atol=1e-4, rtol=1e-4)


# -- a NaN stops the run ---------------------------------------------------------------------------------


class _BreaksAfter(nn.Module):
    """A conv whose output turns NaN for image 1 once the forward pass has run ``calls`` times."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.calls, self.limit = 0, calls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.conv(x)
        if self.calls > self.limit:
            out = out.clone()
            out[1] = float("nan")
        return out


def test_a_nan_in_the_objective_stops_the_run_with_the_step_and_image():
    model = _BreaksAfter(calls=4).eval()  # the probe and three steps are fine
    model.train()
    with pytest.raises(NonFiniteError, match=r"objective is NaN or infinite at step 3 for 1 image\(s\) \(output:channel 1\)"):
        ActivationMaximization(model, image_size=10).visualize(channel("", [0, 1]), steps=10)
    assert model.calls == 5 and model.training and all(p.requires_grad and p.grad is None for p in model.parameters())


def test_a_nan_made_by_a_regularizer_stops_the_run():
    def poison(images: torch.Tensor, progress: float) -> torch.Tensor:
        return images * float("nan") if progress > 0.5 else images

    am = ActivationMaximization(small_cnn(), image_size=12, regularizers=[poison], clamp=False)
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        am.visualize(channel("3", 0), steps=4)


def test_an_exploding_step_is_caught_not_returned():
    am = ActivationMaximization(small_cnn(), image_size=12, lr=1e38, clamp=False)
    with pytest.raises(NonFiniteError):
        am.visualize(channel("6", 0), steps=6)


def test_deep_dream_takes_the_parameterizations_too(cnn):
    from revelio.featureviz import DeepDream

    dream = DeepDream(cnn, octaves=2, steps=3, parameterization="fourier-decorrelated")
    images = dream.normalize(torch.rand(2, 3, 24, 24) * 0.8 + 0.1)
    result = dream.visualize("6", start=images)
    assert result.images.shape == images.shape and result.history.shape == (6, 2)
