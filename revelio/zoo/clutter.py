"""Clutter: a harder ground-truth task than shapes, with textures, distractors and occlusion.

Each image (RGB, 64x64, float in [0, 1]) holds seven small objects on a textured background:

- three *labelled* objects of three different classes out of the six shapes classes
  (:data:`CLASS_NAMES`, the label is the multi-hot vector of their classes);
- four *distractors*, of four different classes out of :data:`DISTRACTOR_NAMES`
  (ellipse, chevron, bar, ell, crescent), shapes that are never labelled and that
  share parts with the labelled ones (a crescent's arc with the ring, an ell's arms
  with the cross): a model must learn to ignore them, and a map that lights up every
  object is wrong on them.

Objects are small (radius 6 to 9.6 pixels): a labelled object's visible pixels are
2.7% of the image on average, the three together 8%, and the four distractors
another 5.5%, so that a point picked on some object is mostly not on the asked one.

Objects and background are textured (stripes, checkerboard or blotches in two
colours), so edges are everywhere, not only at object outlines: an object's mean
colour differs from the background's under it by at least 0.35 (RGB distance), the
background's two colours by 0.2 to 0.4, an object's two colours by 0.08 to 0.16.
Objects are drawn in a random order and may overlap: the later one occludes the
earlier. ``masks`` mark each labelled object's *visible* pixels and ``distractors``
the visible pixels of all distractors; every object keeps at least
:data:`MIN_VISIBLE_FRACTION` of its area visible (the rare layout that would not is
redrawn on a 3x3 grid, without overlap).

As with :mod:`revelio.zoo.shapes`, item ``i`` is a function of ``(seed, i)`` alone
(``numpy.random.default_rng([seed, i])``) and :func:`make_batch` renders many items at
once with vectorised tests on coordinate grids.

Example:
    >>> batch = make_batch(8, seed=0)
    >>> batch.images.shape, batch.labels.shape, batch.masks.shape, batch.distractors.shape
    (torch.Size([8, 3, 64, 64]), torch.Size([8, 6]), torch.Size([8, 3, 64, 64]), torch.Size([8, 64, 64]))
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
"""The six labelled classes (the shapes task's); label index ``k`` is ``CLASS_NAMES[k]``."""

DISTRACTOR_NAMES: tuple[str, ...] = ("ellipse", "chevron", "bar", "ell", "crescent")
"""The distractor classes: drawn in every image, never labelled."""

IMAGE_SIZE = 64
"""Height and width of the images, in pixels."""

MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
"""Per-channel mean used to normalise images for the clutter model (measured, rounded)."""

STD: tuple[float, float, float] = (0.18, 0.18, 0.18)
"""Per-channel standard deviation used to normalise images for the clutter model (measured, rounded)."""

NUM_OBJECTS = 3
"""Labelled objects per image."""

NUM_DISTRACTORS = 4
"""Distractors per image."""

MIN_VISIBLE_FRACTION = 0.3
"""Every object (labelled or distractor) keeps at least this fraction of its area visible."""

_SLOTS = NUM_OBJECTS + NUM_DISTRACTORS
_CHUNK = 256  # items rendered at once: bounds the memory of the (N, 7, S, S) grids

# Geometry, in units of the image size unless noted.
_RADIUS_RANGE = (0.094, 0.15)
_MIN_CENTRE_DISTANCE = 0.5  # in units of r1 + r2: overlap allowed
_FALLBACK_GRID = 3  # objects that cannot be placed go to distinct cells of a 3x3 grid
_FALLBACK_RADIUS = 0.14  # ... with this radius at most, so that they never overlap

# Colours.
_BACKGROUND_CONTRAST = (0.2, 0.4)  # RGB distance between the background texture's two colours
_OBJECT_CONTRAST = (0.08, 0.16)  # ... between an object texture's two colours
_COLOUR_CONTRAST = 0.35  # RGB distance of an object's mean colour to the background's
_OBJECTS_CONTRAST = 0.2  # ... and to the mean colours of the objects drawn before it

# Layout of each item's vector of uniform random numbers.
_POSITION_TRIES = 32
_COLOUR_TRIES = 12


def _slices(**sizes: int) -> tuple[dict[str, slice], int]:
    slices, start = {}, 0
    for name, size in sizes.items():
        slices[name] = slice(start, start + size)
        start += size
    return slices, start


_U, _NUM_UNIFORMS = _slices(
    corners=12,  # the smooth colour gradient under the texture
    background=10,  # kind, contrast direction (3), contrast, frequency, angle, phase, cell, noise level
    classes=6,  # argsort of these: the three labelled classes
    distractors=len(DISTRACTOR_NAMES),  # argsort of these: the distractor classes
    radii=_SLOTS,
    angles=_SLOTS,
    order=_SLOTS,  # argsort of these: the drawing order
    positions=_SLOTS * _POSITION_TRIES * 2,
    cells=_FALLBACK_GRID**2,
    textures=_SLOTS * 5,  # kind, frequency, angle, phase, contrast
    directions=_SLOTS * 3,  # the direction from an object's first colour to its second
    colours=_SLOTS * _COLOUR_TRIES * 3,
)
_BLOCKS = 8  # background blotches: an 8x8 grid of random values, upsampled to blocks of 8 pixels
_SPECKLE = 16  # object blotches: a 16x16 grid per item, in blocks of 4 pixels


class ClutterSample(NamedTuple):
    """One clutter item.

    Attributes:
        image: ``Tensor[3, 64, 64]`` float32 in [0, 1].
        label: ``Tensor[6]`` float32 multi-hot, ones at the three labelled classes.
        masks: ``Tensor[3, 64, 64]`` bool, the visible pixels of each labelled object.
        classes: ``Tensor[3]`` int64, the class of each labelled object.
        distractors: ``Tensor[64, 64]`` bool, the visible pixels of the distractors.
    """

    image: Tensor
    label: Tensor
    masks: Tensor
    classes: Tensor
    distractors: Tensor


class ClutterBatch(NamedTuple):
    """A batch of clutter items: the fields of :class:`ClutterSample` with a leading batch dimension."""

    images: Tensor
    labels: Tensor
    masks: Tensor
    classes: Tensor
    distractors: Tensor

    def sample(self, index: int) -> ClutterSample:
        """Item ``index`` of the batch as a :class:`ClutterSample`."""
        return ClutterSample(*(field[index] for field in self))


def make_batch(n: int, seed: int, start: int = 0) -> ClutterBatch:
    """Render items ``start, ..., start + n - 1`` of the clutter dataset with seed ``seed``.

    Returns:
        a :class:`ClutterBatch`; item ``k`` equals ``ClutterDataset(..., seed)[start + k]``.
    """
    if n < 0:
        raise InputError(f"the number of clutter images must be >= 0, got {n}")
    return render(seed, range(start, start + n))


def render(seed: int, indices: Iterable[int]) -> ClutterBatch:
    """Render the clutter items ``indices`` (any order, repeats allowed) of dataset ``seed``."""
    _check_seed(seed)
    indices = [int(i) for i in indices]
    if any(i < 0 for i in indices):
        raise InputError(f"clutter item indices must be >= 0, got {min(indices)}")
    if len(indices) <= _CHUNK:
        return _render_items(seed, indices)
    parts = [_render_items(seed, indices[i : i + _CHUNK]) for i in range(0, len(indices), _CHUNK)]
    return ClutterBatch(*(torch.cat(fields) for fields in zip(*parts)))


class ClutterDataset(GeneratedDataset[ClutterSample]):
    """The clutter dataset as a map-style torch ``Dataset`` of :class:`ClutterSample`.

    Args:
        size: number of items.
        seed: dataset seed; item ``i`` is a function of ``(seed, i)`` only.
    """

    name = "clutter"

    def __init__(self, size: int, seed: int = 0) -> None:
        _check_seed(seed)
        super().__init__(size, seed)

    def render_items(self, indices: list[int]) -> ClutterBatch:
        return render(self.seed, indices)


def normalize(images: Tensor) -> Tensor:
    """Images in [0, 1] ``(..., 3, H, W)`` -> model inputs, with :data:`MEAN` and :data:`STD`."""
    return core_normalize(images, MEAN, STD)


class ClutterLayout(NamedTuple):
    """Where the objects of clutter items are: seven per item, the three labelled ones first.

    Attributes:
        shapes: ``(N, 7)`` int, each object's index into :data:`SHAPE_NAMES` (the first
            three are the labelled classes, the last four distractors, 6 and up).
        centres: ``(N, 7, 2)`` float, ``(x, y)`` in pixels (pixel ``j`` covers ``[j, j + 1)``).
        radii: ``(N, 7)`` float, in pixels; each shape fits in the circle of its radius.
        angles: ``(N, 7)`` float, rotations in radians.
        ranks: ``(N, 7)`` int, the drawing order: an object hides those of lower rank.
    """

    shapes: np.ndarray
    centres: np.ndarray
    radii: np.ndarray
    angles: np.ndarray
    ranks: np.ndarray


def layout(seed: int, indices: Iterable[int]) -> ClutterLayout:
    """The objects of the clutter items ``indices`` of dataset ``seed``, as :func:`render` draws them.

    :func:`revelio.zoo.geometry.footprints` of a layout with :data:`SHAPE_FUNCTIONS` gives
    each object's whole footprint; the masks of a batch are the parts no object of
    higher rank covers.
    """
    _check_seed(seed)
    indices = [int(i) for i in indices]
    if any(i < 0 for i in indices):
        raise InputError(f"clutter item indices must be >= 0, got {min(indices)}")
    u = np.array([_uniforms(np.random.default_rng([seed, i])) for i in indices], dtype=np.float32)
    return _layout(u.reshape(len(indices), _NUM_UNIFORMS), IMAGE_SIZE)[0]


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"clutter seed must be a non-negative int, got {seed!r}")


# -- distractor shapes, in the unit-radius object frame ------------------------------------------------


def ellipse(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """An ellipse with half axes 0.95 and 0.42."""
    return (x / np.float32(0.95)) ** 2 + (y / np.float32(0.42)) ** 2 <= 1


def chevron(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A V opening towards negative x: ``0.2 <= x + |y| <= 0.65``, ``|y| <= 0.8``."""
    along = x + np.abs(y)
    return (along >= 0.2) & (along <= 0.65) & (np.abs(y) <= 0.8)


def bar(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A thin rectangle: ``|x| <= 0.95``, ``|y| <= 0.2`` (a cross's arms are 0.3 wide)."""
    return (np.abs(x) <= 0.95) & (np.abs(y) <= 0.2)


def ell(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """An L: two arms 0.3 wide (a cross's width) from the corner ``(-0.6, -0.6)`` to 0.75."""
    arm = 0.3
    inside = (x >= -0.6) & (y >= -0.6) & (x <= 0.75) & (y <= 0.75)
    return inside & ((x <= -0.6 + arm) | (y <= -0.6 + arm))


def crescent(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A disc of radius 0.95 less a disc of radius 0.75 centred at ``(0.4, 0)``: an arc thicker than the ring's."""
    outer = x * x + y * y <= np.float32(0.95**2)
    return outer & ((x - np.float32(0.4)) ** 2 + y * y > np.float32(0.75**2))


DISTRACTOR_SHAPES = (ellipse, chevron, bar, ell, crescent)
"""The shape functions of :data:`DISTRACTOR_NAMES`."""

SHAPE_NAMES: tuple[str, ...] = CLASS_NAMES + DISTRACTOR_NAMES
"""Every shape drawn: the labelled classes, then the distractors."""

SHAPE_FUNCTIONS = (*SHAPES, *DISTRACTOR_SHAPES)
"""The shape functions of :data:`SHAPE_NAMES` (:mod:`revelio.zoo.geometry`)."""
_ALL_SHAPES = SHAPE_FUNCTIONS


# -- rendering ------------------------------------------------------------------------------------------


def _uniforms(rng: np.random.Generator) -> np.ndarray:
    return rng.random(_NUM_UNIFORMS, dtype=np.float32)  # first: layout() draws only these


def _render_items(seed: int, indices: list[int]) -> ClutterBatch:
    n, size = len(indices), IMAGE_SIZE
    u = np.empty((n, _NUM_UNIFORMS), dtype=np.float32)
    noise = np.empty((n, 3, size, size), dtype=np.float32)
    blocks = np.empty((n, 3, _BLOCKS, _BLOCKS), dtype=np.float32)
    speckle = np.empty((n, _SPECKLE, _SPECKLE), dtype=np.float32)
    for row, index in enumerate(indices):
        rng = np.random.default_rng([seed, index])
        u[row] = _uniforms(rng)
        noise[row] = rng.standard_normal((3, size, size), dtype=np.float32)
        blocks[row] = rng.random((3, _BLOCKS, _BLOCKS), dtype=np.float32)
        speckle[row] = rng.random((_SPECKLE, _SPECKLE), dtype=np.float32)
    return _render(u, noise, blocks, speckle, size)


def _first_true(valid: np.ndarray) -> np.ndarray:
    return np.argmax(valid, axis=-1)


def _unit_vectors(u: np.ndarray) -> np.ndarray:
    """Uniforms ``(..., 3)`` -> unit vectors (a direction in RGB space)."""
    v = u - 0.5
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-3)


def _background(u: np.ndarray, blocks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The textured background ``(N, 3, S, S)`` and its mean colour at every pixel (before the texture)."""
    n = u.shape[0]
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    ys, xs = coords[:, None], coords[None, :]
    corners = (0.15 + 0.7 * u[:, _U["corners"]]).reshape(n, 4, 3, 1, 1)
    smooth = (
        corners[:, 0] * ((1 - xs) * (1 - ys))
        + corners[:, 1] * (xs * (1 - ys))
        + corners[:, 2] * ((1 - xs) * ys)
        + corners[:, 3] * (xs * ys)
    )
    b = u[:, _U["background"]]
    kind = np.minimum((b[:, 0] * 3).astype(np.int64), 2)
    direction = _unit_vectors(b[:, 1:4])
    contrast = _BACKGROUND_CONTRAST[0] + (_BACKGROUND_CONTRAST[1] - _BACKGROUND_CONTRAST[0]) * b[:, 4]
    angle = np.float32(math.pi) * b[:, 6, None, None]
    along = xs * np.cos(angle) + ys * np.sin(angle)
    across = ys * np.cos(angle) - xs * np.sin(angle)
    # Stripes: 4 to 10 cycles per image, soft. Checkerboard: cells of 5 to 10 pixels, rotated.
    stripes = 0.5 + 0.5 * np.sin(
        np.float32(2 * math.pi) * (4 + 6 * b[:, 5, None, None]) * along + 6.3 * b[:, 7, None, None]
    )
    cells = size / (5 + 5 * b[:, 8, None, None])
    checker = ((np.floor(along * cells) + np.floor(across * cells)) % 2).astype(np.float32)
    blotches = np.repeat(np.repeat(blocks, size // _BLOCKS, axis=2), size // _BLOCKS, axis=3)  # (N, 3, S, S)
    texture = np.where((kind == 0)[:, None, None], stripes, checker)[:, None]  # (N, 1, S, S)
    texture = np.where((kind == 2)[:, None, None, None], blotches.mean(axis=1, keepdims=True), texture)
    # Blotches also tint every background a little, channel by channel.
    tint = 0.15 * (blotches - 0.5)
    image = smooth + (contrast[:, None] * direction)[:, :, None, None] * (texture - 0.5) + tint
    return image, smooth


def _place(u: np.ndarray, radius: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(N, 7, 2)``: each object at the first of its candidate positions far enough from those before.

    Also returns which items found no such position for some object.
    """
    n = u.shape[0]
    rows = np.arange(n)
    candidates = u[:, _U["positions"]].reshape(n, _SLOTS, _POSITION_TRIES, 2)
    low = radius[:, :, None, None] + 1
    positions = low + (size - 2 * low) * candidates  # (N, slot, tries, xy)
    centre = np.zeros((n, _SLOTS, 2), dtype=np.float32)
    failed = np.zeros(n, dtype=bool)
    centre[:, 0] = positions[:, 0, 0]
    for j in range(1, _SLOTS):
        gap = np.linalg.norm(positions[:, j, :, None] - centre[:, None, :j], axis=-1)  # (N, tries, j)
        ratio = (gap / (radius[:, None, j, None] + radius[:, None, :j])).min(axis=-1)  # (N, tries)
        valid = ratio >= _MIN_CENTRE_DISTANCE
        failed |= ~valid.any(axis=1)
        best = np.where(valid.any(axis=1), _first_true(valid), ratio.argmax(axis=1))
        centre[:, j] = positions[rows, j, best]
    return centre, failed


def _layout(u: np.ndarray, size: int) -> tuple[ClutterLayout, np.ndarray, np.ndarray, np.ndarray]:
    """The objects of each item, with their footprints ``(N, 7, S, S)``, the slot each pixel shows and whether any."""
    # Classes: three labelled ones of six, four distractors of five (indices 6 to 10 of SHAPE_NAMES).
    classes = np.argsort(u[:, _U["classes"]], axis=1, kind="stable")[:, :NUM_OBJECTS]
    kinds = np.argsort(u[:, _U["distractors"]], axis=1, kind="stable")[:, :NUM_DISTRACTORS]
    shape_of = np.concatenate([classes, len(SHAPES) + kinds], axis=1)  # (N, 7)
    radius = size * (_RADIUS_RANGE[0] + (_RADIUS_RANGE[1] - _RADIUS_RANGE[0]) * u[:, _U["radii"]])
    angle = np.float32(2 * math.pi) * u[:, _U["angles"]]
    rank = np.argsort(np.argsort(u[:, _U["order"]], axis=1, kind="stable"), axis=1, kind="stable")
    centre, failed = _place(u, radius, size)

    inside = footprints(shape_of, centre, radius, angle, size, _ALL_SHAPES)
    top, covered = _topmost(inside, rank)
    visible = (top[:, None] == np.arange(_SLOTS)[None, :, None, None]) & covered[:, None]
    failed |= (visible.sum(axis=(2, 3)) < MIN_VISIBLE_FRACTION * inside.sum(axis=(2, 3))).any(axis=1)
    if failed.any():  # rare: distinct cells of a 3x3 grid, radii capped, so nothing overlaps
        cells = np.argsort(u[failed][:, _U["cells"]], axis=1, kind="stable")[:, :_SLOTS]
        cell = size / _FALLBACK_GRID
        radius[failed] = np.minimum(radius[failed], _FALLBACK_RADIUS * size)
        centre[failed] = np.stack(
            [(cells % _FALLBACK_GRID + 0.5) * cell, (cells // _FALLBACK_GRID + 0.5) * cell], axis=-1
        )
        inside[failed] = footprints(shape_of[failed], centre[failed], radius[failed], angle[failed], size, _ALL_SHAPES)
        top, covered = _topmost(inside, rank)
    return ClutterLayout(shape_of, centre, radius, angle, rank), inside, top, covered


def _render(u: np.ndarray, noise: np.ndarray, blocks: np.ndarray, speckle: np.ndarray, size: int) -> ClutterBatch:
    n = u.shape[0]
    rows = np.arange(n)
    background, smooth = _background(u, blocks, size)
    (shape_of, centre, radius, angle, rank), _, top, covered = _layout(u, size)
    classes = shape_of[:, :NUM_OBJECTS]
    visible = (top[:, None] == np.arange(_SLOTS)[None, :, None, None]) & covered[:, None]

    # Colours: a mean colour that contrasts with the background at the centre and with the
    # objects drawn before; the texture's two colours lie on either side of it.
    pixel = np.clip(centre.astype(np.int64), 0, size - 1)
    under = smooth[rows[:, None], :, pixel[..., 1], pixel[..., 0]]  # (N, 7, 3)
    tries = (0.15 + 0.7 * u[:, _U["colours"]]).reshape(n, _SLOTS, _COLOUR_TRIES, 3)
    contrast = np.linalg.norm(tries - under[:, :, None], axis=-1)  # (N, 5, tries)
    ok = contrast >= _COLOUR_CONTRAST
    mean_colour = np.zeros((n, _SLOTS, 3), dtype=np.float32)
    order = np.argsort(rank, axis=1, kind="stable")  # order[:, r]: the slot drawn r-th
    for r in range(_SLOTS):
        slot = order[:, r]
        good = ok[rows, slot]
        for earlier in range(r):
            before = mean_colour[rows, order[:, earlier]]
            good &= np.linalg.norm(tries[rows, slot] - before[:, None], axis=-1) >= _OBJECTS_CONTRAST
        pick = np.where(good.any(axis=1), _first_true(good), contrast[rows, slot].argmax(axis=1))
        mean_colour[rows, slot] = tries[rows, slot, pick]
    t = u[:, _U["textures"]].reshape(n, _SLOTS, 5)  # kind, frequency, angle, phase, contrast
    spread = _OBJECT_CONTRAST[0] + (_OBJECT_CONTRAST[1] - _OBJECT_CONTRAST[0]) * t[..., 4]
    offset = 0.5 * spread[..., None] * _unit_vectors(u[:, _U["directions"]].reshape(n, _SLOTS, 3))

    # Each pixel's object (the one drawn last there): its pose, texture and colours.
    per_slot = np.concatenate([centre, radius[..., None], angle[..., None], t, mean_colour, offset], axis=-1)
    which = rows[:, None, None] * _SLOTS + np.where(covered, top, 0)  # (N, S, S)
    cx, cy, r, a, kind, frequency, tex_angle, phase, _, *rgb = np.moveaxis(
        per_slot.reshape(n * _SLOTS, -1)[which], -1, 0
    )
    mean, step = np.stack(rgb[:3], axis=1), np.stack(rgb[3:], axis=1)  # (N, 3, S, S)

    # Textures in the object's frame (unit radius), so they turn and scale with it.
    grid = np.arange(size, dtype=np.float32) + 0.5
    dx, dy = (grid[None, None, :] - cx) / r, (grid[None, :, None] - cy) / r
    turn = a + np.float32(math.pi) * tex_angle
    along = dx * np.cos(turn) + dy * np.sin(turn)
    across = dy * np.cos(turn) - dx * np.sin(turn)
    frequency = 1.2 + 1.3 * frequency  # cycles per radius: periods of 3 to 10 pixels
    stripes = np.sin(np.float32(2 * math.pi) * frequency * along + np.float32(2 * math.pi) * phase) > 0
    checker = (np.floor(along * frequency * 2) + np.floor(across * frequency * 2)) % 2 > 0
    spots = np.repeat(np.repeat(speckle, size // _SPECKLE, axis=1), size // _SPECKLE, axis=2) > 0.5
    kind = np.minimum((kind * 3).astype(np.int64), 2)
    shade = np.where(kind == 0, stripes, np.where(kind == 1, checker, spots)).astype(np.float32) - 0.5
    objects = mean + 2 * shade[:, None] * step
    image = np.where(covered[:, None], objects, background)
    sigma = 0.02 + 0.03 * u[:, _U["background"].start + 9, None, None, None]
    image = np.clip(image + sigma * noise, 0, 1)

    labels = np.zeros((n, len(CLASS_NAMES)), dtype=np.float32)
    labels[rows[:, None], classes] = 1
    return ClutterBatch(
        torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
        torch.from_numpy(labels),
        torch.from_numpy(np.ascontiguousarray(visible[:, :NUM_OBJECTS])),
        torch.from_numpy(classes.astype(np.int64)),
        torch.from_numpy(visible[:, NUM_OBJECTS:].any(axis=1)),
    )


def _topmost(inside: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slot drawn last among those covering each pixel ``(N, S, S)``, and whether any does."""
    rows = np.arange(inside.shape[0])
    top = np.zeros(inside.shape[:1] + inside.shape[2:], dtype=np.int64)
    covered = np.zeros(top.shape, dtype=bool)
    for slot in np.argsort(rank, axis=1, kind="stable").T:  # the slots drawn first, second, ...
        here = inside[rows, slot]
        top = np.where(here, slot[:, None, None], top)
        covered |= here
    return top, covered
