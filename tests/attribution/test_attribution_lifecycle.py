"""Every method leaves the model (and the inputs) exactly as it found them, also on error.

Registry-driven: every (method, failure mode, input flavour) of
:data:`method_registry.METHODS`. After the call: no hook on any module, no torch function
mode left on, ``training`` and ``requires_grad`` flags as they were, parameters and
buffers bit-identical, no ``.grad`` written, the inputs untouched; and, as a behaviour
check that also sees hooks the module dicts do not show, the model's plain gradient
still equals that of an untouched deep copy.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
from attribution_nets import HOOK_DICTS, plain_gradient, small_cnn
from method_registry import CAM_LAYER, CLASSES, METHODS

from revelio.errors import TargetError


def _keyerror(output):
    raise KeyError("logits")


FAILURES = {
    "normal": ({"target": [1, 3]}, None, None, None),
    "target-out-of-range": ({"target": 99}, None, TargetError, "out of range"),
    "callable-target-raises": ({"target": _keyerror}, None, KeyError, "logits"),
    "forward-raises": ({"target": [1, 3]}, "armed_forward", RuntimeError, "tripwire: forward"),
    "backward-raises": ({"target": [1, 3]}, "armed_backward", RuntimeError, "tripwire: backward"),
}


def _prepared_model():
    """TRAIN mode with one submodule in eval, mixed requires_grad, some existing .grad."""
    model = small_cnn(torch.float64)
    model.train()
    model.pool.eval()
    model.conv1.weight.requires_grad_(False)
    model.fc.bias.requires_grad_(False)
    model.conv2.weight.grad = torch.randn_like(model.conv2.weight)
    model.fc.weight.grad = torch.randn_like(model.fc.weight)
    return model


def _snapshot(model):
    return {
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "params": {name: (p, p.detach().clone()) for name, p in model.named_parameters()},
        "buffers": {name: b.detach().clone() for name, b in model.named_buffers()},
        "grads": {name: (p.grad, None if p.grad is None else p.grad.clone()) for name, p in model.named_parameters()},
    }


def _assert_unchanged(model, before):
    for name, module in model.named_modules():
        for d in HOOK_DICTS:
            assert len(getattr(module, d)) == 0, f"{d} left on {name or 'model'}"
    assert torch._C._len_torch_function_stack() == 0, "a torch function mode is still active"
    assert {name: m.training for name, m in model.named_modules()} == before["training"]
    assert {name: p.requires_grad for name, p in model.named_parameters()} == before["requires_grad"]
    for name, param in model.named_parameters():
        original, values = before["params"][name]
        assert param is original, f"parameter {name} replaced"
        assert torch.equal(param, values), f"parameter {name} changed"
        grad, grad_values = before["grads"][name]
        assert param.grad is grad, f".grad of {name} replaced or written"
        if grad is not None:
            assert torch.equal(param.grad, grad_values), f".grad of {name} changed"
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before["buffers"][name]), f"buffer {name} changed (was the model in eval mode?)"


@pytest.mark.parametrize("input_requires_grad", [False, True], ids=["plain-input", "input-with-grad"])
@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("method", list(METHODS))
def test_model_and_inputs_left_as_found(method, failure, input_requires_grad):
    factory, options, _ = METHODS[method]
    call_kwargs, tripwire, error, match = FAILURES[failure]
    model = _prepared_model()
    untouched = copy.deepcopy(model)
    before = _snapshot(model)

    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    if input_requires_grad:
        x.requires_grad_(True)
        x.grad = torch.randn_like(x)
    x_grad, x_grad_values, x_values = x.grad, None if x.grad is None else x.grad.clone(), x.detach().clone()

    if tripwire:
        setattr(model.tripwire, tripwire, True)
    explainer = factory(model)
    if error is None:
        result = explainer.attribute(x, **call_kwargs, **options)
        assert torch.isfinite(result).all()
    elif failure == "backward-raises":  # raised by the backward pass, or no backward pass ran through the model
        try:
            explainer.attribute(x, **call_kwargs, **options)
        except error as raised:
            assert re.search(match, str(raised)), raised
        else:
            assert model.tripwire.backward_calls == 0, "a backward pass went through the armed tripwire unharmed"
    else:
        with pytest.raises(error, match=match):
            explainer.attribute(x, **call_kwargs, **options)
    if tripwire:
        setattr(model.tripwire, tripwire, False)

    _assert_unchanged(model, before)
    assert x.requires_grad == input_requires_grad
    assert x.grad is x_grad
    if x_grad is not None:
        assert torch.equal(x.grad, x_grad_values)
    assert torch.equal(x.detach(), x_values), "the input tensor was modified"

    # behaviour: the plain gradient (and the output) equal an untouched copy's, in the
    # restored TRAIN mode (BatchNorm on batch statistics)
    probe = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(model(probe), untouched(probe), rtol=0, atol=0)
    torch.testing.assert_close(plain_gradient(model, probe, [0, 2, 4]), plain_gradient(untouched, probe, [0, 2, 4]),
                               rtol=0, atol=0)
    # and a functional ReLU called outside revelio has its ordinary backward again
    leaf = torch.tensor([-1.0, 2.0], requires_grad=True)
    (grad,) = torch.autograd.grad((torch.relu(leaf) * torch.tensor([-3.0, -4.0])).sum(), leaf)
    torch.testing.assert_close(grad, torch.tensor([0.0, -4.0]), rtol=0, atol=0)


@pytest.mark.parametrize("method", list(CLASSES))
def test_user_hooks_survive_and_repeated_calls_add_none(method):
    model = small_cnn()
    calls = {"forward": 0, "pre": 0}
    layer = getattr(model, CAM_LAYER)
    handles = [
        layer.register_forward_hook(lambda *args: calls.__setitem__("forward", calls["forward"] + 1)),
        layer.register_forward_pre_hook(lambda *args: calls.__setitem__("pre", calls["pre"] + 1)),
    ]
    try:
        explainer = CLASSES[method](model)
        for _ in range(3):
            explainer.attribute(torch.randn(2, 3, 8, 8), target=1)
        # the user's hooks run at every forward pass of the method (one per call, or one per internal batch)
        assert model.forward_calls >= 3 and calls == {"forward": model.forward_calls, "pre": model.forward_calls}
        assert len(layer._forward_hooks) == 1 and len(layer._forward_pre_hooks) == 1
        assert sum(len(getattr(m, d)) for m in model.modules() for d in HOOK_DICTS) == 2
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("method", list(METHODS))
def test_works_inside_no_grad_and_on_inference_tensors(method):
    factory, options, _ = METHODS[method]
    model = small_cnn(torch.float64)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    expected = factory(model).attribute(x, target=[1, 2], **options)
    with torch.no_grad():
        inside = factory(model).attribute(x, target=[1, 2], **options)
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)
    with torch.inference_mode():
        frozen = x.clone()
    torch.testing.assert_close(factory(model).attribute(frozen, target=[1, 2], **options), expected, rtol=0, atol=0)
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("method", list(CLASSES))
def test_inference_mode_is_refused_with_a_clear_error(method):
    model = small_cnn()
    with torch.inference_mode(), pytest.raises(RuntimeError, match="outside that block"):
        CLASSES[method](model).attribute(torch.randn(1, 3, 8, 8), target=0)
    assert model.forward_calls == 0


@pytest.mark.parametrize("method", list(CLASSES))
def test_model_that_writes_its_input_in_place_leaves_the_callers_tensor_alone(method):
    class NormalisingCNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = small_cnn()
            self.conv2 = self.inner.conv2  # so that the CAM layer name resolves

        def forward(self, x):
            return self.inner(x.sub_(0.5))

    model = NormalisingCNN()
    x = torch.randn(2, 3, 8, 8)
    kept = x.clone()
    try:
        CLASSES[method](model).attribute(x, target=0)
    except RuntimeError as error:  # a loud refusal is acceptable; silent corruption is not
        assert "in-place" in str(error)
    assert torch.equal(x, kept)


@pytest.mark.parametrize("method", list(CLASSES))
def test_during_the_call_eval_mode_and_no_parameter_gradients(method):
    model = small_cnn()
    model.train()
    during = []

    def record(module, args):
        during.append(([m.training for m in module.modules()], [p.requires_grad for p in module.parameters()]))

    handle = model.register_forward_pre_hook(record)
    try:
        CLASSES[method](model).attribute(torch.randn(2, 3, 8, 8), target=1)
    finally:
        handle.remove()
    assert len(during) == model.forward_calls >= 1
    for training, requires_grad in during:  # every forward pass: one per call, or one per internal batch
        assert not any(training), "the model ran in train mode"
        assert not any(requires_grad), "the graph would hold parameter gradients"
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
