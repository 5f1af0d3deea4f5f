"""The result of a feature visualization: images in model-input space, display images, history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Visualization:
    """The result of :meth:`~revelio.featureviz.FeatureVisualizer.visualize`.

    Attributes:
        images: ``Tensor[N, C, H, W]`` in model-input space (normalised): feed them to
            the model to see the objective's value.
        display: ``Tensor[N, C, H, W]``, float in [0, 1], ready to save (RGB for 3
            channels, grey for 1). Each image is the optimised [0, 1]-space image; an
            image with values outside [0, 1] (no clamp) is rescaled by its own minimum
            and maximum.
        history: ``Tensor[steps, N]``, the objective of each image at each step, before
            that step's update.
        objective: the objective's description.
        units: one description per image (``"features.6 channel 3"``).
        seeds: the seed of each image.
        transparency: ``Tensor[N, 1, H, W]`` in [0, 1] for parameterizations that
            accumulate it (:class:`~revelio.featureviz.MACO`): the summed magnitude of
            the objective's gradient w.r.t. each pixel over the run, divided by its
            image's maximum: where the unit looks. ``None`` otherwise.
    """

    images: Tensor
    display: Tensor
    history: Tensor
    objective: str
    units: tuple[str, ...]
    seeds: tuple[int, ...] = field(default=())
    transparency: Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]


def make_visualization(
    images: Tensor,
    history: Tensor,
    transparency: Tensor | None,
    *,
    normalize: Callable[[Tensor], Tensor],
    objective: str,
    units: tuple[str, ...],
    seeds: tuple[int, ...],
) -> Visualization:
    """The :class:`Visualization` of final [0, 1]-space ``images``: display images rescaled where out of range."""
    with torch.no_grad():
        display = images.clone()
        flat = display.flatten(1)
        low, high = flat.min(1).values, flat.max(1).values
        outside = (low < 0) | (high > 1)
        if bool(outside.any()):
            scale = (high - low).clamp_min(1e-12)
            rescaled = (display - low.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)
            display = torch.where(outside.view(-1, 1, 1, 1), rescaled, display)
        if transparency is not None:
            peak = transparency.flatten(1).amax(1).clamp_min(1e-30).view(-1, 1, 1, 1)
            transparency = transparency / peak
        model_input = normalize(images)
    return Visualization(
        images=model_input,
        display=display,
        history=history,
        objective=objective,
        units=units,
        seeds=seeds,
        transparency=transparency,
    )
