"""Regularizers: what keeps a maximising image from turning into high-frequency noise.

A regularizer is a callable ``images = regularizer(images, progress)`` on the batch of
images (``Tensor[N, C, H, W]`` in [0, 1] display space), told the run's progress in
[0, 1] so that its strength can follow a :mod:`~revelio.featureviz.schedules` schedule.
Where it acts is its :attr:`Regularizer.stage`:

- ``"image"`` (blur, decay, clipping): applied to the image after the step, under
  ``no_grad``, every ``every`` steps (Yosinski et al. 2015; Øygard 2015; Tyka 2016);
- ``"input"`` (jitter): applied to the image on its way into the model, inside the
  graph, so the gradient flows back through it (the random shifts of Mordvintsev et al.
  2015; lucent's transforms);
- ``"gradient"``: applied to the gradient before the step rule.

Any callable with the signature ``(images, progress) -> images`` works as an
image-stage regularizer applied every step; subclass :class:`Regularizer` to choose the
stage or the frequency. Every regularizer keeps its constructor arguments, so ``repr``
shows its settings and :func:`copy.copy` keeps them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from revelio.core.filters import bilateral_blur, gaussian_blur
from revelio.featureviz.schedules import Schedule, as_schedule, ramp

Stage = Literal["image", "input", "gradient"]
STAGES: tuple[str, ...] = ("image", "input", "gradient")


class Regularizer(ABC):
    """Base class: a callable on the batch of images, told the progress in [0, 1].

    Args:
        every: apply every ``every`` steps: after the updates of steps ``every - 1``,
            ``2 * every - 1``, ... (so also after the last one when ``every`` divides
            the number of steps). Input- and gradient-stage regularizers run on steps
            0, ``every``, ``2 * every``, ...

    Subclasses implement :meth:`__call__` and may set the class attribute
    :attr:`stage`; one that needs randomness overrides :meth:`start`, which receives
    one seed per image, so that image ``i`` of a batch sees what a single run with
    that image's seed would see.
    """

    stage: ClassVar[Stage] = "image"

    def __init__(self, *, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        self.every = every

    @abstractmethod
    def __call__(self, images: Tensor, progress: float) -> Tensor:
        """Return the regularized images (a new tensor, or ``images`` changed in place)."""

    def start(self, seeds: Sequence[int]) -> None:
        """Get ready for a run over ``len(seeds)`` images, image ``i`` seeded with ``seeds[i]``."""

    def applies_at(self, step: int) -> bool:
        """Whether this regularizer acts at ``step`` (0-based)."""
        if self.stage == "image":
            return (step + 1) % self.every == 0
        return step % self.every == 0

    def _settings(self) -> dict[str, Any]:
        return {"every": self.every} if self.every != 1 else {}

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self._settings().items())
        return f"{type(self).__name__}({settings})"


class FunctionRegularizer(Regularizer):
    """A plain ``(images, progress) -> images`` callable, as an image-stage regularizer.

    Args:
        function: the callable.
        every: apply every ``every`` steps.
        stage: where it acts (see :data:`STAGES`).
    """

    def __init__(self, function: Callable[[Tensor, float], Tensor], *, every: int = 1, stage: Stage = "image") -> None:
        super().__init__(every=every)
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        self.function = function
        self.stage = stage  # type: ignore[misc]  # an instance may choose its stage

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        return self.function(images, progress)

    def __repr__(self) -> str:
        name = getattr(self.function, "__qualname__", type(self.function).__name__)
        return f"FunctionRegularizer({name})"


def as_regularizer(value: Regularizer | Callable[[Tensor, float], Tensor]) -> Regularizer:
    """Return ``value`` as a :class:`Regularizer`; a plain callable is an image-stage one.

    Raises:
        TypeError: ``value`` is not callable.
    """
    if isinstance(value, Regularizer):
        return value
    if not callable(value):
        raise TypeError(
            f"a regularizer must be a Regularizer or a callable (images, progress) -> images, got {type(value).__name__}"
        )
    return FunctionRegularizer(value)


class GaussianBlur(Regularizer):
    """Blur the image with a Gaussian whose sigma follows a schedule.

    Args:
        sigma_start: sigma in pixels at the first step, or a :class:`Schedule`.
        sigma_end: sigma at the last step (``None``: constant ``sigma_start``).
        schedule: ``"linear"`` or ``"cosine"`` (or a Schedule class) from start to end.
        truncate: the kernel reaches ``truncate`` sigmas, as in scipy.
        mode: boundary mode (scipy's names, :data:`~revelio.core.filters.PADDING_MODES`).
        every: blur every ``every`` steps.

    The kernel is computed from sigma at each application (``2 * int(truncate * sigma
    + 0.5) + 1`` taps), unlike PytorchRevelio's fixed 3x3 kernel with zero padding.

    Øygard 2015, "Visualizing GoogLeNet Classes"; Yosinski et al. 2015,
    "Understanding Neural Networks Through Deep Visualization".
    """

    def __init__(
        self,
        sigma_start: float | Schedule = 1.0,
        sigma_end: float | None = None,
        *,
        schedule: str | type[Schedule] = "linear",
        truncate: float = 4.0,
        mode: str = "reflect",
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        self.sigma = ramp(sigma_start, sigma_end, schedule, "sigma")
        _check_nonnegative(self.sigma, "sigma")
        gaussian_blur(torch.zeros(1, 1, 1, 1), 0.0, truncate, mode)  # checks truncate and mode now
        self.truncate = truncate
        self.mode = mode

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        return gaussian_blur(images, self.sigma(progress), self.truncate, self.mode)

    def _settings(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "truncate": self.truncate, "mode": self.mode, **super()._settings()}


class BilateralBlur(Regularizer):
    """Edge-preserving blur: smooths flat regions, keeps edges; sigmas follow schedules.

    Args:
        kernel_size: window diameter (odd); the window is a disc of radius
            ``kernel_size // 2``, as in OpenCV.
        sigma_space: spatial sigma in pixels: a number, a :class:`Schedule`, or a pair
            ``(start, end)`` for a ``schedule`` ramp.
        sigma_color: colour sigma in image units ([0, 1] images: OpenCV's
            ``sigmaColor / 255`` on 8-bit images), same forms as ``sigma_space``.
        schedule: ``"linear"`` or ``"cosine"`` for the pairs.
        distance: colour distance over all channels: ``"l1"`` (OpenCV's) or ``"l2"``.
        mode: boundary mode; ``"mirror"`` is OpenCV's default border.
        every: blur every ``every`` steps.

    Runs in torch on the images' device, the whole batch at once; PytorchRevelio
    copies every image to the CPU for OpenCV and back at every step.

    Tyka 2016, "Class visualization with bilateral filters"; Tomasi and Manduchi 1998,
    "Bilateral Filtering for Gray and Color Images".
    """

    def __init__(
        self,
        kernel_size: int = 5,
        sigma_space: float | Schedule | tuple[float, float] = (2.0, 1.0),
        sigma_color: float | Schedule | tuple[float, float] = (0.5, 0.1),
        *,
        schedule: str | type[Schedule] = "linear",
        distance: str = "l1",
        mode: str = "mirror",
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        self.kernel_size = kernel_size
        self.sigma_space = _pair_schedule(sigma_space, schedule, "sigma_space")
        self.sigma_color = _pair_schedule(sigma_color, schedule, "sigma_color")
        for sched, name in ((self.sigma_space, "sigma_space"), (self.sigma_color, "sigma_color")):
            if min(sched.start, sched.end) <= 0:
                raise ValueError(f"{name} must stay > 0, got {sched!r}")
        self.distance = distance
        self.mode = mode
        bilateral_blur(torch.zeros(1, 1, 1, 1), kernel_size, 1.0, 1.0, distance=distance, mode=mode)  # checks now

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        return bilateral_blur(
            images,
            self.kernel_size,
            self.sigma_space(progress),
            self.sigma_color(progress),
            distance=self.distance,
            mode=self.mode,
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "kernel_size": self.kernel_size,
            "sigma_space": self.sigma_space,
            "sigma_color": self.sigma_color,
            "distance": self.distance,
            "mode": self.mode,
            **super()._settings(),
        }


class Jitter(Regularizer):
    """Shift each image by a random offset before the forward pass (with wrap-around).

    The gradient flows back through the shift, which for a pixel image is the classic
    "roll, step, roll back" of deep dream. Each image draws its offsets from its own
    generator, seeded from its seed, so a batch equals single runs.

    Args:
        max_shift: offsets are drawn uniformly from ``[-max_shift, max_shift]`` pixels
            along each axis.
        every: jitter every ``every`` steps (the other steps see the image unshifted).

    Mordvintsev, Olah and Tyka 2015, "Inceptionism: Going Deeper into Neural Networks".
    """

    stage: ClassVar[Stage] = "input"

    def __init__(self, max_shift: int = 8, *, every: int = 1) -> None:
        super().__init__(every=every)
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
        self.max_shift = max_shift
        self._generators: list[torch.Generator] = []

    def start(self, seeds: Sequence[int]) -> None:
        # A CPU generator per image, apart from the one that drew the image's start noise.
        self._generators = [torch.Generator().manual_seed(_JITTER_SEED_OFFSET + int(seed)) for seed in seeds]

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        if self.max_shift == 0:
            return images
        if len(self._generators) != images.shape[0]:
            self.start(range(images.shape[0]))
        span = 2 * self.max_shift + 1
        shifted = []
        for image, generator in zip(images, self._generators):
            dy, dx = (torch.randint(span, (2,), generator=generator) - self.max_shift).tolist()
            shifted.append(torch.roll(image, shifts=(dy, dx), dims=(-2, -1)))
        return torch.stack(shifted)

    def _settings(self) -> dict[str, Any]:
        return {"max_shift": self.max_shift, **super()._settings()}


_JITTER_SEED_OFFSET = 0x5EED


class L2Decay(Regularizer):
    """Pull the image towards a neutral grey: ``x <- center + (1 - rate) (x - center)``.

    The update that L2 regularisation of the image's distance from ``center`` gives.

    Args:
        rate: fraction removed per application, in [0, 1); a number or a Schedule.
        center: the neutral value ([0, 1] images: 0.5).
        every: decay every ``every`` steps.

    Yosinski et al. 2015, "Understanding Neural Networks Through Deep Visualization".
    """

    def __init__(self, rate: float | Schedule = 0.01, *, center: float = 0.5, every: int = 1) -> None:
        super().__init__(every=every)
        self.rate = as_schedule(rate, "rate")
        if not (0 <= self.rate.start < 1 and 0 <= self.rate.end < 1):
            raise ValueError(f"rate must stay in [0, 1), got {self.rate!r}")
        self.center = float(center)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        keep = 1.0 - self.rate(progress)
        return images.sub(self.center).mul_(keep).add_(self.center)

    def _settings(self) -> dict[str, Any]:
        return {"rate": self.rate, "center": self.center, **super()._settings()}


class Clip(Regularizer):
    """Set the weakest pixels to neutral grey: those whose colour vector, less ``center``,
    has a norm below the ``percentile``-th percentile of its image.

    Args:
        percentile: in [0, 100): that share of each image's pixels is reset; a number
            or a Schedule.
        center: the neutral value ([0, 1] images: 0.5).
        every: clip every ``every`` steps.

    Yosinski et al. 2015, "Understanding Neural Networks Through Deep Visualization"
    (clipping pixels with small norm).
    """

    def __init__(self, percentile: float | Schedule = 10.0, *, center: float = 0.5, every: int = 1) -> None:
        super().__init__(every=every)
        self.percentile = as_schedule(percentile, "percentile")
        if not (0 <= self.percentile.start < 100 and 0 <= self.percentile.end < 100):
            raise ValueError(f"percentile must stay in [0, 100), got {self.percentile!r}")
        self.center = float(center)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        percentile = self.percentile(progress)
        if percentile <= 0:
            return images
        norms = (images - self.center).norm(dim=1, keepdim=True)  # (N, 1, H, W)
        threshold = torch.quantile(norms.flatten(1), percentile / 100.0, dim=1).view(-1, 1, 1, 1)
        return torch.where(norms < threshold, torch.full_like(images, self.center), images)

    def _settings(self) -> dict[str, Any]:
        return {"percentile": self.percentile, "center": self.center, **super()._settings()}


def _pair_schedule(value: float | Schedule | tuple[float, float], kind: str | type[Schedule], name: str) -> Schedule:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{name} as a tuple must be (start, end), got {value!r}")
        return ramp(value[0], value[1], kind, name)
    return ramp(value, None, kind, name)


def _check_nonnegative(schedule: Schedule, name: str) -> None:
    if min(schedule.start, schedule.end) < 0 or not math.isfinite(schedule.start + schedule.end):
        raise ValueError(f"{name} must stay >= 0, got {schedule!r}")
