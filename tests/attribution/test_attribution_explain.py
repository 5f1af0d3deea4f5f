"""``explain()`` for every registered method: the maps of ``attribute()`` and what the model said, from one call."""

from __future__ import annotations

import pytest
import torch
from attribution_nets import small_cnn
from method_registry import CLASSES, METHODS, runs_several_passes

from revelio.attribution import Explanation


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("form", ["none", "list", "callable"])
def test_explain_returns_the_maps_and_the_models_output(method, form):
    factory, options, _ = METHODS[method]
    model = small_cnn(torch.float64)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        logits = model.eval()(x)
    target = {"none": None, "list": [4, 0, 2], "callable": lambda out: out[:, 1] - out[:, 3]}[form]
    explanation = factory(model).explain(x, target, **options)
    assert isinstance(explanation, Explanation)
    torch.testing.assert_close(explanation.maps, factory(model).attribute(x, target, **options), rtol=0, atol=0)
    torch.testing.assert_close(explanation.output, logits, rtol=1e-12, atol=1e-12)
    if form == "callable":
        assert explanation.classes is None
        torch.testing.assert_close(explanation.scores, logits[:, 1] - logits[:, 3], rtol=1e-12, atol=1e-12)
    else:
        expected = logits.argmax(dim=1) if target is None else torch.tensor(target)
        assert torch.equal(explanation.classes, expected)
        torch.testing.assert_close(explanation.scores, logits.gather(1, expected[:, None])[:, 0], rtol=1e-12,
                                   atol=1e-12)
    assert not explanation.output.requires_grad and not explanation.scores.requires_grad


@pytest.mark.parametrize("method", list(CLASSES))
def test_explain_runs_the_model_as_often_as_attribute(method):
    # once, or once per internal batch for methods with many steps, samples or masks: explain adds no pass
    model, x = small_cnn(), torch.randn(2, 3, 8, 8)
    attribution = CLASSES[method](model)
    attribution.attribute(x, target=1)
    passes = model.forward_calls
    attribution.explain(x, target=1)
    assert model.forward_calls - passes == passes
    assert passes == 1 or runs_several_passes(attribution)


def test_a_control_that_never_runs_the_model_gets_its_output_from_one_forward_pass():
    from revelio.attribution import EdgeDetector

    model = small_cnn()
    explanation = EdgeDetector(model).explain(torch.randn(2, 3, 8, 8))
    assert model.forward_calls == 1 and explanation.classes.shape == (2,) and explanation.maps.shape == (2, 1, 8, 8)


@pytest.mark.parametrize("method", list(CLASSES))
def test_options_are_in_the_public_signature(method):
    import inspect

    attribution = CLASSES[method](small_cnn())
    signature = inspect.signature(type(attribution).attribute)
    keyword_only = {key: p.default for key, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert keyword_only == attribution.options()
    assert list(signature.parameters)[:3] == ["self", "inputs", "target"]
    assert type(attribution).attribute.__doc__, "the public attribute has the method's docstring"
