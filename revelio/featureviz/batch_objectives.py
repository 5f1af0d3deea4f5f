"""Objectives that relate the images of one batch: diversity, and interpolation between two objectives.

Unlike a unit objective, these give image ``i`` a value that depends on the other
images (diversity) or on its place in the batch (interpolation), so a batch is no
longer the same as single runs: it is one visualization of several images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from revelio.errors import SettingError, SettingTypeError
from revelio.featureviz.objectives import LayerObjective, LayerSpec, Objective, Sum


class Diversity(LayerObjective):
    """Minus each image's mean cosine similarity to the others, in the Gram matrices of a layer.

    For activations ``A_n`` (``Tensor[K, P]``, ``P`` positions) the Gram matrix is
    ``G_n = A_n A_n^T / P``; image ``i`` gets ``-mean_{j != i} cos(G_i, G_j)`` (0 for a
    batch of one). Summed over the batch this is minus the mean pairwise cosine
    similarity times the batch size: maximising it pushes the images apart in style,
    so that one unit shows several facets. Add it to an objective with a weight:
    ``channel("layer3", 7) + 0.5 * diversity("layer2")`` with ``num_images=4``.

    Args:
        layer: the layer whose Gram matrices are compared.

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization", section "Diversity".
    """

    kind = "diversity"

    def _value(self, activation: Tensor) -> Tensor:
        n = activation.shape[0]
        flat = activation.flatten(2) if activation.ndim > 2 else activation.unsqueeze(-1)
        gram = torch.bmm(flat, flat.transpose(1, 2)).flatten(1) / flat.shape[-1]
        unit = gram / torch.linalg.vector_norm(gram, dim=1, keepdim=True).clamp_min(1e-12)
        similarity = unit @ unit.T
        if n == 1:
            return similarity.new_zeros(1)
        return -(similarity.sum(1) - similarity.diagonal()) / (n - 1)

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        self._shape(shapes, 2)

    def labels(self, n: int) -> tuple[str, ...]:
        return (f"{self.layer_label}:diversity",) * n


class Interpolation(Objective):
    """Image ``i`` of ``n`` maximises ``(1 - t_i) a + t_i b`` with ``t_i = i / (n - 1)``: a path from ``a`` to ``b``.

    Give every image the same seed (``seed=[s] * n``) so that the path starts from one
    image and only the objective changes along it.

    Args:
        start: the objective ``a`` of image 0 (one unit for every image).
        end: the objective ``b`` of image ``n - 1``.
        n: the number of images, >= 2.

    Raises:
        SettingTypeError: ``start`` or ``end`` is not an objective.
        SettingError: ``n`` < 2, or an objective with a unit list of another length.

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization", section
    "Interaction between neurons" (interpolating between neurons).
    """

    def __init__(self, start: Objective, end: Objective, n: int) -> None:
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, Objective):
                raise SettingTypeError(f"{name} must be an objective, got {type(value).__name__}")
            if value.num_images not in (None, n):
                raise SettingError(f"{name} has {value.num_images} units; an interpolation of {n} images needs one unit")
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise SettingError(f"n must be an integer >= 2 (images along the path), got {n!r}")
        self.start, self.end, self.n = start, end, n
        self.weights = torch.linspace(0.0, 1.0, n, dtype=torch.float64)

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        return Sum((self.start, self.end)).layers

    @property
    def num_images(self) -> int:
        return self.n

    def __call__(self, activations: Mapping[str, Tensor]) -> Tensor:
        a, b = self.start(activations), self.end(activations)
        t = self.weights.to(device=a.device, dtype=a.dtype)
        return (1 - t) * a + t * b

    def resolve(self, model: nn.Module) -> Objective:
        return Interpolation(self.start.resolve(model), self.end.resolve(model), self.n)

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        self.start.check(shapes)
        self.end.check(shapes)

    def units_needed(self, layer: str) -> tuple[int, ...] | None:
        return Sum((self.start, self.end)).units_needed(layer)

    def labels(self, n: int) -> tuple[str, ...]:
        a, b = self.start.labels(n), self.end.labels(n)
        return tuple(f"{1 - t:.2f} {a[i]} + {t:.2f} {b[i]}" for i, t in enumerate(self.weights.tolist()))


def diversity(layer: LayerSpec) -> Diversity:
    """Minus each image's mean Gram-matrix cosine similarity to the others at ``layer`` (Olah et al. 2017)."""
    return Diversity(layer)


def interpolate(start: Objective, end: Objective, n: int) -> Interpolation:
    """``n`` images from ``start`` to ``end``: image ``i`` maximises ``(1 - i / (n - 1)) start + i / (n - 1) end``."""
    return Interpolation(start, end, n)
