"""``revelio demo``: every method on the bundled shapes model, as one HTML report.

Images come from the shapes task's held-out seed, so the model never saw them. For
each image both objects' classes are explained by every attribution method; units of
each convolutional block and each class logit are visualised with three feature
visualization presets (PytorchRevelio's Gaussian blur, the readable default, MACO); and
every method's localization is scored on 50 images against the objects' masks, beside
a centre and a random baseline.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from revelio import registry, render
from revelio.attribution import Attribution
from revelio.eval import pointing_game, relevance_mass, scaled_tolerance
from revelio.explain import method_picture
from revelio.featureviz import DEFAULT_PRESET, channel, class_logit, get_preset
from revelio.io import check_writable, staged_output
from revelio.registry import MethodSpec
from revelio.zoo import CLASS_NAMES, ZooModel, load, make_batch
from revelio.zoo.train import TEST_SEED

SHOWN_IMAGES = 6
SCORED_IMAGES = 50


def _shown_start(seed: int) -> int:
    """First item (of the held-out seed) of the images the attribution grid shows."""
    return 10_000 + 100 * seed


def _scored_start(seed: int) -> int:
    """First item (of the held-out seed) of the images the localization table scores."""
    return 20_000 + 1_000 * seed
BLOCKS = ("block1", "block2", "block3")
UNITS_PER_BLOCK = len(CLASS_NAMES)  # each layer row as wide as the class-logit row
STEPS = 96
DEMO_PRESETS = ("gaussian", DEFAULT_PRESET, "maco")  # pixels with blur, the readable default, phase only
SCALE = 2


def run_demo(out: str | Path, *, device: torch.device | str = "cpu", seed: int = 0, progress: bool = True) -> str:
    """Write the demo report into ``out`` (``index.html``); return a short text summary."""
    check_writable(out)
    zoo_model = load("shapes", device=device)
    methods = registered_methods(zoo_model)
    report = render.HtmlReport("revelio demo: the bundled shapes model")
    stages = tqdm(total=2 + len(DEMO_PRESETS), desc="revelio demo", disable=not progress, leave=False)
    report.add_text(
        "A small ReLU CNN (revelio.zoo.ShapesCNN) trained on the shapes task: every image holds two objects of "
        "different classes, and the pixel mask of each object is known. The images below come from a seed the "
        "model never saw in training. Each row explains one of the two objects' classes."
    )
    _attribution_section(report, zoo_model, methods, seed)
    stages.update()
    rows = _localization_section(report, zoo_model, methods, seed)
    stages.update()
    _featureviz_section(report, zoo_model, seed, stages)
    stages.close()
    with staged_output(out) as stage:
        report.write(stage / "index.html")
    return _table(rows)


def registered_methods(zoo_model: ZooModel) -> dict[MethodSpec, Attribution]:
    """Every registered method (:mod:`revelio.registry`) for the zoo model, layer methods at its CAM layer."""
    layer, reshape = zoo_model.gradcam_layer, zoo_model.gradcam_reshape
    return {spec: spec.create(zoo_model.model, layer, reshape) for spec in registry.methods().values()}


def _attribution_section(report: render.HtmlReport, zoo_model: ZooModel, methods: dict, seed: int) -> None:
    report.add_heading("Attribution: which pixels drive each class")
    report.add_text(
        "Grad-CAM should light up the object of the class asked for, and move to the other object in the next row. "
        "Guided backpropagation and deconvolution are known not to be class discriminative in general (Adebayo et "
        "al. 2018; Nie et al. 2018): compare the two rows of each image. Guided Grad-CAM keeps the guided detail "
        "inside Grad-CAM's region."
    )
    first = _shown_start(seed)
    caption = (f"rows: an image and the class explained (p = the model's probability); items {first}.."
               f"{first + SHOWN_IMAGES - 1} of the shapes dataset with the held-out seed {TEST_SEED}")
    quick = [", ".join(f"{spec.name} {key}={value}" for key, value in spec.preview.items()) for spec in methods]
    if any(quick):
        report.add_text("For a quick look, some methods run with fewer steps or samples here than their defaults: "
                        f"{'; '.join(filter(None, quick))}.")
    report.add_image(attribution_grid(zoo_model, methods, seed), caption=caption)
    report.add_image(map_legends(methods), caption="how to read the maps: each map is scaled on its own, its colours "
                     "saturate at the 99.5th percentile of its magnitude (max)")  # fmt: skip


def map_legends(methods: dict) -> Tensor:
    """One legend per map kind of ``methods`` (a colour bar, or the key of signed maps), titled with their names."""
    kinds: dict[str, list[str]] = {}
    for spec in methods:
        kinds.setdefault(spec.map_kind, []).append(spec.name)
    legends = [render.map_legend(kind, 260) for kind in kinds]
    return render.grid(legends, ncols=len(legends), titles=[", ".join(names) for names in kinds.values()], pad=8)


def attribution_grid(
    zoo_model: ZooModel, methods: dict, seed: int = 0, count: int = SHOWN_IMAGES, *, preview: bool = True
) -> Tensor:
    """A grid: per held-out image, one row per object's class; the input, then each method's map.

    ``preview``: the costly methods with their registry entries' quicker options (fewer
    steps, samples or masks); ``False``: every method with its defaults.
    """
    batch = make_batch(count, seed=TEST_SEED, start=_shown_start(seed))
    images = batch.images.to(zoo_model.device)
    inputs = zoo_model.normalize(images).repeat_interleave(2, dim=0)  # each image twice: one row per object
    classes = batch.classes.flatten().to(zoo_model.device)
    shown = images.repeat_interleave(2, dim=0)
    columns = [shown]
    for spec, method in methods.items():
        maps = method.attribute(inputs, classes, **{**spec.defaults, **(spec.preview if preview else {})})
        columns.append(method_picture(spec, maps, shown))
    tiles = torch.stack(columns, dim=1).flatten(0, 1)
    with torch.no_grad():
        probabilities = zoo_model.probabilities(zoo_model.model(inputs))
    row_titles = [
        f"{zoo_model.class_name(int(c))} p={float(probabilities[i, c]):.2f}" for i, c in enumerate(classes)
    ]
    titles = ["input", *(spec.name for spec in methods)]
    return render.grid(tiles, ncols=len(columns), titles=titles, row_titles=row_titles, scale=SCALE)


def _localization_section(report: render.HtmlReport, zoo_model: ZooModel, methods: dict, seed: int) -> list[list]:
    first = _scored_start(seed)
    batch = make_batch(SCORED_IMAGES, seed=TEST_SEED, start=first)
    inputs = zoo_model.normalize(batch.images.to(zoo_model.device)).repeat_interleave(2, dim=0)
    classes = batch.classes.flatten().to(zoo_model.device)
    masks = batch.masks.flatten(0, 1).to(zoo_model.device)  # the asked object's mask
    others = batch.masks.flip(1).flatten(0, 1).to(zoo_model.device)  # the other object's mask
    size = masks.shape[-1]
    generator = torch.Generator().manual_seed(seed)
    maps = {spec.name: method.attribute(inputs, classes, **{**spec.defaults, **spec.preview})
            for spec, method in methods.items()}
    maps["baseline: centre"] = _centre_map(len(classes), size).to(zoo_model.device)
    maps["baseline: random"] = torch.rand(len(classes), 1, size, size, generator=generator).to(zoo_model.device)
    rows = []
    tolerance = scaled_tolerance(size, size)
    for name, values in maps.items():
        mass, other = relevance_mass(values, masks), relevance_mass(values, others)
        rows.append([
            name,
            f"{pointing_game(values, masks, tolerance=tolerance).float().mean():.2f}",
            f"{mass.mean():.2f}",
            f"{(mass - other).mean():+.2f}",
        ])
    report.add_heading(f"Localization on {SCORED_IMAGES} held-out images, both objects each")
    report.add_text(
        f"Items {first}..{first + SCORED_IMAGES - 1} of the shapes dataset with seed {TEST_SEED}, the seed held out "
        "from training (`revelio sanity` scores items 0..31 of the same seed, with intervals). "
        f"Pointing game (Zhang et al. 2016, as TorchRay scores it): share of maps whose maximum lies closer than "
        f"{tolerance:.1f} pixels (TorchRay's 15 at 224) to the asked object. "
        "Mass in mask (Arras et al. 2022): share of the map's absolute mass inside it. Discrimination: mass in "
        "the asked object minus mass in the other object; near zero means the method shows both objects alike."
    )
    baselines = [name for name in maps if name.startswith("baseline")]
    colors = [render.baseline_color(baselines.index(row[0])) if row[0] in baselines else render.method_color(row[0])
              for row in rows]  # fmt: skip
    report.add_table(HEADERS, rows, colors=colors)
    return rows


HEADERS = ["method", "pointing game", "mass in mask", "discrimination"]


def _centre_map(n: int, size: int) -> Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    gaussian = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * (size / 4) ** 2))
    return gaussian.expand(n, 1, size, size)


def _featureviz_section(report: render.HtmlReport, zoo_model: ZooModel, seed: int, stages: tqdm) -> None:
    report.add_heading("Feature visualization: what units respond to most")
    report.add_text(
        "Activation maximization (Erhan et al. 2009) in pixels with a Gaussian blur every step (Øygard 2015); "
        "in a 1/f Fourier spectrum with decorrelated colour and random transformations, revelio's readable "
        "default (Olah et al. 2017); and MACO, which optimises only the phase of the spectrum (Fel et al. 2023). "
        "Each row is one layer; each tile one channel (or one class logit), all optimised in one batch. "
        "`revelio visualize --list` names every preset."
    )
    for preset in map(get_preset, DEMO_PRESETS):
        visualizer = preset.create(
            zoo_model.model, image_size=zoo_model.input_size, mean=zoo_model.mean, std=zoo_model.std, steps=STEPS
        )
        rows, titles = [], []
        for block in BLOCKS:
            rows.append(visualizer.visualize(channel(block, list(range(UNITS_PER_BLOCK))), seed=seed).display)
            titles.append(block)
        classes = list(range(len(zoo_model.class_names)))
        rows.append(visualizer.visualize(class_logit(classes), seed=seed).display)
        titles.append("classes")
        tiles = torch.cat(rows)
        tile_titles = [f"ch {i}" for i in range(UNITS_PER_BLOCK)] * len(BLOCKS) + list(zoo_model.class_names)
        picture = render.grid(tiles, ncols=UNITS_PER_BLOCK, titles=tile_titles, row_titles=titles, scale=SCALE)
        report.add_image(picture, caption=f"{preset.title}, {STEPS} steps")
        stages.update()


def _table(rows: list[list]) -> str:
    widths = [max(len(str(row[i])) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(HEADERS, widths))]
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)
