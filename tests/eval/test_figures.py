"""The sanity report's charts: matplotlib figures, one colour per method in all of them, one name per baseline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.colors import to_hex

from revelio.eval.figures import curves_figure, localization_figure, similarity_figure, write_figures
from revelio.eval.report import CheckResult, SanityReport
from revelio.render import method_color

METHODS = ("saliency", "gradcam", "random-map")
TITLES = {"saliency": "Saliency (gradient)", "gradcam": "Grad-CAM", "random-map": "Random map (control)"}


@dataclass
class _Stages:
    stages: list[str]

    def mean(self, measure: str) -> torch.Tensor:
        return torch.tensor([0.5, 0.2])


def _report() -> SanityReport:
    results = [CheckResult("A6", m, "report", "report", "", "") for m in METHODS]
    scores = {m: {"pointing": 0.9, "mass": 0.3, "rank": 0.4, "centre_pointing": 0.4, "centre_mass": 0.1,
                  "centre_rank": 0.15, "random_pointing": 0.2, "random_mass": 0.07, "random_rank": 0.07}
              for m in METHODS}  # fmt: skip
    curve = {"fractions": [0.0, 0.5, 1.0], "deletion": [1.0, 0.4, 0.2], "insertion": [0.2, 0.8, 1.0]}
    artifacts = {
        "a3": {m: _Stages(["head", "block3"]) for m in METHODS},
        "a3_independent": {m: _Stages(["head", "block3"]) for m in METHODS},
        "a6": scores,
        "a8": {"random map (reference)": curve, **{m: curve for m in METHODS}},
    }
    return SanityReport(model="shapes", settings={}, results=results, artifacts=artifacts, titles=TITLES)


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
    baselines = {"Centre baseline", "Random baseline"}
    assert baselines <= set(bar_colors) and "Random baseline" in curves  # the A8 reference: the same name as in A6
    assert not any("reference" in label.lower() for label in {*curves, *bar_colors})
    assert {bar_colors["Random baseline"], curves["Random baseline"]}.isdisjoint(expected.values())
    dashed = [line for line in curves_figure(report).axes[0].get_lines() if line.get_label() == "Random baseline"]
    assert dashed and dashed[0].get_linestyle() == "--"


def test_the_figures_are_written_as_pngs(tmp_path):
    written = write_figures(_report(), tmp_path)
    assert set(written) == {"a3_similarity.png", "a6_localization.png", "a8_deletion_insertion.png"}
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.isfinite(list(similarity_figure(_report()).axes[0].get_lines()[0].get_ydata())).all()
