"""What ``revelio explain`` does for image files, as functions of a zoo model.

Each image is fitted into the model's input (:meth:`~revelio.zoo.ZooModel.placement`:
cropped, padded or stretched), every method explains the batch, and each map is put
back onto the image at the image's own size: what a crop cut off is NaN in the
numbers and hatched in the pictures. The result is a folder with, per image and
method, a picture (the input beside the map, a title, a colour bar or the key of a
signed map) as PNG and/or JPEG, the map as numbers (``.npy`` / ``.pt``) when asked,
``explanations.json`` and ``index.html``, a page with every image and method.
"""

from __future__ import annotations

import difflib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from revelio import registry, render
from revelio.errors import InputError, LayerNotFoundError, MethodNotFoundError, TargetError
from revelio.io import check_replaceable, fresh_output, read_image, write_atomic
from revelio.registry import MethodSpec
from revelio.zoo import ZooModel
from revelio.zoo.placement import Placement

PICTURE_FORMATS = ("png", "jpg")
"""Formats of the pictures: what a person looks at."""
NUMBER_FORMATS = ("npy", "pt")
"""Formats of the maps as numbers: ``float32 (C, H, W)`` at the image's size, NaN where the model saw nothing."""
FORMATS = PICTURE_FORMATS + NUMBER_FORMATS
MANIFEST = "explanations.json"
PAGE = "index.html"
TOP_CLASSES = 3
"""Predicted classes listed per image on the page."""


def parse_target(spec: str | int | None, zoo_model: ZooModel) -> int | None:
    """``"auto"``/``None`` -> ``None``; an index or a class name -> the class index.

    Raises:
        TargetError: an unknown class name (with the closest names) or an index
            beyond the model's classes, when the class names are known.
    """
    if spec is None or spec == "auto":
        return None
    names = zoo_model.class_names
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if index < 0 or (names is not None and index >= len(names)):
            top = f"0..{len(names) - 1}" if names is not None else "a class index >= 0"
            raise TargetError(f"--target {index} is out of range for {zoo_model.name}; use {top}")
        return index
    if names is None:
        raise TargetError(f"{zoo_model.name} has no class names; give --target as a class index, or --classes")
    lowered = [name.lower() for name in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    close = difflib.get_close_matches(text.lower(), lowered, n=3, cutoff=0.5)
    hint = ", ".join(repr(names[lowered.index(name)]) for name in close) or ", ".join(map(repr, names[:5])) + ", ..."
    raise TargetError(f"no class named {text!r} in {zoo_model.name}; closest: {hint}")


def method_names(spec: str | Sequence[str] | None) -> list[str]:
    """Method names from a command line: ``"all"``, one name, a comma list, or a list of those.

    ``"all"`` is every registered method (not the controls); ``None`` is
    :data:`revelio.registry.DEFAULT_METHOD`.

    Raises:
        MethodNotFoundError: an unknown name (with the closest one).
    """
    names: list[str] = []
    for name in _parts(spec):
        if name == "all":
            names += registry.names()
        else:
            names.append(registry.get(name).name)
    if not names:
        raise MethodNotFoundError(f"no method given; choose from {', '.join(registry.names())} or all")
    return list(dict.fromkeys(names))


def _parts(spec: str | Sequence[str] | None) -> list[str]:
    parts = [registry.DEFAULT_METHOD] if spec is None else [spec] if isinstance(spec, str) else list(spec)
    return [name for part in parts for name in (item.strip() for item in part.split(",")) if name]


def parse_formats(spec: str | Sequence[str] | None) -> list[str]:
    """Output formats from a command line: a comma list or a list of those (default ``["png"]``).

    Raises:
        InputError: an unknown format, or no picture format (``png`` or ``jpg``).
    """
    parts = ["png"] if spec is None else [spec] if isinstance(spec, str) else list(spec)
    formats = [name.strip().lower().replace("jpeg", "jpg") for part in parts for name in part.split(",") if name.strip()]
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise InputError(f"unknown --format {unknown[0]!r}; choose from {', '.join(FORMATS)} (a comma list for several)")
    if not any(name in PICTURE_FORMATS for name in formats):
        raise InputError("--format needs png or jpg for the pictures; add npy or pt for the maps as numbers")
    return list(dict.fromkeys(formats))


@dataclass
class _Image:
    path: Path
    pixels: Tensor  # (3, H, W) in [0, 1]
    placement: Placement


def explain_images(
    zoo_model: ZooModel,
    paths: Sequence[str | Path],
    *,
    method: str | Sequence[str] | None = None,
    target: str | int | None = "auto",
    layer: str | None = None,
    out: str | Path,
    formats: str | Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> list[str]:
    """Attribution maps for image files, written into the folder ``out``; returns lines for the terminal.

    Everything is checked before any map is computed: the output folder, the formats,
    the methods, the target and every image. The predictions come from the first
    method's own forward pass.

    Args:
        zoo_model: the model and its preprocessing.
        paths: image files (any size: each map comes back at its image's size).
        method: as :func:`method_names` reads it; ``"all"`` leaves out the layer
            methods when the model has no layer they can explain, and says so.
        target: ``"auto"`` (the top class), a class index or a class name.
        layer: the layer of the layer methods (default: the model's usual one, else
            its last layer with a spatial output).
        out: the output folder. It must be new or empty, unless ``overwrite``.
        formats: as :func:`parse_formats` reads it (default PNG pictures only).
        overwrite: replace an earlier result of ``revelio explain`` in ``out`` as a
            whole; a folder holding any other file is refused.
        progress: show a progress bar.

    Raises:
        InputError: a folder that cannot be written or already holds files, a bad
            format or image. Also the errors of :func:`method_names`, :func:`parse_target`
            and the methods.
    """
    from tqdm.auto import tqdm

    check_replaceable(out, overwrite=overwrite, ours=result_files)
    chosen = parse_formats(formats)
    names = method_names(method)
    target_index = parse_target(target, zoo_model)
    images = []
    for path in paths:
        pixels = read_image(path)
        images.append(_Image(Path(path), pixels, zoo_model.placement(pixels.shape[-2:])))
    inputs = torch.cat([zoo_model.preprocess(image.pixels) for image in images])
    notes: list[str] = []
    specs, layer = _runnable(zoo_model, names, layer, inputs, all_asked="all" in _parts(method), notes=notes)
    methods = [spec.create(zoo_model.model, layer, zoo_model.gradcam_reshape) for spec in specs]  # checks the layer

    records: list[dict] = []
    probabilities = top = classes = None
    with fresh_output(out, overwrite=overwrite, ours=result_files) as stage:
        for spec, attribution in tqdm(list(zip(specs, methods)), desc="explain", disable=not progress, leave=False):
            explanation = attribution.explain(inputs, target_index, **spec.defaults)
            if probabilities is None:
                probabilities = zoo_model.probabilities(explanation.output).cpu()
                top, classes = probabilities.argmax(dim=1), explanation.classes.cpu()
            for index, image in enumerate(images):
                asked = int(classes[index])
                title = [spec.title, f"{zoo_model.class_name(asked)}  p {float(probabilities[index, asked]):.2f}"]
                maps = explanation.maps[index : index + 1]
                stem = f"{index:02d}-{image.path.stem}-{spec.name}"
                shown = picture(spec, maps, image.pixels, image.placement, title)
                files = _write(stage, stem, chosen, shown, image.placement.to_image(maps[0]).cpu())
                records.append(
                    _record(zoo_model, image, spec, files, shown, int(top[index]), asked, probabilities[index])
                )
        write_atomic(stage / MANIFEST, json.dumps(records, indent=2).encode("utf-8"), MANIFEST)
        _page(zoo_model, images, specs, records, probabilities).write(stage / PAGE)

    lines = []
    for index, image in enumerate(images):
        predicted, asked = zoo_model.class_name(int(top[index])), zoo_model.class_name(int(classes[index]))
        score = float(probabilities[index, top[index]])
        resized = image.placement.describe()
        lines.append(f"{image.path}: predicted {predicted!r} ({score:.2f}); explained {asked!r}"
                     + (f"; {resized}" if resized else ""))  # fmt: skip
    pictures = len(records)
    lines += notes
    lines.append(f"wrote {pictures} {'picture' if pictures == 1 else 'pictures'} ({', '.join(chosen)}), {MANIFEST} "
                 f"and {PAGE} to {out}")  # fmt: skip
    return lines


def _runnable(
    zoo_model: ZooModel, names: list[str], layer: str | None, inputs: Tensor, *, all_asked: bool, notes: list[str]
) -> tuple[list[MethodSpec], str | None]:
    """The methods to run and the layer of the layer methods: the one given, the model's usual one, or its
    last spatial layer (said in ``notes``). With ``--method all`` on a model without a spatial layer the
    layer methods are left out (said in ``notes``); named explicitly, they raise."""
    from revelio.core.layers import find_default_layer

    specs = [registry.get(name) for name in names]
    layer = layer or zoo_model.gradcam_layer
    needing = [spec.name for spec in specs if spec.needs_layer]
    if needing and layer is None:
        try:
            layer = find_default_layer(zoo_model.model, inputs[:1])
            notes.append(f"{', '.join(needing)}: explained layer {layer!r}, the model's last layer with a spatial "
                         "output (--layer chooses another; `revelio layers` lists them)")  # fmt: skip
        except LayerNotFoundError:
            if not all_asked or len(needing) == len(specs):
                raise
            specs = [spec for spec in specs if not spec.needs_layer]
            notes.append(f"left out {', '.join(needing)}: the model has no layer with a spatial output to explain")
    return specs, layer


def picture(spec: MethodSpec, maps: Tensor, image: Tensor, placement: Placement, title: Sequence[str]) -> Tensor:
    """The picture of one map: a title, the input beside the map at the image's size, and a legend.

    Args:
        spec: the method (its :attr:`~revelio.registry.MethodSpec.map_kind` says how to show the map).
        maps: its map of the model's input, ``(1, C, h, w)``.
        image: the image, ``(3, H, W)`` in [0, 1].
        placement: how the image became the input.
        title: lines above the picture.

    Returns:
        ``float32`` RGB ``(3, H', W')`` on the CPU. Pixels the model did not see are
        hatched in the map.
    """
    shown, legend_of = _map_at_image(spec, maps, image, placement)
    pair = render.grid([image.cpu(), shown], titles=["input", "map"], pad=4)
    width = max(int(pair.shape[-1]), render.text_width(title), 160)
    return render.stack([render.title_band(title, width), pair, legend_of(min(width, max(int(image.shape[-1]), 160)))])


def method_picture(spec: MethodSpec, maps: Tensor, shown: Tensor) -> Tensor:
    """Display-ready RGB of a method's maps at the input's size, by its map kind: CAMs over the images ``shown``,
    other maps on their own."""
    if spec.map_kind == "cam":
        return render.overlay(shown, render.normalize_map(maps))
    return render.to_display(maps, spec.map_kind)


def _map_at_image(spec: MethodSpec, maps: Tensor, image: Tensor, placement: Placement):
    """The map shown at the image's size (by its kind), and a function of the width that draws its legend."""
    if spec.map_kind == "cam":
        scale = float(render.display_scale(maps, "heat")[0])
        heat = placement.to_image(render.normalize_map(maps)[0]).cpu()
        seen = heat.isfinite()
        shown = render.overlay(image.cpu(), heat.nan_to_num(0.0))
    else:
        kind = "heat" if spec.map_kind == "heat" else "signed"
        scale = float(render.display_scale(maps, kind)[0])
        rgb = placement.to_image(render.to_display(maps, kind)[0]).cpu()
        seen = rgb[:1].isfinite()
        shown = rgb.nan_to_num(0.5)

    def legend(width: int) -> Tensor:
        return render.map_legend(spec.map_kind, width, scale=f"{scale:.3g}", channels=maps.shape[1])

    return render.hatch_unseen(shown, seen), legend


def _write(stage: Path, stem: str, formats: Sequence[str], shown: Tensor, numbers: Tensor) -> list[str]:
    """Write the picture and the numbers of one map in each of ``formats``; return the file names."""
    files = []
    for name in formats:
        file = f"{stem}.{name}"
        if name in PICTURE_FORMATS:
            render.save_image(shown, stage / file)
        else:
            buffer = io.BytesIO()
            values = numbers.float().contiguous()
            if name == "npy":
                np.save(buffer, values.numpy())
            else:
                torch.save(values, buffer)
            write_atomic(stage / file, buffer.getvalue(), "map")
        files.append(file)
    return files


def _record(zoo_model: ZooModel, image: _Image, spec: MethodSpec, files: list[str], shown: Tensor, top: int,
            asked: int, probabilities: Tensor) -> dict:  # fmt: skip
    height, width = image.placement.image_size
    return {
        "image": str(image.path),
        "size": [width, height],
        "input": image.placement.describe() or "as it is",
        "method": spec.name,
        "picture": files[0],
        "picture_size": [int(shown.shape[-1]), int(shown.shape[-2])],
        "files": files,
        "predicted": top,
        "predicted_name": zoo_model.class_name(top),
        "target": asked,
        "target_name": zoo_model.class_name(asked),
        "score": round(float(probabilities[asked]), 6),
    }


def result_files(folder: Path) -> set[str] | None:
    """The files of an earlier ``revelio explain`` result in ``folder`` (relative names), or ``None`` if it holds none."""
    manifest = folder / MANIFEST
    try:
        records = json.loads(manifest.read_text())
        files = {MANIFEST, PAGE}
        for record in records:
            files.update(record.get("files") or [record["map"]])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return files


def _page(
    zoo_model: ZooModel, images: list[_Image], specs: list[MethodSpec], records: list[dict], probabilities: Tensor
) -> render.HtmlReport:
    report = render.HtmlReport(f"revelio explain: {zoo_model.name}")
    weights = zoo_model.weights or "random weights (they show the mechanics only)"
    report.add_text(
        f"Model {zoo_model.name} ({weights}); methods: {', '.join(spec.title for spec in specs)}. Each picture shows "
        "the input beside the map at the image's own size, with its colour bar; hatched pixels are those the model "
        "did not see (cut off when the image was fitted into its input)."
    )
    colors = render.method_colors(spec.name for spec in specs)
    by_image: dict[str, list[dict]] = {}
    for record in records:
        by_image.setdefault(record["image"], []).append(record)
    for index, image in enumerate(images):
        report.add_heading(f"{index:02d} {image.path.name}")
        ranked = probabilities[index].argsort(descending=True)[:TOP_CLASSES].tolist()
        predicted = ", ".join(f"{zoo_model.class_name(c)} {float(probabilities[index, c]):.2f}" for c in ranked)
        rows = by_image[str(image.path)]
        text = f"Predicted: {predicted}. Explained: {rows[0]['target_name']}."
        resized = image.placement.describe()
        report.add_text(text + (f" Input: {resized}." if resized else ""))
        pictures = []
        for record in rows:
            width, height = record["picture_size"]
            pictures.append(render.Picture(record["picture"], registry.get(record["method"]).title,
                                           colors[record["method"]], size=(width, height),
                                           scale=2.0 if width < 300 else 1.0))  # fmt: skip
        report.add_gallery(pictures)
    return report
