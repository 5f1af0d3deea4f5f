"""Score-CAM: weights on paper, a plain per-channel reference, internal batching, options refused before work.

Paper computation: the model is ``Identity`` (the layer ``"0"``), GAP, then a linear head
``W = [[1, 1, 0], [1, -1, 0]]`` without bias, so the activation is the input and the
masks need no upsampling. Channels ``x^0 = [[0, 1], [2, 3]]``, ``x^1 = [[2, 0], [0, 2]]``,
``x^2 = 2`` (constant). Masks: ``M_0 = x^0 / 3``, ``M_1 = x^1 / 2``, ``M_2 = 0`` (constant).
``f(z) = W mean(z)`` per channel; the masked means (channel of x, mask):
``mean(x^0 M_0) = 7/6``, ``mean(x^1 M_0) = 1/2``, ``mean(x^0 M_1) = 3/4``, ``mean(x^1 M_1) = 1``.
Logits: ``f(x M_0) = [5/3, 2/3]``, ``f(x M_1) = [7/4, -1/4]``, ``f(x M_2) = f(0) = [0, 0]``.

- ``"softmax-channels"``, class c: ``a = softmax([f_c(x M_0), f_c(x M_1), 0])``,
  ``L = a_0 x^0 + a_1 x^1 + 2 a_2``.
- ``"class-probability"``: ``a_k = softmax(f(x M_k))_c``, i.e. ``sigmoid(+-1)``, ``sigmoid(+-2)``
  for channels 0 and 1 (two classes), and 0 for the constant channel.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from attribution_nets import HOOK_DICTS, TokenNet, small_cnn
from torch import nn

from revelio.attribution import ScoreCAM, vit_reshape
from revelio.errors import InputError, OptionError, TargetError
from revelio.eval.invariance import input_invariance
from revelio.eval.methods import build_explainer

X0 = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
X1 = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
X2 = torch.full((2, 2), 2.0, dtype=torch.float64)
LOGITS = {0: [5 / 3, 2 / 3], 1: [7 / 4, -1 / 4], 2: [0.0, 0.0]}  # f(x M_k)


class CountingIdentityNet(nn.Module):
    """Identity (layer ``"0"``), GAP, linear ``W`` without bias; counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Identity(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2, bias=False))
        with torch.no_grad():
            self.layers[3].weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]))
        self.double().eval()
        self.forward_calls = 0

    def forward(self, x):
        self.forward_calls += 1
        return self.layers(x)


def example() -> torch.Tensor:
    return torch.stack([X0, X1, X2])[None]


def softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def sigmoid(value):
    return 1 / (1 + math.exp(-value))


@pytest.mark.parametrize("cls", [0, 1])
def test_softmax_over_channels_on_paper(cls):
    a = softmax([LOGITS[k][cls] for k in range(3)])
    expected = a[0] * X0 + a[1] * X1 + a[2] * X2
    maps = ScoreCAM(CountingIdentityNet(), "layers.0").attribute(example(), cls, relu=False, upsample=False)
    torch.testing.assert_close(maps, expected[None, None], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cls", "sign"), [(0, 1), (1, -1)])
def test_class_probability_on_paper(cls, sign):
    # two classes: softmax(f)_c = sigmoid(f_c - f_other); the constant channel gets weight 0
    expected = sigmoid(sign * (LOGITS[0][0] - LOGITS[0][1])) * X0 + sigmoid(sign * (LOGITS[1][0] - LOGITS[1][1])) * X1
    maps = ScoreCAM(CountingIdentityNet(), "layers.0").attribute(example(), cls, relu=False, upsample=False,
                                                                 weights="class-probability")
    torch.testing.assert_close(maps, expected[None, None], rtol=1e-12, atol=1e-12)


def test_a_baseline_score_would_cancel_in_the_softmax():
    # softmax_k(s_k - b) = softmax_k(s_k): the same maps with a bias added to the target logit
    model = CountingIdentityNet()
    shifted = CountingIdentityNet()
    shifted.layers[3] = nn.Linear(3, 2).double()
    with torch.no_grad():
        shifted.layers[3].weight.copy_(model.layers[3].weight)
        shifted.layers[3].bias.copy_(torch.tensor([7.0, -3.0]))
    for cls in (0, 1):
        first = ScoreCAM(model, "layers.0").attribute(example(), cls, relu=False, upsample=False)
        second = ScoreCAM(shifted, "layers.0").attribute(example(), cls, relu=False, upsample=False)
        torch.testing.assert_close(first, second, rtol=1e-12, atol=1e-12)


# --- an independent reference: the paper's algorithm, one channel at a time ----------------------------------


def reference_score_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, cls: int, weights: str) -> torch.Tensor:
    """Score-CAM of one example as the paper's Algorithm 1 (or the released code) states it: a loop over channels."""
    recorded = []
    handle = layer.register_forward_hook(lambda module, args, output: recorded.append(output.detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    activation = recorded[0]
    scores = []
    with torch.no_grad():
        for k in range(activation.shape[1]):
            upsampled = F.interpolate(activation[:, k : k + 1], size=x.shape[-2:], mode="bilinear", align_corners=False)
            low, high = upsampled.min(), upsampled.max()
            mask = (upsampled - low) / (high - low) if high > low else torch.zeros_like(upsampled)
            output = model(x * mask)
            if weights == "class-probability":
                scores.append(output.softmax(dim=1)[0, cls] if high > low else output.new_zeros(()))
            else:
                scores.append(output[0, cls])
    scores = torch.stack(scores)
    a = scores.softmax(dim=0) if weights == "softmax-channels" else scores
    cam = torch.relu((a[:, None, None] * activation[0]).sum(dim=0))[None, None]
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)


@pytest.mark.parametrize("weights", ["softmax-channels", "class-probability"])
def test_equals_a_per_channel_loop(weights):
    model = small_cnn(torch.float64, seed=2)  # conv2: 6 channels on a (H/2, W/2) grid, upsampled for the masks
    x = torch.randn(3, 3, 10, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    classes = [4, 0, 2]
    maps = ScoreCAM(model, "conv2").attribute(x, classes, weights=weights)
    expected = torch.cat([reference_score_cam(model, model.conv2, x[i : i + 1], c, weights)
                          for i, c in enumerate(classes)])
    assert expected.abs().max() > 0
    torch.testing.assert_close(maps, expected, rtol=1e-10, atol=1e-12)


def test_token_layers_through_reshape():
    torch.manual_seed(0)
    model, x = TokenNet().double().eval(), torch.randn(2, 3, 8, 8, dtype=torch.float64)
    tokens = ScoreCAM(model, "tokens", reshape=vit_reshape).attribute(x, [0, 2])
    torch.testing.assert_close(tokens, ScoreCAM(model, "patch").attribute(x, [0, 2]), rtol=0, atol=0)
    assert tokens.shape == (2, 1, 8, 8) and tokens.abs().max() > 0


# --- internal batches ---------------------------------------------------------------------------------------


def test_every_internal_batch_size_gives_the_same_maps_in_the_passes_it_says():
    model = small_cnn(torch.float64, seed=1)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    classes = [[1, 4], [0, 0], [3, 2]]
    method = ScoreCAM(model, "conv2")
    before = model.forward_calls
    expected = method.attribute(x, classes)  # the size chosen from the memory budget
    assert model.forward_calls - before == 3  # one example measured, the clean pass, 18 copies in one pass
    for size in [1, 2, 4, 5, 6, 7, 17, 18, 100]:
        before = model.forward_calls
        maps = method.attribute(x, classes, internal_batch_size=size)
        assert model.forward_calls - before == 1 + math.ceil(3 * 6 / size), size
        torch.testing.assert_close(maps, expected, rtol=1e-12, atol=1e-14)


def test_masked_passes_run_without_a_graph():
    model = small_cnn(seed=1)
    recorded = []
    handle = model.register_forward_hook(lambda module, args, output: recorded.append(output.requires_grad))
    try:
        maps = ScoreCAM(model, "conv2").attribute(torch.randn(2, 3, 8, 8), [1, 2], internal_batch_size=4)
    finally:
        handle.remove()
    assert len(recorded) == 1 + 3 and not any(recorded) and not maps.requires_grad


# --- options and targets refused before any work ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"weights": "paper"}, OptionError, r"option 'weights' takes one of 'softmax-channels', 'class-probability', got"),
        ({"weights": None}, ValueError, "got None"),
        ({"internal_batch_size": 0}, InputError, r"internal_batch_size must be a positive int.*got 0"),
        ({"internal_batch_size": 2.5}, OptionError, "option 'internal_batch_size' takes an int or None, got 2.5"),
        ({"internal_batch_size": True}, OptionError, "option 'internal_batch_size' takes an int or None, got True"),
        ({"weights": "class-probability", "target": lambda out: out[:, 0]}, TargetError,
         r"callable target does not have; give classes, or use weights='softmax-channels'"),
        ({"inputs": torch.randn(2, 3, 8)}, InputError, r"got shape \(2, 3, 8\); Score-CAM masks the input"),
        ({"inputs": torch.randn(2, 3, 8), "upsample": False}, InputError, "Score-CAM masks the input"),
    ],
)
def test_bad_options_are_refused_before_any_forward_pass(kwargs, error, match):
    model = small_cnn()
    kwargs = dict(kwargs)
    inputs = kwargs.pop("inputs", torch.randn(2, 3, 8, 8))
    with pytest.raises(error, match=match):
        ScoreCAM(model, "conv2").attribute(inputs, **kwargs)
    assert model.forward_calls == 0
    assert all(len(getattr(m, d)) == 0 for m in model.modules() for d in HOOK_DICTS)


def test_a_callable_target_must_score_rows_of_any_batch():
    model = small_cnn()
    with pytest.raises(TargetError, match=r"batch of 5 masked copies.*returned \(2,\).*each row of the output"):
        ScoreCAM(model, "conv2").attribute(torch.randn(2, 3, 8, 8), lambda out: out[:2, 0], internal_batch_size=5)


# --- what it cannot do ----------------------------------------------------------------------------------------


def test_it_is_not_input_invariant():
    # the masks multiply the input: a shifted input is masked towards another reference point
    result = input_invariance(build_explainer("scorecam", nn.Linear(1, 1)))
    assert result.met is False and result.values["output_difference"] < 1e-5
