"""What ``revelio explain`` and ``revelio visualize`` do, as functions of a zoo model."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from revelio.attribution import METHODS, create_method
from revelio.errors import TargetError
from revelio.io import check_writable, read_image, staged_output
from revelio.zoo import ZooModel

CAM_METHODS = {"gradcam"}
"""Methods whose map is shown over the image; the others are shown on their own."""

DISPLAY_KIND = {
    "saliency": "heat",
    "guided-backprop": "signed",
    "deconvolution": "signed",
    "gradcam": "heat",
    "guided-gradcam": "signed",
}
"""How :func:`revelio.render.to_display` shows each method's map."""


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


def method_names(spec: str) -> list[str]:
    """``"all"`` -> every method; else the one name, checked."""
    if spec == "all":
        return list(METHODS)
    if spec not in METHODS:
        close = difflib.get_close_matches(spec, list(METHODS), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown method {spec!r}; {hint}choose from {', '.join(METHODS)} or all")
    return [spec]


def explain_images(
    zoo_model: ZooModel,
    paths: Sequence[str | Path],
    *,
    method: str = "gradcam",
    target: str | int | None = "auto",
    layer: str | None = None,
    out: str | Path,
    progress: bool = False,
) -> list[str]:
    """Attribution maps for image files, written as PNGs plus ``explanations.json`` into ``out``.

    Everything is checked before any map is computed: the output folder, the method,
    the layer, the target and every image. Returns one line per image.
    """
    from tqdm.auto import tqdm

    from revelio import render

    check_writable(out)
    names = method_names(method)
    layer = layer or zoo_model.gradcam_layer
    methods = {name: create_method(name, zoo_model.model, layer, zoo_model.gradcam_reshape) for name in names}
    target_index = parse_target(target, zoo_model)
    images = [read_image(path) for path in paths]
    inputs = torch.cat([zoo_model.preprocess(image) for image in images])
    with torch.no_grad():
        probabilities = zoo_model.probabilities(zoo_model.model(inputs))
    top = probabilities.argmax(dim=1)
    classes = top if target_index is None else torch.full_like(top, target_index)
    shown = zoo_model.denormalize(inputs).clamp(0, 1)

    records, lines = [], []
    with staged_output(out) as stage:
        for name, attribution in tqdm(methods.items(), desc="explain", disable=not progress, leave=False):
            maps = attribution.attribute(inputs, classes)
            pictures = method_picture(name, maps, shown)
            for index, path in enumerate(paths):
                file = f"{index:02d}-{Path(path).stem}-{name}.png"
                render.save_png(pictures[index], stage / file)
                records.append(_record(zoo_model, path, name, file, int(top[index]), int(classes[index]), probabilities[index]))
        (stage / "explanations.json").write_text(json.dumps(records, indent=2))
    for index, path in enumerate(paths):
        predicted, asked = zoo_model.class_name(int(top[index])), zoo_model.class_name(int(classes[index]))
        score = float(probabilities[index, top[index]])
        lines.append(f"{path}: predicted {predicted!r} ({score:.2f}); explained {asked!r} with {', '.join(names)}")
    lines.append(f"wrote {len(records)} maps and explanations.json to {out}")
    return lines


def method_picture(name: str, maps: Tensor, shown: Tensor) -> Tensor:
    """Display-ready RGB of a method's maps: CAMs over the images ``shown``, other maps on their own."""
    from revelio import render

    if name in CAM_METHODS:
        heat = render.normalize_map(maps)
        return render.overlay(shown, heat)
    return render.to_display(maps, DISPLAY_KIND.get(name, "heat"))


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
