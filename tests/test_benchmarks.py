"""The benchmark suite runs (``python -m benchmarks --quick``) and its output holds together.

These tests assert the output's structure and the numerical agreement of the peers with
revelio, never timings: the machine running them may be shared and slow.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PEER_MODULES = {"Captum": "captum", "pytorch-grad-cam": "pytorch_grad_cam", "torch-cam": "torchcam"}


def _installed(peer: str) -> bool:
    return importlib.util.find_spec(PEER_MODULES[peer]) is not None


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmarks")
    completed = _run("--quick", "--out", str(out))
    assert completed.returncode == 0, completed.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def _workloads(group):
    return {w["name"]: w for w in group["workloads"]}


def _group(results, model):
    return next(g for g in results["attribution"] if g["settings"]["model"] == model)


def test_outputs_exist(quick):
    out, results = quick
    assert (out / "results.md").read_text().startswith("# revelio benchmarks")
    assert (out / "chart.png").stat().st_size > 1000
    assert "chart.png" in results["charts"]


def test_json_records_machine_versions_and_settings(quick):
    _, results = quick
    assert results["suite"] == "revelio benchmarks"
    assert results["command"].startswith("python -m benchmarks --quick")
    assert results["machine"]["device"] == "cpu"
    assert results["machine"]["cpu_count"] >= 1
    for package in ("python", "torch", "torchvision", "revelio", "Captum", "pytorch-grad-cam", "torch-cam"):
        assert results["versions"][package]
    for peer in PEER_MODULES:
        assert (results["versions"][peer] == "not installed") == (not _installed(peer))
    assert [g["settings"]["model"] for g in results["attribution"]] == ["resnet18", "densenet121"]
    titles = [g["title"] for g in results["featureviz"]]
    assert titles[0].startswith("activation maximization") and titles[1].startswith("deep dream")


def test_the_quick_preset_leaves_out_score_cam(quick):
    # a forward pass per example and channel does not fit the quick preset: it runs when named with --method
    _, results = quick
    assert "left out of the preset (name them with --method to run them): scorecam" in results["plan"]
    for group in results["attribution"]:
        assert "scorecam" not in group["settings"]["methods"]
        assert "gradcam-plus-plus" in group["settings"]["methods"]


def test_every_timed_workload_has_its_figures(quick):
    _, results = quick
    for group in results["attribution"] + results["featureviz"]:
        assert group["rounds"] >= 1
        for w in group["workloads"]:
            if w["status"] != "ok":
                assert w["status"] in ("not installed", "not applicable", "skipped"), w
                continue
            assert len(w["times_s"]) == group["rounds"], w["name"]
            assert 0 < w["min_s"] <= w["q1_s"] <= w["median_s"] <= w["q3_s"] <= w["max_s"]
            assert math.isclose(w["items_per_s"], w["items_per_call"] / w["median_s"])
            assert w["peak_memory_mb"] >= 0


def test_attribution_groups_hold_floors_methods_and_peers(quick):
    _, results = quick
    for group in results["attribution"]:
        names = _workloads(group)
        for name in ("forward (no_grad)", "forward + input backward", "revelio Saliency", "revelio GuidedBackprop",
                     "revelio GradCAM", "revelio GuidedGradCAM", "PytorchRevelio-style Saliency (batch-1 loop)",
                     "Captum Saliency", "Captum GuidedBackprop", "Captum LayerGradCam", "Captum GuidedGradCam",
                     "pytorch-grad-cam GradCAM", "pytorch-grad-cam GuidedBackpropReLUModel", "torch-cam GradCAM"):
            assert name in names, name
        for w in group["workloads"]:
            if w["library"] in PEER_MODULES and not _installed(w["library"]):
                assert w["status"] == "not installed"


def test_floor_and_baselines_agree_with_revelio(quick):
    _, results = quick
    for group in results["attribution"]:
        names = _workloads(group)
        assert names["forward + input backward"]["agrees"] is True
        assert names["PytorchRevelio-style Saliency (batch-1 loop)"]["agrees"] is True
    am = _workloads(results["featureviz"][0])
    assert am["PytorchRevelio-style plain x1"]["agrees"] is True
    assert am["floor: truncated loop x1"]["agrees"] is True
    dream = _workloads(results["featureviz"][1])
    assert dream["PytorchRevelio-style deep dream x1"]["agrees"] is True


def test_peers_agree_where_they_compute_the_same_thing(quick):
    _, results = quick
    resnet = _workloads(_group(results, "resnet18"))
    for w in resnet.values():
        if w["library"] in PEER_MODULES and w["status"] == "ok":
            assert w["agrees"] is True, (w["name"], w["relative_error"])
            assert w["relative_error"] <= 1e-4


def test_disagreeing_peers_are_flagged(quick):
    # DenseNet121 ends with a functional F.relu(features, inplace=True). Captum and
    # pytorch-grad-cam's guided backprop only see nn.ReLU modules; torch-cam and
    # pytorch-grad-cam record features.norm5's output after that in-place ReLU.
    out, results = quick
    densenet = _workloads(_group(results, "densenet121"))
    expected = {
        "Captum GuidedBackprop": False,
        "Captum GuidedGradCam": False,
        "pytorch-grad-cam GuidedBackpropReLUModel": False,
        "Captum LayerGradCam": True,
        "Captum Saliency": True,
        # the rectified norm5 changes channel weights and principal components; LayerCAM and HiResCAM multiply
        # A by a gradient that is 0 wherever the ReLU cut A, so for them A and ReLU(A) give the same map
        "pytorch-grad-cam XGradCAM": False,
        "torch-cam XGradCAM": False,
        "pytorch-grad-cam EigenCAM": False,
        "pytorch-grad-cam LayerCAM": True,
        "torch-cam LayerCAM": True,
        "pytorch-grad-cam HiResCAM": True,
    }
    for name, agrees in expected.items():
        w = densenet[name]
        if w["status"] == "not installed":
            continue
        assert w["agrees"] is agrees, (name, w["relative_error"])
        if not agrees:
            assert w["relative_error"] > 0.01
    markdown = (out / "results.md").read_text()
    if densenet["Captum GuidedBackprop"]["status"] == "ok":
        assert any(line.startswith("| Captum GuidedBackprop |") and "**NO**" in line for line in markdown.splitlines())


def test_targets_are_evaluated(quick):
    _, results = quick
    ids = {t["id"] for t in results["targets"]}
    assert {"saliency", "guided-backprop", "gradcam", "guided-gradcam", "gradcam_memory", "am_plain",
            "regularizer_gaussian", "regularizer_bilateral"} <= ids
    for t in results["targets"]:
        assert t["measured"] is not None, t
        if t.get("informational"):
            assert t["passed"] is None, t
            continue
        sense, limit = t["limit"].split()
        within = t["measured"] <= float(limit) if sense == "<=" else t["measured"] >= float(limit)
        assert t["passed"] is within, t  # the verdict follows from the number and the limit
        assert ("missed_by" in t) is (not within), t


def test_a_method_list_runs_only_those_methods_and_refuses_unknown_names(tmp_path):
    completed = _run("--quick", "--method", "gradcam", "--models", "resnet18", "--no-peers", "--no-memory",
                     "--rounds", "1", "--warmup", "0", "--out", str(tmp_path))
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert [g["settings"]["methods"] for g in results["attribution"]] == [["gradcam"]]
    assert results["featureviz"] == []
    refused = _run("--method", "gradcm", "--out", str(tmp_path / "x"), timeout=120)
    assert refused.returncode == 2 and "did you mean 'gradcam'" in refused.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_fails_clearly(tmp_path):
    completed = _run("--device", "cuda", "--out", str(tmp_path), timeout=120)
    assert completed.returncode == 2
    assert "no CUDA GPU" in completed.stderr
    assert not (tmp_path / "results.json").exists()


def test_half_precision_on_cpu_fails_clearly(tmp_path):
    completed = _run("--dtype", "bfloat16", "--out", str(tmp_path), timeout=120)
    assert completed.returncode == 2
    assert "CUDA" in completed.stderr


def test_measure_helpers():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.measure import relative_error, rotated, summary
    finally:
        sys.path.remove(str(ROOT))
    stats = summary([3.0, 1.0, 2.0, 4.0])
    assert stats["median_s"] == 2.5 and stats["min_s"] == 1.0 and stats["max_s"] == 4.0
    assert stats["q1_s"] <= stats["median_s"] <= stats["q3_s"]
    assert rotated([1, 2, 3], 1) == [2, 3, 1] and rotated([1, 2, 3], 3) == [1, 2, 3]
    expected = torch.tensor([1.0, -2.0])
    assert relative_error(torch.tensor([1.0, -1.0]), expected) == 0.5
    assert relative_error(torch.zeros(3), expected) == math.inf


def test_an_attribution_instance_is_timed_on_the_suites_model():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.attribution import attribution_group
    finally:
        sys.path.remove(str(ROOT))
    from revelio import GradCAM

    own = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    group = attribution_group("resnet18", 2, 32, torch.device("cpu"), methods=[GradCAM(own, "0")], use_peers=False,
                              baseline=False)
    revelio_rows = [w for w in group.workloads if w.library == "revelio"]
    assert [w.name for w in revelio_rows] == ["revelio GradCAM"] and group.settings["methods"] == ["gradcam"]
    maps = revelio_rows[0].run()
    assert maps.shape == (2, 1, 32, 32)  # rebound to resnet18's layer4, upsampled to the suite's inputs


@pytest.mark.parametrize(
    "name, options",
    [
        ("integrated-gradients", {"steps": 5, "internal_batch_size": 4}),
        ("smoothgrad", {"samples": 3, "internal_batch_size": 4}),
        ("vargrad", {"samples": 3, "internal_batch_size": 5}),
        ("occlusion", {"window": (8, 8), "strides": (8, 4), "internal_batch_size": 7}),
        ("rise", {"masks": 9, "internal_batch_size": 4}),
        ("scorecam", {"internal_batch_size": 64}),
    ],
)
def test_the_floor_of_a_many_pass_method_runs_the_model_on_as_many_inputs_as_the_method(name, options):
    """The floor runs what the method runs but for its single clean forward pass, in the same internal batches."""
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import attribution
    finally:
        sys.path.remove(str(ROOT))
    from unittest import mock

    from revelio import registry

    built, original = [], attribution.build_model

    def build_model(*args):
        built.append(original(*args))
        return built[-1]

    with mock.patch.object(attribution, "build_model", build_model):
        group = attribution.attribution_group("resnet18", 2, 32, torch.device("cpu"), methods=[name],
                                              use_peers=False, baseline=False, options={name: options})
    (model,) = built
    spec = registry.get(name)
    calls: list[int] = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    try:
        next(w for w in group.workloads if w.library == "revelio").run()
        method_calls = list(calls)
        calls.clear()
        group.by_name(attribution.passes_floor_name(spec)).run()
    finally:
        handle.remove()
    clean = 1  # the method's clean forward pass of the batch (the target, the activations)
    assert sum(method_calls[clean:]) == sum(calls) and max(method_calls[clean:]) == max(calls), (method_calls, calls)
    assert method_calls[0] == 2


@pytest.mark.skipif(not _installed("Captum"), reason="Captum is not installed")
def test_the_peers_run_with_the_options_of_the_run_not_the_registry_defaults():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.attribution import attribution_group
    finally:
        sys.path.remove(str(ROOT))
    options = {"integrated-gradients": {"steps": 3}, "smoothgrad": {"samples": 2}}
    group = attribution_group("resnet18", 1, 32, torch.device("cpu"), methods=list(options), baseline=False,
                              options=options)
    notes = {w.name: w.note for w in group.workloads}
    assert "n_steps=3," in notes["Captum IntegratedGradients"]
    assert "nt_samples=2," in notes["Captum NoiseTunnel(Saliency, 'smoothgrad')"]
