"""Image parameterizations: what the optimiser updates, and how it becomes an image.

A :class:`Parameterization` gives a batch of start parameters from seeds
(:meth:`~Parameterization.initial`), renders parameters to images in [0, 1]
(:meth:`~Parameterization.render`, differentiable) and finds the parameters of given
images (:meth:`~Parameterization.parameterize`, for start images and for image-stage
regularizers, whose result is written back). The optimisation loop of
:class:`~revelio.featureviz.FeatureVisualizer` is the same for all of them; a step rule
that normalises the gradient then takes steps that are uniform *in the parameters*, so
the parameterization decides which images are easy to reach (Olah, Mordvintsev and
Schubert 2017, "Feature Visualization", section "Preconditioning and parameterization").

- :class:`Pixels`: the pixels themselves (Erhan et al. 2009);
- :class:`Decorrelated`: decorrelated colour channels, mixed by the square root of the
  colour covariance (ImageNet's by default), then a sigmoid;
- :class:`Fourier`: the image's 2-D Fourier coefficients, scaled by ``1 / f``
  (optionally with decorrelated colour too: ``Fourier(color="auto")``);
- :class:`MACO`: only the Fourier phase, under a fixed natural magnitude spectrum
  (Fel et al. 2023), with a transparency map.

All work on any number of channels, batched, on the parameters' device; image ``i`` of
a batch depends only on its own parameters, and its start parameters only on its seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from revelio.errors import InputError, SettingError
from revelio.featureviz.arguments import by_name
from revelio.featureviz.color import ColorMap, ColorSpec, as_color_matrix
from revelio.featureviz.regularizers import check_number
from revelio.featureviz.spectrum import magnitude_from_values, natural_magnitude, resize_images, spectrum_scale

Size = tuple[int, int]


class Parameterization(ABC):
    """Base class: parameters <-> images in [0, 1], for any channel count and size.

    Attributes:
        bounded: :meth:`render` lands in [0, 1] by construction (a sigmoid), so the
            visualizer's clamp has nothing to do and is skipped.
        transparency: the visualizer accumulates the magnitude of the objective's
            gradient w.r.t. the rendered image into :attr:`Visualization.transparency`.
    """

    bounded: bool = False
    transparency: bool = False

    @abstractmethod
    def initial(self, seeds: Sequence[int], channels: int, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Start parameters of ``len(seeds)`` images; image ``i``'s drawn from a generator seeded with ``seeds[i]``."""

    @abstractmethod
    def render(self, parameters: Tensor, size: Size) -> Tensor:
        """Images ``Tensor[N, C, H, W]`` in [0, 1] (``size = (H, W)``) for ``parameters`` (differentiable)."""

    @abstractmethod
    def parameterize(self, images: Tensor) -> Tensor:
        """The parameters of ``images`` (``Tensor[N, C, H, W]`` in [0, 1]); :meth:`render` gives them back
        (up to the sigmoid's clamp at its ends, and for :class:`MACO` only their phase)."""

    def check(self, channels: int, size: Size) -> None:
        """Refuse a channel count or size this parameterization cannot serve, before any work.

        Raises:
            SettingError: e.g. a colour matrix or magnitude spectrum of another shape.
        """

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self._settings().items())
        return f"{type(self).__name__}({settings})"

    def _settings(self) -> dict[str, Any]:
        return {}


def seeded_normal(seeds: Sequence[int], shape: Sequence[int], device: torch.device, dtype: torch.dtype) -> Tensor:
    """``Tensor[len(seeds), *shape]`` of standard normal values, row ``i`` from a generator seeded with ``seeds[i]``."""
    rows = [torch.randn(*shape, generator=torch.Generator(device=device).manual_seed(int(s)), device=device, dtype=dtype)
            for s in seeds]
    return torch.stack(rows)


def seeded_uniform(seeds: Sequence[int], shape: Sequence[int], device: torch.device, dtype: torch.dtype) -> Tensor:
    """``Tensor[len(seeds), *shape]`` uniform in [0, 1), row ``i`` from a generator seeded with ``seeds[i]``."""
    rows = [torch.rand(*shape, generator=torch.Generator(device=device).manual_seed(int(s)), device=device, dtype=dtype)
            for s in seeds]
    return torch.stack(rows)


class Pixels(Parameterization):
    """The pixels themselves, in [0, 1]: PytorchRevelio's and Erhan et al.'s parameterization.

    Args:
        noise_range: start images are uniform noise in this range of [0, 1] values.
            The full range (the default) leaves fewer units of post-ReLU layers at
            zero, where their gradient is zero too; PytorchRevelio starts from
            ``(140 / 255, 170 / 255)``.

    Raises:
        SettingError: ``noise_range`` is not ``(low, high)`` with ``0 <= low <= high <= 1``.

    Erhan, Bengio, Courville and Vincent 2009, "Visualizing Higher-Layer Features of a
    Deep Network".
    """

    def __init__(self, noise_range: tuple[float, float] = (0.0, 1.0)) -> None:
        try:
            low, high = (float(v) for v in noise_range)
        except (TypeError, ValueError):
            raise SettingError(f"noise_range must be (low, high), got {noise_range!r}") from None
        if not 0.0 <= low <= high <= 1.0:
            raise SettingError(f"noise_range must be (low, high) with 0 <= low <= high <= 1, got {noise_range!r}")
        self.noise_range = (low, high)

    def initial(self, seeds: Sequence[int], channels: int, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
        low, high = self.noise_range
        return seeded_uniform(seeds, (channels, *size), device, dtype).mul_(high - low).add_(low)

    def render(self, parameters: Tensor, size: Size) -> Tensor:
        return parameters

    def parameterize(self, images: Tensor) -> Tensor:
        return images

    def _settings(self) -> dict[str, Any]:
        return {"noise_range": self.noise_range}


class _Colored(Parameterization):
    """Decorrelated values through a :class:`~revelio.featureviz.color.ColorMap` (shared by the subclasses)."""

    def __init__(self, color: ColorSpec, squash: str) -> None:
        if squash not in ("sigmoid", "linear"):
            raise SettingError(f"squash must be 'sigmoid' or 'linear', got {squash!r}")
        if isinstance(color, str) and color not in ("imagenet", "auto", "identity"):
            raise SettingError(f"color must be None, 'identity', 'imagenet', 'auto' or a CxC matrix, got {color!r}")
        self.color = color
        self.squash = squash
        self.bounded = squash == "sigmoid"
        self._maps: dict[int, ColorMap] = {}

    def colors(self, channels: int) -> ColorMap:
        """The colour map for images of ``channels`` channels."""
        if channels not in self._maps:
            self._maps[channels] = ColorMap(as_color_matrix(self.color, channels), self.squash)
        return self._maps[channels]

    def check(self, channels: int, size: Size) -> None:
        self.colors(channels)

    def _settings(self) -> dict[str, Any]:
        color = self.color if self.color is None or isinstance(self.color, str) else "matrix"
        return {"color": color, "squash": self.squash}


class Decorrelated(_Colored):
    """Pixels in decorrelated colour channels: ``image = sigmoid(M z)`` at every pixel.

    Args:
        color: the colour matrix ``M`` (:data:`~revelio.featureviz.color.ColorSpec`):
            ``"auto"`` (ImageNet's for RGB, identity otherwise), ``"imagenet"``, ``None``,
            or a ``C x C`` matrix (e.g. :func:`~revelio.featureviz.color.color_matrix_from_images`).
        squash: ``"sigmoid"`` or ``"linear"`` (``0.5 + M z``, kept in range by the clamp).
        init_std: start values are normal with this standard deviation (near grey).

    Raises:
        SettingError: an unknown colour name or squash, ``init_std`` outside [0, 10].

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization".
    """

    def __init__(self, color: ColorSpec = "auto", *, squash: str = "sigmoid", init_std: float = 0.5) -> None:
        super().__init__(color, squash)
        self.init_std = check_number(init_std, "init_std", 0.0, 10.0)

    def initial(self, seeds: Sequence[int], channels: int, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
        return seeded_normal(seeds, (channels, *size), device, dtype).mul_(self.init_std)

    def render(self, parameters: Tensor, size: Size) -> Tensor:
        return self.colors(parameters.shape[1])(parameters)

    def parameterize(self, images: Tensor) -> Tensor:
        return self.colors(images.shape[1]).inverse(images)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "init_std": self.init_std}


class Fourier(_Colored):
    """The image's Fourier coefficients, scaled by ``1 / f``: ``image = squash(M irfft2(scale * c))``.

    The parameters are the real and imaginary parts of each channel's half spectrum,
    ``Tensor[N, C, H, W // 2 + 1, 2]``; ``scale`` is
    :func:`~revelio.featureviz.spectrum.spectrum_scale` (``1 / max(f, 1 / max(H, W)) **
    decay``, normalised), the transform ``torch.fft.irfft2(..., norm="ortho")``. A
    normalised gradient step then moves low frequencies more than high ones.

    Args:
        decay: the exponent of ``1 / f`` (0: every frequency alike, white noise).
        color: the colour matrix ``M`` (``None``, the default, mixes nothing;
            ``"auto"`` decorrelates RGB with ImageNet's correlation, see :class:`Decorrelated`).
        squash: ``"sigmoid"`` or ``"linear"``.
        init_std: start coefficients are normal with this standard deviation.

    Raises:
        SettingError: ``decay`` outside [0, 4], ``init_std`` outside [0, 10], an unknown colour or squash.

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization" (lucid's ``fft_image``).
    """

    def __init__(
        self, decay: float = 1.0, *, color: ColorSpec = None, squash: str = "sigmoid", init_std: float = 0.5
    ) -> None:
        super().__init__(color, squash)
        self.decay = check_number(decay, "decay", 0.0, 4.0)
        self.init_std = check_number(init_std, "init_std", 0.0, 10.0)
        self._scales: dict[tuple[Size, torch.device, torch.dtype], Tensor] = {}

    def scale(self, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
        """``Tensor[H, W // 2 + 1, 1]``: the scaling of each coefficient (its real and imaginary part)."""
        key = (tuple(size), device, dtype)
        if key not in self._scales:
            self._scales[key] = spectrum_scale(size, self.decay).to(device=device, dtype=dtype)[..., None]
        return self._scales[key]

    def initial(self, seeds: Sequence[int], channels: int, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
        shape = (channels, size[0], size[1] // 2 + 1, 2)
        return seeded_normal(seeds, shape, device, dtype).mul_(self.init_std)

    def render(self, parameters: Tensor, size: Size) -> Tensor:
        scaled = parameters * self.scale(size, parameters.device, parameters.dtype)
        values = torch.fft.irfft2(torch.view_as_complex(scaled), s=size, norm="ortho")
        return self.colors(parameters.shape[1])(values)

    def parameterize(self, images: Tensor) -> Tensor:
        values = self.colors(images.shape[1]).inverse(images)
        spectrum = torch.view_as_real(torch.fft.rfft2(values, norm="ortho"))
        size = (images.shape[-2], images.shape[-1])
        return (spectrum / self.scale(size, images.device, images.dtype)).contiguous()

    def _settings(self) -> dict[str, Any]:
        return {"decay": self.decay, **super()._settings(), "init_std": self.init_std}


class MACO(_Colored):
    """Phase only, under a fixed magnitude: ``image = squash(M irfft2(magnitude * exp(i phase)))``.

    The parameters are the phases ``Tensor[N, C, H, W // 2 + 1]``; the magnitude
    spectrum ``Tensor[C, H, W // 2 + 1]`` stays that of natural images, so the image
    keeps their energy at every frequency and cannot fill with high-frequency noise,
    however deep the unit. The visualizer accumulates the gradient's magnitude w.r.t. the
    image over the steps: :attr:`Visualization.transparency` shows where the unit looks.

    Args:
        magnitude: the magnitude spectrum in the decorrelated, pre-squash space, or
            ``None`` for :func:`~revelio.featureviz.spectrum.natural_magnitude`
            (``1/f``, pixel standard deviation ``std``); estimate one from images of the
            model's domain with :meth:`from_images`.
        color: the colour matrix (default ``"auto"``: ImageNet's for RGB).
        squash: ``"sigmoid"`` or ``"linear"``.
        std: the pixel standard deviation of the default magnitude.

    Raises:
        SettingError: a magnitude that is not a finite, non-negative ``(C, H, W // 2 + 1)``
            tensor; ``std`` outside (0, 10]; a colour or squash that is not known.

    Fel, Boissin, Boutin, Picard, Novello, Colin, Linsley, Rousseau, Cadène, Goetschalckx,
    Gardes, Serre 2023, "Unlocking Feature Visualization for Deeper Networks with
    MAgnitude Constrained Optimization" (NeurIPS).
    """

    transparency = True

    def __init__(
        self, magnitude: Tensor | None = None, *, color: ColorSpec = "auto", squash: str = "sigmoid", std: float = 1.0
    ) -> None:
        super().__init__(color, squash)
        if magnitude is not None:
            if not isinstance(magnitude, Tensor) or magnitude.ndim != 3 or not magnitude.is_floating_point():
                raise SettingError("magnitude must be a floating-point Tensor[C, H, W // 2 + 1] (see MACO.from_images)")
            if not bool(torch.isfinite(magnitude).all()) or bool((magnitude < 0).any()):
                raise SettingError("magnitude must be finite and non-negative")
            magnitude = magnitude.detach().double().cpu()
        self.magnitude = magnitude
        self.std = check_number(std, "std", 0.0, 10.0, low_open=True)
        self._magnitudes: dict[tuple[int, Size, torch.device, torch.dtype], Tensor] = {}

    @classmethod
    def from_images(cls, images: Tensor, size: Size | None = None, *, color: ColorSpec = "auto",
                    squash: str = "sigmoid") -> MACO:
        """MACO with the mean magnitude spectrum of ``images`` (in [0, 1]), resized to ``size`` first when given.

        The images go through the inverse colour map first, so the magnitude lives where
        the phase is optimised; a few dozen images of the model's domain are enough.

        Raises:
            InputError: not a floating ``(N, C, H, W)`` tensor.
            SettingError: an unknown colour or squash.
        """
        if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
            raise InputError("images must be a floating-point Tensor[N, C, H, W] in [0, 1]")
        probe = cls(color=color, squash=squash)
        images = resize_images(images.detach(), size) if size is not None else images.detach()
        values = probe.colors(images.shape[1]).inverse(images.double().cpu())
        return cls(magnitude_from_values(values), color=color, squash=squash)

    def magnitude_for(self, channels: int, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
        """The magnitude spectrum for images of ``channels`` and ``size``, on ``device``."""
        key = (channels, tuple(size), device, dtype)
        if key not in self._magnitudes:
            self.check(channels, size)
            magnitude = self.magnitude if self.magnitude is not None else natural_magnitude(channels, size, std=self.std)
            self._magnitudes[key] = magnitude.to(device=device, dtype=dtype)
        return self._magnitudes[key]

    def check(self, channels: int, size: Size) -> None:
        super().check(channels, size)
        expected = (channels, size[0], size[1] // 2 + 1)
        if self.magnitude is not None and tuple(self.magnitude.shape) != expected:
            raise SettingError(
                f"the MACO magnitude spectrum has shape {tuple(self.magnitude.shape)}, but {channels}-channel "
                f"{size[0]}x{size[1]} images need {expected}; estimate it at this size: MACO.from_images(images, size)"
            )

    def initial(self, seeds: Sequence[int], channels: int, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
        shape = (channels, size[0], size[1] // 2 + 1)
        return seeded_uniform(seeds, shape, device, dtype).mul_(2 * torch.pi).sub_(torch.pi)

    def render(self, parameters: Tensor, size: Size) -> Tensor:
        magnitude = self.magnitude_for(parameters.shape[1], size, parameters.device, parameters.dtype)
        spectrum = torch.complex(magnitude * torch.cos(parameters), magnitude * torch.sin(parameters))
        values = torch.fft.irfft2(spectrum, s=size, norm="ortho")
        return self.colors(parameters.shape[1])(values)

    def parameterize(self, images: Tensor) -> Tensor:
        values = self.colors(images.shape[1]).inverse(images)
        return torch.angle(torch.fft.rfft2(values, norm="ortho"))

    def _settings(self) -> dict[str, Any]:
        magnitude = "natural 1/f" if self.magnitude is None else f"given {tuple(self.magnitude.shape)}"
        return {"magnitude": magnitude, **super()._settings()}


PARAMETERIZATIONS: dict[str, Callable[[], Parameterization]] = {
    "pixels": Pixels,
    "decorrelated": Decorrelated,
    "fourier": Fourier,
    "fourier-decorrelated": lambda: Fourier(color="auto"),
    "maco": MACO,
}
"""The parameterizations by name, each with its default settings (the command line's ``--param``)."""


def as_parameterization(value: str | Parameterization) -> Parameterization:
    """``value`` as a :class:`Parameterization`: a name of :data:`PARAMETERIZATIONS`, or one already built.

    Raises:
        SettingError: an unknown name; the message lists the names.
        SettingTypeError: neither a name nor a Parameterization.
    """
    return by_name(value, Parameterization, PARAMETERIZATIONS, "parameterization")
