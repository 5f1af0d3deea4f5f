"""Shape footprints on pixel grids, shared by the procedurally generated datasets.

A shape is a function of coordinates ``(x, y)`` in its own frame (centred, unit
radius, unrotated) that says which points are inside; every shape fits in the unit
circle. :func:`footprints` places many shapes at once: each object's centre, radius
and rotation turn the pixel grid into its frame, and the shape function of its class
tests every pixel (vectorised half-plane and polar tests, no drawing library).

:data:`SHAPES` holds the six shapes of :data:`CLASS_NAMES`, in label order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Shape = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``inside(x, y) -> bool array``: the points of the unit-radius frame inside the shape."""

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star", "ring")
"""The names of :data:`SHAPES`, in order."""

# Shape parameters in units of the object radius.
_CIRCLE_RADIUS = 0.9
_SQUARE_HALF_SIDE = 0.7
_TRIANGLE_APOTHEM = 0.5  # regular triangle with circumradius 1
_CROSS_HALF_WIDTH, _CROSS_HALF_LENGTH = 0.3, 0.95
_STAR_POINTS, _STAR_INNER = 5, 0.42
_RING_INNER, _RING_OUTER = 0.55, 0.95


def footprints(
    classes: np.ndarray, centre: np.ndarray, radius: np.ndarray, angle: np.ndarray, size: int, shapes: Sequence[Shape]
) -> np.ndarray:
    """Boolean footprint ``(N, K, S, S)`` of K objects per image.

    Args:
        classes: ``(N, K)`` int, each object's index into ``shapes``.
        centre: ``(N, K, 2)`` ``(x, y)`` centres in pixels (pixel ``j`` covers ``[j, j + 1)``).
        radius: ``(N, K)`` radii in pixels.
        angle: ``(N, K)`` rotations in radians.
        size: height and width of the images.
        shapes: the shape functions, indexed by class.
    """
    n, k = classes.shape
    flat_classes = classes.reshape(-1)
    x, y = (v.reshape(n * k, size, size) for v in object_frames(centre, radius, angle, size))
    out = np.zeros((n * k, size, size), dtype=bool)
    for index, shape in enumerate(shapes):
        which = np.flatnonzero(flat_classes == index)
        if which.size:
            out[which] = shape(x[which], y[which])
    return out.reshape(n, k, size, size)


def object_frames(
    centre: np.ndarray, radius: np.ndarray, angle: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``(x, y)``, each ``(N, K, S, S)`` float32, of every pixel centre in each object's frame.

    The frame is centred on the object, rotated by its angle and scaled by its radius,
    so the object's shape is the same function of ``(x, y)`` whatever its pose.
    """
    n, k = radius.shape
    grid = np.arange(size, dtype=np.float32) + 0.5
    flat_centre = centre.reshape(-1, 2).astype(np.float32)
    scale = (1 / radius.reshape(-1, 1, 1)).astype(np.float32)
    dx = (grid[None, None, :] - flat_centre[:, 0, None, None]) * scale
    dy = (grid[None, :, None] - flat_centre[:, 1, None, None]) * scale
    cos, sin = np.cos(angle).reshape(-1, 1, 1), np.sin(angle).reshape(-1, 1, 1)
    x, y = cos * dx + sin * dy, cos * dy - sin * dx
    return x.reshape(n, k, size, size), y.reshape(n, k, size, size)


def circle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A disc of radius 0.9."""
    return x * x + y * y <= _CIRCLE_RADIUS**2


def square(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A square of half side 0.7."""
    return np.maximum(np.abs(x), np.abs(y)) <= _SQUARE_HALF_SIDE


def triangle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A regular triangle of circumradius 1, a vertex on the positive x axis."""
    inside = np.ones(x.shape, dtype=bool)
    for k in range(3):  # one half-plane per edge; vertices at angles 0, 120, 240 degrees
        normal = math.pi / 3 + 2 * math.pi * k / 3
        inside &= x * np.float32(math.cos(normal)) + y * np.float32(math.sin(normal)) <= _TRIANGLE_APOTHEM
    return inside


def cross(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A plus sign: two bars of half width 0.3 and half length 0.95."""
    ax, ay = np.abs(x), np.abs(y)
    arm, length = _CROSS_HALF_WIDTH, _CROSS_HALF_LENGTH
    return ((ax <= arm) & (ay <= length)) | ((ay <= arm) & (ax <= length))


def star(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A five-pointed star, tips at radius 1, inner vertices at 0.42."""
    # Fold the angle into the sector between a tip (angle 0) and the next inner vertex
    # (angle pi/5); there the outline is the segment tip -> inner vertex.
    sector = np.float32(2 * math.pi / _STAR_POINTS)
    rho = np.sqrt(x * x + y * y)
    phi = np.mod(np.arctan2(y, x), sector)
    phi = np.minimum(phi, sector - phi)
    px, py = rho * np.cos(phi), rho * np.sin(phi)
    bx, by = _STAR_INNER * math.cos(sector / 2), _STAR_INNER * math.sin(sector / 2)
    return np.float32(bx - 1) * py - np.float32(by) * (px - 1) >= 0


def ring(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """An annulus between radii 0.55 and 0.95."""
    rho2 = x * x + y * y
    return (rho2 >= _RING_INNER**2) & (rho2 <= _RING_OUTER**2)


SHAPES: tuple[Shape, ...] = (circle, square, triangle, cross, star, ring)
"""The six shapes, in the order of :data:`CLASS_NAMES`."""
