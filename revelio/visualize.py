"""What ``revelio visualize`` does: feature visualization of a model's units, as PNGs.

Every configuration of :mod:`revelio.featureviz` is reachable: the presets by name
(:data:`~revelio.featureviz.PRESETS`, :data:`~revelio.featureviz.DEFAULT_PRESET` by
default), any parameterization and transformation set in their place, objectives on
channels, neurons, class logits or a whole layer, diversity, deep dream and feature
accentuation of given images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from revelio.errors import InputError, SettingError
from revelio.io import check_writable, read_image, staged_output
from revelio.zoo import ZooModel

OBJECTIVES = ("channel", "neuron", "class", "deepdream")
"""What ``--objective`` can name: a channel's mean, a unit at the centre, a class logit, a whole layer's activity."""

DEEP_DREAM = "deepdream"
"""The ``--method`` that dreams on ``--start`` images instead of running a preset."""


@dataclass(frozen=True)
class VisualizeOptions:
    """The settings of one ``revelio visualize`` run (the command line's options, by the same names).

    Attributes:
        layer: the layer of the objective (``None`` only for class logits of the model's output).
        units: channels, units or classes; one image each (``images`` each with ``images > 1``).
        objective: one of :data:`OBJECTIVES`; default ``"deepdream"`` for the deep-dream method, else ``"channel"``.
        method: a preset name, or :data:`DEEP_DREAM`.
        parameterization: replaces the preset's parameterization (a name of
            :data:`~revelio.featureviz.PARAMETERIZATIONS`).
        transforms: replaces the preset's transformations (a name of :data:`~revelio.featureviz.TRANSFORM_SETS`).
        steps: steps per image (deep dream: per octave); ``None`` for the method's own.
        size: image size (``None``: the model's input size).
        lr: learning rate (``None``: the method's own).
        images: images per unit, each from its own seed.
        diversity: weight of a diversity term over the batch at ``layer`` (0: none).
        start: image files to start from (deep dream, accentuation, or maximisation from them).
        accentuate: the regularization layer of feature accentuation of the ``start`` images.
        weight: the accentuation's distance weight.
        octaves: deep dream's octaves.
        octave_scale: deep dream's scale between octaves.
        channels: the images' channels when the model does not take 3 (then without normalisation).
        seed: the first image's seed.
        progress: show progress bars.
    """

    layer: str | None = None
    units: Sequence[int] = tuple(range(8))
    objective: str | None = None
    method: str | None = None
    parameterization: str | None = None
    transforms: str | None = None
    steps: int | None = None
    size: int | None = None
    lr: float | None = None
    images: int = 1
    diversity: float = 0.0
    start: Sequence[str] = field(default_factory=tuple)
    accentuate: str | None = None
    weight: float = 1.0
    octaves: int = 4
    octave_scale: float = 1.4
    channels: int | None = None
    seed: int = 0
    progress: bool = False


def visualize_units(zoo_model: ZooModel, options: VisualizeOptions, out: str | Path) -> Path:
    """Run the visualization ``options`` describe on ``zoo_model``; write a grid PNG (and one PNG per image) to ``out``.

    Returns:
        the grid's path.

    Raises:
        SettingError, InputError, MethodNotFoundError, LayerNotFoundError, UnitIndexError:
            a bad option, before any work; the folder is left untouched.
    """
    from revelio.featureviz import DEFAULT_PRESET, accentuate, get_preset

    method = options.method or DEFAULT_PRESET
    kind = options.objective or ("deepdream" if method == DEEP_DREAM else "channel")
    _check(options, method, kind)
    check_writable(out)
    channels, mean, std = _normalization(zoo_model, options.channels)
    size = options.size or zoo_model.input_size
    units = [unit for unit in options.units for _ in range(options.images)]
    objective = _objective(kind, options.layer, units, options.diversity)
    start = _start_images(zoo_model, options.start, len(units) if kind != "deepdream" else None, channels, mean, std)
    settings = {"mean": mean, "std": std, "channels": channels, "progress": options.progress}
    if options.lr is not None:
        settings["lr"] = options.lr
    if options.steps is not None:
        settings["steps"] = options.steps
    if method == DEEP_DREAM:
        from revelio.featureviz import DeepDream

        visualizer = DeepDream(zoo_model.model, octaves=options.octaves, octave_scale=options.octave_scale,
                               parameterization=options.parameterization or "pixels", **settings)
        result = visualizer.visualize(objective, seed=options.seed, start=start)
    else:
        if options.parameterization is not None:
            settings["parameterization"] = options.parameterization
        if options.transforms is not None:
            settings["transforms"] = options.transforms
        visualizer = get_preset(method).create(zoo_model.model, image_size=size, **settings)
        seeds = [options.seed + i for i in range(len(units))] if units else options.seed
        if options.accentuate is not None:
            result = accentuate(visualizer, objective, start, layer=options.accentuate, weight=options.weight,
                                seed=seeds)
        else:
            result = visualizer.visualize(objective, seed=seeds, start=start)
    titles, names = _titles(kind, units, options.images, options.start, zoo_model)
    return _write(result.display, result.transparency, titles, names, _file_stem(options.layer, method, kind), out)


def choices() -> str:
    """What ``--method``, ``--param`` and ``--transforms`` accept, one per line, the default preset marked."""
    from revelio.featureviz import DEFAULT_PRESET, PARAMETERIZATIONS, PRESETS, TRANSFORM_SETS

    lines = ["presets (--method):"]
    lines += [f"  {name:<14}{preset.title}{'  (default)' if name == DEFAULT_PRESET else ''}" for name, preset in PRESETS.items()]
    lines += [f"  {DEEP_DREAM:<14}Deep dream on --start images, over --octaves"]
    lines += ["parameterizations (--param): " + ", ".join(PARAMETERIZATIONS)]
    lines += ["transformation sets (--transforms): " + ", ".join(TRANSFORM_SETS)]
    return "\n".join(lines)


def _check(options: VisualizeOptions, method: str, kind: str) -> None:
    if kind not in OBJECTIVES:
        raise SettingError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {kind!r}")
    if kind != "class" and options.layer is None:
        raise SettingError(f"--objective {kind} needs --layer (see `revelio layers`)")
    if method == DEEP_DREAM and not options.start:
        raise SettingError("--method deepdream dreams on given images: pass --start IMAGE [IMAGE ...]")
    if kind == "deepdream" and method != DEEP_DREAM:
        raise SettingError("--objective deepdream goes with --method deepdream (a whole layer's activity, on images)")
    if method == DEEP_DREAM and (options.transforms or options.accentuate):
        raise SettingError("--transforms and --accentuate do not apply to --method deepdream")
    if options.accentuate is not None and not options.start:
        raise SettingError("--accentuate LAYER accentuates given images: pass --start IMAGE [IMAGE ...]")
    if isinstance(options.images, bool) or options.images < 1:
        raise SettingError(f"--images must be >= 1, got {options.images}")
    if options.diversity < 0:
        raise SettingError(f"--diversity must be >= 0, got {options.diversity}")
    if options.diversity and (options.layer is None or kind == "deepdream"):
        raise SettingError("--diversity needs --layer, where the images' Gram matrices are compared, and a unit objective")
    if kind != "deepdream" and not options.units:
        raise SettingError("--units is empty; give at least one unit")


def _normalization(zoo_model: ZooModel, channels: int | None) -> tuple[int, tuple | None, tuple | None]:
    if channels is None or channels == len(zoo_model.mean):
        return len(zoo_model.mean), zoo_model.mean, zoo_model.std
    return channels, None, None


def _objective(kind: str, layer: str | None, units: list[int], diversity_weight: float):
    from revelio.featureviz import channel, class_logit, deepdream, diversity, neuron

    if kind == "deepdream":
        return deepdream(layer)
    if kind == "class":
        objective = class_logit(units, layer=layer)
    elif kind == "neuron":
        objective = neuron(layer, units)
    else:
        objective = channel(layer, units)
    return objective + diversity_weight * diversity(layer) if diversity_weight else objective


def _start_images(
    zoo_model: ZooModel, paths: Sequence[str], count: int | None, channels: int, mean, std
) -> Tensor | None:
    """The start images as model inputs; one file is used for every image, otherwise one file per image."""
    if not paths:
        return None
    if count is not None and len(paths) not in (1, count):
        raise InputError(f"--start gives {len(paths)} images for {count} units; give one, or one per unit")
    images = []
    for path in paths:
        image = read_image(path)
        if channels == 1:
            image = image.mean(dim=0, keepdim=True)
        elif channels != 3:
            raise InputError(f"--start images are RGB or grey; the model takes {channels} channels")
        images.append(image)
    height, width = zoo_model.input_size
    batch = torch.stack([torch.nn.functional.interpolate(i[None], size=(height, width), mode="bilinear",
                                                         antialias=True, align_corners=False)[0] for i in images])
    batch = batch.to(zoo_model.device)
    if count is not None and len(paths) == 1:
        batch = batch.expand(count, -1, -1, -1).contiguous()
    if mean is None:
        return batch
    from revelio.core.normalization import normalize

    return normalize(batch, mean, std)


def _titles(kind: str, units: list[int], repeats: int, paths: Sequence[str], zoo_model: ZooModel) -> tuple[list[str], list[str]]:
    """The grid title and the file-name suffix of each image."""
    if kind == "deepdream":
        names = [Path(path).stem for path in paths]
        return names, names
    if kind == "class":
        titles = [zoo_model.class_name(unit) for unit in units]
        names = [title.replace(" ", "") for title in titles]
    else:
        titles = [f"unit {unit}" for unit in units]
        names = [f"unit{unit}" for unit in units]
    if repeats > 1:
        names = [f"{name}-{index % repeats}" for index, name in enumerate(names)]
    return titles, names


def _file_stem(layer: str | None, method: str, kind: str) -> str:
    where = "output" if layer is None else layer.replace(".", "_")
    return f"{where}-{method}" if kind in ("channel", "deepdream") else f"{where}-{kind}-{method}"


def displayable(images: Tensor) -> Tensor:
    """Images of any channel count as 1- or 3-channel images: others are shown as their channel mean (grey)."""
    return images if images.shape[1] in (1, 3) else images.mean(dim=1, keepdim=True)


def _write(
    display: Tensor, transparency: Tensor | None, titles: list[str], names: list[str], stem: str, out: str | Path
) -> Path:
    from revelio import render

    shown = displayable(display.detach().cpu())
    scale = max(1, 192 // shown.shape[-1])
    ncols = min(8, len(titles))
    with staged_output(out) as stage:
        render.save_png(render.grid(shown, titles=titles, ncols=ncols, scale=scale), stage / f"{stem}.png")
        for name, image in zip(names, shown):
            render.save_png(image, stage / f"{stem}-{name}.png")
        if transparency is not None:
            maps = transparency.detach().cpu()
            render.save_png(render.grid(maps, titles=titles, ncols=ncols, scale=scale), stage / f"{stem}-transparency.png")
    return Path(out) / f"{stem}.png"
