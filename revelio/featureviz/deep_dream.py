"""Deep dream: amplify what a layer sees in a given image, over several octaves.

Start from a real image; maximise the activity of a whole layer (mean of its squared
activation) by normalised gradient ascent with random jitter; do it first on a small
copy of the image, then on larger ones, carrying the detail found at each scale up to
the next (octaves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from revelio.core.calls import revelio_call
from revelio.core.grad_mode import require_grad_mode
from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD
from revelio.core.state import preserved_model_state
from revelio.errors import InputError, SettingError, SettingTypeError
from revelio.featureviz.activation_max import ActivationMaximization
from revelio.featureviz.arguments import as_seeds, batch_size, check_start, check_steps, device_dtype
from revelio.featureviz.base import Visualization, capture_layers
from revelio.featureviz.objectives import LayerSpec, Objective, deepdream
from revelio.featureviz.parameterizations import Parameterization
from revelio.featureviz.regularizers import Regularizer
from revelio.featureviz.schedules import Schedule
from revelio.featureviz.spectrum import resize_images
from revelio.featureviz.steps import StepRule
from revelio.featureviz.transforms import Jitter

MIN_OCTAVE_SIZE = 8
"""The smallest side, in pixels, that an octave may have."""


class DeepDream(ActivationMaximization):
    """Dream from given images: maximise a layer's activity over several octaves.

    Args:
        model: the network (left as it was found).
        octaves: number of scales; the smallest is the image shrunk ``octave_scale **
            (octaves - 1)`` times.
        octave_scale: size ratio between consecutive octaves, >= 1.
        parameterization: what the optimiser updates (default ``"pixels"``; see
            :class:`~revelio.featureviz.base.FeatureVisualizer`).
        regularizers: as for every visualizer; default ``[Jitter(8)]``.
        step: the step rule (default: normalised gradient).
        lr: step size in [0, 1] image units per step (RMS).
        steps: steps per octave.
        clamp: keep the image in [0, 1].
        channels: channels of the images (default: one per ``mean`` value).
        mean: per-channel normalisation mean of the model's inputs (default ImageNet's).
        std: per-channel standard deviation.
        progress: show a progress bar by default.

    Raises:
        SettingError: ``octaves`` < 1, ``octave_scale`` < 1, or another setting out of range.

    Example:
        >>> dream = DeepDream(model, octaves=3).visualize("features.10", start=batch)
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
        parameterization: str | Parameterization = "pixels",
        regularizers: Sequence[Regularizer | Callable[[Tensor, float], Tensor]] | None = None,
        step: str | StepRule = "normalized",
        lr: float | Schedule = 0.01,
        steps: int = 10,
        clamp: bool = True,
        channels: int | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        progress: bool = False,
    ) -> None:
        super().__init__(
            model,
            parameterization=parameterization,
            regularizers=[Jitter(8)] if regularizers is None else regularizers,
            step=step,
            lr=lr,
            steps=steps,
            clamp=clamp,
            channels=channels,
            mean=mean,
            std=std,
            progress=progress,
        )
        if isinstance(octaves, bool) or not isinstance(octaves, int) or octaves < 1:
            raise SettingError(f"octaves must be an integer >= 1, got {octaves!r}")
        if isinstance(octave_scale, bool) or not isinstance(octave_scale, (int, float)) or not 1 <= octave_scale <= 16:
            raise SettingError(f"octave_scale must be a number in [1, 16], got {octave_scale!r}")
        self.octaves = octaves
        self.octave_scale = float(octave_scale)

    def visualize(
        self,
        objective: Objective | LayerSpec,
        steps: int | None = None,
        seed: int | Sequence[int] = 0,
        *,
        num_images: int | None = None,
        start: Tensor | None = None,
        progress: bool | None = None,
    ) -> Visualization:
        """Dream on ``start``: ``steps`` steps at each octave, smallest first.

        Args:
            objective: an objective, or a layer (name or module) for
                ``deepdream(layer)``, the mean of its squared activation.
            steps: steps per octave (default: the visualizer's ``steps``).
            seed: seeds for the random regularizers (jitter), ``seed + i`` for image ``i``.
            num_images: must be ``None`` or the number of start images.
            start: the images to dream on, ``Tensor[N, C, H, W]`` in model-input space
                (normalised); required.
            progress: show a progress bar.

        Returns:
            a :class:`~revelio.featureviz.base.Visualization` of the images' size; its
            history holds ``octaves * steps`` rows, octave after octave.

        Raises:
            LayerNotFoundError, LayerNotReachedError, UnitIndexError, InputError,
            SettingError: before any step, as for every visualizer.
        """
        if isinstance(objective, (str, nn.Module)):
            objective = deepdream(objective)
        if not isinstance(objective, Objective):
            raise SettingTypeError(f"objective must be an Objective or a layer, got {type(objective).__name__}")
        if start is None:
            raise InputError("DeepDream dreams on given images: pass start=Tensor[N, C, H, W] of model inputs")
        steps = self.steps if steps is None else check_steps(steps)
        objective = objective.resolve(self.model)
        device, dtype = device_dtype(self.model)
        n = batch_size(objective, num_images, start)
        check_start(start, self.channels, device)
        seeds = as_seeds(seed, n)
        sizes = self._octave_sizes((start.shape[-2], start.shape[-1]))
        input_sizes = [self.input_size(size) for size in sizes]
        require_grad_mode(type(self).__name__)
        show = self.progress if progress is None else bool(progress)
        with revelio_call(), preserved_model_state(self.model, eval_mode=True, freeze=True), torch.enable_grad():
            layers = capture_layers(self.model, objective)
            forward = self._probe(objective, layers, input_sizes[0], device, dtype)  # checks before any work
            base = self.denormalize(start.detach().to(dtype))
            detail = torch.zeros_like(base[..., : sizes[0][0], : sizes[0][1]])
            histories = []
            for index, size in enumerate(sizes):
                octave_base = resize_images(base, size)
                images = octave_base + resize_images(detail, size)
                if index > 0:
                    forward = self._probe(objective, layers, input_sizes[index], device, dtype)
                dreamed, history, transparency = self._optimize(
                    objective, forward, self.parameterization.parameterize(images), size, steps, seeds, show,
                    description=f"octave {index + 1}/{len(sizes)}",
                )
                detail = dreamed - octave_base
                histories.append(history)
        return self._result(objective, dreamed, torch.cat(histories), transparency, seeds)

    def _octave_sizes(self, size: tuple[int, int]) -> list[tuple[int, int]]:
        sizes = [
            (round(size[0] / self.octave_scale**k), round(size[1] / self.octave_scale**k))
            for k in range(self.octaves - 1, -1, -1)
        ]
        sizes[-1] = size
        if min(sizes[0]) < MIN_OCTAVE_SIZE:
            raise SettingError(
                f"{self.octaves} octaves at scale {self.octave_scale} shrink a {size[0]}x{size[1]} image to "
                f"{sizes[0][0]}x{sizes[0][1]}, below {MIN_OCTAVE_SIZE} pixels; use fewer octaves or a smaller octave_scale"
            )
        return sizes

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", octaves={self.octaves}, octave_scale={self.octave_scale})"
