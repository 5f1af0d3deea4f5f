"""What ``revelio explain`` does, as functions of a zoo model."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from revelio import registry, render
from revelio.errors import MethodNotFoundError, TargetError
from revelio.io import check_writable, read_image, staged_output
from revelio.registry import MethodSpec
from revelio.zoo import ZooModel


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
        raise TargetError(f"{zoo_model.name} has no class names; give --target as a class index")
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
    parts = [registry.DEFAULT_METHOD] if spec is None else [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for part in parts:
        for name in (item.strip() for item in part.split(",")):
            if name == "all":
                names += registry.names()
            elif name:
                names.append(registry.get(name).name)
    if not names:
        raise MethodNotFoundError(f"no method given; choose from {', '.join(registry.names())} or all")
    return list(dict.fromkeys(names))


def explain_images(
    zoo_model: ZooModel,
    paths: Sequence[str | Path],
    *,
    method: str | Sequence[str] | None = None,
    target: str | int | None = "auto",
    layer: str | None = None,
    out: str | Path,
    progress: bool = False,
) -> list[str]:
    """Attribution maps for image files, written as PNGs plus ``explanations.json`` into ``out``.

    Everything is checked before any map is computed: the output folder, the methods,
    the layer, the target and every image. ``method`` as :func:`method_names` reads it. The predictions come from the first
    method's own forward pass. Returns one line per image.
    """
    from tqdm.auto import tqdm

    check_writable(out)
    names = method_names(method)
    layer = layer or zoo_model.gradcam_layer
    specs = [registry.get(name) for name in names]
    methods = {spec.name: spec.create(zoo_model.model, layer, zoo_model.gradcam_reshape) for spec in specs}
    target_index = parse_target(target, zoo_model)
    images = [read_image(path) for path in paths]
    inputs = torch.cat([zoo_model.preprocess(image) for image in images])
    shown = zoo_model.denormalize(inputs).clamp(0, 1)

    records, lines = [], []
    probabilities = top = classes = None
    with staged_output(out) as stage:
        for spec in tqdm(specs, desc="explain", disable=not progress, leave=False):
            explanation = methods[spec.name].explain(inputs, target_index, **spec.defaults)
            if probabilities is None:
                probabilities = zoo_model.probabilities(explanation.output)
                top, classes = probabilities.argmax(dim=1), explanation.classes
            pictures = method_picture(spec, explanation.maps, shown)
            for index, path in enumerate(paths):
                file = f"{index:02d}-{Path(path).stem}-{spec.name}.png"
                render.save_png(pictures[index], stage / file)
                records.append(
                    _record(zoo_model, path, spec.name, file, int(top[index]), int(classes[index]), probabilities[index])
                )
        (stage / "explanations.json").write_text(json.dumps(records, indent=2))
    for index, path in enumerate(paths):
        predicted, asked = zoo_model.class_name(int(top[index])), zoo_model.class_name(int(classes[index]))
        score = float(probabilities[index, top[index]])
        lines.append(f"{path}: predicted {predicted!r} ({score:.2f}); explained {asked!r} with {', '.join(names)}")
    lines.append(f"wrote {len(records)} maps and explanations.json to {out}")
    return lines


def method_picture(spec: MethodSpec, maps: Tensor, shown: Tensor) -> Tensor:
    """Display-ready RGB of a method's maps, by its map kind: CAMs over the images ``shown``, other maps on their own."""
    if spec.map_kind == "cam":
        return render.overlay(shown, render.normalize_map(maps))
    return render.to_display(maps, spec.map_kind)


def _record(zoo_model: ZooModel, path, method: str, file: str, top: int, asked: int, probabilities: Tensor) -> dict:
    return {
        "image": str(path),
        "method": method,
        "map": file,
        "predicted": top,
        "predicted_name": zoo_model.class_name(top),
        "target": asked,
        "target_name": zoo_model.class_name(asked),
        "score": round(float(probabilities[asked]), 6),
    }
