"""Bad inputs, targets, options and layers: the error type, a message that names the fix,
and no forward pass before an error that could be found without one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attribution_nets import HOOK_DICTS, small_cnn
from method_registry import CAM_LAYER, CLASSES
from torch import nn

from revelio.attribution import GradCAM, GuidedGradCAM, Saliency
from revelio.errors import InputError, LayerNotFoundError, TargetError

N = 2


def _x(*shape, **kwargs):
    return torch.randn(*(shape or (N, 3, 8, 8)), **kwargs)


# (id, inputs, attribute kwargs, exception, match): found before any forward pass
BAD_CALLS = [
    ("list-inputs", lambda: _x().tolist(), {}, InputError, "must be a torch.Tensor"),
    ("numpy-inputs", lambda: _x().numpy(), {}, InputError, "must be a torch.Tensor"),
    ("integer-inputs", lambda: torch.zeros(N, 3, 8, 8, dtype=torch.long), {}, InputError, r"convert with \.float\(\)"),
    ("bool-inputs", lambda: torch.zeros(N, 3, 8, 8, dtype=torch.bool), {}, InputError, r"\.float\(\)"),
    ("1-D-inputs", lambda: _x(8), {}, InputError, r"inputs\.unsqueeze\(0\)"),
    ("0-D-inputs", lambda: torch.tensor(1.0), {}, InputError, r"inputs\.unsqueeze\(0\)"),
    ("empty-batch", lambda: _x(0, 3, 8, 8), {}, InputError, "at least one example"),
    ("inputs-on-meta", lambda: _x(device="meta"), {}, InputError, r"inputs are on meta.*inputs\.to\('cpu'\)"),
    ("target-too-long", _x, {"target": [0, 1, 2]}, TargetError,
     "classes for 3 examples in a batch of 2; give one class"),
    ("target-too-short", _x, {"target": torch.tensor([1])}, TargetError, "one class .or one row of classes. per"),
    ("targets-too-short", _x, {"target": [[1, 2, 3]]}, TargetError, "classes for 1 examples in a batch of 2"),
    ("targets-ragged", _x, {"target": [[1, 2], [3]]}, TargetError, "same number K >= 1 for every example"),
    ("targets-empty", _x, {"target": torch.zeros(N, 0, dtype=torch.long)}, TargetError, "K >= 1"),
    ("top-0", _x, {"target": "top0"}, TargetError, "'topK' with K >= 1"),
    ("target-negative", _x, {"target": -1}, TargetError, ">= 0"),
    ("target-negative-in-list", _x, {"target": [0, -2]}, TargetError, ">= 0"),
    ("target-float", _x, {"target": 1.5}, TargetError, "an int, one int per example, K ints per example"),
    ("target-float-list", _x, {"target": [1.0, 2.0]}, TargetError, "must be integers"),
    ("target-float-tensor", _x, {"target": torch.tensor([1.0, 2.0])}, TargetError, "integer class indices"),
    ("target-float-numpy", _x, {"target": np.array([1.0, 2.0])}, TargetError, "integer class indices"),
    ("target-bool", _x, {"target": True}, TargetError, "an int"),
    ("target-string", _x, {"target": "cat"}, TargetError, "must be 'topK'"),
    ("target-3-D-tensor", _x, {"target": torch.zeros(N, 1, 1, dtype=torch.long)}, TargetError, r"\(N, K\)"),
    ("unknown-option", _x, {"colour": "red"}, TypeError, r"\.attribute: got an unexpected keyword argument 'colour'"),
]


@pytest.mark.parametrize(("inputs", "kwargs", "error", "match"), [case[1:] for case in BAD_CALLS],
                         ids=[case[0] for case in BAD_CALLS])
@pytest.mark.parametrize("method", list(CLASSES))
def test_bad_call_fails_before_any_forward_pass(method, inputs, kwargs, error, match):
    model = small_cnn()
    explainer = CLASSES[method](model)
    with pytest.raises(error, match=match):
        explainer.attribute(inputs(), **kwargs)
    assert model.forward_calls == 0
    assert all(len(getattr(m, d)) == 0 for m in model.modules() for d in HOOK_DICTS)


@pytest.mark.parametrize("method", list(CLASSES))
def test_unknown_option_names_the_method_and_its_options(method):
    explainer = CLASSES[method](small_cnn())
    name = type(explainer).__name__
    options = ", ".join(explainer.options()) or "none"
    with pytest.raises(TypeError, match=rf"^{name}\.attribute: .*'colour'; its options are: {options}$"):
        explainer.attribute(_x(), colour="red")


@pytest.mark.parametrize("channels", ["min", "MAX", 1, ("max",)])
def test_bad_channels_value(channels):
    model = small_cnn()
    with pytest.raises(ValueError, match=r"option 'channels' takes one of 'max', 'sum', 'mean' or None, got"):
        Saliency(model).attribute(_x(), channels=channels)
    assert model.forward_calls == 0


@pytest.mark.parametrize(
    ("method", "kwargs", "error", "match"),
    [
        (GradCAM, {}, InputError, r"need inputs \(N, C, H, W\), got shape \(2, 3, 8\); pass upsample=False"),
        (GuidedGradCAM, {}, InputError, r"got shape \(2, 3, 8\); for other inputs use GradCAM with upsample=False"),
        (GuidedGradCAM, {"upsample": False}, TypeError,
         r"GuidedGradCAM\.attribute: .*'upsample'; its options are: relu"),
    ],
)
def test_cam_input_shape_errors(method, kwargs, error, match):
    model = small_cnn()
    with pytest.raises(error, match=match):
        method(model, CAM_LAYER).attribute(_x(N, 3, 8), **kwargs)
    assert model.forward_calls == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", list(CLASSES))
def test_inputs_on_another_real_device(method):
    model = small_cnn()
    match = r"inputs are on cuda:0 but the model is on cpu; move them with inputs\.to\('cpu'\)"
    with pytest.raises(InputError, match=match):
        CLASSES[method](model).attribute(_x(device="cuda"))
    assert model.forward_calls == 0


@pytest.mark.parametrize("method", list(CLASSES))
def test_model_on_another_device(method):
    model = small_cnn().to("meta")
    match = r"inputs are on cpu but the model is on meta; move them with inputs\.to\('meta'\)"
    with pytest.raises(InputError, match=match):
        CLASSES[method](model).attribute(_x())
    assert model.forward_calls == 0


# --- errors that need the model's output: one forward pass, no backward ----------------


class DictModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = small_cnn()
        self.conv2 = self.net.conv2

    def forward(self, x):
        return {"logits": self.net(x)}


class SegmentationModel(nn.Module):
    """(N, classes, H, W) output; its tripwire and forward counter are those of a SmallCNN."""

    def __init__(self) -> None:
        super().__init__()
        self.net = small_cnn()
        self.conv2 = self.net.conv2

    def forward(self, x):
        self.net.forward_calls += 1
        return self.net.tripwire(self.conv2(self.net.conv1(x)).relu())


OUTPUT_ERRORS = [
    ("class-out-of-range", small_cnn, {"target": [1, 5]}, TargetError,
     r"target class 5 is out of range .* 5 classes; use a class in 0\.\.4"),
    ("callable-wrong-shape", small_cnn, {"target": lambda out: out}, TargetError,
     r"shape \(2,\), got \(2, 5\); reduce each example"),
    ("callable-returns-int", small_cnn, {"target": lambda out: out.argmax(1)}, TargetError, "floating-point scores"),
    ("callable-returns-float", small_cnn, {"target": lambda out: 1.0}, TargetError, r"shape \(2,\), got float"),
    ("dict-output-int-target", DictModel, {"target": 1}, TargetError,
     r"returned a dict.*target=lambda out: out\['logits'\]"),
    ("segmentation-int-target", SegmentationModel, {"target": 1}, TargetError,
     r"\(N, classes\).*pass a callable target"),
]


@pytest.mark.parametrize(("build", "kwargs", "error", "match"), [c[1:] for c in OUTPUT_ERRORS],
                         ids=[c[0] for c in OUTPUT_ERRORS])
@pytest.mark.parametrize("method", list(CLASSES))
def test_output_dependent_target_errors(method, build, kwargs, error, match):
    model = build()
    net = getattr(model, "net", model)
    net.tripwire.armed_backward = True  # any backward pass through the model would raise instead
    with pytest.raises(error, match=match):
        CLASSES[method](model).attribute(_x(), **kwargs)
    assert net.forward_calls == 1


def test_callable_target_explains_a_dict_model():
    model = DictModel()
    x = _x()
    torch.testing.assert_close(Saliency(model).attribute(x, target=lambda out: out["logits"][:, 3], abs=False),
                               Saliency(model.net).attribute(x, target=3, abs=False))


# --- construction errors -----------------------------------------------------------------

LAYER_ERRORS = [
    ("typo", "conv3", LayerNotFoundError, r"no layer named 'conv3' in SmallCNN; closest names: .*'conv2'"),
    ("wrong-path", "features.28", LayerNotFoundError, r"closest names: 'conv1', 'bn1'"),
    ("foreign-module", nn.Conv2d(4, 6, 3), LayerNotFoundError,
     "not part of the model; pass one of model's own submodules"),
    ("not-a-layer", 3, TypeError, "layer must be a module or a dotted name, got int"),
]


@pytest.mark.parametrize("method", list(CLASSES))
def test_model_must_be_a_module(method):
    cls = {"GradCAM": GradCAM, "GuidedGradCAM": GuidedGradCAM}.get(method)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        if cls is None:
            CLASSES[method](lambda x: x)
        else:
            cls(lambda x: x, "conv2")


@pytest.mark.parametrize(("layer", "error", "match"), [c[1:] for c in LAYER_ERRORS], ids=[c[0] for c in LAYER_ERRORS])
@pytest.mark.parametrize("cls", [GradCAM, GuidedGradCAM])
def test_layer_errors(cls, layer, error, match):
    with pytest.raises(error, match=match):
        cls(small_cnn(), layer)


@pytest.mark.parametrize("cls", [GradCAM, GuidedGradCAM])
def test_reshape_must_be_callable(cls):
    with pytest.raises(TypeError, match="reshape must be a callable such as vit_reshape, got str"):
        cls(small_cnn(), CAM_LAYER, reshape="vit")


def test_target_list_of_integer_scalar_tensors_is_accepted():
    labels = torch.tensor([3, 1])
    x = _x()
    by_list = Saliency(small_cnn()).attribute(x, target=[labels[0], labels[1]])
    torch.testing.assert_close(by_list, Saliency(small_cnn()).attribute(x, target=labels))
