"""SmoothGrad, SmoothGrad-squared, VarGrad: statistics by hand, the noise, any wrapped method, Captum's NoiseTunnel."""

from __future__ import annotations

import warnings

import pytest
import torch
from attribution_nets import HOOK_DICTS, assert_any_internal_batch_size_agrees, forward_batch_sizes, small_cnn
from torch import Tensor, nn

from revelio.attribution import (
    Attribution,
    GradCAM,
    GuidedBackprop,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
    SmoothGradSquared,
    VarGrad,
)
from revelio.errors import InputError

WRAPPERS = [SmoothGrad, SmoothGradSquared, VarGrad]


class Quadratic(nn.Module):
    """``f_c(x) = sum_j W_cj x_j^2 / 2``: the gradient of class c is ``W_c * x``, so noise changes it linearly."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([[1.0, -2.0, 0.5, 3.0], [-1.0, 0.25, 2.0, -0.5]], dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return (x.flatten(1) ** 2 / 2) @ self.weight.T


def _quadratic_inputs() -> Tensor:
    return torch.tensor([[[1.0, -1.0], [2.0, 0.0]], [[0.5, 3.0], [-2.0, 1.0]]], dtype=torch.float64)  # (2, 2, 2)


@pytest.mark.parametrize("cls", WRAPPERS)
def test_statistics_by_hand_on_a_quadratic_model(cls):
    model = Quadratic()
    x = _quadratic_inputs()
    wrapper = cls(model, seed=3)
    noise = wrapper.noise(x, samples=6, noise_level=0.2)  # (6, 2, 2, 2)
    w = model.weight.detach()[[0, 1]].view(2, 2, 2)  # class 0 for example 0, class 1 for example 1
    gradients = w * (x + noise)  # the signed gradient at each noisy copy, by hand: (6, 2, 2, 2)
    expected = {
        SmoothGrad: gradients.mean(0),
        SmoothGradSquared: (gradients**2).mean(0),
        VarGrad: w**2 * noise.var(0, unbiased=False),  # the variance of w * (x + e) is w^2 var(e)
    }[cls]
    maps = wrapper.attribute(x, target=[0, 1], samples=6, noise_level=0.2)
    torch.testing.assert_close(maps, expected, rtol=1e-12, atol=1e-14)


def test_the_noise_is_a_fraction_of_each_examples_range_with_shared_draws():
    x = torch.stack([torch.linspace(-1, 1, 48).view(3, 4, 4), torch.linspace(0, 10, 48).view(3, 4, 4)])
    noise = SmoothGrad(small_cnn(), seed=0).noise(x, samples=400, noise_level=0.1)
    assert noise.shape == (400, 2, 3, 4, 4)
    sigma = torch.tensor([0.1 * 2, 0.1 * 10])  # ranges 2 and 10
    torch.testing.assert_close(noise[:, 0] / sigma[0], noise[:, 1] / sigma[1])  # the same standard-normal draws
    assert abs(float((noise[:, 1] / sigma[1]).std()) - 1) < 0.02
    assert abs(float((noise[:, 1] / sigma[1]).mean())) < 0.02


def test_seeded_noise_makes_calls_reproducible():
    model = small_cnn(torch.float64)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    first = SmoothGrad(model, seed=7).attribute(x, target=1, samples=4)
    torch.testing.assert_close(SmoothGrad(model, seed=7).attribute(x, target=1, samples=4), first, rtol=0, atol=0)
    assert not torch.allclose(SmoothGrad(model, seed=8).attribute(x, target=1, samples=4), first)
    wrapper = SmoothGrad(model, seed=7)
    torch.testing.assert_close(wrapper.attribute(x, target=1, samples=4), wrapper.attribute(x, target=1, samples=4),
                               rtol=0, atol=0)


@pytest.mark.parametrize("inner", ["saliency", "guided", "gradcam"])
def test_equals_a_plain_loop_over_the_noisy_copies(inner):
    model = small_cnn(torch.float64, seed=1)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    method = {"saliency": Saliency(model), "guided": GuidedBackprop(model), "gradcam": GradCAM(model, "conv2")}[inner]
    noise = SmoothGrad(method, seed=2).noise(x, samples=5, noise_level=0.3)
    maps = torch.stack([method.attribute(x + e, target=[0, 4, 2]) for e in noise])  # one call per sample
    for cls, expected in [
        (SmoothGrad, maps.mean(0)),
        (SmoothGradSquared, (maps**2).mean(0)),
        (VarGrad, maps.var(0, unbiased=False)),
    ]:
        got = cls(method, seed=2).attribute(x, target=[0, 4, 2], samples=5, noise_level=0.3)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_a_plain_model_means_the_signed_gradient():
    model = small_cnn(torch.float64, seed=1)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    signed = SmoothGrad(Saliency(model), seed=0).attribute(x, 1, samples=3, method_options={"abs": False})
    torch.testing.assert_close(SmoothGrad(model, seed=0).attribute(x, 1, samples=3), signed, rtol=0, atol=0)
    absolute = SmoothGrad(model, seed=0).attribute(x, 1, samples=3, method_options={"abs": True})
    torch.testing.assert_close(absolute, SmoothGrad(Saliency(model)).attribute(x, 1, samples=3), rtol=0, atol=0)
    assert not torch.allclose(absolute, signed)


@pytest.mark.parametrize("inner", ["saliency", "gradcam"])
def test_zero_noise_gives_the_methods_own_map(inner):
    model = small_cnn(torch.float64)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    method = Saliency(model) if inner == "saliency" else GradCAM(model, "conv2")
    clean = method.attribute(x, target=[2, 3])
    torch.testing.assert_close(SmoothGrad(method).attribute(x, [2, 3], samples=3, noise_level=0), clean)
    torch.testing.assert_close(SmoothGradSquared(method).attribute(x, [2, 3], samples=3, noise_level=0), clean**2)
    assert float(VarGrad(method).attribute(x, [2, 3], samples=3, noise_level=0).abs().max()) == 0


def test_method_options_reach_the_wrapped_method():
    model = small_cnn(torch.float64)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    cam = GradCAM(model, "conv2")
    options = {"upsample": False, "relu": False}
    coarse = SmoothGrad(cam).attribute(x, 1, samples=2, noise_level=0, method_options=options)
    torch.testing.assert_close(coarse, cam.attribute(x, 1, upsample=False, relu=False))
    assert coarse.shape == (2, 1, 4, 4) and bool((coarse < 0).any())
    ig = IntegratedGradients(model)
    smoothed = SmoothGrad(ig).attribute(x, 1, samples=2, noise_level=0, method_options={"steps": 3})
    torch.testing.assert_close(smoothed, ig.attribute(x, 1, steps=3))


def test_the_classes_explained_are_those_of_the_clean_input():
    model = small_cnn(torch.float64, seed=6)
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        logits = model.eval()(x)
    wrapper = SmoothGrad(model)
    # strong noise: many noisy copies have another top class, but each explains the clean one
    torch.testing.assert_close(wrapper.attribute(x, samples=6, noise_level=1.0),
                               wrapper.attribute(x, logits.argmax(1), samples=6, noise_level=1.0), rtol=0, atol=0)
    top = wrapper.explain(x, "top2", samples=6, noise_level=1.0)
    assert torch.equal(top.classes, logits.topk(2, dim=1).indices)
    best = logits.topk(2, dim=1).indices
    torch.testing.assert_close(top.maps, wrapper.attribute(x, best, samples=6, noise_level=1.0))


@pytest.mark.parametrize("cls", WRAPPERS)
def test_any_internal_batch_size_gives_the_same_map(cls):
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    wrapper = cls(GradCAM(small_cnn(torch.float64, seed=2), "conv2"), seed=1)
    assert_any_internal_batch_size_agrees(
        lambda size: wrapper.attribute(x, [[1, 2], [0, 4], [3, 3]], samples=4, internal_batch_size=size),
        sizes=(None, 1, 2, 5, 7, 50), reference_size=12,
    )


def test_internal_batches_bound_the_wrapped_methods_batch():
    model = small_cnn()
    wrapper = SmoothGrad(model)
    sizes = forward_batch_sizes(model, lambda: wrapper.attribute(torch.randn(3, 3, 8, 8), 1, samples=5,
                                                                 internal_batch_size=4))
    assert sizes == [3] + [4] * 3 + [3]  # the clean pass, then 15 (example, sample) items four at a time


class OneClassAtATime(Attribution):
    """The gradient, explaining one class per call: the base class loops over several."""

    def attribute(self, inputs: Tensor, target=None) -> Tensor:
        return self.input_gradient(inputs, target)


def test_several_classes_through_a_method_that_explains_one():
    model = small_cnn(torch.float64, seed=3)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    wrapper = SmoothGradSquared(OneClassAtATime(model), seed=2)
    maps = wrapper.attribute(x, [[1, 4], [0, 2]], samples=3)
    singles = [wrapper.attribute(x, [1, 0], samples=3), wrapper.attribute(x, [4, 2], samples=3)]
    torch.testing.assert_close(maps, torch.stack(singles, dim=1), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(maps, SmoothGradSquared(model, seed=2).attribute(x, [[1, 4], [0, 2]], samples=3))


def test_rebind_rebinds_the_wrapped_method():
    model, other = small_cnn(torch.float64, seed=1), small_cnn(torch.float64, seed=2)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    wrapper = VarGrad(GradCAM(model, "conv2"), seed=5)
    rebound = wrapper.rebind(other)
    assert rebound.model is other and rebound.method.model is other and rebound.method.layer is other.conv2
    assert wrapper.method.model is model and rebound.seed == 5
    torch.testing.assert_close(rebound.attribute(x, 1, samples=3),
                               VarGrad(GradCAM(other, "conv2"), seed=5).attribute(x, 1, samples=3))
    assert rebound.rebind(model, "conv1").method.layer is model.conv1
    with pytest.raises(TypeError, match="layer= is for a wrapped layer method"):
        SmoothGrad(model).rebind(other, "conv2")


def test_no_hooks_left_after_a_wrapped_layer_method_fails():
    model = small_cnn()
    model.tripwire.armed_backward = True
    with pytest.raises(RuntimeError, match="tripwire: backward"):
        SmoothGrad(GradCAM(model, "conv2")).attribute(torch.randn(2, 3, 8, 8), target=1, samples=2)
    assert all(len(getattr(m, d)) == 0 for m in model.modules() for d in HOOK_DICTS)
    assert torch._C._len_torch_function_stack() == 0


def test_repr_names_the_wrapped_method():
    assert repr(VarGrad(GradCAM(small_cnn(), "conv2"), seed=4)) == "VarGrad(GradCAM(SmallCNN, layer='conv2'), seed=4)"


# --- errors before any work ------------------------------------------------------------------------

BAD_OPTIONS = [
    (SmoothGrad, {"samples": 0}, ValueError, r"SmoothGrad: samples must be an int >= 1, got 0"),
    (SmoothGrad, {"samples": 2.0}, ValueError, "option 'samples' takes an int, got 2.0"),
    (SmoothGrad, {"samples": True}, ValueError, "option 'samples' takes an int, got True"),
    (VarGrad, {"samples": 1}, ValueError, r"VarGrad: samples must be an int >= 2, got 1"),
    (SmoothGrad, {"noise_level": -0.1}, ValueError, r"noise_level must be a number >= 0.*got -0\.1"),
    (SmoothGrad, {"noise_level": float("nan")}, ValueError, "noise_level must be a number >= 0"),
    (SmoothGradSquared, {"noise_level": "15%"}, ValueError, "option 'noise_level' takes a float, got '15%'"),
    (SmoothGrad, {"internal_batch_size": 0}, InputError, "internal_batch_size must be a positive int"),
    (SmoothGrad, {"method_options": {"colour": 1}}, TypeError,
     r"SmoothGrad: method_options \['colour'\] are not options of Saliency\.attribute; its options are: abs, channels"),
    (SmoothGrad, {"method_options": [("abs", True)]}, TypeError, "method_options must be a dict"),
    (SmoothGrad, {"abs": True}, TypeError, r"unexpected keyword argument 'abs'; its options are: samples, noise_level"),
]


@pytest.mark.parametrize(("cls", "options", "error", "match"), BAD_OPTIONS,
                         ids=[f"{case[0].__name__}-{case[1]}"[:50] for case in BAD_OPTIONS])
def test_bad_options_are_refused_before_any_forward_pass(cls, options, error, match):
    model = small_cnn()
    with pytest.raises(error, match=match):
        cls(model).attribute(torch.randn(2, 3, 8, 8), target=1, **options)
    assert model.forward_calls == 0


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="an Attribution instance such as Saliency.*got str"):
        SmoothGrad("resnet18")
    with pytest.raises(TypeError, match="got Saliency"):
        SmoothGrad(Saliency)  # the class, not an instance
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        SmoothGrad(small_cnn(), seed="1")


def test_the_wrapped_methods_input_checks_run_first():
    model = small_cnn()
    with pytest.raises(InputError, match="inputs must be floating point"):
        SmoothGrad(GradCAM(model, "conv2")).attribute(torch.zeros(2, 3, 8, 8, dtype=torch.long))
    assert model.forward_calls == 0


# --- Captum's NoiseTunnel, fed the same noisy copies -------------------------------------------------

captum_attr = pytest.importorskip("captum.attr")
NT_TYPES = {SmoothGrad: "smoothgrad", SmoothGradSquared: "smoothgrad_sq", VarGrad: "vargrad"}


def _noise_tunnel(monkeypatch, method, x, copies, nt_type, **kwargs):
    """Captum's NoiseTunnel with its noise replaced by ``copies`` (``Tensor[S, N, ...]``), in its layout.

    NoiseTunnel draws its noise inside ``_add_noise_to_input`` and lays the copies out
    example by example (``repeat_interleave``); the patch returns revelio's copies in that layout.
    """
    samples = copies.shape[0]
    flat = copies.transpose(0, 1).flatten(0, 1)

    def same_copies(input, stdev, nt_samples_partition):
        assert nt_samples_partition == samples and torch.equal(input, x)
        return flat.clone()

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(same_copies))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return captum_attr.NoiseTunnel(method).attribute(x.clone(), nt_type=nt_type, nt_samples=samples, stdevs=1.0,
                                                          **kwargs)


def _close(actual, expected):
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("cls", WRAPPERS)
@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "vgg11"])
def test_matches_captum_noise_tunnel_over_saliency(arch, cls, request, monkeypatch):
    model = request.getfixturevalue(arch)
    x = torch.randn(2, 3, 32, 32)
    wrapper = cls(model, seed=0)  # the signed gradient, as Captum's Saliency with abs=False
    copies = x + wrapper.noise(x, samples=3)
    theirs = _noise_tunnel(monkeypatch, captum_attr.Saliency(model), x, copies, NT_TYPES[cls], target=[3, 7],
                           abs=False)
    _close(wrapper.attribute(x, target=[3, 7], samples=3), theirs)


@pytest.mark.parametrize("inner", ["guided", "gradcam"])
def test_matches_captum_noise_tunnel_over_other_methods(inner, resnet18, monkeypatch):
    x = torch.randn(2, 3, 32, 32)
    if inner == "guided":  # ResNet18 calls ReLU through nn.ReLU modules only, which Captum hooks
        ours, theirs_method, options, kwargs = GuidedBackprop(resnet18), captum_attr.GuidedBackprop(resnet18), {}, {}
    else:
        ours, theirs_method = GradCAM(resnet18, "layer4"), captum_attr.LayerGradCam(resnet18, resnet18.layer4)
        options, kwargs = {"upsample": False}, {"relu_attributions": True}
    wrapper = VarGrad(ours, seed=1)
    copies = x + wrapper.noise(x, samples=4, noise_level=0.2)
    theirs = _noise_tunnel(monkeypatch, theirs_method, x, copies, "vargrad", target=[3, 7], **kwargs)
    _close(wrapper.attribute(x, target=[3, 7], samples=4, noise_level=0.2, method_options=options), theirs)
