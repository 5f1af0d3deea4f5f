"""The sanity report's figures, drawn with :mod:`revelio.render` from the report's typed evidence.

:data:`FIGURES` is the one list of figure files: each names the checks it shows and
draws itself from :class:`~revelio.eval.evidence.Evidence`.

Map figures are image grids; charts are matplotlib figures (:func:`similarity_figure`,
:func:`localization_figure`, :func:`curves_figure` return them, to restyle or save as
SVG or PDF). A method has one colour in every chart (:func:`revelio.render.method_color`);
baselines are grey and dashed.

- ``a3_cascade.png``: maps of one image as the model is randomised from the head down,
  one row per method (the layout of Adebayo et al. 2018, Fig. 2);
- ``a3_similarity.png``: Spearman rank correlation (of ``|map|`` and signed), SSIM and
  HOG similarity against the trained model's maps, per stage; cascading on top,
  independent below;
- ``a4_random_logit.png``: maps for the asked class and for a class not in the image;
- ``a5_data_randomization.png``: maps of the true-label control and of the model trained
  on permuted labels (with ``slow=True``);
- ``a6_localization.png``: pointing-game hit rates per method, beside the centre point
  and the spectral-residual objectness map;
- ``a7_class_discrimination.png``: maps for the classes of two labelled objects;
- ``a8_deletion_insertion.png``: mean deletion and insertion curves;
- ``f1_known_answer.png``: the planted pattern and the maximising patches;
- ``f_visualizations.png``: class visualizations of the trained and of the randomized
  model, per variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from revelio.eval.checks import A3_FULL, A3_PARTIAL

if TYPE_CHECKING:
    from revelio.eval.report import SanityReport


SCALE = 2
"""Upscaling of 64-pixel tiles."""

PAIR_EXAMPLES = {"A4": 2, "A5": 2, "A7": 3}
"""Example images per paired-map figure (noise maps compress badly: this keeps the PNGs small)."""


@dataclass(frozen=True)
class Figure:
    """One figure file of the report: its name, the checks it shows, and how it is drawn.

    ``draw(report, render)`` returns an image tensor, a matplotlib figure, or ``None``
    when the report holds nothing to draw it from.
    """

    name: str
    checks: tuple[str, ...]
    draw: Callable[[SanityReport, Any], Any]


def figures_of(check: str) -> list[str]:
    """The file names of the figures that show ``check``."""
    return [figure.name for figure in FIGURES if check in figure.checks]


def write_figures(report: SanityReport, out: Path) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` the report's evidence allows into ``out``; return ``{file name: path}``."""
    from revelio import render

    written: dict[str, Path] = {}
    for figure in FIGURES:
        drawn = figure.draw(report, render)
        if drawn is None:
            continue
        path = out / figure.name
        written[figure.name] = render.save_png(drawn, path) if isinstance(drawn, Tensor) else render.save_chart(drawn, path)
    return written


def _draw_cascade(report: SanityReport, render) -> Tensor | None:
    evidence, images = report.evidence.cascade, report.evidence.images
    if evidence is None or images is None:
        return None
    return _cascade(render, evidence.cascading, images.shown, report.title)


def _draw_pairs(field: str, check: str, with_masks: bool = False) -> Callable[[SanityReport, Any], Tensor | None]:
    def draw(report: SanityReport, render) -> Tensor | None:
        evidence, images = getattr(report.evidence, field), report.evidence.images
        if evidence is None or images is None or not evidence.maps:
            return None
        masks = images.masks if with_masks else None
        pairs = {name: (maps.first, maps.second) for name, maps in evidence.maps.items()}
        return _pairs(render, pairs, images.shown, evidence.headings, report.title, masks=masks,
                      count=PAIR_EXAMPLES[check])  # fmt: skip

    return draw


def _draw_known_pattern(report: SanityReport, render) -> Tensor | None:
    evidence = report.evidence.known_pattern
    return None if evidence is None else _known_pattern(render, evidence.pattern, evidence.patches, report.title)


def _draw_visualizations(report: SanityReport, render) -> Tensor | None:
    evidence, images = report.evidence.visualizations, report.evidence.images
    if evidence is None:
        return None
    names = images.name if images is not None else (lambda index: f"class {index}")
    return _visualizations(render, evidence, names, report.title)


BASELINES = {
    "centre": "Centre point",
    "objectness": "Objectness (spectral residual)",
    "random map (reference)": "Random map",
}
"""Labels of the baselines the methods are compared with, the same in every chart."""


def _baseline_label(key: str) -> str:
    return BASELINES.get(key, key[:1].upper() + key[1:])


def _heat(render, values: Tensor) -> Tensor:
    """Normalised heat ``(N, H, W)`` in [0, 1] -> ``(N, 3, H, W)`` colour images."""
    return render.colormap(values[:, None].float().clamp(0, 1), "inferno")


def _cascade(render, results: dict, images: Tensor, title) -> Tensor:
    methods = list(results)
    first = results[methods[0]]
    titles = ["input", "trained"] + list(first.stages)
    tiles = []
    for method in methods:
        maps = _heat(render, results[method].examples[:, 0])  # stages of the first image
        tiles += [images[0].float(), *maps]
    return render.grid(
        tiles,
        ncols=len(titles),
        titles=titles * len(methods),
        row_titles=[title(m) for m in methods],
        scale=SCALE,
    )


def similarity_figure(report: SanityReport):
    """A3: rank correlation (of ``|map|`` and signed), SSIM and HOG similarity with the trained model's maps,
    per randomized stage; cascading above, independent below (with ``slow``). A matplotlib figure, or ``None``
    without A3 results."""
    from revelio import render

    evidence = report.evidence.cascade
    if evidence is None or not evidence.cascading:
        return None
    cascading, independent = evidence.cascading, evidence.independent
    measures = [("spearman_abs", "Spearman rank corr. of |map|"), ("spearman", "Spearman rank corr. (signed)"),
                ("ssim", "SSIM (min-max normalised)"), ("hog", "HOG similarity")]
    modes = [(results, mode) for results, mode in ((cascading, "cascading"), (independent, "independent")) if results]
    fig, axes = render.plots.figure((17.0, 3.6 * len(modes) + 0.6), rows=len(modes), cols=len(measures))
    axes = axes.reshape(len(modes), len(measures))
    for row, (results, mode) in enumerate(modes):
        stages = next(iter(results.values())).stages
        if mode == "cascading":
            ticks = ["trained"] + [s.split(" + ")[-1] if i else s for i, s in enumerate(stages)]
            ticks = ["trained"] + [("+" if i else "") + t for i, t in enumerate(ticks[1:])]
        else:
            ticks = ["trained"] + [f"only {s}" for s in stages]
        xs = list(range(len(ticks)))
        for column, (measure, label) in enumerate(measures):
            series = {report.title(m): (xs, [1.0] + r.mean(measure).tolist()) for m, r in results.items()}
            title = f"{mode}: {label}"
            if mode == "cascading" and measure == "spearman_abs":
                title += f" (pass: {A3_PARTIAL}, {A3_FULL})"
            render.line_chart(series, title=title, ylabel=label.split(" (")[0], ylim=(-0.2, 1.05), xticks=ticks,
                              colors=_colors(report, results), legend=False, ax=axes[row, column])  # fmt: skip
    _figure_legend(fig, axes[0, 0])
    return fig


def _colors(report: SanityReport, methods) -> dict[str, str]:
    """Each method's colour by its title (the charts' series names)."""
    from revelio import render

    return {report.title(name): render.method_color(name) for name in methods}


def _figure_legend(fig, ax) -> None:
    """One legend for the whole figure, above its plots, from the entries of ``ax``."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=min(len(labels), 5), frameon=False, fontsize=9)


def _pairs(
    render,
    pairs: dict,
    images: Tensor,
    headings: list[tuple[str, str]],
    title,
    masks: Tensor | None = None,
    count: int | None = None,
) -> Tensor:
    """One row per method: for each of ``count`` example images, two maps; a first row with the inputs."""
    count = min(len(images), len(headings), *(len(p[0]) for p in pairs.values()), count or len(images))
    top, titles = [], []
    for k in range(count):
        for side in range(2):
            picture = images[k].float()
            if masks is not None:
                picture = render.overlay(picture, masks[k, side][None].float(), alpha=0.45, cmap="viridis")
            top.append(picture)
            titles.append(headings[k][side])
    tiles = list(top)
    all_titles = list(titles)
    for first, second in pairs.values():
        for k in range(count):
            tiles += [_heat(render, first[k : k + 1])[0], _heat(render, second[k : k + 1])[0]]
        all_titles += [""] * (2 * count)
    rows = ["input" if masks is None else "input, object"] + [title(m) for m in pairs]
    return render.grid(tiles, ncols=2 * count, titles=all_titles, row_titles=rows, scale=SCALE)


def localization_figure(report: SanityReport):
    """A6: pointing-game hit rate (TorchRay tolerance and tolerance 0) with 95% intervals, each method beside
    the centre point and the objectness map. A matplotlib figure, or ``None`` without A6 results."""
    from revelio import render

    evidence = report.evidence.localization
    if evidence is None or not evidence.scores:
        return None
    methods = list(evidence.scores)
    first = evidence.scores[methods[0]]
    measures = [("pointing", "hit rate (TorchRay tolerance)"), ("pointing_tolerance_0", "hit rate (tolerance 0)"),
                ("pointing_other_object", "hit rate on another object")]
    series = {report.title(m): [evidence.scores[m][key]["estimate"] for key, _ in measures] for m in methods}
    colors = _colors(report, methods)
    for index, baseline in enumerate(evidence.baselines):
        label = _baseline_label(baseline)
        series[label] = [first[f"{baseline}_{key}"]["estimate"] if f"{baseline}_{key}" in first else 0.0
                         for key, _ in measures]  # fmt: skip
        colors[label] = render.baseline_color(index)
    return render.bar_chart(
        [label for _, label in measures], series, title=f"A6 pointing game on the {report.settings.get('task')} masks",
        ylabel="hit rate (per-class mean)", colors=colors,
        hatches={_baseline_label(b): "//" for b in evidence.baselines}, size=(13.0, 4.4),
    )


def curves_figure(report: SanityReport):
    """A8: mean deletion and insertion curves of each method and of the random baseline. A matplotlib
    figure, or ``None`` without A8 results."""
    from revelio import render

    evidence = report.evidence.faithfulness
    if evidence is None or not evidence.curves:
        return None
    curves = {name: vars(c) for name, c in evidence.curves.items()}
    curves["random map (reference)"] = vars(evidence.reference)
    fig, axes = render.plots.figure((11.0, 4.4), rows=1, cols=2)
    colors = _colors(report, [name for name in curves if name in report.methods])
    labels = {name: report.title(name) if name in report.methods else _baseline_label(name) for name in curves}
    baselines = [labels[name] for name in curves if name not in report.methods]
    colors.update({label: render.baseline_color(index) for index, label in enumerate(baselines)})
    order = sorted(curves, key=lambda name: name not in report.methods)  # the methods, then the baselines
    for ax, (kind, better) in zip(axes, (("deletion", "lower is better"), ("insertion", "higher is better"))):
        series = {labels[name]: (curves[name]["fractions"], curves[name][kind]) for name in order}
        render.line_chart(series, title=f"A8 {kind} ({better})", xlabel=f"fraction of pixels {kind[:-3]}ed",
                          ylabel="target probability", ylim=(0.0, 1.02), colors=colors, dashed=baselines,
                          legend=False, ax=ax)  # fmt: skip
    _figure_legend(fig, axes[0])
    return fig


def _known_pattern(render, pattern: Tensor, patches: dict[str, Tensor], title) -> Tensor:
    def show(values: Tensor) -> Tensor:
        values = values.float()
        scale = values.abs().max().clamp_min(1e-12)
        return (0.5 + 0.5 * values / scale).clamp(0, 1)

    tiles = [show(pattern)] + [show(patch) for patch in patches.values()]
    titles = ["planted"] + [title(variant) for variant in patches]
    return render.grid(tiles, ncols=len(tiles), titles=titles, scale=12)


def _visualizations(render, runs, names, title) -> Tensor:
    tiles, rows, titles = [], [], []
    units = runs.units
    for variant in runs.trained:
        for kind in ("trained", "randomized"):
            images = getattr(runs, kind)[variant]
            tiles += list(images.float().clamp(0, 1))
            titles += [names(u) for u in units]
            rows.append(f"{title(variant)}, {'trained' if kind == 'trained' else 'random model'}")
    return render.grid(tiles, ncols=len(units), titles=titles, row_titles=rows, scale=SCALE)


FIGURES: tuple[Figure, ...] = (
    Figure("a3_cascade.png", ("A3",), _draw_cascade),
    Figure("a3_similarity.png", ("A3",), lambda report, render: similarity_figure(report)),
    Figure("a4_random_logit.png", ("A4",), _draw_pairs("random_logit", "A4")),
    Figure("a5_data_randomization.png", ("A5",), _draw_pairs("data_randomization", "A5")),
    Figure("a6_localization.png", ("A6",), lambda report, render: localization_figure(report)),
    Figure("a7_class_discrimination.png", ("A7",), _draw_pairs("discrimination", "A7", with_masks=True)),
    Figure("a8_deletion_insertion.png", ("A8",), lambda report, render: curves_figure(report)),
    Figure("f1_known_answer.png", ("F1",), _draw_known_pattern),
    Figure("f_visualizations.png", ("F2", "F3", "F4"), _draw_visualizations),
)
"""Every figure of the sanity report, in order: the one list the runner and the writer read."""


__all__ = [
    "BASELINES", "FIGURES", "Figure", "curves_figure", "figures_of", "localization_figure", "similarity_figure",
    "write_figures",
]
