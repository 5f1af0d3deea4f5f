"""Deep dream: amplify what a layer sees in a given image, over several octaves.

Start from a real image; maximise the activity of a whole layer (mean of its squared
activation) by normalised gradient ascent with random jitter; do it first on a small
copy of the image, then on larger ones, carrying the detail found at each scale up to
the next (octaves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD
from revelio.core.state import preserved_model_state
from revelio.errors import InputError
from revelio.featureviz.activation_max import ActivationMaximization
from revelio.featureviz.base import (
    Visualization,
    _as_seeds,
    _capture_layers,
    _check_start,
    _check_steps,
    _device_dtype,
)
from revelio.featureviz.objectives import LayerSpec, Objective, deepdream
from revelio.featureviz.regularizers import Jitter, Regularizer
from revelio.featureviz.schedules import Schedule
from revelio.featureviz.steps import StepRule

MIN_OCTAVE_SIZE = 8
"""The smallest side, in pixels, that an octave may have."""


class DeepDream(ActivationMaximization):
    """Dream from a given image: maximise a layer's activity over several octaves.

    Args:
        model: the network (left as it was found).
        octaves: number of scales; the smallest is the image shrunk ``octave_scale **
            (octaves - 1)`` times.
        octave_scale: size ratio between consecutive octaves.
        regularizers: as for every visualizer; default ``[Jitter(8)]``.
        step: the step rule (default: normalised gradient).
        lr: step size in [0, 1] image units per step (RMS).
        steps: steps per octave.
        clamp: keep the image in [0, 1].
        mean: per-channel normalisation mean of the model's inputs (default ImageNet's).
        std: per-channel standard deviation.
        progress: show a progress bar by default.

    Example:
        >>> dream = DeepDream(model, octaves=3).visualize("features.10", image=batch)
        >>> dream.images.shape == batch.shape
        True

    Mordvintsev, Olah and Tyka 2015, "Inceptionism: Going Deeper into Neural Networks".
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        octaves: int = 4,
        octave_scale: float = 1.4,
        regularizers: Sequence[Regularizer | Callable[[Tensor, float], Tensor]] | None = None,
        step: str | StepRule = "normalized",
        lr: float | Schedule = 0.01,
        steps: int = 10,
        clamp: bool = True,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        progress: bool = False,
    ) -> None:
        super().__init__(
            model,
            regularizers=[Jitter(8)] if regularizers is None else regularizers,
            step=step,
            lr=lr,
            steps=steps,
            clamp=clamp,
            mean=mean,
            std=std,
            progress=progress,
        )
        if isinstance(octaves, bool) or not isinstance(octaves, int) or octaves < 1:
            raise ValueError(f"octaves must be an integer >= 1, got {octaves!r}")
        if not octave_scale >= 1:
            raise ValueError(f"octave_scale must be >= 1, got {octave_scale!r}")
        self.octaves = octaves
        self.octave_scale = float(octave_scale)

    def visualize(  # type: ignore[override]
        self,
        objective: Objective | LayerSpec,
        steps: int | None = None,
        seed: int | Sequence[int] = 0,
        *,
        image: Tensor,
        progress: bool | None = None,
    ) -> Visualization:
        """Dream on ``image``: ``steps`` steps at each octave, smallest first.

        Args:
            objective: an objective, or a layer (name or module) for
                ``deepdream(layer)``, the mean of its squared activation.
            steps: steps per octave (default: the visualizer's ``steps``).
            seed: seeds for the random regularizers (jitter), ``seed + i`` for image ``i``.
            image: ``Tensor[N, C, H, W]`` in model-input space (normalised).
            progress: show a progress bar.

        Returns:
            a :class:`~revelio.featureviz.base.Visualization` of the images' size; its
            history holds ``octaves * steps`` rows, octave after octave.

        Raises:
            LayerNotFoundError, LayerNotReachedError, UnitIndexError, InputError,
            ValueError: before any step, as for every visualizer.
        """
        if isinstance(objective, (str, nn.Module)):
            objective = deepdream(objective)
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be an Objective or a layer, got {type(objective).__name__}")
        steps = self.steps if steps is None else _check_steps(steps)
        objective = objective.resolve(self.model)
        device, dtype = _device_dtype(self.model)
        if not isinstance(image, Tensor) or image.ndim != 4:
            raise InputError("image must be a Tensor[N, C, H, W] in model-input space (normalised)")
        _check_start(image, image.shape[0], self.channels, device)
        if objective.num_images is not None and objective.num_images != image.shape[0]:
            raise InputError(f"image holds {image.shape[0]} images but the objective has {objective.num_images} units")
        seeds = _as_seeds(seed, image.shape[0])
        sizes = self._octave_sizes(tuple(image.shape[-2:]))
        if torch.is_inference_mode_enabled():
            raise RuntimeError("DeepDream needs gradients, which torch.inference_mode() disables; call it outside")
        show = self.progress if progress is None else bool(progress)
        with preserved_model_state(self.model, eval_mode=True, freeze=True), torch.enable_grad():
            layers = _capture_layers(self.model, objective)
            forward = self._probe(objective, layers, sizes[0], device, dtype)  # checks before any work
            base = self.denormalize(image.detach().to(dtype))
            detail = torch.zeros_like(base[..., : sizes[0][0], : sizes[0][1]])
            histories = []
            for index, size in enumerate(sizes):
                octave_base = _resize(base, size)
                start = octave_base + _resize(detail, size)
                if index > 0:
                    forward = self._probe(objective, layers, size, device, dtype)
                dreamed, history = self._optimize(
                    objective, forward, start, steps, seeds, show, description=f"octave {index + 1}/{len(sizes)}"
                )
                detail = dreamed - octave_base
                histories.append(history)
        return self._result(objective, dreamed, torch.cat(histories), seeds)

    def _octave_sizes(self, size: tuple[int, int]) -> list[tuple[int, int]]:
        sizes = [
            (round(size[0] / self.octave_scale**k), round(size[1] / self.octave_scale**k))
            for k in range(self.octaves - 1, -1, -1)
        ]
        sizes[-1] = size
        if min(sizes[0]) < MIN_OCTAVE_SIZE:
            raise ValueError(
                f"{self.octaves} octaves at scale {self.octave_scale} shrink a {size[0]}x{size[1]} image to "
                f"{sizes[0][0]}x{sizes[0][1]}, below {MIN_OCTAVE_SIZE} pixels; use fewer octaves or a smaller octave_scale"
            )
        return sizes

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", octaves={self.octaves}, octave_scale={self.octave_scale})"


def _resize(images: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrink = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrink)
