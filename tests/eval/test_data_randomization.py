"""A5, data randomization: a permuted-label model and a true-label control trained identically (slow)."""

import pytest
import torch

from revelio.eval import run_sanity
from revelio.eval.data_randomization import train_on_labels, train_on_permuted_labels


@pytest.mark.slow
def test_the_permuted_label_model_memorises_and_learns_nothing_true():
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    result = train_on_permuted_labels(images=256, epochs=40)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    assert result.train_accuracy > 0.8  # memorised
    assert result.heldout_accuracy < 0.75  # about the 4-in-6 "absent" rate: nothing learned about shapes
    assert not result.model.training


@pytest.mark.slow
def test_the_control_is_trained_identically_on_the_true_labels():
    control = train_on_labels(images=256, epochs=2, permuted=False)
    permuted = train_on_labels(images=256, epochs=2, permuted=True)
    assert not control.permuted and permuted.permuted
    assert (control.images, control.epochs) == (permuted.images, permuted.epochs)
    again = train_on_labels(images=256, epochs=2, permuted=False)
    assert all(torch.equal(a, b) for a, b in zip(control.model.state_dict().values(), again.model.state_dict().values()))


@pytest.mark.slow
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


def test_each_bundled_model_is_retrained_on_its_own_task_with_its_own_recipe():
    from revelio.zoo import ShapesCNN, clutter
    from revelio.zoo.train import ARCHITECTURES, TRAIN_SEED

    lines = []
    result = train_on_labels(images=64, epochs=1, permuted=False, model="clutter", log=lines.append)
    assert isinstance(result.model, ShapesCNN) and not result.model.training
    # the clutter recipe's batches of 32: two steps over 64 images; its labels: three of six per image
    assert ARCHITECTURES["clutter"].config.batch_size == 32 and "1 epochs of 64 images" in lines[0]
    images = clutter.make_batch(64, TRAIN_SEED)
    with torch.no_grad():
        fitted = (result.model(clutter.normalize(images.images)) > 0) == images.labels.bool()
    assert result.train_accuracy == pytest.approx(float(fitted.float().mean()))


def test_an_unknown_model_is_refused_before_training():
    with pytest.raises(ValueError, match="shapes, shapes-resnet, clutter"):
        train_on_labels(images=64, epochs=1, model="resnet50")
