"""The sanity run on the bundled model: the outcomes the issue requires, the controls, the files, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from revelio.errors import InputError
from revelio.eval import run_sanity
from revelio.zoo import ZooModel


def test_gradcam_passes_a3_a6_a7(report):
    for check in ("A3", "A6", "A7"):
        result = report.result(check, "gradcam")
        assert result.status == "pass", (check, result.summary, result.note)


def test_guided_backprop_a3_is_labelled_against_the_literature(report):
    result = report.result("A3", "guided-backprop")
    assert result.expected == "fail"
    # whatever it measurably is, the label follows from the criterion and the expectation
    assert result.status == {True: "unexpected pass", False: "expected fail", None: "inconclusive"}[result.met]
    assert result.values["stages"] == ["head + block3", "head + block3 + block2 + block1"]  # the quick run's stages
    for measure in ("spearman_abs", "spearman", "ssim", "hog"):
        interval = result.values[measure][0]
        assert interval["low"] <= interval["estimate"] <= interval["high"], measure
    assert [c["threshold"] for c in result.criteria] == [0.5, 0.3] and all("flip" in c for c in result.criteria)


def test_the_controls_land_where_they_should(report):
    edges = report.result("A3", "edge-detector")
    assert edges.status == "expected fail" and [i["estimate"] for i in edges.values["spearman_abs"]] == pytest.approx(
        [1.0] * 2
    )
    noise = report.result("A6", "random-map")
    assert noise.status == "expected fail"
    assert noise.values["pointing"]["estimate"] < noise.values["centre_pointing"]["estimate"]
    for control in ("edge-detector", "random-map", "spectral-residual"):
        assert report.result("A4", control).status == "expected fail", control  # the A4 criterion fails the controls
    assert report.result("A8", "random-map").status in ("expected fail", "inconclusive")  # no better than itself
    assert report.result("A7", "edge-detector").status == "expected fail"


def test_a6_reports_torchrays_pointing_game_beside_its_baselines(report):
    values = report.result("A6", "gradcam").values
    assert values["tolerance_pixels"] == pytest.approx(15 * 64 / 224)
    for key in ("pointing", "pointing_tolerance_0", "pointing_other_object", "centre_pointing", "objectness_pointing"):
        assert 0 <= values[key]["low"] <= values[key]["estimate"] <= values[key]["high"] <= 1, key
    assert values["pointing_tolerance_0"]["estimate"] <= values["pointing"]["estimate"]
    assert values["pointing_other_object"]["estimate"] < values["pointing"]["estimate"]


def test_every_status_follows_from_met_and_expected(report):
    for result in report.results:
        if result.status in ("n/a", "degenerate", "no expectation"):
            assert result.status != "no expectation" or result.expected == "report" or result.met is None
            continue
        expected = {("pass", True): "pass", ("pass", False): "fail", ("fail", True): "unexpected pass",
                    ("fail", False): "expected fail", ("pass", None): "inconclusive",
                    ("fail", None): "inconclusive"}[(result.expected, result.met)]
        assert result.status == expected, result


def test_the_report_says_which_images_it_uses(report):
    assert report.settings["task"] == "shapes"
    assert report.settings["data"] == "task 'shapes', dataset seed 2, items 0..15 (16 images)"
    assert report.evidence.images.indices == list(range(16))


def test_slow_check_and_featureviz_rows(report):
    assert report.result("A5", "gradcam").status == "n/a" and "slow" in report.result("A5", "gradcam").note
    assert report.result("F1", "plain").status == "pass"
    assert report.result("F3", "plain").status == "n/a"
    assert report.result("F3", "gaussian").status == "pass"
    f4 = report.result("F4", "gaussian")  # no paper sets an expectation: reported, with the criterion met
    assert f4.status == "no expectation" and f4.met is True


def test_the_run_leaves_the_model_as_it_was(shapes):
    model = shapes.model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    run_sanity(shapes, ["gradcam", "random-map"], images=4)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_write_makes_the_report_and_figures(report, tmp_path):
    written = report.write(tmp_path)
    for name in ("a3_cascade.png", "a3_similarity.png", "a4_random_logit.png", "a6_localization.png",
                 "a7_class_discrimination.png", "a8_deletion_insertion.png", "f1_known_answer.png",
                 "f_visualizations.png", "report.json", "report.md"):
        assert written[name].is_file() and written[name].stat().st_size > 0, name
    assert written["a3_cascade.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(written["report.json"].read_text())
    assert {r["method"] for r in data["results"]} >= {"gradcam", "edge-detector", "plain"}
    markdown = written["report.md"].read_text()
    assert "(a3_cascade.png)" in markdown and "| Grad-CAM |" in markdown


def test_unknown_methods_and_models_are_refused(shapes):
    with pytest.raises(InputError, match="choose from"):
        run_sanity(shapes, ["gradcam", "lime"])
    with pytest.raises(TypeError, match="ZooModel"):
        run_sanity(nn.Linear(2, 2))
    with pytest.raises(InputError, match="images"):
        run_sanity(shapes, ["gradcam"], images=1)


def _tiny_zoo_model() -> ZooModel:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    )
    return ZooModel(model=model, name="tiny", input_size=(32, 32), gradcam_layer="4")


def test_a_model_without_masks_reports_a6_a7_f2_as_not_applicable():
    zoo_model = _tiny_zoo_model()
    zoo_model.model.train()  # a model left in training mode stays so, and its batch-norm statistics untouched
    state = {k: v.clone() for k, v in zoo_model.model.state_dict().items()}
    report = run_sanity(zoo_model, ["gradcam", "saliency", "plain"], images=3)
    for check in ("A6", "A7"):
        assert report.result(check, "gradcam").status == "n/a"
        assert "masks" in report.result(check, "gradcam").note
    assert report.result("F2", "plain").status == "n/a"
    assert report.result("A3", "gradcam").values["stages"] == ["7 + 3", "7 + 3 + 1 + 0"]
    assert report.result("A1", "saliency").status == "pass"
    assert zoo_model.model.training
    assert all(torch.equal(state[k], v) for k, v in zoo_model.model.state_dict().items())


def test_the_module_command_writes_the_report(tmp_path):
    command = ["-m", "revelio.eval", "--methods", "gradcam", "edge-detector", "--images", "4", "--out", str(tmp_path)]
    completed = subprocess.run([sys.executable, *command, "--no-progress"], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Grad-CAM" in completed.stdout and "expected fail: cascading model randomization" in completed.stdout
    assert (tmp_path / "report.md").is_file() and (tmp_path / "a3_cascade.png").is_file()


def test_the_quality_metrics_are_reported_per_method_with_intervals(report):
    from revelio.eval.quality import METRICS

    for method in ("saliency", "gradcam", "random-map"):
        assert set(report.metrics[method]) == set(METRICS) - {"max_sensitivity"}  # the quick run leaves it to --slow
        for value in report.metrics[method].values():
            assert value["low"] <= value["estimate"] <= value["high"]
    assert "max-sensitivity with --slow only" in "\n".join(report.metrics_table())


def test_max_sensitivity_tells_a_random_map_from_gradcam(shapes):
    from revelio import GradCAM
    from revelio.attribution import RandomMap
    from revelio.eval.quality import METRICS, quality_metrics
    from revelio.eval.uncertainty import resample_weights
    from revelio.zoo import make_batch

    inputs = shapes.normalize(make_batch(6, seed=2).images)
    classes = shapes.model(inputs).argmax(1)
    weights = resample_weights(6, resamples=200)
    scores = {}
    for name, method in (("gradcam", GradCAM(shapes.model, "block3")), ("random", RandomMap(shapes.model))):
        maps = method.attribute(inputs, classes)
        scores[name] = quality_metrics(shapes.model, method.attribute, inputs, maps, classes, weights, runs=4,
                                       samples=3)
    assert set(scores["gradcam"]) == set(METRICS)
    # the random map is far less robust than Grad-CAM: fresh noise at every call
    assert scores["random"]["max_sensitivity"]["low"] > scores["gradcam"]["max_sensitivity"]["high"]


def test_a_task_with_three_labelled_objects_runs_through_every_check(monkeypatch):
    """Code reads tasks through get_task: a task with K = 3 objects needs no edits (here: shapes plus a third mask)."""
    from dataclasses import replace as replace_field

    from revelio.zoo import tasks
    from revelio.zoo.models import ShapesCNN

    shapes_task = tasks.get_task("shapes")

    def make_batch(n, seed, start=0):
        batch = shapes_task.make_batch(n, seed, start)
        third = (batch.labels == 0).float().argmax(dim=1)  # a class not yet labelled, with the image's bottom rows
        labels = batch.labels.clone()
        labels[torch.arange(n), third] = 1.0
        mask = torch.zeros_like(batch.masks[:, :1])
        mask[..., -4:, :] = True
        return batch._replace(labels=labels, classes=torch.cat([batch.classes, third[:, None]], dim=1),
                              masks=torch.cat([batch.masks, mask], dim=1))  # fmt: skip

    monkeypatch.setitem(tasks.TASKS, "three", replace_field(shapes_task, name="three", make_batch=make_batch))
    torch.manual_seed(0)
    zoo_model = ZooModel(model=ShapesCNN().eval(), name="untrained", input_size=(64, 64),
                         class_names=shapes_task.class_names, gradcam_layer="block3")  # fmt: skip
    report = run_sanity(zoo_model, ["gradcam", "random-map"], task="three", images=4)
    assert report.settings["task"] == "three"
    assert report.result("A6", "gradcam").status != "n/a" and report.result("A7", "gradcam").status != "n/a"
    assert report.evidence.images.masks.shape[1] == 3
