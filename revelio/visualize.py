"""What ``revelio visualize`` does: feature visualization of a zoo model's units, as PNGs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from revelio.io import check_writable, staged_output
from revelio.zoo import ZooModel


def visualize_units(
    zoo_model: ZooModel,
    *,
    layer: str,
    units: Sequence[int],
    method: str | None = None,
    steps: int = 128,
    size: int | None = None,
    lr: float = 0.05,
    out: str | Path,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Feature visualization (preset ``method``, default :data:`~revelio.featureviz.DEFAULT_PRESET`) of ``units``
    (channels) of ``layer``, one batch; a grid PNG in ``out``."""
    from revelio import render
    from revelio.featureviz import DEFAULT_PRESET, channel, get_preset

    preset = get_preset(method or DEFAULT_PRESET)
    method = preset.name
    check_writable(out)
    visualizer = preset.create(
        zoo_model.model, image_size=size or zoo_model.input_size, mean=zoo_model.mean, std=zoo_model.std, lr=lr,
        steps=steps, progress=progress,
    )
    result = visualizer.visualize(channel(layer, list(units)), seed=seed)
    scale = max(1, 192 // result.display.shape[-1])
    picture = render.grid(result.display, titles=[f"unit {unit}" for unit in units], ncols=min(8, len(units)), scale=scale)
    file = f"{layer.replace('.', '_')}-{method}.png"
    with staged_output(out) as stage:
        render.save_png(picture, stage / file)
        for unit, image in zip(units, result.display):
            render.save_png(image, stage / f"{layer.replace('.', '_')}-{method}-unit{unit}.png")
    return Path(out) / file
