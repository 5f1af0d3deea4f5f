"""The transfer measurement, on tiny settings: the scores by hand, the table, the command line, the errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from revelio import zoo
from revelio.errors import SettingError
from revelio.eval.transfer import TransferResult, main, markdown_table, top1_hits, transfer, visualize_classes


@pytest.fixture(scope="module")
def models():
    return zoo.load("shapes"), zoo.load("shapes-resnet")


def test_the_scores_are_the_top1_hits_of_each_model_on_the_shown_images(models):
    source, target = models
    result = transfer(source, target, "plain", steps=6, seeds=[0, 1000], classes=[0, 3, 5])
    images = visualize_classes(source, "plain", [0, 3, 5], [0, 1000], 6).display
    intended = torch.tensor([0, 3, 5, 0, 3, 5])
    with torch.no_grad():
        own = (source.model(source.normalize(images)).argmax(1) == intended).float()
        other = (target.model(target.normalize(images)).argmax(1) == intended).float()
    assert result.images == 6 and result.steps == 6 and result.preset == "plain"
    assert result.own == pytest.approx(float(own.mean())) and result.transfer == pytest.approx(float(other.mean()))
    assert result.per_class == pytest.approx((float(other[[0, 3]].mean()), float(other[[1, 4]].mean()),
                                              float(other[[2, 5]].mean())))


def test_each_image_has_its_own_seed_and_unit(models):
    result = visualize_classes(models[0], "gaussian", [1, 2], [0, 100], 2)
    assert result.seeds == (1, 2, 101, 102)
    assert result.units == ("output:class 1", "output:class 2", "output:class 1", "output:class 2")


def test_top1_hits_leave_the_model_as_found(models):
    model = models[1].model
    model.train()
    try:
        hits = top1_hits(model, torch.zeros(2, 3, 64, 64), torch.tensor([0, 1]))
        assert hits.dtype == torch.bool and model.training
    finally:
        model.eval()


def test_the_markdown_table(models):
    row = TransferResult("lucid", 8, 12, 1.0, 0.5, (1.0, 0.0, 0.5, 0.5, 0.5, 0.5), 3.2)
    table = markdown_table([row], models[0].class_names)
    lines = table.splitlines()
    assert lines[0].startswith("| preset | own model (top-1) | second model (top-1) | circle")
    assert lines[2] == "| `lucid` | 100% (12/12) | **50%** (6/12) | 100% | 0% | 50% | 50% | 50% | 50% |"


def test_the_command_line_prints_the_table(capsys):
    assert main(["--steps", "2", "--seeds", "1", "--presets", "plain"]) == 0
    out = capsys.readouterr().out
    assert "1 seeds x 6 classes, 2 steps" in out and "| `plain` |" in out


def test_models_that_do_not_match_are_refused(models):
    source, target = models
    other = dataclasses.replace(target, class_names=tuple(reversed(target.class_names)))
    with pytest.raises(SettingError, match="same classes"):
        transfer(source, other, "plain", steps=2, seeds=[0])
    with pytest.raises(SettingError, match="at least one seed"):
        transfer(source, target, "plain", steps=2, seeds=[])
