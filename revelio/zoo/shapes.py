"""Shapes: a procedurally generated, seeded dataset with known object masks.

Each image (RGB, 64x64, float in [0, 1]) holds two objects of two different classes
out of six (:data:`CLASS_NAMES`) on a noisy textured background: a smooth colour
gradient between four random corner colours, faint stripes, and Gaussian pixel
noise. Objects get a random colour that contrasts with the background under them
(and with each other), a random size, rotation and position; they may overlap, and
the object drawn second occludes the first. The masks mark each object's *visible*
pixels, so they are disjoint.

Everything about item ``i`` is a function of ``(seed, i)`` alone (its random numbers
come from ``numpy.random.default_rng([seed, i])``), so any item can be made on its
own, in any order, in any DataLoader worker; :func:`make_batch` renders many at once
with vectorised half-plane and polar tests on coordinate grids.

Model inputs are the images normalised with :data:`MEAN` and :data:`STD` (per
channel, outside the model), like torchvision models and ImageNet statistics;
:func:`normalize` does it.

Example:
    >>> batch = make_batch(256, seed=0)
    >>> batch.images.shape, batch.labels.shape, batch.masks.shape, batch.classes.shape
    (torch.Size([256, 3, 64, 64]), torch.Size([256, 6]), torch.Size([256, 2, 64, 64]), torch.Size([256, 2]))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from revelio.core.normalization import normalize as core_normalize
from revelio.errors import InputError
from revelio.zoo import geometry
from revelio.zoo.generated import GeneratedDataset
from revelio.zoo.geometry import SHAPES, footprints

CLASS_NAMES: tuple[str, ...] = geometry.CLASS_NAMES
"""The six object classes; label index ``k`` is ``CLASS_NAMES[k]``."""

IMAGE_SIZE = 64
"""Height and width of the images, in pixels."""

MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
"""Per-channel mean used to normalise images for the shapes model (measured, rounded)."""

STD: tuple[float, float, float] = (0.2, 0.2, 0.2)
"""Per-channel standard deviation used to normalise images for the shapes model."""

NUM_OBJECTS = 2

# Geometry, in units of the image size unless noted.
_RADIUS_RANGE = (0.13, 0.25)  # object "radius" (all shapes fit in a circle of it)
_MIN_CENTRE_DISTANCE = 0.85  # in units of r1 + r2: overlap allowed, but never hiding
_MIN_VISIBLE_FRACTION = 0.3  # of the first object's area, else it is moved apart
_COLOUR_CONTRAST = 0.4  # RGB distance of an object's colour to the background under it
_OBJECT_CONTRAST = 0.3  # RGB distance between the two objects' colours

# Layout of each item's vector of uniform random numbers.
_POSITION_TRIES = 16
_COLOUR_TRIES = 8
_U_CORNERS = slice(0, 12)
_U_STRIPES = slice(12, 16)  # amplitude, frequency, angle, phase
_U_NOISE = 16
_U_CLASSES = slice(17, 19)
_U_RADII = slice(19, 21)
_U_ANGLES = slice(21, 23)
_U_POSITIONS = slice(23, 23 + 4 * _POSITION_TRIES)
_U_COLOURS = slice(_U_POSITIONS.stop, _U_POSITIONS.stop + 6 * _COLOUR_TRIES)
_NUM_UNIFORMS = _U_COLOURS.stop


class ShapesSample(NamedTuple):
    """One shapes item.

    Attributes:
        image: ``Tensor[3, 64, 64]`` float32 in [0, 1].
        label: ``Tensor[6]`` float32 multi-hot, ones at the two object classes.
        masks: ``Tensor[2, 64, 64]`` bool, the visible pixels of each object in drawing order.
        classes: ``Tensor[2]`` int64, the class of each object in drawing order.
    """

    image: Tensor
    label: Tensor
    masks: Tensor
    classes: Tensor


class ShapesBatch(NamedTuple):
    """A batch of shapes items: the fields of :class:`ShapesSample` with a leading batch dimension."""

    images: Tensor
    labels: Tensor
    masks: Tensor
    classes: Tensor

    def sample(self, index: int) -> ShapesSample:
        """Item ``index`` of the batch as a :class:`ShapesSample`."""
        return ShapesSample(self.images[index], self.labels[index], self.masks[index], self.classes[index])


def make_batch(n: int, seed: int, start: int = 0, *, image_size: int = IMAGE_SIZE) -> ShapesBatch:
    """Render items ``start, ..., start + n - 1`` of the shapes dataset with seed ``seed``.

    Args:
        n: number of images.
        seed: dataset seed, a non-negative int.
        start: index of the first item.
        image_size: height and width in pixels.

    Returns:
        a :class:`ShapesBatch`; item ``k`` equals ``ShapesDataset(..., seed)[start + k]``.
    """
    return render(seed, range(start, start + n), image_size=image_size)


def render(seed: int, indices: Iterable[int], *, image_size: int = IMAGE_SIZE) -> ShapesBatch:
    """Render the shapes items ``indices`` (any order, repeats allowed) of dataset ``seed``."""
    _check_seed(seed)
    indices = [int(i) for i in indices]
    if any(i < 0 for i in indices):
        raise InputError(f"shapes item indices must be >= 0, got {min(indices)}")
    if image_size < 16:
        raise InputError(f"image_size must be at least 16 pixels, got {image_size}")
    n = len(indices)
    uniforms = np.empty((n, _NUM_UNIFORMS), dtype=np.float32)
    noise = np.empty((n, 3, image_size, image_size), dtype=np.float32)
    for row, index in enumerate(indices):
        rng = np.random.default_rng([seed, index])
        uniforms[row] = rng.random(_NUM_UNIFORMS, dtype=np.float32)
        noise[row] = rng.standard_normal((3, image_size, image_size), dtype=np.float32)
    return _render(uniforms, noise, image_size)


class ShapesDataset(GeneratedDataset[ShapesSample]):
    """The shapes dataset as a map-style torch ``Dataset`` of :class:`ShapesSample`.

    Args:
        size: number of items.
        seed: dataset seed; item ``i`` is a function of ``(seed, i)`` only.
        image_size: height and width in pixels.

    Datasets with different seeds are independent draws. The default collate function stacks
    samples into a :class:`ShapesSample` of batched tensors; ``__getitems__`` renders a
    whole DataLoader batch at once.
    """

    name = "shapes"

    def __init__(self, size: int, seed: int = 0, *, image_size: int = IMAGE_SIZE) -> None:
        _check_seed(seed)
        super().__init__(size, seed)
        self.image_size = image_size

    def render_items(self, indices: list[int]) -> ShapesBatch:
        return render(self.seed, indices, image_size=self.image_size)


def normalize(images: Tensor) -> Tensor:
    """Images in [0, 1] ``(..., 3, H, W)`` -> model inputs, with :data:`MEAN` and :data:`STD`."""
    return core_normalize(images, MEAN, STD)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"shapes seed must be a non-negative int, got {seed!r}")


def _first_true(valid: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis (0 where there is none)."""
    return np.argmax(valid, axis=-1)


def _render(u: np.ndarray, noise: np.ndarray, size: int) -> ShapesBatch:
    """Render a batch from each item's uniforms ``u`` (N, U) and unit normal noise (N, 3, S, S).

    Plain single-threaded numpy: at these sizes it beats torch's thread pool, which
    spins when the CPU is shared.
    """
    n = u.shape[0]
    u = u.astype(np.float32)
    rows = np.arange(n)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size  # pixel centres in (0, 1)
    ys, xs = coords[:, None], coords[None, :]

    # Background: bilinear blend of four corner colours, faint stripes.
    corners = (0.1 + 0.8 * u[:, _U_CORNERS]).reshape(n, 4, 3, 1, 1)
    background = (
        corners[:, 0] * ((1 - xs) * (1 - ys))
        + corners[:, 1] * (xs * (1 - ys))
        + corners[:, 2] * ((1 - xs) * ys)
        + corners[:, 3] * (xs * ys)
    )
    amplitude, frequency, stripe_angle, phase = (u[:, i, None, None] for i in range(_U_STRIPES.start, _U_STRIPES.stop))
    amplitude = 0.02 + 0.05 * amplitude
    frequency = size * (0.05 + 0.2 * frequency)  # cycles per image: 3 to 16 at 64 pixels
    stripe_angle, phase = np.float32(math.pi) * stripe_angle, np.float32(2 * math.pi) * phase
    projection = xs * np.cos(stripe_angle) + ys * np.sin(stripe_angle)
    background += (amplitude * np.sin(np.float32(2 * math.pi) * frequency * projection + phase))[:, None]

    # Two different classes, in drawing order.
    first = np.minimum((u[:, _U_CLASSES.start] * 6).astype(np.int64), 5)
    second = (first + 1 + np.minimum((u[:, _U_CLASSES.start + 1] * 5).astype(np.int64), 4)) % 6
    classes = np.stack([first, second], axis=1)

    # Size, rotation, position: the first candidate pair of centres far enough apart.
    radius = size * (_RADIUS_RANGE[0] + (_RADIUS_RANGE[1] - _RADIUS_RANGE[0]) * u[:, _U_RADII])  # (N, 2)
    angle = np.float32(2 * math.pi) * u[:, _U_ANGLES]
    candidates = u[:, _U_POSITIONS].reshape(n, _POSITION_TRIES, 2, 2)  # (N, tries, object, xy)
    low = radius[:, None, :, None] + 1
    centres = low + (size - 2 * low) * candidates
    distance = np.linalg.norm(centres[:, :, 0] - centres[:, :, 1], axis=-1)
    valid = distance >= _MIN_CENTRE_DISTANCE * radius.sum(axis=1, keepdims=True)
    best = np.where(valid.any(axis=1), _first_true(valid), distance.argmax(axis=1))
    centre = centres[rows, best]  # (N, 2, xy)

    inside = footprints(classes, centre, radius, angle, size, SHAPES)  # (N, 2, S, S)
    visible_first = inside[:, 0] & ~inside[:, 1]
    hidden = visible_first.sum(axis=(1, 2)) < _MIN_VISIBLE_FRACTION * inside[:, 0].sum(axis=(1, 2))
    if hidden.any():  # rare: push the pair into opposite corners, which never overlap
        corner = radius[hidden] + 1
        centre[hidden, 0] = corner[:, :1]
        centre[hidden, 1] = size - corner[:, 1:]
        inside[hidden] = footprints(classes[hidden], centre[hidden], radius[hidden], angle[hidden], size, SHAPES)
        visible_first = inside[:, 0] & ~inside[:, 1]
    masks = np.stack([visible_first, inside[:, 1]], axis=1)

    # Colours: the first candidate that contrasts with the background at the centre
    # (and, for the second object, with the first object's colour); else the most
    # contrasting one.
    pixel = np.clip(centre.astype(np.int64), 0, size - 1)
    colours = u[:, _U_COLOURS].reshape(n, _COLOUR_TRIES, 2, 3)
    image = background
    chosen: list[np.ndarray] = []
    for k in range(NUM_OBJECTS):
        under = background[rows, :, pixel[:, k, 1], pixel[:, k, 0]]  # (N, 3)
        contrast = np.linalg.norm(colours[:, :, k] - under[:, None], axis=-1)
        ok = contrast >= _COLOUR_CONTRAST
        if k == 1:
            ok &= np.linalg.norm(colours[:, :, 1] - chosen[0][:, None], axis=-1) >= _OBJECT_CONTRAST
        pick = np.where(ok.any(axis=1), _first_true(ok), contrast.argmax(axis=1))
        chosen.append(colours[rows, pick, k])
        image = np.where(masks[:, k, None], chosen[k][:, :, None, None], image)
    sigma = 0.02 + 0.06 * u[:, _U_NOISE, None, None, None]
    image = np.clip(image + sigma * noise, 0, 1)

    labels = np.zeros((n, len(CLASS_NAMES)), dtype=np.float32)
    labels[rows[:, None], classes] = 1
    return ShapesBatch(
        torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
        torch.from_numpy(labels),
        torch.from_numpy(np.ascontiguousarray(masks)),
        torch.from_numpy(classes),
    )
