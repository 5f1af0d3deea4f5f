"""The sanity report's figures, drawn with :mod:`revelio.render` from the report's artifacts.

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

CHART = (480, 320)
"""Size of one chart, in pixels."""


def write_figures(report: SanityReport, out: Path) -> dict[str, Path]:
    """Draw every figure the report's artifacts allow into ``out``; return ``{file name: path}``."""
    from revelio import render

    artifacts = report.artifacts
    title = report.title
    written: dict[str, Path] = {}

    def save(name: str, image: Tensor) -> None:
        written[name] = render.save_png(image, out / name)

    images = artifacts.get("images")
    if "a3" in artifacts and images is not None:
        save("a3_cascade.png", _cascade(render, artifacts["a3"], images, title))
        save("a3_similarity.png", _similarity(render, artifacts["a3"], artifacts.get("a3_independent"), title))
    if "a4" in artifacts and images is not None:
        names = _names(artifacts)
        headings = [(f"asked: {names(a)}", f"absent: {names(o)}") for a, o in zip(artifacts["primary"], artifacts["other"])]
        save("a4_random_logit.png", _pairs(render, artifacts["a4"], images, headings, title, count=PAIR_EXAMPLES["a4"]))
    a5 = {k: v for k, v in artifacts.get("a5", {}).items() if isinstance(v, tuple)}
    if a5 and images is not None:
        headings = [("trained", "permuted labels")] * len(images)
        save("a5_data_randomization.png", _pairs(render, a5, images, headings, title, count=PAIR_EXAMPLES["a5"]))
    if artifacts.get("a6"):
        save("a6_localization.png", _localization(render, artifacts["a6"], title))
    a7 = {k: v for k, v in artifacts.get("a7", {}).items() if isinstance(v, tuple)}
    if a7 and images is not None:
        names = _names(artifacts)
        headings = [(names(a), names(b)) for a, b in artifacts["a7"]["objects"]]
        figure = _pairs(render, a7, images, headings, title, masks=artifacts["a7"]["masks"], count=PAIR_EXAMPLES["a7"])
        save("a7_class_discrimination.png", figure)
    if artifacts.get("a8"):
        save("a8_deletion_insertion.png", _curves(render, artifacts["a8"], title))
    if artifacts.get("f1"):
        save("f1_known_answer.png", _known_pattern(render, artifacts["f1"], title))
    if artifacts.get("fv"):
        save("f_visualizations.png", _visualizations(render, artifacts["fv"], _names(artifacts), title))
    return written


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


def _similarity(render, cascading: dict, independent: dict | None, name_of) -> Tensor:
    charts = []
    measures = [("spearman_abs", "Spearman rank corr. of |map|"), ("spearman", "Spearman rank corr. (signed)"),
                ("ssim", "SSIM")]
    for results, mode in ((cascading, "cascading"), (independent, "independent")):
        if not results:
            continue
        stages = next(iter(results.values())).stages
        if mode == "cascading":
            ticks = ["trained"] + [("+" if i else "") + s for i, s in enumerate(stages)]
        else:
            ticks = ["trained"] + [f"only {s}" for s in stages]
        xs = list(range(len(ticks)))
        for measure, label in measures:
            series = {
                name_of(m): (xs, [1.0] + r.mean(measure).tolist()) for m, r in results.items()
            }
            title = f"{mode}: {label}"
            if mode == "cascading" and measure == "spearman_abs":
                title += f" (pass: {A3_PARTIAL}, {A3_FULL})"
            charts.append(
                render.line_chart(series, title=title, ylabel=label.split(" (")[0], size=CHART, ylim=(-0.2, 1.0),
                                  xticks=ticks)
            )
    return render.grid(charts, ncols=3, pad=4)


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


def _localization(render, scores: dict, title) -> Tensor:
    methods = list(scores)
    groups = [title(m) for m in methods] + ["centre baseline", "random baseline"]
    series = {}
    for key, label in (("pointing", "pointing hit rate"), ("mass", "relevance mass"), ("rank", "relevance rank")):
        first = scores[methods[0]]
        series[label] = [scores[m][key] for m in methods] + [first[f"centre_{key}"], first[f"random_{key}"]]
    return render.bar_chart(
        groups, series, title="A6 localization on the shapes masks", ylabel="score", size=(1000, 400)
    )


def _curves(render, curves: dict, title) -> Tensor:
    charts = []
    for kind, better in (("deletion", "lower is better"), ("insertion", "higher is better")):
        series = {
            title(name): (values["fractions"], values[kind]) for name, values in curves.items()
        }
        charts.append(
            render.line_chart(series, title=f"A8 {kind} ({better})", xlabel=f"fraction of pixels {kind[:-3]}ed",
                              ylabel="target probability", size=(560, 380), ylim=(0.0, 1.0))
        )
    return render.grid(charts, ncols=2, pad=4)


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


__all__ = ["write_figures"]
