"""Transformation robustness: random pad, jitter, scale and rotation before each forward pass.

An image that keeps maximising a unit when it is shifted, scaled and rotated a little
cannot rely on a precise pixel pattern, so the high-frequency patterns of plain
gradient ascent fade and shapes appear (Mordvintsev, Olah and Tyka 2015; Olah,
Mordvintsev and Schubert 2017, "Feature Visualization", section "Transformation
robustness"). Each transformation here is an input-stage
:class:`~revelio.featureviz.regularizers.Regularizer`: it acts inside the graph, on
the image going into the model, so the gradient flows back through it.

Every random transformation draws its values per image from a generator seeded with
that image's seed (the visualizer gives each regularizer of its list its own stream),
so a batch equals single runs. With fixed values each equals torchvision's transform
on tensors (``torchvision.transforms.v2.functional``): :class:`Pad` is ``pad``,
:class:`Jitter` with ``mode="crop"`` is ``crop``, :class:`RandomScale` is ``affine``
with ``scale=s``, :class:`RandomRotate` is ``rotate``, all with bilinear interpolation
and the same fill; unlike torchvision's, they run on a whole batch with a different
value per image, in one call.

:func:`standard_transforms` is lucid's standard set (Olah et al. 2017): pad 12, jitter
8, scale 0.9 to 1.1, rotate -10 to 10 degrees, jitter 4; :data:`TRANSFORM_SETS` names
the sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.errors import SettingError
from revelio.featureviz.regularizers import Regularizer, Stage, check_choice, check_count, check_number

PAD_MODES: tuple[str, ...] = ("constant", "edge", "reflect")
"""Padding modes, torchvision's names: ``"constant"`` (``fill``), ``"edge"`` (repeat the border
pixel), ``"reflect"`` (``c b | a b c d | c b``, without repeating the border)."""

MAX_DEGREES = 180.0
MAX_SCALE = 10.0
_STREAM = 0x5EED
"""Mixed into every transformation's seeds, apart from the seeds of the start images."""


class RandomTransform(Regularizer):
    """Base class of the input-stage transformations: one generator per image, seeded per run."""

    stage: ClassVar[Stage] = "input"

    def __init__(self, *, every: int = 1) -> None:
        super().__init__(every=every)
        self._generators: list[torch.Generator] = []

    def start(self, seeds: Sequence[int]) -> None:
        # CPU generators: the same values on every device, and none drawn from the model's device.
        self._generators = [torch.Generator().manual_seed(_STREAM ^ (int(seed) & 0x7FFF_FFFF_FFFF_FFFF)) for seed in seeds]

    def _generators_for(self, n: int) -> list[torch.Generator]:
        if len(self._generators) != n:
            self.start(range(n))
        return self._generators

    def _uniform(self, n: int, low: float, high: float) -> list[float]:
        """One value per image, uniform in ``[low, high]``, each from the image's generator."""
        return [low + (high - low) * float(torch.rand((), generator=g, dtype=torch.float64)) for g in self._generators_for(n)]


class Pad(RandomTransform):
    """Pad every side of the images by ``width`` pixels (not random; listed with the transformations).

    Args:
        width: pixels added on each side, >= 0.
        fill: the value of ``"constant"`` padding, in [0, 1] image units (grey by default).
        mode: ``"constant"``, ``"edge"`` or ``"reflect"`` (:data:`PAD_MODES`).
        every: pad every ``every`` steps (other steps see the image unpadded: keep 1 when
            a later transformation expects the padded size).

    Equals ``torchvision.transforms.v2.functional.pad(images, [width], fill, mode)``.

    Raises:
        SettingError: ``width`` < 0 or > 4096, ``fill`` outside [0, 1], an unknown mode.

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization" (lucid's ``pad``).
    """

    def __init__(self, width: int = 12, *, fill: float = 0.5, mode: str = "constant", every: int = 1) -> None:
        super().__init__(every=every)
        self.width = check_count(width, "width", minimum=0, maximum=4096)
        self.fill = check_number(fill, "fill", 0.0, 1.0)
        self.mode = check_choice(mode, "mode", PAD_MODES)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        if self.width == 0:
            return images
        pad = (self.width,) * 4
        if self.mode == "constant":
            return F.pad(images, pad, mode="constant", value=self.fill)
        return F.pad(images, pad, mode="replicate" if self.mode == "edge" else "reflect")

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (size[0] + 2 * self.width, size[1] + 2 * self.width)

    def check(self, size: tuple[int, int]) -> None:
        if self.mode == "reflect" and self.width >= min(size):
            raise SettingError(
                f"{self!r}: reflect padding of {self.width} pixels needs images larger than that, got "
                f"{size[0]}x{size[1]}; use mode='edge' or 'constant', or a smaller width"
            )

    def _settings(self) -> dict[str, Any]:
        return {"width": self.width, "fill": self.fill, "mode": self.mode, **super()._settings()}


class Jitter(RandomTransform):
    """Shift each image by a random offset before the forward pass.

    Args:
        max_shift: the largest shift in pixels, >= 0.
        mode: ``"roll"`` shifts by ``(dy, dx)`` uniform in ``[-max_shift, max_shift]``
            with wrap-around (the size stays; deep dream's "roll, step, roll back");
            ``"crop"`` cuts an ``(H - max_shift) x (W - max_shift)`` window at offsets
            uniform in ``[0, max_shift]`` (lucid's jitter; the image shrinks).
        every: jitter every ``every`` steps (the other steps see the image unshifted:
            use 1 in ``"crop"`` mode when a later transformation expects the smaller size).

    With fixed offsets, ``"roll"`` equals ``torch.roll`` and ``"crop"`` equals
    ``torchvision.transforms.v2.functional.crop``.

    Raises:
        SettingError: ``max_shift`` < 0, an unknown mode, or (when the image is known) a
            crop that is not smaller than the image.

    Mordvintsev, Olah and Tyka 2015, "Inceptionism"; Olah et al. 2017, "Feature
    Visualization" (lucid's ``jitter``).
    """

    def __init__(self, max_shift: int = 8, *, mode: str = "roll", every: int = 1) -> None:
        super().__init__(every=every)
        self.max_shift = check_count(max_shift, "max_shift", minimum=0, maximum=4096)
        self.mode = check_choice(mode, "mode", ("roll", "crop"))

    def offsets(self, n: int) -> list[tuple[int, int]]:
        """The next ``(dy, dx)`` of each of ``n`` images (draws from their generators)."""
        low = -self.max_shift if self.mode == "roll" else 0
        span = self.max_shift - low + 1
        return [tuple((torch.randint(span, (2,), generator=g) + low).tolist()) for g in self._generators_for(n)]

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        if self.max_shift == 0:
            return images
        offsets = self.offsets(images.shape[0])
        if self.mode == "roll":
            return torch.stack([torch.roll(image, shifts=offset, dims=(-2, -1)) for image, offset in zip(images, offsets)])
        height, width = self.output_size(tuple(images.shape[-2:]))
        return torch.stack([image[:, dy : dy + height, dx : dx + width] for image, (dy, dx) in zip(images, offsets)])

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        if self.mode == "roll":
            return size
        return (size[0] - self.max_shift, size[1] - self.max_shift)

    def check(self, size: tuple[int, int]) -> None:
        if self.mode == "crop" and self.max_shift >= min(size):
            raise SettingError(
                f"{self!r}: a shift of {self.max_shift} pixels needs images larger than that, got {size[0]}x{size[1]}"
            )

    def _settings(self) -> dict[str, Any]:
        return {"max_shift": self.max_shift, "mode": self.mode, **super()._settings()}


class RandomScale(RandomTransform):
    """Zoom each image about its centre by a random factor, keeping its size.

    Args:
        scales: ``(low, high)``: factors uniform in that range, ``0 < low <= high <= 10``
            (> 1 enlarges the content); one number ``s`` is ``(s, s)``.
        fill: the value where the zoomed-out image leaves no pixel, in [0, 1].
        every: scale every ``every`` steps.

    With a fixed factor ``s`` it equals ``torchvision.transforms.v2.functional.affine(
    images, angle=0, translate=[0, 0], scale=s, shear=[0, 0], interpolation=BILINEAR,
    fill=fill)``. lucid's ``random_scale`` resizes instead (the image's size changes);
    here the size stays, so a batch can hold a different factor per image.

    Raises:
        SettingError: factors out of range or ``fill`` outside [0, 1].

    Olah et al. 2017, "Feature Visualization" (lucid's ``random_scale``, 0.9 to 1.1).
    """

    def __init__(self, scales: float | tuple[float, float] = (0.9, 1.1), *, fill: float = 0.5, every: int = 1) -> None:
        super().__init__(every=every)
        low, high = _as_pair(scales, "scales")
        if not 0 < low <= high <= MAX_SCALE:
            raise SettingError(f"scales must be (low, high) with 0 < low <= high <= {MAX_SCALE:g}, got {scales!r}")
        self.scales = (low, high)
        self.fill = check_number(fill, "fill", 0.0, 1.0)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        factors = self._uniform(images.shape[0], *self.scales)
        return affine(images, [0.0] * len(factors), factors, self.fill)

    def _settings(self) -> dict[str, Any]:
        return {"scales": self.scales, "fill": self.fill, **super()._settings()}


class RandomRotate(RandomTransform):
    """Rotate each image about its centre by a random angle, keeping its size.

    Args:
        degrees: ``d`` for angles uniform in ``[-d, d]``, or ``(low, high)``; within
            [-180, 180]. Positive angles turn the content counter-clockwise.
        fill: the value where the rotated image leaves no pixel, in [0, 1].
        every: rotate every ``every`` steps.

    With a fixed angle it equals ``torchvision.transforms.v2.functional.rotate(images,
    angle, interpolation=BILINEAR, fill=fill)``.

    Raises:
        SettingError: angles out of range or ``fill`` outside [0, 1].

    Olah et al. 2017, "Feature Visualization" (lucid's ``random_rotate``, -10 to 10 degrees).
    """

    def __init__(self, degrees: float | tuple[float, float] = 10.0, *, fill: float = 0.5, every: int = 1) -> None:
        super().__init__(every=every)
        if isinstance(degrees, (int, float)) and not isinstance(degrees, bool):
            degrees = (-abs(float(degrees)), abs(float(degrees)))
        low, high = _as_pair(degrees, "degrees")
        if not -MAX_DEGREES <= low <= high <= MAX_DEGREES:
            raise SettingError(f"degrees must be d or (low, high) within [-180, 180], low <= high; got {degrees!r}")
        self.degrees = (low, high)
        self.fill = check_number(fill, "fill", 0.0, 1.0)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        angles = self._uniform(images.shape[0], *self.degrees)
        return affine(images, angles, [1.0] * len(angles), self.fill)

    def _settings(self) -> dict[str, Any]:
        return {"degrees": self.degrees, "fill": self.fill, **super()._settings()}


def affine(images: Tensor, angles: Sequence[float], scales: Sequence[float], fill: float) -> Tensor:
    """Rotate image ``i`` by ``angles[i]`` degrees and zoom it by ``scales[i]`` about its centre, keeping the size.

    Bilinear sampling of pixel centres (``grid_sample`` with ``align_corners=False``);
    where no input pixel lies, the result blends to ``fill`` as torchvision's tensor
    transforms do (a sampled mask channel). Differentiable in ``images``.

    Args:
        images: ``Tensor[N, C, H, W]``, floating point.
        angles: ``N`` angles in degrees (counter-clockwise).
        scales: ``N`` zoom factors, > 0.
        fill: the value outside the image.
    """
    n, _, height, width = images.shape
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    for i, (angle, scale) in enumerate(zip(angles, scales)):
        # The inverse map, from output to input pixels, as torchvision's _get_inverse_affine_matrix.
        radians = math.radians(angle)
        cos, sin = math.cos(radians) / scale, math.sin(radians) / scale
        theta[i] = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=torch.float64)
    theta = theta.to(device=images.device, dtype=images.dtype)
    xs = torch.linspace(-width * 0.5 + 0.5, width * 0.5 - 0.5, steps=width, device=images.device, dtype=images.dtype)
    ys = torch.linspace(-height * 0.5 + 0.5, height * 0.5 - 0.5, steps=height, device=images.device, dtype=images.dtype)
    base = torch.stack(
        [xs.expand(height, width), ys[:, None].expand(height, width), torch.ones(height, width, device=images.device,
                                                                            dtype=images.dtype)],
        dim=-1,
    ).view(1, height * width, 3)
    half = torch.tensor([0.5 * width, 0.5 * height], device=images.device, dtype=images.dtype)
    grid = torch.bmm(base.expand(n, -1, -1), theta.transpose(1, 2) / half).view(n, height, width, 2)
    with_mask = torch.cat([images, images.new_ones(n, 1, height, width)], dim=1)
    sampled = F.grid_sample(with_mask, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mask = sampled[:, -1:]
    return sampled[:, :-1] * mask + (1.0 - mask) * fill


def standard_transforms() -> list[Regularizer]:
    """lucid's standard transformation set: pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees, jitter 4.

    lucid draws its scales and angles from short lists (0.90, 0.92, ..., 1.10; whole
    degrees, 0 more often); here they are uniform in the same ranges.

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization" (lucid's
    ``transform.standard_transforms``).
    """
    return [
        Pad(12, fill=0.5),
        Jitter(8, mode="crop"),
        RandomScale((0.9, 1.1)),
        RandomRotate(10.0),
        Jitter(4, mode="crop"),
    ]


def scaled_transforms(size: int | tuple[int, int]) -> list[Regularizer]:
    """lucid's standard set with its pixel amounts scaled from lucid's 224-pixel images to ``size``.

    Pad ``12 s``, jitter ``8 s`` and ``4 s`` (rounded, at least 1), with
    ``s = min(H, W) / 224``; scales and angles as in :func:`standard_transforms`.
    """
    side = size if isinstance(size, int) else min(size)
    ratio = check_count(side, "size", minimum=1) / 224.0
    pixels = [max(1, round(amount * ratio)) for amount in (12, 8, 4)]
    return [
        Pad(pixels[0], fill=0.5),
        Jitter(pixels[1], mode="crop"),
        RandomScale((0.9, 1.1)),
        RandomRotate(10.0),
        Jitter(pixels[2], mode="crop"),
    ]


TRANSFORM_SETS: dict[str, Callable[[tuple[int, int]], list[Regularizer]]] = {
    "none": lambda size: [],
    "lucid": lambda size: standard_transforms(),
    "lucid-scaled": scaled_transforms,
}
"""Named transformation sets, each a function of the image size ``(H, W)``: ``"none"``,
``"lucid"`` (:func:`standard_transforms`), ``"lucid-scaled"`` (:func:`scaled_transforms`)."""


def transform_set(name: str, size: tuple[int, int]) -> list[Regularizer]:
    """The transformations of the set called ``name`` for images of ``size``.

    Raises:
        SettingError: an unknown name; the message lists the sets.
    """
    if name not in TRANSFORM_SETS:
        raise SettingError(f"unknown transformation set {name!r}; choose from {', '.join(TRANSFORM_SETS)}")
    return TRANSFORM_SETS[name](size)


def _as_pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise SettingError(f"{name} must be a number or a pair (low, high), got {value!r}")
    low, high = (check_number(v, name, -1e6, 1e6) for v in value)
    return low, high
