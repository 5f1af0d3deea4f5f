"""Model randomization: the groups, the seeded re-initialisation, and a bit-for-bit restore, also on error."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

from revelio.errors import InputError
from revelio.eval import WeightRandomizer, model_randomization, randomization_groups, randomized
from revelio.eval.checks import cascading_randomization
from revelio.eval.methods import build_explainer
from revelio.eval.randomization import fresh_parameters
from revelio.zoo.tasks import get_task


def _snapshot(model: nn.Module) -> dict:
    """Everything that must survive: bytes of every tensor, parameter identities and versions, flags, hooks."""
    return {
        "bytes": {k: v.detach().clone().reshape(-1).contiguous().view(torch.uint8) for k, v in model.state_dict().items()},
        "ids": [id(p) for p in model.parameters()],
        "versions": [p._version for p in model.parameters()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()],
    }


def _same(before: dict, after: dict) -> bool:
    return before.keys() == after.keys() and all(
        torch.equal(before["bytes"][k], after["bytes"][k]) for k in before["bytes"]
    ) and all(before[key] == after[key] for key in before if key != "bytes")


def test_shapes_groups_run_from_the_head_down(shapes):
    groups = randomization_groups(shapes.model, example=torch.zeros(1, 3, 64, 64))
    assert [g.name for g in groups] == ["head", "block3", "block2", "block1"]
    assert [name for name, _ in groups[1].modules] == ["block3.conv1", "block3.bn1", "block3.conv2", "block3.bn2"]
    layers = randomization_groups(shapes.model, "layers", example=torch.zeros(1, 3, 64, 64))
    assert layers[0].name == "head" and layers[1].name == "block3.bn2" and layers[-1].name == "block1.conv"


def test_resnet_blocks_descend_into_sequential_containers():
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    names = [g.name for g in randomization_groups(model, example=torch.zeros(1, 3, 32, 32))]
    assert names[:3] == ["fc", "layer4.1", "layer4.0"]
    assert names[-2:] == ["bn1", "conv1"]
    assert len(names) == 2 + 8 + 1


def test_a_model_without_parameters_is_refused():
    with pytest.raises(InputError, match="no parameters"):
        randomization_groups(nn.ReLU())


def test_weights_come_back_bit_for_bit(shapes):
    model = shapes.model
    before = _snapshot(model)
    groups = randomization_groups(model)
    with WeightRandomizer(model, seed=3, batchnorm_statistics="reset") as randomizer:
        for group in groups:
            randomizer.randomize(group)
        assert not torch.equal(model.head.weight, torch.zeros(0)) and not _same(before, _snapshot(model))
        assert torch.equal(model.block1.bn.running_var, torch.ones(16))  # buffers are reset too
    assert _same(before, _snapshot(model))


def test_weights_come_back_when_the_block_raises(shapes):
    model = shapes.model
    before = _snapshot(model)
    with pytest.raises(RuntimeError, match="boom"), randomized(model, randomization_groups(model)):
        model.train()  # flags changed inside the block are restored as well
        raise RuntimeError("boom")
    assert _same(before, _snapshot(model))


def test_weights_come_back_when_an_explainer_raises_mid_cascade(shapes):
    model = shapes.model
    before = _snapshot(model)
    calls = []

    def flaky(inputs, classes):
        calls.append(1)
        if len(calls) == 3:  # trained maps, stage 1, then fail at stage 2
            raise ValueError("explainer failed")
        return inputs.abs()

    with pytest.raises(ValueError, match="explainer failed"):
        model_randomization(model, {"flaky": flaky}, torch.rand(2, 3, 64, 64), torch.tensor([0, 1]))
    assert _same(before, _snapshot(model))


def test_reinitialisation_is_seeded_and_cascades(shapes):
    model = shapes.model
    head, block3 = randomization_groups(model)[:2]
    with WeightRandomizer(model, seed=5) as randomizer:
        randomizer.randomize(head)
        head_alone = model.head.weight.detach().clone()
        randomizer.randomize(block3)
        assert torch.equal(model.head.weight, head_alone)  # stage 2 extends stage 1
        block3_conv = model.block3.conv1.weight.detach().clone()
    with randomized(model, [head, block3], seed=5):
        assert torch.equal(model.head.weight, head_alone) and torch.equal(model.block3.conv1.weight, block3_conv)
    with randomized(model, [head], seed=6):
        assert not torch.equal(model.head.weight, head_alone)


def test_fresh_parameters_are_the_modules_own_initialisation_and_leave_it_alone():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)
    weight, version = conv.weight.detach().clone(), conv.weight._version
    assert torch.equal(fresh_parameters(conv, seed=0)["weight"], weight)  # reset_parameters under seed 0
    fresh = fresh_parameters(conv, seed=1)
    assert set(fresh) == {"weight", "bias"} and not torch.equal(fresh["weight"], weight)
    assert torch.equal(conv.weight, weight) and conv.weight._version == version
    assert torch.equal(fresh_parameters(conv, seed=1)["weight"], fresh["weight"])


def test_parameters_without_an_initialiser_are_drawn_at_their_scale():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.full((1000,), 3.0) + torch.linspace(-1, 1, 1000))

    module = Scale()
    fresh = fresh_parameters(module, seed=0)["gain"]
    assert fresh.std().item() == pytest.approx(module.gain.std().item(), rel=0.15)
    assert abs(fresh.mean().item()) < 0.1


def test_independent_mode_randomizes_one_group_at_a_time(shapes):
    model = shapes.model
    seen = []

    def probe(inputs, classes):
        seen.append((model.head.weight.detach().clone(), model.block3.conv1.weight.detach().clone()))
        return inputs

    model_randomization(model, {"probe": probe}, torch.rand(2, 3, 64, 64), torch.tensor([0, 1]), mode="independent")
    trained_head, trained_block3 = seen[0]
    head_only, block3_only = seen[1], seen[2]
    assert not torch.equal(head_only[0], trained_head) and torch.equal(head_only[1], trained_block3)
    assert torch.equal(block3_only[0], trained_head) and not torch.equal(block3_only[1], trained_block3)


def test_the_edge_detector_fails_the_cascade_and_gradcam_passes(shapes):
    model = shapes.model
    before = _snapshot(model)
    from revelio.eval.uncertainty import resample_weights

    task = get_task("shapes")
    batch = task.make_batch(16, task.test_seed)
    inputs = shapes.normalize(batch.images)
    explainers = {name: build_explainer(name, model, "block3") for name in ("edge-detector", "gradcam")}
    results = model_randomization(model, explainers, inputs, batch.classes[:, 0])
    edges = results["edge-detector"]
    assert edges.stages == ["head", "head + block3", "head + block3 + block2", "head + block3 + block2 + block1"]
    assert edges.spearman_abs.shape == (4, 16) and edges.examples.shape == (5, 4, 64, 64)
    assert edges.hog.shape == (4, 16) and torch.allclose(edges.hog.double(), torch.ones(4, 16, dtype=torch.float64))
    assert torch.allclose(edges.mean("spearman_abs"), torch.ones(4))
    weights = resample_weights(16, resamples=200)
    assert cascading_randomization(edges, weights).met is False
    assert cascading_randomization(results["gradcam"], weights).met is True
    assert _same(before, _snapshot(model))


def test_batchnorm_statistics_are_kept_by_default_and_reset_on_request(shapes):
    model = shapes.model
    block3 = randomization_groups(model)[1]
    mean = model.block3.bn1.running_mean.detach().clone()
    weight = model.block3.bn1.weight.detach().clone()
    with randomized(model, [block3]):
        assert torch.equal(model.block3.bn1.running_mean, mean)  # as Adebayo et al.'s code: trainable variables only
        assert not torch.equal(model.block3.bn1.weight, weight) or torch.equal(weight, torch.ones_like(weight))
    with randomized(model, [block3], batchnorm_statistics="reset"):
        assert torch.equal(model.block3.bn1.running_mean, torch.zeros_like(mean))
    assert torch.equal(model.block3.bn1.running_mean, mean)
    with pytest.raises(ValueError, match="batchnorm_statistics"):
        WeightRandomizer(model, batchnorm_statistics="drop")


def test_the_class_is_retaken_at_each_stage_unless_fixed(shapes):
    model = shapes.model
    asked = []

    def probe(inputs, classes):
        asked.append(classes.clone())
        return inputs

    inputs = torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    fixed = torch.full((6,), 5)
    result = model_randomization(model, {"p": probe}, inputs, fixed, retake_class=False, explain_at=(1, -1))
    assert result["p"].stages == ["head + block3", "head + block3 + block2 + block1"]
    assert all(torch.equal(a, fixed) for a in asked[1:])
    asked.clear()
    result = model_randomization(model, {"p": probe}, inputs, fixed)
    for stage, classes in enumerate(result["p"].classes):
        assert torch.equal(classes, asked[stage + 1])  # the randomised model's own top class
    assert not all(torch.equal(a, fixed) for a in asked[1:])


def test_a_model_on_which_parameters_are_replaced_is_reported():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(Exception, match="replaced"), WeightRandomizer(model):
        model[0].weight = nn.Parameter(torch.zeros(2, 2))
    clone = copy.deepcopy(model)
    assert clone is not model


@pytest.mark.parametrize("name", ["rise", "smoothgrad"])
def test_reseeded_explainers_draw_from_the_new_seed_and_leave_the_original_alone(shapes, name):
    inputs = shapes.normalize(get_task("shapes").make_batch(2, 2).images)
    classes = torch.tensor([0, 3])
    explainer = build_explainer(name, shapes.model, "block3", seed=3, preview=True)
    fresh = explainer.reseeded(11)
    first, second = explainer(inputs, classes), fresh(inputs, classes)
    assert torch.equal(second, build_explainer(name, shapes.model, "block3", seed=11, preview=True)(inputs, classes))
    assert not torch.allclose(first, second)
    assert torch.equal(explainer(inputs, classes), first)  # the original keeps its seed


def test_reseeded_leaves_methods_that_draw_nothing_as_they_are(shapes):
    explainer = build_explainer("saliency", shapes.model, "block3", seed=3)
    assert explainer.reseeded(11) is explainer


def test_a_rise_instance_given_by_the_user_is_reseeded_too(shapes):
    from revelio.attribution import RISE

    inputs = shapes.normalize(get_task("shapes").make_batch(2, 2).images)
    classes = torch.tensor([0, 3])
    explainer = build_explainer(RISE(shapes.model), shapes.model, seed=3, preview=True)
    fresh = explainer.reseeded(11)
    expected = RISE(shapes.model).attribute(inputs, classes, **{**fresh.options, "seed": 11})
    assert torch.equal(fresh(inputs, classes), expected)
    assert not torch.allclose(explainer(inputs, classes), fresh(inputs, classes))
