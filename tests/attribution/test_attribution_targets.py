"""Several classes per example, for every registered method: K maps from one call equal K single calls."""

from __future__ import annotations

import pytest
import torch
from attribution_nets import small_cnn
from method_registry import METHODS

CLASSES = [[4, 0, 2], [1, 1, 3]]


@pytest.mark.parametrize("method", list(METHODS))
def test_k_classes_per_example_equal_k_single_calls(method):
    factory, options, _ = METHODS[method]
    model = small_cnn(torch.float64, seed=5, batchnorm=False)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    explainer = factory(model)
    maps = explainer.attribute(x, CLASSES, **options)
    singles = [explainer.attribute(x, [row[k] for row in CLASSES], **options) for k in range(3)]
    assert maps.shape == (2, 3, *singles[0].shape[1:])
    torch.testing.assert_close(maps, torch.stack(singles, dim=1), rtol=1e-10, atol=1e-12)
    as_tensor = explainer.attribute(x, torch.tensor(CLASSES), **options)
    torch.testing.assert_close(as_tensor, maps, rtol=0, atol=0)


@pytest.mark.parametrize("method", list(METHODS))
def test_top_k_explains_the_k_best_classes_best_first(method):
    factory, options, _ = METHODS[method]
    model = small_cnn(torch.float64, seed=5, batchnorm=False)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    explanation = factory(model).explain(x, "top3", **options)
    with torch.no_grad():
        logits = model.eval()(x)
    top = logits.topk(3, dim=1)
    assert torch.equal(explanation.classes, top.indices)
    torch.testing.assert_close(explanation.scores, top.values, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(explanation.maps, factory(model).attribute(x, top.indices, **options), rtol=1e-10,
                               atol=1e-12)


def test_several_classes_take_one_forward_pass_where_the_method_says_so():
    from method_registry import CLASSES as BUILDERS

    from revelio import registry

    for name, build in BUILDERS.items():
        model, x = small_cnn(), torch.randn(2, 3, 8, 8)
        method = build(model)
        method.attribute(x, [row[0] for row in CLASSES])
        single = model.forward_calls  # one, or one per internal batch
        method.attribute(x, CLASSES)
        native = type(method).multiple_targets
        assert model.forward_calls - single == (single if native else 3 * single), (name, model.forward_calls)
    natively = ("saliency", "guided-backprop", "gradcam", "gradcam-plus-plus", "xgradcam", "layercam", "hirescam",
                "scorecam", "eigencam", "occlusion", "rise")
    assert all(registry.get(name).load().multiple_targets for name in natively)


def test_a_top_k_beyond_the_classes_is_refused():
    from revelio import Saliency
    from revelio.errors import TargetError

    with pytest.raises(TargetError, match="top9.*model's 5"):
        Saliency(small_cnn()).attribute(torch.randn(1, 3, 8, 8), "top9")
