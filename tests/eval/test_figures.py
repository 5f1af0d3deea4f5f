"""The sanity report's charts: matplotlib figures, one colour per method in all of them, one name per baseline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.colors import to_hex

from revelio.eval.evidence import CascadeEvidence, Curves, Evidence, FaithfulnessEvidence, LocalizationEvidence
from revelio.eval.figures import (
    FIGURES,
    curves_figure,
    figures_of,
    localization_figure,
    similarity_figure,
    write_figures,
)
from revelio.eval.report import CheckResult, SanityReport
from revelio.render import method_color

METHODS = ("saliency", "gradcam", "random-map")
TITLES = {"saliency": "Saliency (gradient)", "gradcam": "Grad-CAM", "random-map": "Random map (control)"}


@dataclass
class _Stages:
    stages: list[str]

    def mean(self, measure: str) -> torch.Tensor:
        return torch.tensor([0.5, 0.2])


def _ci(value: float) -> dict[str, float]:
    return {"estimate": value, "low": value - 0.05, "high": value + 0.05}


def _report() -> SanityReport:
    results = [CheckResult("A6", m, "no expectation", "report", "", "") for m in METHODS]
    scores = {m: {"pointing": _ci(0.9), "pointing_tolerance_0": _ci(0.6), "pointing_other_object": _ci(0.1),
                  "centre_pointing": _ci(0.4), "centre_pointing_tolerance_0": _ci(0.2),
                  "objectness_pointing": _ci(0.45), "objectness_pointing_tolerance_0": _ci(0.25)}
              for m in METHODS}  # fmt: skip
    curve = Curves([0.0, 0.5, 1.0], [1.0, 0.4, 0.2], [0.2, 0.8, 1.0])
    evidence = Evidence(
        cascade=CascadeEvidence({m: _Stages(["head", "head + block3"]) for m in METHODS},
                                {m: _Stages(["head", "block3"]) for m in METHODS}),
        localization=LocalizationEvidence(scores, ["centre", "objectness"]),
        faithfulness=FaithfulnessEvidence({m: curve for m in METHODS}, curve),
    )
    return SanityReport(model="shapes", settings={"task": "shapes"}, results=results, evidence=evidence, titles=TITLES)


def _line_colors(figure) -> dict[str, str]:
    return {line.get_label(): to_hex(line.get_color()) for ax in figure.axes for line in ax.get_lines()}


def test_every_chart_colours_a_method_the_same_and_names_baselines_alike():
    report = _report()
    expected = {TITLES[m]: method_color(m).lower() for m in METHODS}
    similarity, curves = _line_colors(similarity_figure(report)), _line_colors(curves_figure(report))
    bars = localization_figure(report)
    bar_colors = {}
    for container in bars.axes[0].containers:
        bar_colors[container.get_label()] = to_hex(container.patches[0].get_facecolor())
    for title, color in expected.items():
        assert similarity[title] == curves[title] == bar_colors[title] == color, title
    assert {"Centre point", "Objectness (spectral residual)"} <= set(bar_colors) and "Random map" in curves
    assert not any("reference" in label.lower() for label in {*curves, *bar_colors})
    assert {bar_colors["Centre point"], curves["Random map"]}.isdisjoint(expected.values())
    dashed = [line for line in curves_figure(report).axes[0].get_lines() if line.get_label() == "Random map"]
    assert dashed and dashed[0].get_linestyle() == "--"


def test_the_figures_are_written_as_pngs(tmp_path):
    written = write_figures(_report(), tmp_path)
    assert set(written) == {"a3_similarity.png", "a6_localization.png", "a8_deletion_insertion.png"}
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.isfinite(list(similarity_figure(_report()).axes[0].get_lines()[0].get_ydata())).all()


def test_one_list_of_figures_names_each_file_once_and_every_check_has_one():
    names = [figure.name for figure in FIGURES]
    assert len(names) == len(set(names))
    for check in ("A3", "A4", "A5", "A6", "A7", "A8", "F1", "F2", "F3", "F4"):
        assert figures_of(check), check
    assert figures_of("A1") == [] and figures_of("A3") == ["a3_cascade.png", "a3_similarity.png"]
