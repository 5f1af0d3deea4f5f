"""A5, data randomization: retrain the bundled model on permuted labels (slow: about a minute)."""

import pytest
import torch

from revelio.eval import run_sanity
from revelio.eval.data_randomization import train_on_permuted_labels

pytestmark = pytest.mark.slow


def test_the_permuted_label_model_memorises_and_learns_nothing_true():
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    result = train_on_permuted_labels(images=256, epochs=40)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    assert result.train_accuracy > 0.8  # memorised
    assert result.heldout_accuracy < 0.75  # about the 4-in-6 "absent" rate: nothing learned about shapes
    assert not result.model.training


def test_a5_runs_through_the_report(shapes):
    report = run_sanity(shapes, ["gradcam", "guided-backprop", "edge-detector"], slow=True, images=16)
    for method in ("gradcam", "guided-backprop", "edge-detector"):
        result = report.result("A5", method)
        assert result.status not in ("n/a",), result
        assert result.values["permuted_model_train_accuracy"] > 0.8
    assert report.result("A5", "edge-detector").status == "expected-fail"
    assert report.result("A5", "gradcam").expected == "pass"
    assert report.result("A5", "guided-backprop").expected == "fail"
