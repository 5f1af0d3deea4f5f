"""ReLUOverride on torchvision architectures (random weights) against an independent reference.

The reference does not use ReLUOverride or any TorchFunctionMode: it monkeypatches
``torch.nn.functional.relu`` (which ``nn.ReLU.forward`` calls, and which DenseNet calls
directly) with a hand-written, out-of-place guided (or deconvolution) ReLU.
"""

import pytest
import torch
import torch.nn.functional as F

from revelio.core import DeconvolutionRule, GradientRule, GuidedRule, ReLUOverride

# name -> (batch, side). SqueezeNet needs >= 64 pixels; VGG and DenseNet are the costly ones.
ARCHITECTURES = {
    "vgg11": (1, 64),
    "resnet18": (2, 64),
    "densenet121": (1, 64),
    "squeezenet1_1": (2, 64),
    "mobilenet_v3_small": (2, 64),
}
CLASSES = [1, 7]
_RELU = torch.nn.functional.relu


class _RuleReLUReference(torch.autograd.Function):
    """max(x, 0) forward; backward passes g where ``keep(x, g)``."""

    @staticmethod
    def forward(ctx, x, keep):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.keep = keep
        return torch.where(positive, x, torch.zeros((), dtype=x.dtype))

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return torch.where(ctx.keep(positive, grad), grad, torch.zeros((), dtype=grad.dtype)), None


REFERENCE_KEEP = {
    "guided": lambda positive, grad: positive & (grad > 0),  # Springenberg et al. 2014
    "deconvolution": lambda positive, grad: grad > 0,  # Zeiler and Fergus 2014
}
RULES = {"guided": GuidedRule, "deconvolution": DeconvolutionRule}


def _inputs(name):
    batch, side = ARCHITECTURES[name]
    return torch.randn(batch, 3, side, side)


def _score(output):
    classes = torch.tensor(CLASSES[: output.shape[0]])
    return output.gather(1, classes[:, None]).sum()


def _reference_grad(model, x, method, monkeypatch):
    calls = []

    def relu(input, inplace=False):
        calls.append(inplace)
        return _RuleReLUReference.apply(input, REFERENCE_KEEP[method])

    with monkeypatch.context() as patch:
        patch.setattr(torch.nn.functional, "relu", relu)
        x = x.clone().requires_grad_(True)
        output = model(x)
        (grad,) = torch.autograd.grad(_score(output), x)
    return output.detach(), grad, len(calls)


def _override_grad(model, x, rule):
    x = x.clone().requires_grad_(True)
    with ReLUOverride(rule) as override:
        output = model(x)
    (grad,) = torch.autograd.grad(_score(output), x)
    return output.detach(), grad, override.calls


def _assert_close_relative(actual, expected, rtol=1e-5):
    scale = expected.abs().max()
    assert scale > 0, "the reference gradient is all zero: nothing is compared"
    error = (actual - expected).abs().max()
    assert error <= rtol * scale, f"max error {error:.3g} vs max magnitude {scale:.3g}"


def _check_against_reference(model, name, method, monkeypatch):
    x = _inputs(name)
    ref_out, ref_grad, ref_calls = _reference_grad(model, x, method, monkeypatch)
    assert F.relu is _RELU  # the patch is undone before the override runs
    out, grad, calls = _override_grad(model, x, RULES[method]())
    assert ref_calls > 0
    assert calls == ref_calls, "the override and the reference saw a different number of ReLU calls"
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5 * float(ref_out.abs().max()))
    _assert_close_relative(grad, ref_grad)
    return grad, calls


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_guided_matches_the_reference(torchvision_model, name, monkeypatch):
    model = torchvision_model(name)
    grad, calls = _check_against_reference(model, name, "guided", monkeypatch)
    relu_modules = sum(isinstance(m, torch.nn.ReLU) for m in model.modules())
    if name == "resnet18":  # 9 ReLU modules; each block's one is called twice
        assert (relu_modules, calls) == (9, 1 + 8 * 2)
    elif name == "densenet121":  # one more, functional, F.relu in DenseNet.forward
        assert calls == relu_modules + 1
    else:
        assert calls == relu_modules
    # Guided backprop is not the plain gradient: otherwise the comparison shows nothing.
    x = _inputs(name).requires_grad_(True)
    (plain,) = torch.autograd.grad(_score(model(x)), x)
    assert not torch.allclose(grad, plain, rtol=1e-3, atol=1e-3 * float(plain.abs().max()))


@pytest.mark.parametrize("name", ["resnet18", "squeezenet1_1"])
def test_deconvolution_matches_the_reference(torchvision_model, name, monkeypatch):
    _check_against_reference(torchvision_model(name), name, "deconvolution", monkeypatch)


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "mobilenet_v3_small"])
def test_gradient_rule_is_plain_autograd_exactly(torchvision_model, name):
    model = torchvision_model(name)
    x = _inputs(name)
    out, grad, calls = _override_grad(model, x, GradientRule())
    x = x.clone().requires_grad_(True)
    plain_out = model(x)
    (plain,) = torch.autograd.grad(_score(plain_out), x)
    assert calls > 0
    assert plain.abs().max() > 0
    assert torch.equal(out, plain_out.detach())
    assert torch.equal(grad, plain)
