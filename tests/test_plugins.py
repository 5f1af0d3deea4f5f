"""A method registered from outside the package reaches every tool, with no edit to revelio.

The plugin is ``tests/plugins/sensitivity_plugin.py``. It is installed as a real
distribution: a ``.dist-info`` folder on the path whose ``entry_points.txt`` names
``sensitivity = sensitivity_plugin:SPEC`` in the ``revelio.methods`` group, which is
how ``pip install`` of a package leaves it. Then the command line (explain, sanity,
dataset runs), the benchmark suite and the test suite's registry-driven tests each
find and run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from revelio import registry

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A folder holding the plugin's distribution metadata; put it on the path to install it."""
    site = tmp_path_factory.mktemp("site")
    info = site / "revelio_sensitivity-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: revelio-sensitivity\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[revelio.methods]\nsensitivity = sensitivity_plugin:SPEC\n")
    return site


def _env(site: Path | None) -> dict[str, str]:
    paths = [str(ROOT)] + ([str(site), str(PLUGIN_SOURCE)] if site is not None else [])
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.pathsep.join(paths),
            "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _run(site: Path | None, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    completed = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                               env=_env(site), cwd=ROOT)
    return completed


@pytest.fixture
def in_process(installed, monkeypatch):
    """The plugin installed in this process: the registry loads it at its next lookup."""
    monkeypatch.syspath_prepend(str(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(installed))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    yield
    if "sensitivity" in registry.names():
        registry.unregister("sensitivity")


def test_the_entry_point_registers_the_method(in_process):
    assert "sensitivity" in registry.known_names()  # from the entry point's name, nothing imported yet
    spec = registry.get("sensitivity")
    assert spec.title == "Sensitivity analysis (plugin)" and spec.expected("A3").outcome == "report"
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, -2.0, 3.0, 0.5], [0.0, 1.0, 0.0, 0.0]]))
    maps = spec.create(model).attribute(torch.ones(1, 1, 2, 2), target=0)
    assert torch.equal(maps, torch.tensor([[[[1.0, 4.0], [9.0, 0.25]]]]))


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path, monkeypatch):
    info = tmp_path / "broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[revelio.methods]\nbroken = no_such_module:SPEC\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    with pytest.warns(RuntimeWarning, match="'broken'.*could not be registered"):
        names = registry.names()
    assert "saliency" in names and "broken" not in names


def test_revelio_explain_runs_it(installed, tmp_path):
    import cv2

    from revelio.zoo import make_batch

    images = tmp_path / "images"
    images.mkdir()
    pixels = (make_batch(1, seed=7).images[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    cv2.imwrite(str(images / "a.png"), pixels)
    out = tmp_path / "maps"
    help_text = _run(installed, "-m", "revelio", "explain", "--help").stdout
    assert "sensitivity" in re.sub(r"\s+", " ", help_text)
    result = _run(installed, "-m", "revelio", "explain", str(images / "a.png"), "--method", "sensitivity,gradcam",
                  "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "explanations.json").read_text())
    assert [r["method"] for r in records] == ["sensitivity", "gradcam"]
    assert (out / records[0]["picture"]).stat().st_size > 0


def test_revelio_explain_dataset_runs_it(installed, tmp_path):
    out = tmp_path / "shards"
    result = _run(installed, "-m", "revelio", "explain", "--dataset", "shapes:4", "--method", "sensitivity",
                  "--batch-size", "2", "--workers", "0", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["method"]["name"] == "sensitivity"
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 4


def test_revelio_sanity_reports_it(installed, tmp_path):
    result = _run(installed, "-m", "revelio", "sanity", "--method", "sensitivity", "--images", "4", "--out",
                  str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    rows = [r for r in report["results"] if r["method"] == "sensitivity"]
    assert {r["check"] for r in rows} == {f"A{i}" for i in range(1, 9)}
    assert all(r["expected"] == "report" for r in rows)  # the plugin names no expectation
    assert "Sensitivity analysis (plugin)" in (tmp_path / "report.md").read_text()


def test_the_benchmarks_time_it(installed, tmp_path):
    result = _run(installed, "-m", "benchmarks", "--quick", "--method", "sensitivity", "--no-memory", "--no-peers",
                  "--rounds", "1", "--warmup", "0", "--out", str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    rows = [w for group in results["attribution"] for w in group["workloads"] if w["library"] == "revelio"]
    assert [w["name"] for w in rows] == ["revelio SensitivityAnalysis"] * 2 and all(w["status"] == "ok" for w in rows)


def test_the_registry_driven_tests_enrol_it(installed):
    def collect(site: Path | None) -> str:
        result = _run(site, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                      "tests/attribution/test_attribution_lifecycle.py", "tests/attribution/test_attribution_properties.py")
        assert result.returncode == 0, result.stdout[-2000:]
        return result.stdout

    def count(listing: str) -> int:
        return int(re.search(r"(\d+) tests? collected", listing).group(1))

    without, with_plugin = collect(None), collect(installed)
    enrolled = [line for line in with_plugin.splitlines() if "sensitivity" in line]
    assert "sensitivity" not in without
    assert len(enrolled) >= 10  # every lifecycle failure mode and property test, for the new method
    assert count(with_plugin) == count(without) + len(enrolled)
