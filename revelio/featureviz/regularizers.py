"""Regularizers: what keeps a maximising image from turning into high-frequency noise.

A regularizer is a callable ``images = regularizer(images, progress)`` on the batch of
images (``Tensor[N, C, H, W]`` in [0, 1] display space), told the run's progress in
[0, 1] so that its strength can follow a :mod:`~revelio.featureviz.schedules` schedule.
Where it acts is its :attr:`Regularizer.stage`:

- ``"image"`` (blur, decay, clipping): applied to the image after the step, under
  ``no_grad``, every ``every`` steps (Yosinski et al. 2015; Øygard 2015; Tyka 2016);
- ``"input"`` (the transformations of :mod:`~revelio.featureviz.transforms`: pad,
  jitter, scale, rotate): applied to the image on its way into the model, inside the
  graph, so the gradient flows back through it (Mordvintsev et al. 2015; Olah et al. 2017);
- ``"gradient"``: applied to the gradient before the step rule.

Every setting that follows a schedule takes a number, a pair ``(start, end)`` or a
:class:`~revelio.featureviz.schedules.Schedule` (``schedule="linear"`` or ``"cosine"``
names the ramp of pairs). Settings out of range are refused when the regularizer is
built; those that depend on the image (a kernel larger than the image) when the
visualizer is built or, for start images of another size, before the first step.

Any callable with the signature ``(images, progress) -> images`` works as an
image-stage regularizer applied every step; subclass :class:`Regularizer` to choose the
stage or the frequency. Every regularizer keeps its constructor arguments, so ``repr``
shows its settings and :func:`copy.copy` keeps them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from revelio.core.filters import PADDING_MODES, bilateral_blur, gaussian_blur, gaussian_kernel1d
from revelio.errors import SettingError, SettingTypeError
from revelio.featureviz.schedules import Schedule, ScheduleSpec, as_schedule, check_range

Stage = Literal["image", "input", "gradient"]
STAGES: tuple[str, ...] = ("image", "input", "gradient")

MAX_SIGMA = 256.0
"""The largest blur sigma, in pixels, a regularizer accepts (the kernel must also fit the image)."""


class Regularizer(ABC):
    """Base class: a callable on the batch of images, told the progress in [0, 1].

    Args:
        every: apply every ``every`` steps: after the updates of steps ``every - 1``,
            ``2 * every - 1``, ... (so also after the last one when ``every`` divides
            the number of steps). Input- and gradient-stage regularizers run on steps
            0, ``every``, ``2 * every``, ...

    Subclasses implement :meth:`__call__` and may set the class attribute
    :attr:`stage`; one that changes the image's size overrides :meth:`output_size`;
    one whose settings must fit the image overrides :meth:`check`; one that needs
    randomness overrides :meth:`start`, which receives one seed per image, so that
    image ``i`` of a batch sees what a single run with that image's seed would see.

    Raises:
        SettingError: ``every`` is not an integer >= 1.
    """

    stage: ClassVar[Stage] = "image"

    def __init__(self, *, every: int = 1) -> None:
        self.every = check_count(every, "every", minimum=1)

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

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The ``(H, W)`` of the images this regularizer returns for images of ``size``."""
        return size

    def check(self, size: tuple[int, int]) -> None:
        """Refuse settings that do not fit images of ``size`` (``(H, W)``).

        Raises:
            SettingError: a kernel, crop or shift larger than the image.
        """

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

    Raises:
        SettingError: an unknown ``stage``.
    """

    def __init__(self, function: Callable[[Tensor, float], Tensor], *, every: int = 1, stage: Stage = "image") -> None:
        super().__init__(every=every)
        if stage not in STAGES:
            raise SettingError(f"stage must be one of {STAGES}, got {stage!r}")
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
        SettingTypeError: ``value`` is not callable.
    """
    if isinstance(value, Regularizer):
        return value
    if not callable(value):
        raise SettingTypeError(
            f"a regularizer must be a Regularizer or a callable (images, progress) -> images, got {type(value).__name__}"
        )
    return FunctionRegularizer(value)


class GaussianBlur(Regularizer):
    """Blur the image with a Gaussian whose sigma follows a schedule.

    Args:
        sigma: sigma in pixels, in (0, :data:`MAX_SIGMA`]: a number, a pair
            ``(start, end)`` for a ``schedule`` ramp, or a :class:`Schedule`.
        schedule: ``"linear"`` or ``"cosine"`` (or a two-ended Schedule class) for a pair.
        truncate: the kernel reaches ``truncate`` sigmas, as in scipy.
        mode: boundary mode (scipy's names, :data:`~revelio.core.filters.PADDING_MODES`).
        every: blur every ``every`` steps.

    The kernel is computed from sigma at each application (``2 * int(truncate * sigma
    + 0.5) + 1`` taps), unlike PytorchRevelio's fixed 3x3 kernel with zero padding; the
    largest kernel of the schedule must fit the image.

    Raises:
        SettingError: sigma outside (0, MAX_SIGMA], truncate not in (0, 16], or an unknown mode.

    Øygard 2015, "Visualizing GoogLeNet Classes"; Yosinski et al. 2015,
    "Understanding Neural Networks Through Deep Visualization".
    """

    def __init__(
        self,
        sigma: ScheduleSpec = 1.0,
        *,
        schedule: str | type[Schedule] = "linear",
        truncate: float = 4.0,
        mode: str = "reflect",
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        self.sigma = as_schedule(sigma, "sigma", schedule)
        check_range(self.sigma, "sigma", 0.0, MAX_SIGMA, low_open=True)
        self.truncate = check_number(truncate, "truncate", 0.0, 16.0, low_open=True)
        self.mode = check_choice(mode, "mode", PADDING_MODES)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        return gaussian_blur(images, self.sigma(progress), self.truncate, self.mode)

    def kernel_size(self) -> int:
        """Taps of the widest kernel of the schedule (at its largest end)."""
        return gaussian_kernel1d(max(self.sigma.start, self.sigma.end), self.truncate).numel()

    def check(self, size: tuple[int, int]) -> None:
        _check_fits(self.kernel_size(), size, f"{self!r}: its kernel", "a smaller sigma or truncate")

    def _settings(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "truncate": self.truncate, "mode": self.mode, **super()._settings()}


class BilateralBlur(Regularizer):
    """Edge-preserving blur: smooths flat regions, keeps edges; sigmas follow schedules.

    Args:
        kernel_size: window diameter (odd, at most the image's side); the window is a
            disc of radius ``kernel_size // 2``, as in OpenCV.
        sigma_space: spatial sigma in pixels, in (0, :data:`MAX_SIGMA`]: a number, a
            pair ``(start, end)`` for a ``schedule`` ramp, or a :class:`Schedule`.
        sigma_color: colour sigma in image units ([0, 1] images: OpenCV's
            ``sigmaColor / 255`` on 8-bit images), in (0, 100]; same forms.
        schedule: ``"linear"`` or ``"cosine"`` for the pairs.
        distance: colour distance over all channels: ``"l1"`` (OpenCV's) or ``"l2"``.
        mode: boundary mode; ``"mirror"`` is OpenCV's default border.
        every: blur every ``every`` steps.

    Runs in torch on the images' device, the whole batch at once; PytorchRevelio
    copies every image to the CPU for OpenCV and back at every step.

    Raises:
        SettingError: a setting out of range, an even kernel, an unknown distance or mode.

    Tyka 2016, "Class visualization with bilateral filters"; Tomasi and Manduchi 1998,
    "Bilateral Filtering for Gray and Color Images".
    """

    def __init__(
        self,
        kernel_size: int = 5,
        sigma_space: ScheduleSpec = (2.0, 1.0),
        sigma_color: ScheduleSpec = (0.5, 0.1),
        *,
        schedule: str | type[Schedule] = "linear",
        distance: str = "l1",
        mode: str = "mirror",
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        self.kernel_size = check_count(kernel_size, "kernel_size", minimum=1)
        if kernel_size % 2 == 0:
            raise SettingError(f"kernel_size must be an odd integer >= 1, got {kernel_size!r}")
        self.sigma_space = as_schedule(sigma_space, "sigma_space", schedule)
        self.sigma_color = as_schedule(sigma_color, "sigma_color", schedule)
        check_range(self.sigma_space, "sigma_space", 0.0, MAX_SIGMA, low_open=True)
        check_range(self.sigma_color, "sigma_color", 0.0, 100.0, low_open=True)
        self.distance = check_choice(distance, "distance", ("l1", "l2"))
        self.mode = check_choice(mode, "mode", PADDING_MODES)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        return bilateral_blur(
            images,
            self.kernel_size,
            self.sigma_space(progress),
            self.sigma_color(progress),
            distance=self.distance,
            mode=self.mode,
        )

    def check(self, size: tuple[int, int]) -> None:
        _check_fits(self.kernel_size, size, f"{self!r}: its kernel", "a smaller kernel_size")

    def _settings(self) -> dict[str, Any]:
        return {
            "kernel_size": self.kernel_size,
            "sigma_space": self.sigma_space,
            "sigma_color": self.sigma_color,
            "distance": self.distance,
            "mode": self.mode,
            **super()._settings(),
        }


class L2Decay(Regularizer):
    """Pull the image towards a neutral grey: ``x <- center + (1 - rate) (x - center)``.

    The update that L2 regularisation of the image's distance from ``center`` gives.

    Args:
        rate: fraction removed per application, in [0, 1): a number, a pair
            ``(start, end)`` or a Schedule.
        schedule: the ramp of a pair.
        center: the neutral value ([0, 1] images: 0.5), in [0, 1].
        every: decay every ``every`` steps.

    Raises:
        SettingError: ``rate`` outside [0, 1) or ``center`` outside [0, 1].

    Yosinski et al. 2015, "Understanding Neural Networks Through Deep Visualization".
    """

    def __init__(
        self, rate: ScheduleSpec = 0.01, *, schedule: str | type[Schedule] = "linear", center: float = 0.5,
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        self.rate = as_schedule(rate, "rate", schedule)
        check_range(self.rate, "rate", 0.0, 1.0, high_open=True)
        self.center = check_number(center, "center", 0.0, 1.0)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        keep = 1.0 - self.rate(progress)
        return images.sub(self.center).mul_(keep).add_(self.center)

    def _settings(self) -> dict[str, Any]:
        return {"rate": self.rate, "center": self.center, **super()._settings()}


class Clip(Regularizer):
    """Set the weakest pixels to neutral grey: those whose colour vector, less ``center``,
    has a norm below the ``percentile``-th percentile of its image.

    Args:
        percentile: in [0, 100): that share of each image's pixels is reset; a number,
            a pair ``(start, end)`` or a Schedule.
        schedule: the ramp of a pair.
        center: the neutral value ([0, 1] images: 0.5), in [0, 1].
        every: clip every ``every`` steps.

    Raises:
        SettingError: ``percentile`` outside [0, 100) or ``center`` outside [0, 1].

    Yosinski et al. 2015, "Understanding Neural Networks Through Deep Visualization"
    (clipping pixels with small norm).
    """

    def __init__(
        self, percentile: ScheduleSpec = 10.0, *, schedule: str | type[Schedule] = "linear", center: float = 0.5,
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        self.percentile = as_schedule(percentile, "percentile", schedule)
        check_range(self.percentile, "percentile", 0.0, 100.0, high_open=True)
        self.center = check_number(center, "center", 0.0, 1.0)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        percentile = self.percentile(progress)
        if percentile <= 0:
            return images
        norms = (images - self.center).norm(dim=1, keepdim=True)  # (N, 1, H, W)
        threshold = torch.quantile(norms.flatten(1), percentile / 100.0, dim=1).view(-1, 1, 1, 1)
        return torch.where(norms < threshold, torch.full_like(images, self.center), images)

    def _settings(self) -> dict[str, Any]:
        return {"percentile": self.percentile, "center": self.center, **super()._settings()}


# -- setting checks shared by the regularizers and transforms -----------------------------


def check_count(value: int, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as an integer in ``[minimum, maximum]``.

    Raises:
        SettingTypeError: not an integer (a bool is refused too).
        SettingError: out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingTypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise SettingError(f"{name} must be an integer >= {minimum}{upper}, got {value!r}")
    return value


def check_number(value: float, name: str, low: float, high: float, *, low_open: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises:
        SettingTypeError: not a number.
        SettingError: not finite or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingTypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    check_range(as_schedule(float(value), name), name, low, high, low_open=low_open)
    return float(value)


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``.

    Raises:
        SettingError: it is not.
    """
    if value not in choices:
        raise SettingError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def _check_fits(extent: int, size: tuple[int, int], what: str, fix: str) -> None:
    if extent > min(size):
        raise SettingError(
            f"{what} spans {extent} pixels, more than the {size[0]}x{size[1]} image; use {fix} or larger images"
        )
