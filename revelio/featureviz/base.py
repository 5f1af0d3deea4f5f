"""The optimisation loop every feature visualizer shares.

:class:`FeatureVisualizer` owns the loop: parameters -> image in [0, 1]
(:mod:`~revelio.featureviz.parameterizations`) -> input-stage regularizers (the
transformations of :mod:`~revelio.featureviz.transforms`) -> normalisation -> forward
pass that stops at the deepest layer the objective needs -> objective -> gradient
w.r.t. the parameters only -> step rule -> image-stage regularizers and clamp. The
model runs in eval mode with its parameters frozen (no parameter gradient is ever
computed) and is left exactly as it was found. A NaN or infinity in the objective, the
gradient or the image stops the run with :class:`~revelio.errors.NonFiniteError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from revelio.core.calls import revelio_call
from revelio.core.grad_mode import require_grad_mode
from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize
from revelio.core.state import preserved_model_state
from revelio.errors import NonFiniteError, RevelioError, SettingError
from revelio.featureviz.arguments import (
    as_normalization,
    as_seeds,
    as_size,
    batch_size,
    check_model,
    check_objective,
    check_start,
    check_steps,
    device_dtype,
)
from revelio.featureviz.forward import TruncatedForward, probe
from revelio.featureviz.objectives import Objective
from revelio.featureviz.parameterizations import Parameterization, as_parameterization
from revelio.featureviz.regularizers import Regularizer, as_regularizer
from revelio.featureviz.schedules import Schedule, as_schedule
from revelio.featureviz.steps import StepRule, as_step_rule
from revelio.featureviz.visualization import Visualization, make_visualization

__all__ = ["FeatureVisualizer", "Visualization"]


class FeatureVisualizer:
    """Find inputs that maximise an objective by gradient ascent on an image's parameters.

    Args:
        model: any ``nn.Module``; it runs in eval mode with frozen parameters during
            :meth:`visualize` and is left as it was found.
        parameterization: what the optimiser updates: ``"pixels"`` (the default),
            ``"decorrelated"``, ``"fourier"``, ``"fourier-decorrelated"``, ``"maco"``, or a
            :class:`~revelio.featureviz.parameterizations.Parameterization`.
        image_size: ``H`` or ``(H, W)`` of the images.
        channels: channels of the images (default: one per ``mean`` value, 3 without
            normalisation); 1 for a grayscale model.
        mean: per-channel mean the model's inputs are normalised with (default:
            ImageNet's); ``None`` with ``std=None`` for no normalisation.
        std: per-channel standard deviation (default: ImageNet's).
        regularizers: :class:`~revelio.featureviz.regularizers.Regularizer` objects
            (blurs, the transformations of :mod:`~revelio.featureviz.transforms`) or
            callables ``(images, progress) -> images``, applied in order.
        step: the step rule: ``"normalized"`` (gradient divided by its RMS per image,
            the default), ``"adam"``, or a :class:`~revelio.featureviz.steps.StepRule`.
        lr: learning rate, a number, a pair ``(start, end)`` (linear) or a
            :class:`~revelio.featureviz.schedules.Schedule`; with the normalised step,
            the RMS change of an image's parameters per step.
        clamp: keep the image in the valid pixel range [0, 1] after every step (a
            parameterization that ends in a sigmoid is always in range).
        steps: default number of steps for :meth:`visualize`.
        progress: show a tqdm progress bar by default.

    Raises:
        SettingError, SettingTypeError: a setting out of range or of the wrong kind, also
            a regularizer that does not fit ``image_size``.
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
        parameterization: str | Parameterization = "pixels",
        image_size: int | tuple[int, int] = 224,
        channels: int | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        regularizers: Sequence[Regularizer | Callable[[Tensor, float], Tensor]] = (),
        step: str | StepRule = "normalized",
        lr: float | tuple[float, float] | Schedule = 0.05,
        clamp: bool = True,
        steps: int = 128,
        progress: bool = False,
    ) -> None:
        self.model = check_model(model)
        self.parameterization = as_parameterization(parameterization)
        self.image_size = as_size(image_size)
        self.mean, self.std, self.channels = as_normalization(mean, std, channels)
        self.regularizers = [as_regularizer(regularizer) for regularizer in regularizers]
        self.step = as_step_rule(step)
        self.lr = as_schedule(lr, "lr")
        if min(self.lr.start, self.lr.end) <= 0:
            raise SettingError(f"lr must stay > 0, got {self.lr}")
        self.clamp = bool(clamp)
        self.steps = check_steps(steps)
        self.progress = bool(progress)
        self.input_size(self.image_size)  # refuses regularizers that do not fit now

    # -- the public call ---------------------------------------------------------

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
            seed: image ``i`` starts from parameters drawn with ``seed + i`` and uses that
                seed for its random regularizers, so a batch equals single runs with those
                seeds (unless the objective couples the images, as diversity does); or a
                list of seeds, one per image.
            num_images: how many images for an objective without a unit list (default 1;
                each from its own seed).
            start: start images ``Tensor[N, C, H, W]`` in model-input space
                (normalised, as :attr:`Visualization.images`) instead of random ones; their
                size is the images' size.
            progress: show a tqdm progress bar (default: the visualizer's setting).

        Returns:
            a :class:`Visualization`, its tensors on the model's device.

        Raises:
            LayerNotFoundError: a layer of the objective is not in the model.
            LayerNotReachedError: the model's forward pass never runs a layer of the objective.
            UnitIndexError: a channel, neuron, class or position is out of range.
            InputError: start images of the wrong shape, channels, device, or with NaN.
            SettingError, SettingTypeError: other bad arguments, or regularizers that do not fit the start images.
            NonFiniteError: during the run, a NaN or infinity in the objective, gradient or image.
            RuntimeError: called inside ``torch.inference_mode()``.

        All but ``NonFiniteError`` are raised before the first step.
        """
        objective = check_objective(objective)
        steps = self.steps if steps is None else check_steps(steps)
        objective = objective.resolve(self.model)
        device, dtype = device_dtype(self.model)
        if num_images is None and objective.num_images is None and start is None and not isinstance(seed, int):
            num_images = len(seed)  # one image per seed
        n = batch_size(objective, num_images, start)
        seeds = as_seeds(seed, n)
        if start is not None:
            check_start(start, self.channels, device)
        size = (start.shape[-2], start.shape[-1]) if start is not None else self.image_size
        input_size = self.input_size(size)
        require_grad_mode(type(self).__name__)
        show = self.progress if progress is None else bool(progress)
        with revelio_call(), preserved_model_state(self.model, eval_mode=True, freeze=True), torch.enable_grad():
            layers = capture_layers(self.model, objective)
            forward = self._probe(objective, layers, input_size, device, dtype)
            if start is None:
                parameters = self.parameterization.initial(seeds, self.channels, size, device, dtype)
            else:
                parameters = self.parameterization.parameterize(self.denormalize(start.detach().to(dtype)))
            images, history, transparency = self._optimize(objective, forward, parameters, size, steps, seeds, show)
        return self._result(objective, images, history, transparency, seeds)

    def input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size of the model's inputs for images of ``size``, after the input-stage regularizers.

        Raises:
            SettingError: a regularizer that does not fit the images at its stage, a
                size-changing one applied only every few steps, or a parameterization that
                cannot serve this size or channel count.
        """
        self.parameterization.check(self.channels, size)
        current = size
        for regularizer in self.regularizers:
            if regularizer.stage == "input":
                regularizer.check(current)
                after = regularizer.output_size(current)
                if after != current and regularizer.every != 1:
                    raise SettingError(
                        f"{regularizer!r} changes the image's size, so it must act at every step (every=1)"
                    )
                if min(after) < 1:
                    raise SettingError(f"{regularizer!r} leaves no pixels of a {current[0]}x{current[1]} image")
                current = after
            else:
                regularizer.check(size)
        return current

    # -- the loop -------------------------------------------------------------------

    def _optimize(
        self,
        objective: Objective,
        forward: TruncatedForward,
        parameters: Tensor,
        size: tuple[int, int],
        steps: int,
        seeds: Sequence[int],
        show_progress: bool,
        description: str | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Run ``steps`` steps from ``parameters``; return final [0, 1] images, history and transparency."""
        parameterization = self.parameterization
        parameters = parameters.detach().clone().requires_grad_(True)
        for index, regularizer in enumerate(self.regularizers):
            regularizer.start(stream_seeds(seeds, index))
        input_stage = [r for r in self.regularizers if r.stage == "input"]
        gradient_stage = [r for r in self.regularizers if r.stage == "gradient"]
        image_stage = [r for r in self.regularizers if r.stage == "image"]
        clamp = self.clamp and not parameterization.bounded
        transparency = None
        state: dict[str, Any] = {}
        history: list[Tensor] = []
        bar = tqdm(total=steps, desc=description or progress_label(objective.labels(len(parameters))), disable=not show_progress, leave=False)
        try:
            with forward:
                for step in range(steps):
                    progress = step / (steps - 1) if steps > 1 else 1.0
                    image = parameterization.render(parameters, size)
                    model_input = image
                    for regularizer in input_stage:
                        if regularizer.applies_at(step):
                            model_input = regularizer(model_input, progress)
                    values = objective(forward(self.normalize(model_input)))
                    if step == 0:
                        check_values(values, parameters.shape[0], objective)
                    if parameterization.transparency:
                        gradient, image_gradient = torch.autograd.grad(values.sum(), (parameters, image))
                        pixel = image_gradient.detach().abs().sum(1, keepdim=True)
                        transparency = pixel if transparency is None else transparency.add_(pixel)
                    else:
                        (gradient,) = torch.autograd.grad(values.sum(), parameters)
                    check_finite(values, gradient, step, objective)
                    if step == 0:
                        warn_if_no_gradient(gradient, objective)
                    history.append(values.detach())
                    del model_input, image  # free the graph's activations before the update
                    with torch.no_grad():
                        for regularizer in gradient_stage:
                            if regularizer.applies_at(step):
                                gradient = regularizer(gradient, progress)
                        parameters.add_(self.step.direction(gradient, state), alpha=self.lr(progress))
                        active = [r for r in image_stage if r.applies_at(step)]
                        if active or clamp:
                            image = parameterization.render(parameters, size)
                            for regularizer in active:
                                image = regularizer(image, progress)
                            if clamp:
                                image = image.clamp(0.0, 1.0)
                            parameters.copy_(parameterization.parameterize(image))
                    bar.update(1)
                    if show_progress and (step % 10 == 0 or step == steps - 1):
                        bar.set_postfix(objective=f"{values.detach().mean().item():.4g}")
        finally:
            bar.close()
        with torch.no_grad():
            final = parameterization.render(parameters, size).detach()
        if not bool(torch.isfinite(final).all()):
            raise NonFiniteError(
                "the final images hold NaN or infinite values, made by a regularizer or the step rule after the last "
                "forward pass; check custom regularizers, or use a smaller lr"
            )
        return final, torch.stack(history), transparency

    def _probe(
        self, objective: Objective, layers: list[tuple[str, nn.Module]], size: tuple[int, int], device, dtype
    ) -> TruncatedForward:
        """One forward pass on one grey input of ``size``, stopped at the deepest layer: check the objective, plan."""
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

    def _result(
        self, objective: Objective, images: Tensor, history: Tensor, transparency: Tensor | None, seeds: Sequence[int]
    ) -> Visualization:
        return make_visualization(
            images, history, transparency, normalize=self.normalize, objective=str(objective),
            units=objective.labels(images.shape[0]), seeds=tuple(seeds),
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
            f"{type(self).__name__}({type(self.model).__name__}, parameterization={self.parameterization!r}, "
            f"image_size={self.image_size}, regularizers=[{regularizers}], step={self.step!r}, lr={self.lr!r}, "
            f"clamp={self.clamp})"
        )


def stream_seeds(seeds: Sequence[int], index: int) -> list[int]:
    """The seeds of the ``index``-th regularizer: each image's seed mixed with the position, so two
    random regularizers of one list draw independent values, and image ``i`` depends on ``seeds[i]`` only."""
    if index == 0:
        return [int(seed) for seed in seeds]
    return [(int(seed) * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9) & 0x7FFF_FFFF_FFFF_FFFF for seed in seeds]


def check_values(values: Tensor, n: int, objective: Objective) -> None:
    """Refuse an objective that does not give one value per image.

    Raises:
        SettingError: the shape is not ``(n,)``.
    """
    if not isinstance(values, Tensor) or values.shape != (n,):
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise SettingError(f"objective {objective} must give one value per image, Tensor[{n}], got {shape}")


def check_finite(values: Tensor, gradient: Tensor, step: int, objective: Objective) -> None:
    """Stop the run at a NaN or infinity in the objective's values or gradient (one sync per step).

    Raises:
        NonFiniteError: naming the step, the images and what to try.
    """
    if bool(torch.isfinite(values.detach().sum() + gradient.sum())):
        return
    bad_values = (~torch.isfinite(values.detach())).nonzero().flatten().tolist()
    bad = bad_values or (~torch.isfinite(gradient.flatten(1)).all(1)).nonzero().flatten().tolist()
    labels = objective.labels(values.shape[0])
    names = ", ".join(labels[i] for i in bad[:3]) + (", ..." if len(bad) > 3 else "")
    what = "objective" if bad_values else "objective's gradient"
    raise NonFiniteError(
        f"the {what} is NaN or infinite at step {step} for {len(bad)} image(s) ({names}); the images went out of "
        "the model's range or the step diverged: use a smaller lr, a bounded parameterization (a sigmoid), or check "
        "that the model gives finite outputs for these inputs"
    )


def warn_if_no_gradient(gradient: Tensor, objective: Objective) -> None:
    """Warn when some images' gradient is zero at the start: they will not change."""
    dead = (gradient.flatten(1).abs().amax(dim=1) == 0).nonzero().flatten().tolist()
    if dead:
        labels = objective.labels(gradient.shape[0])
        names = ", ".join(labels[i] for i in dead[:5]) + (", ..." if len(dead) > 5 else "")
        warnings.warn(
            f"the objective's gradient is zero for {len(dead)} image(s) ({names}) at the start, so they will not "
            "change: the unit is inactive (a ReLU at zero) on the start image. Try other seeds, another start "
            "(Pixels(noise_range=...)), or the layer before the ReLU",
            RuntimeWarning,
            stacklevel=4,
        )


def capture_layers(model: nn.Module, objective: Objective) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of each layer of a resolved objective."""
    modules = dict(model.named_modules(remove_duplicate=False))
    return [(name, modules[name]) for name in objective.layers]


def progress_label(labels: Sequence[str]) -> str:
    """A short progress-bar label for a batch: its one unit, or how many and the first and last."""
    if len(set(labels)) == 1:
        return labels[0]
    return f"{len(labels)} images: {labels[0]} ... {labels[-1]}"
