"""The optimisation loop every feature visualizer shares, and its result.

:class:`FeatureVisualizer` owns the loop: parameterisation -> image in [0, 1] ->
input-stage regularizers (jitter) -> normalisation -> forward pass that stops at the
deepest layer the objective needs -> objective -> gradient w.r.t. the image
parameters only -> step rule -> image-stage regularizers and clamp. The model runs in
eval mode with its parameters frozen (no parameter gradient is ever computed) and is
left exactly as it was found. A new visualizer overrides the parameterisation
(:meth:`~FeatureVisualizer.parameterize`, :meth:`~FeatureVisualizer.render`) or the
start images (:meth:`~FeatureVisualizer.initial_images`).
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize
from revelio.core.state import preserved_model_state
from revelio.errors import InputError, RevelioError
from revelio.featureviz.forward import TruncatedForward, probe
from revelio.featureviz.objectives import Objective
from revelio.featureviz.regularizers import Regularizer, as_regularizer
from revelio.featureviz.schedules import Schedule, as_schedule
from revelio.featureviz.steps import StepRule, as_step_rule


@dataclass
class Visualization:
    """The result of :meth:`FeatureVisualizer.visualize`.

    Attributes:
        images: ``Tensor[N, C, H, W]`` in model-input space (normalised): feed them to
            the model to see the objective's value.
        display: ``Tensor[N, C, H, W]``, float RGB in [0, 1], ready to save. Each image
            is the optimised [0, 1]-space image; an image with values outside [0, 1]
            (no clamp) is rescaled by its own minimum and maximum.
        history: ``Tensor[steps, N]``, the objective of each image at each step, before
            that step's update.
        objective: the objective's description.
        units: one description per image (``"features.6 channel 3"``).
        seeds: the seed of each image.
    """

    images: Tensor
    display: Tensor
    history: Tensor
    objective: str
    units: tuple[str, ...]
    seeds: tuple[int, ...] = field(default=())

    def __len__(self) -> int:
        return self.images.shape[0]


class FeatureVisualizer(ABC):
    """Find inputs that maximise an objective by gradient ascent on the image.

    Args:
        model: any ``nn.Module``; it runs in eval mode with frozen parameters during
            :meth:`visualize` and is left as it was found.
        image_size: ``H`` or ``(H, W)`` of the images.
        mean: per-channel mean the model's inputs are normalised with (default:
            ImageNet's); ``None`` with ``std=None`` for no normalisation.
        std: per-channel standard deviation (default: ImageNet's).
        regularizers: :class:`~revelio.featureviz.regularizers.Regularizer` objects or
            callables ``(images, progress) -> images``, applied in order.
        step: the step rule: ``"normalized"`` (gradient divided by its RMS per image,
            the default), ``"adam"``, or a :class:`~revelio.featureviz.steps.StepRule`.
        lr: learning rate, a number or a :class:`~revelio.featureviz.schedules.Schedule`;
            with the normalised step, the RMS change of an image per step.
        clamp: keep the image in the valid pixel range [0, 1] after every step.
        steps: default number of steps for :meth:`visualize`.
        progress: show a tqdm progress bar by default.
        noise_range: start images are uniform noise in this range of [0, 1] values.
            The full range (the default) leaves fewer units of post-ReLU layers at
            zero, where their gradient is zero too; PytorchRevelio starts from
            ``(140 / 255, 170 / 255)``.

    Subclasses choose the parameterisation of the image (:meth:`parameterize` and
    :meth:`render`) and may override :meth:`initial_images`.
    """

    channels_last: bool | None = None
    """Feed the model channels-last inputs: ``None`` does on the CPU, where oneDNN's
    convolutions are then about 1.5x faster (a model whose forward cannot take them,
    e.g. one calling ``.view`` on a feature map, gets contiguous inputs instead)."""

    slice_deepest_layer: bool = True
    """Compute only the channels the objective reads of its deepest layer, when it is a
    plain conv or linear layer (see :mod:`~revelio.featureviz.forward`). Same result;
    set to ``False`` to run the layer whole."""

    def __init__(
        self,
        model: nn.Module,
        *,
        image_size: int | tuple[int, int] = 224,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        regularizers: Sequence[Regularizer | Callable[[Tensor, float], Tensor]] = (),
        step: str | StepRule = "normalized",
        lr: float | Schedule = 0.05,
        clamp: bool = True,
        steps: int = 128,
        progress: bool = False,
        noise_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.image_size = _as_size(image_size)
        self.mean, self.std = _as_normalization(mean, std)
        self.regularizers = [as_regularizer(regularizer) for regularizer in regularizers]
        self.step = as_step_rule(step)
        self.lr = as_schedule(lr, "lr")
        if min(self.lr.start, self.lr.end) <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        self.clamp = bool(clamp)
        self.steps = _check_steps(steps)
        self.progress = bool(progress)
        low, high = (float(v) for v in noise_range)
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"noise_range must be (low, high) with 0 <= low <= high <= 1, got {noise_range!r}")
        self.noise_range = (low, high)

    # -- what a subclass chooses ---------------------------------------------------

    @abstractmethod
    def parameterize(self, images: Tensor) -> Tensor:
        """The parameters that represent ``images`` (``Tensor[N, C, H, W]`` in [0, 1]).

        The loop optimises these; :meth:`render` must invert this map, since image-stage
        regularizers and the clamp act on rendered images that are written back.
        """

    @abstractmethod
    def render(self, parameters: Tensor) -> Tensor:
        """The images ``Tensor[N, C, H, W]`` in [0, 1] space for ``parameters`` (differentiable)."""

    def initial_images(self, seeds: Sequence[int], device: torch.device, dtype: torch.dtype) -> Tensor:
        """Start images in [0, 1]: uniform noise in ``noise_range``, image ``i`` drawn with ``seeds[i]``."""
        height, width = self.image_size
        images = []
        for seed in seeds:
            generator = torch.Generator(device=device).manual_seed(int(seed))
            images.append(torch.rand(self.channels, height, width, generator=generator, device=device, dtype=dtype))
        low, high = self.noise_range
        return torch.stack(images).mul_(high - low).add_(low)

    # -- the public call ---------------------------------------------------------

    @property
    def channels(self) -> int:
        """Colour channels of the images (from ``mean``; 3 without normalisation)."""
        return 3 if self.mean is None else len(self.mean)

    def visualize(
        self,
        objective: Objective,
        steps: int | None = None,
        seed: int | Sequence[int] = 0,
        *,
        num_images: int | None = None,
        start: Tensor | None = None,
        progress: bool | None = None,
    ) -> Visualization:
        """Optimise a batch of images for ``objective``; one forward and backward per step.

        Args:
            objective: what to maximise (:mod:`~revelio.featureviz.objectives`). A list of
                units gives one image per unit, all in one batch.
            steps: gradient steps (default: the visualizer's ``steps``).
            seed: image ``i`` starts from noise drawn with ``seed + i`` and uses that seed
                for its random regularizers, so a batch equals single runs with those
                seeds; or a list of seeds, one per image.
            num_images: how many images for an objective without a unit list (default 1;
                each from its own seed).
            start: start images ``Tensor[N, C, H, W]`` in model-input space
                (normalised, as :attr:`Visualization.images`) instead of noise.
            progress: show a tqdm progress bar (default: the visualizer's setting).

        Returns:
            a :class:`Visualization`, its tensors on the model's device.

        Raises:
            LayerNotFoundError: a layer of the objective is not in the model.
            LayerNotReachedError: the model's forward pass never runs a layer of the objective.
            UnitIndexError: a channel, neuron, class or position is out of range.
            ValueError, TypeError, InputError: other bad arguments.

        All of these are raised before the first step.
        """
        if not isinstance(objective, Objective):
            raise TypeError(
                f"objective must be an Objective (revelio.featureviz.channel(...), neuron, class_logit, "
                f"deepdream), got {type(objective).__name__}"
            )
        steps = self.steps if steps is None else _check_steps(steps)
        objective = objective.resolve(self.model)
        device, dtype = _device_dtype(self.model)
        if num_images is None and objective.num_images is None and start is None and not isinstance(seed, int):
            num_images = len(seed)  # one image per seed
        n = _batch_size(objective, num_images, start)
        seeds = _as_seeds(seed, n)
        if start is not None:
            _check_start(start, n, self.channels, device)
        size = tuple(start.shape[-2:]) if start is not None else self.image_size
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                f"{type(self).__name__} needs gradients, which torch.inference_mode() disables; call it outside "
                "that block (inside torch.no_grad() is fine: gradients are enabled for the call)"
            )
        with preserved_model_state(self.model, eval_mode=True, freeze=True), torch.enable_grad():
            layers = _capture_layers(self.model, objective)
            forward = self._probe(objective, layers, size, device, dtype)
            if start is None:
                images = self.initial_images(seeds, device, dtype)
            else:
                images = self.denormalize(start.detach().to(dtype))
            show = self.progress if progress is None else bool(progress)
            images, history = self._optimize(objective, forward, images, steps, seeds, show)
        return self._result(objective, images, history, seeds)

    # -- the loop -------------------------------------------------------------------

    def _optimize(
        self,
        objective: Objective,
        forward: TruncatedForward,
        images: Tensor,
        steps: int,
        seeds: Sequence[int],
        show_progress: bool,
        description: str | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run ``steps`` steps from ``images`` ([0, 1] space); return final images and history."""
        parameters = self.parameterize(images).detach().clone().requires_grad_(True)
        for regularizer in self.regularizers:
            regularizer.start(seeds)
        input_stage = [r for r in self.regularizers if r.stage == "input"]
        gradient_stage = [r for r in self.regularizers if r.stage == "gradient"]
        image_stage = [r for r in self.regularizers if r.stage == "image"]
        state: dict[str, Any] = {}
        history: list[Tensor] = []
        bar = tqdm(total=steps, desc=description or str(objective)[:40], disable=not show_progress, leave=False)
        try:
            with forward:
                for step in range(steps):
                    progress = step / (steps - 1) if steps > 1 else 1.0
                    image = self.render(parameters)
                    for regularizer in input_stage:
                        if regularizer.applies_at(step):
                            image = regularizer(image, progress)
                    activations = forward(self.normalize(image))
                    values = objective(activations)
                    if step == 0:
                        _check_values(values, parameters.shape[0], objective)
                    (gradient,) = torch.autograd.grad(values.sum(), parameters)
                    if step == 0:
                        _warn_if_no_gradient(gradient, objective)
                    history.append(values.detach())
                    del activations, image  # free the graph's activations before the update
                    with torch.no_grad():
                        for regularizer in gradient_stage:
                            if regularizer.applies_at(step):
                                gradient = regularizer(gradient, progress)
                        parameters.add_(self.step.direction(gradient, state), alpha=self.lr(progress))
                        active = [r for r in image_stage if r.applies_at(step)]
                        if active or self.clamp:
                            image = self.render(parameters)
                            for regularizer in active:
                                image = regularizer(image, progress)
                            if self.clamp:
                                image = image.clamp(0.0, 1.0)
                            parameters.copy_(self.parameterize(image))
                    bar.update(1)
                    if show_progress and (step % 10 == 0 or step == steps - 1):
                        bar.set_postfix(objective=f"{values.detach().mean().item():.4g}")
        finally:
            bar.close()
        with torch.no_grad():
            final = self.render(parameters).detach()
        return final, torch.stack(history) if history else images.new_zeros(0, images.shape[0])

    def _probe(
        self, objective: Objective, layers: list[tuple[str, nn.Module]], size: tuple[int, int], device, dtype
    ) -> TruncatedForward:
        """One forward pass on one grey image, stopped at the deepest layer: check the objective, plan the steps."""
        grey = self.normalize(torch.full((1, self.channels, *size), 0.5, device=device, dtype=dtype))
        channels_last = device.type == "cpu" if self.channels_last is None else self.channels_last
        if channels_last:
            try:
                shapes, order = probe(self.model, layers, grey.contiguous(memory_format=torch.channels_last))
            except RuntimeError as error:
                if isinstance(error, RevelioError):
                    raise
                channels_last = False
        if not channels_last:
            shapes, order = probe(self.model, layers, grey)
        objective.check(shapes)
        return TruncatedForward(
            self.model,
            objective,
            layers,
            order,
            shapes,
            allow_slicing=self.slice_deepest_layer,
            channels_last=channels_last,
        )

    def _result(self, objective: Objective, images: Tensor, history: Tensor, seeds: Sequence[int]) -> Visualization:
        with torch.no_grad():
            display = images.clone()
            flat = display.flatten(1)
            low, high = flat.min(1).values, flat.max(1).values
            outside = (low < 0) | (high > 1)
            if bool(outside.any()):
                scale = (high - low).clamp_min(1e-12)
                rescaled = (display - low.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)
                display = torch.where(outside.view(-1, 1, 1, 1), rescaled, display)
            model_input = self.normalize(images)
        return Visualization(
            images=model_input,
            display=display,
            history=history,
            objective=str(objective),
            units=objective.labels(images.shape[0]),
            seeds=tuple(seeds),
        )

    # -- normalisation ------------------------------------------------------------

    def normalize(self, images: Tensor) -> Tensor:
        """[0, 1] images -> model inputs: ``(x - mean) / std`` per channel (:func:`revelio.core.normalize`)."""
        if self.mean is None:
            return images
        return normalize(images, self.mean, self.std)

    def denormalize(self, inputs: Tensor) -> Tensor:
        """Model inputs -> [0, 1] images: ``x * std + mean`` per channel (:func:`revelio.core.denormalize`)."""
        if self.mean is None:
            return inputs.clone()
        return denormalize(inputs, self.mean, self.std)

    def __repr__(self) -> str:
        regularizers = ", ".join(repr(r) for r in self.regularizers)
        return (
            f"{type(self).__name__}({type(self.model).__name__}, image_size={self.image_size}, "
            f"regularizers=[{regularizers}], step={self.step!r}, lr={self.lr!r}, clamp={self.clamp})"
        )


def _check_values(values: Tensor, n: int, objective: Objective) -> None:
    if not isinstance(values, Tensor) or values.shape != (n,):
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(f"objective {objective} must give one value per image, Tensor[{n}], got {shape}")


def _warn_if_no_gradient(gradient: Tensor, objective: Objective) -> None:
    dead = (gradient.flatten(1).abs().amax(dim=1) == 0).nonzero().flatten().tolist()
    if dead:
        labels = objective.labels(gradient.shape[0])
        names = ", ".join(labels[i] for i in dead[:5]) + (", ..." if len(dead) > 5 else "")
        warnings.warn(
            f"the objective's gradient is zero for {len(dead)} image(s) ({names}) at the start, so they will not "
            "change: the unit is inactive (a ReLU at zero) on the start image. Try other seeds, a wider "
            "noise_range, or the layer before the ReLU",
            RuntimeWarning,
            stacklevel=4,
        )


def _capture_layers(model: nn.Module, objective: Objective) -> list[tuple[str, nn.Module]]:
    modules = dict(model.named_modules(remove_duplicate=False))
    return [(name, modules[name]) for name in objective.layers]  # resolved names


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    if tensor is None or not tensor.is_floating_point():
        return torch.device("cpu") if tensor is None else tensor.device, torch.get_default_dtype()
    return tensor.device, tensor.dtype


def _batch_size(objective: Objective, num_images: int | None, start: Tensor | None) -> int:
    defined = objective.num_images
    if num_images is not None and (isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1):
        raise ValueError(f"num_images must be an integer >= 1, got {num_images!r}")
    if start is not None:
        if not isinstance(start, Tensor) or start.ndim != 4:
            raise InputError("start must be a Tensor[N, C, H, W] of model inputs")
        count = start.shape[0]
        if defined is not None and defined != count:
            raise InputError(f"start holds {count} images but the objective has {defined} units (one image per unit)")
        if num_images is not None and num_images != count:
            raise InputError(f"start holds {count} images but num_images is {num_images}")
        return count
    if defined is not None:
        if num_images is not None and num_images != defined:
            raise ValueError(
                f"the objective has {defined} units, one image each, but num_images is {num_images}; leave num_images out"
            )
        return defined
    return 1 if num_images is None else num_images


def _as_seeds(seed: int | Sequence[int], n: int) -> list[int]:
    if isinstance(seed, bool):
        raise TypeError("seed must be an integer or a list of integers, got a bool")
    if isinstance(seed, int):
        return [seed + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seed as a list must hold one integer per image ({n}), got {seeds!r}")
    return seeds


def _check_start(start: Tensor, n: int, channels: int, device: torch.device) -> None:
    if not start.is_floating_point():
        raise InputError(f"start must be floating point, got {start.dtype}")
    if start.shape[1] != channels:
        raise InputError(f"start has {start.shape[1]} channels, the normalisation {channels}")
    if start.device != device:
        raise InputError(
            f"start is on {start.device} but the model is on {device}; move it with start.to({str(device)!r})"
        )


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return steps


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in pair):
        raise ValueError(f"image_size must be a positive integer or (H, W), got {size!r}")
    return pair  # type: ignore[return-value]


def _as_normalization(
    mean: Sequence[float] | None, std: Sequence[float] | None
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise ValueError("give both mean and std, or neither (no normalisation)")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != len(std) or not mean:
        raise ValueError(f"mean and std need one value per channel, got {len(mean)} and {len(std)}")
    if not all(s > 0 and math.isfinite(s) for s in std):
        raise ValueError(f"std must be positive, got {std}")
    return mean, std
