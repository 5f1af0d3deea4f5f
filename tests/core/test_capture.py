"""LayerCapture: true layer outputs, gradients that stop at the layer, early stop, cleanup."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from revelio.core import LayerCapture, resolve_layer
from revelio.errors import LayerNotReachedError, LayerOutputError


@pytest.fixture
def vgg11(torchvision_model):
    return torchvision_model("vgg11")


@pytest.fixture
def images():
    return torch.randn(2, 3, 32, 32)


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


class Counter(nn.Module):
    def __init__(self, fail: bool = False):
        super().__init__()
        self.calls = 0
        self.fail = fail

    def forward(self, x):
        self.calls += 1
        if self.fail:
            raise AssertionError("this module must not run")
        return x


class TupleOut(nn.Module):
    def forward(self, x):
        return x, x * 2


def test_records_the_true_output_before_an_in_place_relu(vgg11, images):
    assert isinstance(vgg11.features[1], nn.ReLU) and vgg11.features[1].inplace
    with torch.no_grad(), LayerCapture([resolve_layer(vgg11, "features.0")]) as capture:
        logits = capture.forward(vgg11, images)
        plain_logits = vgg11(images)
    conv = vgg11.features[0]
    expected = F.conv2d(images, conv.weight, conv.bias, padding=1)
    captured = capture["features.0"]
    assert captured.shape == (2, 64, 32, 32)
    assert (captured < 0).any(), "the in-place ReLU after the layer rectified the recorded tensor"
    torch.testing.assert_close(captured, expected, rtol=1e-5, atol=1e-6)
    # The rest of the network still sees the ordinary values.
    torch.testing.assert_close(logits, plain_logits, rtol=1e-5, atol=1e-6)


def test_a_plain_forward_hook_would_see_the_rectified_tensor(vgg11, images):
    """The failure mode LayerCapture exists for: proves the test above can fail."""
    seen = {}
    handle = vgg11.features[0].register_forward_hook(lambda m, a, out: seen.setdefault("out", out))
    try:
        with torch.no_grad():
            vgg11(images)
    finally:
        handle.remove()
    assert (seen["out"] >= 0).all()


def test_detach_gives_the_gradient_of_the_tail_only(vgg11, images):
    x = images.clone().requires_grad_(True)
    with LayerCapture([resolve_layer(vgg11, "features.13")], detach=True) as capture:
        logits = capture.forward(vgg11, x)
    leaf = capture["features.13"]
    assert leaf.is_leaf and leaf.requires_grad and leaf.grad_fn is None
    score = logits[:, 7].sum()
    (grad,) = torch.autograd.grad(score, leaf, retain_graph=True)
    # No graph below the layer: the input is not reachable from the output.
    assert torch.autograd.grad(score, x, allow_unused=True) == (None,)

    # Independent: run the tail of the network by hand from the same activation.
    start = leaf.detach().clone().requires_grad_(True)
    h = vgg11.features[14:](start.clone())
    h = vgg11.classifier(torch.flatten(vgg11.avgpool(h), 1))
    (expected,) = torch.autograd.grad(h[:, 7].sum(), start)
    assert expected.abs().max() > 0
    torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-7 * float(expected.abs().max()))
    for param in vgg11.parameters():
        assert param.grad is None


def test_without_detach_gradients_are_unchanged(vgg11, images):
    x = images.clone().requires_grad_(True)
    with LayerCapture([resolve_layer(vgg11, "features.3")]) as capture:
        score = capture.forward(vgg11, x)[:, 1].sum()
    (grad,) = torch.autograd.grad(score, x)
    x2 = images.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(vgg11(x2)[:, 1].sum(), x2)
    torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-7 * float(expected.abs().max()))
    assert capture["features.3"].requires_grad  # still connected to the input


def _chain():
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 4), Counter(), nn.Linear(4, 2), Counter(fail=True)
    ).double()


def test_stop_skips_everything_after_the_layer():
    model = _chain()
    x = torch.randn(5, 3, dtype=torch.float64)
    with LayerCapture([resolve_layer(model, "2")], stop=True) as capture:
        assert capture.forward(model, x) is None
    assert model[3].calls == 0
    expected = model[2](torch.relu(model[0](x)))
    torch.testing.assert_close(capture["2"], expected, rtol=0, atol=0)


def test_stop_waits_for_the_deepest_of_several_layers():
    model = _chain()
    x = torch.randn(5, 3, dtype=torch.float64)
    layers = [resolve_layer(model, "4"), resolve_layer(model, "0")]
    with LayerCapture(layers, stop=True) as capture:
        assert capture.forward(model, x) is None
    assert model[3].calls == 1  # between the two layers: runs
    assert model[5].calls == 0  # after the deepest: does not
    torch.testing.assert_close(capture["0"], model[0](x), rtol=0, atol=0)
    torch.testing.assert_close(capture["4"], model[4](model[2](torch.relu(model[0](x)))), rtol=0, atol=0)


def test_stop_with_the_same_layer_listed_twice():
    model = _chain()
    with LayerCapture([resolve_layer(model, "2"), resolve_layer(model, model[2])], stop=True) as capture:
        assert capture.forward(model, torch.randn(1, 3, dtype=torch.float64)) is None
    assert model[3].calls == 0


def test_without_stop_the_model_output_is_returned():
    model = _chain()[:5]
    x = torch.randn(5, 3, dtype=torch.float64)
    with LayerCapture([resolve_layer(model, "0")]) as capture:
        out = capture.forward(model, x)
    torch.testing.assert_close(out, model(x), rtol=0, atol=0)


def test_layer_that_never_runs():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(3, 3)
            self.unused = nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x)

    model = Unused()
    with pytest.raises(LayerNotReachedError, match=r"layer\(s\) \['unused'\] never ran.*choose a layer on the path"):
        with LayerCapture([resolve_layer(model, "unused"), resolve_layer(model, "used")]) as capture:
            capture.forward(model, torch.randn(2, 3))
    assert _hook_count(model) == 0
    assert issubclass(LayerNotReachedError, RuntimeError)


def test_layer_returning_a_tuple():
    model = nn.Sequential(nn.Linear(3, 3), TupleOut())
    with pytest.raises(LayerOutputError, match="layer '1' \\(TupleOut\\) returns a tuple, not a tensor; choose one of its submodules"):
        with LayerCapture([resolve_layer(model, "1")]) as capture:
            capture.forward(model, torch.randn(2, 3))
    assert _hook_count(model) == 0


@pytest.mark.parametrize("stop", [False, True])
def test_hooks_removed_after_the_block(stop):
    model = _chain()[:5]
    model[0].register_forward_hook(lambda *a: None)  # the user's own hook stays
    with LayerCapture([resolve_layer(model, "0"), resolve_layer(model, "4")], stop=stop) as capture:
        assert _hook_count(model) == 3
        capture.forward(model, torch.randn(2, 3, dtype=torch.float64))
    assert _hook_count(model) == 1
    recorded = capture["0"]
    model(torch.randn(2, 3, dtype=torch.float64))
    assert capture["0"] is recorded


def test_hooks_removed_after_an_exception():
    model = _chain()
    with pytest.raises(AssertionError, match="must not run"):
        with LayerCapture([resolve_layer(model, "2")]) as capture:
            capture.forward(model, torch.randn(2, 3, dtype=torch.float64))
    assert _hook_count(model) == 0
    with pytest.raises(KeyError):
        with LayerCapture([resolve_layer(model, "2")]):
            raise KeyError("user code")
    assert _hook_count(model) == 0


def test_module_called_twice_records_the_first_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = nn.Linear(3, 3)

        def forward(self, x):
            return self.shared(torch.tanh(self.shared(x)))

    model = Twice().double()
    x = torch.randn(4, 3, dtype=torch.float64)
    with LayerCapture([resolve_layer(model, "shared")]) as capture:
        out = capture.forward(model, x)
    w, b = model.shared.weight, model.shared.bias
    first = x @ w.T + b
    torch.testing.assert_close(capture["shared"], first, rtol=0, atol=1e-15)
    torch.testing.assert_close(out, torch.tanh(first) @ w.T + b, rtol=0, atol=1e-15)


def test_each_forward_records_afresh():
    model = _chain()[:3]
    with LayerCapture([resolve_layer(model, "0")]) as capture:
        capture.forward(model, torch.zeros(1, 3, dtype=torch.float64))
        capture.forward(model, torch.ones(1, 3, dtype=torch.float64))
    torch.testing.assert_close(capture["0"], model[0].weight.sum(1)[None] + model[0].bias, rtol=0, atol=1e-15)


def test_on_every_device(device):
    model = _chain()[:5].to(device)
    x = torch.randn(3, 3, dtype=torch.float64, device=device)
    with LayerCapture([resolve_layer(model, "2")], detach=True) as capture:
        out = capture.forward(model, x)
    leaf = capture["2"]
    assert leaf.device == x.device
    (grad,) = torch.autograd.grad(out[:, 0].sum(), leaf)
    # Tail is Counter (identity) then Linear(4, 2): d out[:, 0] / d leaf = row 0 of its weight.
    torch.testing.assert_close(grad, model[4].weight[0].detach().expand(3, 4), rtol=0, atol=0)
