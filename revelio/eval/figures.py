"""The sanity report's figures, drawn with :mod:`revelio.render` from the report's artifacts.

Map figures are image grids; charts are matplotlib figures (:func:`similarity_figure`,
:func:`localization_figure`, :func:`curves_figure` return them, to restyle or save as
SVG or PDF). A method has one colour in every chart (:func:`revelio.render.method_color`);
baselines are grey and dashed.

- ``a3_cascade.png``: maps of one image as the model is randomised from the head down,
  one row per method (the layout of Adebayo et al. 2018, Fig. 2);
- ``a3_similarity.png``: Spearman rank correlation (of ``|map|`` and signed) and SSIM
  against the trained model's maps, per stage; cascading on top, independent below;
- ``a4_random_logit.png``: maps for the asked class and for a class not in the image;
- ``a5_data_randomization.png``: maps of the trained model and of the model trained on
  permuted labels (with ``slow=True``);
- ``a6_localization.png``: pointing hit rate, relevance mass and rank per method, and
  the centre and random baselines;
- ``a7_class_discrimination.png``: maps for each of the two objects' classes;
- ``a8_deletion_insertion.png``: mean deletion and insertion curves;
- ``f1_known_answer.png``: the planted pattern and the maximising patches;
- ``f_visualizations.png``: class visualizations of the trained and of the randomized
  model, per variant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from revelio.eval.checks import A3_FULL, A3_PARTIAL

if TYPE_CHECKING:
    from revelio.eval.report import SanityReport


SCALE = 2
"""Upscaling of 64-pixel tiles."""

PAIR_EXAMPLES = {"a4": 2, "a5": 2, "a7": 3}
"""Example images per paired-map figure (noise maps compress badly: this keeps the PNGs small)."""

def write_figures(report: SanityReport, out: Path) -> dict[str, Path]:
    """Draw every figure the report's artifacts allow into ``out``; return ``{file name: path}``."""
    from revelio import render

    artifacts = report.artifacts
    title = report.title
    written: dict[str, Path] = {}

    def save(name: str, image: Tensor) -> None:
        written[name] = render.save_png(image, out / name)

    def save_chart(name: str, chart) -> None:
        if chart is not None:
            written[name] = render.save_chart(chart, out / name)

    images = artifacts.get("images")
    if "a3" in artifacts and images is not None:
        save("a3_cascade.png", _cascade(render, artifacts["a3"], images, title))
    save_chart("a3_similarity.png", similarity_figure(report))
    if "a4" in artifacts and images is not None:
        names = _names(artifacts)
        headings = [(f"asked: {names(a)}", f"absent: {names(o)}") for a, o in zip(artifacts["primary"], artifacts["other"])]
        save("a4_random_logit.png", _pairs(render, artifacts["a4"], images, headings, title, count=PAIR_EXAMPLES["a4"]))
    a5 = {k: v for k, v in artifacts.get("a5", {}).items() if isinstance(v, tuple)}
    if a5 and images is not None:
        headings = [("trained", "permuted labels")] * len(images)
        save("a5_data_randomization.png", _pairs(render, a5, images, headings, title, count=PAIR_EXAMPLES["a5"]))
    save_chart("a6_localization.png", localization_figure(report))
    a7 = {k: v for k, v in artifacts.get("a7", {}).items() if isinstance(v, tuple)}
    if a7 and images is not None:
        names = _names(artifacts)
        headings = [(names(a), names(b)) for a, b in artifacts["a7"]["objects"]]
        figure = _pairs(render, a7, images, headings, title, masks=artifacts["a7"]["masks"], count=PAIR_EXAMPLES["a7"])
        save("a7_class_discrimination.png", figure)
    save_chart("a8_deletion_insertion.png", curves_figure(report))
    if artifacts.get("f1"):
        save("f1_known_answer.png", _known_pattern(render, artifacts["f1"], title))
    if artifacts.get("fv"):
        save("f_visualizations.png", _visualizations(render, artifacts["fv"], _names(artifacts), title))
    return written


BASELINES = {
    "centre": "Centre baseline",
    "random": "Random baseline",
    "random map (reference)": "Random baseline",
}
"""Labels of the baselines the methods are compared with, the same in every chart."""


def _baseline_label(key: str) -> str:
    return BASELINES.get(key, key[:1].upper() + key[1:])


def _names(artifacts: dict[str, Any]):
    names = artifacts.get("class_names")

    def name(index: int) -> str:
        return names[index] if names and 0 <= index < len(names) else f"class {index}"

    return name


def _heat(render, values: Tensor) -> Tensor:
    """Normalised heat ``(N, H, W)`` in [0, 1] -> ``(N, 3, H, W)`` colour images."""
    return render.colormap(values[:, None].float().clamp(0, 1), "inferno")


def _cascade(render, results: dict, images: Tensor, title) -> Tensor:
    methods = list(results)
    first = results[methods[0]]
    titles = ["input", "trained"] + [("+" if i else "") + stage for i, stage in enumerate(first.stages)]
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
    """A3: rank correlation (of ``|map|`` and signed) and SSIM with the trained model's maps, per randomized
    stage; cascading above, independent below. A matplotlib figure, or ``None`` without A3 results."""
    from revelio import render

    cascading, independent = report.artifacts.get("a3"), report.artifacts.get("a3_independent")
    if not cascading:
        return None
    measures = [("spearman_abs", "Spearman rank corr. of |map|"), ("spearman", "Spearman rank corr. (signed)"),
                ("ssim", "SSIM")]
    modes = [(results, mode) for results, mode in ((cascading, "cascading"), (independent, "independent")) if results]
    fig, axes = render.plots.figure((13.5, 3.6 * len(modes) + 0.6), rows=len(modes), cols=len(measures))
    axes = axes.reshape(len(modes), len(measures))
    for row, (results, mode) in enumerate(modes):
        stages = next(iter(results.values())).stages
        if mode == "cascading":
            ticks = ["trained"] + [("+" if i else "") + s for i, s in enumerate(stages)]
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
    """A6: pointing hit rate, relevance mass and rank of each method beside the centre and random
    baselines. A matplotlib figure, or ``None`` without A6 results."""
    from revelio import render

    scores = report.artifacts.get("a6")
    if not scores:
        return None
    methods = list(scores)
    first = scores[methods[0]]
    measures = [("pointing", "pointing hit rate"), ("mass", "relevance mass"), ("rank", "relevance rank")]
    series = {report.title(m): [scores[m][key] for key, _ in measures] for m in methods}
    colors = _colors(report, methods)
    for index, baseline in enumerate(("centre", "random")):
        label = _baseline_label(baseline)
        series[label] = [first[f"{baseline}_{key}"] for key, _ in measures]
        colors[label] = render.baseline_color(index)
    return render.bar_chart(
        [label for _, label in measures], series, title="A6 localization on the shapes masks", ylabel="score",
        colors=colors, hatches={_baseline_label(b): "//" for b in ("centre", "random")}, size=(11.0, 4.2),
    )


def curves_figure(report: SanityReport):
    """A8: mean deletion and insertion curves of each method and of the random baseline. A matplotlib
    figure, or ``None`` without A8 results."""
    from revelio import render

    curves = report.artifacts.get("a8")
    if not curves:
        return None
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


def _known_pattern(render, runs: dict, title) -> Tensor:
    def show(values: Tensor) -> Tensor:
        values = values.float()
        scale = values.abs().max().clamp_min(1e-12)
        return (0.5 + 0.5 * values / scale).clamp(0, 1)

    pattern = next(iter(runs.values()))["pattern"]
    tiles = [show(pattern)] + [show(run["patch"]) for run in runs.values()]
    titles = ["planted"] + [title(variant) for variant in runs]
    return render.grid(tiles, ncols=len(tiles), titles=titles, scale=12)


def _visualizations(render, runs: dict, names, title) -> Tensor:
    tiles, rows, titles = [], [], []
    units = runs["units"]
    for variant in runs["trained"]:
        for kind in ("trained", "randomized"):
            images = runs[kind][variant]
            tiles += list(images.float().clamp(0, 1))
            titles += [names(u) for u in units]
            rows.append(f"{title(variant)}, {'trained' if kind == 'trained' else 'random model'}")
    return render.grid(tiles, ncols=len(units), titles=titles, row_titles=rows, scale=SCALE)


__all__ = ["BASELINES", "curves_figure", "localization_figure", "similarity_figure", "write_figures"]
