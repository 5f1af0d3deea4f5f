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


def _training(control: float, permuted: float) -> dict:
    return {
        "permuted_model_train_accuracy": 0.95, "permuted_model_heldout_accuracy": permuted,
        "control_model_train_accuracy": 1.0, "control_model_heldout_accuracy": control,
        "epochs": 60, "training_images": 512,
    }


def test_a5_is_judged_only_when_the_control_learned_the_task():
    from revelio.eval.checks import data_randomization
    from revelio.eval.outcome import decide
    from revelio.eval.uncertainty import resample_weights

    generator = torch.Generator().manual_seed(0)
    control = torch.rand(8, 1, 16, 16, generator=generator)
    unrelated = torch.rand(8, 1, 16, 16, generator=generator)
    weights = resample_weights(8, resamples=200)
    learned = data_randomization(control, unrelated, control, weights, _training(0.76, 0.59))
    assert learned.applicable and learned.met is True and decide("pass", learned) == "pass"
    # a control no better than the permuted model (both memorised their images): nothing to compare with
    memorised = data_randomization(control, unrelated, control, weights, _training(0.53, 0.48))
    assert not memorised.applicable and decide("pass", memorised) == "n/a"
    assert "did not learn the task from its 512 images" in memorised.note and "0.53" in memorised.note
    assert memorised.values["spearman_abs"]["estimate"] == learned.values["spearman_abs"]["estimate"]
