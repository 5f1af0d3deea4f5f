"""A5, data randomization: a permuted-label model and a true-label control trained identically (slow)."""

import pytest
import torch

from revelio.eval import run_sanity
from revelio.eval.data_randomization import train_on_labels, train_on_permuted_labels

pytestmark = pytest.mark.slow


def test_the_permuted_label_model_memorises_and_learns_nothing_true():
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    result = train_on_permuted_labels(images=256, epochs=40)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    assert result.train_accuracy > 0.8  # memorised
    assert result.heldout_accuracy < 0.75  # about the 4-in-6 "absent" rate: nothing learned about shapes
    assert not result.model.training


def test_the_control_is_trained_identically_on_the_true_labels():
    control = train_on_labels(images=256, epochs=2, permuted=False)
    permuted = train_on_labels(images=256, epochs=2, permuted=True)
    assert not control.permuted and permuted.permuted
    assert (control.images, control.epochs) == (permuted.images, permuted.epochs)
    again = train_on_labels(images=256, epochs=2, permuted=False)
    assert all(torch.equal(a, b) for a, b in zip(control.model.state_dict().values(), again.model.state_dict().values()))


def test_a5_runs_through_the_report(shapes):
    report = run_sanity(shapes, ["gradcam", "guided-backprop", "edge-detector"], slow=True, images=16)
    for method in ("gradcam", "guided-backprop", "edge-detector"):
        result = report.result("A5", method)
        assert result.status not in ("n/a",), result
        assert result.values["permuted_model_train_accuracy"] > 0.8
        assert result.values["control_model_heldout_accuracy"] > result.values["permuted_model_heldout_accuracy"]
        assert "spearman_abs_control_vs_bundled" in result.values
    assert report.result("A5", "edge-detector").status == "expected fail"
    assert report.result("A5", "gradcam").expected == "pass"
    assert report.result("A5", "guided-backprop").expected == "fail"
