"""A1 and A2: the known answers hold for every method, and the invariance check can fail."""

import pytest
import torch

from revelio.attribution import Saliency
from revelio.eval.invariance import SHIFT, input_invariance, invariance_net, shifted_twin
from revelio.eval.known_answers import KNOWN_ANSWERS, known_answer
from revelio.eval.methods import build_explainer

BUILT_IN = [
    "saliency", "guided-backprop", "deconvolution", "gradcam", "guided-gradcam",
    "gradient-x-input", "integrated-gradients", "smoothgrad", "smoothgrad-squared", "vargrad",
    "gradcam-plus-plus", "xgradcam", "layercam", "hirescam", "eigencam",
]
NOT_INPUT_INVARIANT = [
    "gradient-x-input", "integrated-gradients",  # Kindermans et al. 2019: the shift reaches the map through x - x'
    # sigma is a fraction of each example's value range, which a shift that differs per channel changes
    "smoothgrad", "smoothgrad-squared", "vargrad",
    "occlusion", "rise",  # a fixed baseline, or masks that multiply the input: zero moves with the shift
]
WITH_KNOWN_ANSWER = [*BUILT_IN, "occlusion", "rise"]


def _explainer(name):
    return build_explainer(name, torch.nn.Linear(1, 1))  # rebound to each check's own nets


@pytest.mark.parametrize("method", WITH_KNOWN_ANSWER)
def test_every_built_in_method_gives_its_known_answer(method):
    result = known_answer(_explainer(method))
    assert result.met is True, result


def test_every_known_answer_is_a_registered_method():
    from revelio import registry

    assert {registry.spec_of(cls).name for cls in KNOWN_ANSWERS} == set(WITH_KNOWN_ANSWER)


@pytest.mark.parametrize("method", [*(m for m in BUILT_IN if m not in NOT_INPUT_INVARIANT), "edge-detector"])
def test_every_built_in_method_is_input_invariant(method):
    result = input_invariance(_explainer(method))
    assert result.met is True, result
    assert result.values["output_difference"] < 1e-5


@pytest.mark.parametrize("method", NOT_INPUT_INVARIANT)
def test_methods_that_read_the_input_values_fail_input_invariance(method):
    result = input_invariance(_explainer(method))
    assert result.met is False, result
    assert result.values["output_difference"] < 1e-5


def test_controls_have_no_known_answer_and_noise_is_not_invariant():
    assert known_answer(_explainer("random-map")).applicable is False
    assert input_invariance(_explainer("random-map")).met is False


def test_gradient_times_input_fails_input_invariance():
    # Kindermans et al.: the shift reaches gradient x input through the input factor
    net = invariance_net()
    twin = shifted_twin(net)
    inputs = torch.randn(4, 3, 14, 14)
    shifted = inputs + torch.tensor(SHIFT).view(1, -1, 1, 1)
    classes = torch.tensor([0, 1, 2, 3])
    first = Saliency(net).attribute(inputs, classes, abs=False)
    second = Saliency(twin).attribute(shifted, classes, abs=False)
    scale = first.abs().max()
    assert (first - second).abs().max() <= 1e-4 * scale
    times_input = first * inputs
    assert (times_input - second * shifted).abs().max() > 0.1 * times_input.abs().max()


def test_the_relu_net_tells_gradient_guided_and_deconvolution_apart():
    import torch

    from revelio.eval.known_answers import hidden_relu_net, relu_rule_answers

    net = hidden_relu_net(0)
    inputs = torch.randn(6, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    classes = torch.arange(6) % 4
    answers = relu_rule_answers(net, inputs, classes)
    for first in answers:
        for second in answers:
            if first != second:
                assert (answers[first] - answers[second]).abs().max() > 0.1 * answers[first].abs().max()
    # the check can fail: the plain gradient, given as "guided backprop", misses the guided answer
    from revelio.attribution import GuidedBackprop
    from revelio.eval.known_answers import KNOWN_ANSWERS
    from revelio.eval.methods import build_explainer

    gradient = build_explainer("saliency", net)
    gradient.options = {"abs": False}
    assert KNOWN_ANSWERS[GuidedBackprop][1](gradient, 0, 6).met is False
