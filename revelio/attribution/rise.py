"""RISE: the score under random masks, averaged with the masks as weights."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.attribution.base import Attribution
from revelio.attribution.perturbation import CopyScores, Score, internal_batch, weighted_sums, with_targets
from revelio.core.batching import check_batch_size
from revelio.core.copies import copy_batches
from revelio.core.targets import TargetSpec, resolve_target
from revelio.errors import InputError, OptionError

Grid = int | Sequence[int]


class RISE(Attribution):
    """Randomized input sampling: ``S = sum_i f_c(x * M_i) M_i / (N p)`` over N random smooth masks.

    ``S(λ)`` estimates ``E[f_c(x * M) | M(λ) = 1]``, the expected score when pixel λ is
    kept (Petsiuk et al. 2018, Sec. 3). Each mask: a ``grid`` of cells, each kept with
    probability ``p``, upsampled bilinearly to ``(grid + 1) x cell`` pixels (``cell =
    ceil(H / grid)``) and cropped to ``(H, W)`` at a random shift in ``[0, cell)`` per
    axis, as the authors' code does (:func:`rise_masks`). The masks multiply every
    channel.

    Cost: one forward pass of the batch, then one forward pass per mask and example,
    batched (``internal_batch_size`` copies per pass) and without a graph; every class
    asked for comes from the same passes. No backward pass.

    Petsiuk, Das, Saenko 2018, "RISE: Randomized Input Sampling for Explanation of
    Black-box Models".

    Example:
        >>> maps = RISE(model).attribute(images, target=281, masks=4000)  # (N, 1, H, W)
    """

    multiple_targets = True

    def attribute(
        self,
        inputs: Tensor,
        target: TargetSpec = None,
        *,
        masks: int | Tensor = 1000,
        grid: Grid = 7,
        p: float = 0.5,
        score: Score = "probability",
        seed: int = 0,
        internal_batch_size: int | None = None,
    ) -> Tensor:
        """The RISE map of ``target`` for each example: ``Tensor[N, 1, H, W]``.

        Several classes per example (``target`` of shape ``(N, K)`` or ``"topK"``) give
        ``Tensor[N, K, 1, H, W]`` from the same forward passes.

        Args:
            inputs: ``Tensor[N, C, H, W]`` on the model's device.
            target: ``None`` (top class), a class, one class per example, K classes per
                example, ``"topK"``, or a callable.
            masks: how many random masks, one forward pass per mask and example (the
                paper uses 4000 for ResNet-50; the default, a quarter of that, keeps a
                CPU usable; the noise shrinks as ``1 / sqrt(masks)``), or the masks
                themselves, ``Tensor[M, 1, H, W]`` or ``Tensor[M, H, W]`` with values in
                [0, 1] (then ``grid`` and ``seed`` are unused).
            grid: cells per side of the random grid, an int or ``(rows, columns)``; the
                paper's 7 (7 x 7 cells of 32 pixels at 224 x 224).
            p: the probability that a cell is kept, in (0, 1]; the paper's 0.5. With
                given masks, their mean value (it normalises the sum).
            score: ``"probability"``, the class's softmax, as in the paper; ``"logit"``,
                the class's output. A callable target's score is used as it returns it.
            seed: seeds the masks (a ``torch.Generator`` on the CPU): the same seed gives
                the same masks on every device, batch size and ``internal_batch_size``.
            internal_batch_size: masked copies per forward pass; ``None`` chooses it from
                the memory budget (:func:`~revelio.core.batching.auto_batch_size`).

        Raises:
            InputError: inputs that are not ``(N, C, H, W)``; ``internal_batch_size`` that
                is not a positive int.
            OptionError: ``masks`` < 1, masks of another size than the inputs or with
                values outside [0, 1], ``grid`` < 1, ``p`` outside (0, 1], an option of
                the wrong kind.
        """
        target = resolve_target(target, inputs.shape[0])
        if inputs.ndim != 4:
            raise InputError(
                f"RISE's masks cover (H, W): its masked copies need inputs (N, C, H, W), got shape "
                f"{tuple(inputs.shape)}"
            )
        size = (inputs.shape[2], inputs.shape[3])
        p = _probability(p)
        check_batch_size(internal_batch_size)
        if isinstance(masks, Tensor):
            source = _GivenMasks(masks, size)
        else:
            source = _RandomMasks(_count(masks), size, _grid(grid), p, _seed(seed))

        x = inputs.detach()
        scores = CopyScores(self.model, x, target, score)
        batch = internal_batch(self.model, x, internal_batch_size)
        count = x.shape[0]
        maps = x.new_zeros(count, scores.clean.shape[1], *size)
        for items, mask, example in copy_batches(source.count, count, batch, x.device):  # item j: mask j // N of j % N
            first, last = items.start // count, (items.stop - 1) // count
            batch_masks = source.block(slice(first, last + 1), x.device, x.dtype)[mask - first]  # each drawn once
            maps += weighted_sums(scores(x[example] * batch_masks, example), batch_masks[:, 0], example, count)
        maps /= source.count * p
        return with_targets(maps[:, :, None], target)


def rise_masks(
    count: int, size: tuple[int, int], *, grid: Grid = 7, p: float = 0.5, seed: int = 0,
    device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The masks :class:`RISE` draws with these settings, ``Tensor[count, 1, H, W]`` of values in [0, 1].

    A ``grid`` of cells, each kept (1) with probability ``p``, upsampled bilinearly
    (half-pixel centres, edges clamped: ``F.interpolate(..., align_corners=False)``) to
    ``((rows + 1) cell_h, (columns + 1) cell_w)`` with ``cell = ceil(size / grid)``, then
    cropped to ``size`` at a random shift in ``[0, cell)`` per axis. The cells are drawn
    first, then the row shifts, then the column shifts, from one ``torch.Generator`` seeded
    with ``seed`` on the CPU.

    Petsiuk, Das, Saenko 2018, "RISE", Sec. 3 (mask generation). The authors' code
    upsamples with scikit-image (``resize(order=1, mode="reflect")``), which mirrors at
    the border where ``F.interpolate`` clamps: the masks differ there, within half a cell
    of the upsampled grid's edge.

    Raises:
        OptionError: ``count`` or ``grid`` < 1, ``p`` outside (0, 1], a value of the wrong kind.
    """
    source = _RandomMasks(_count(count), (int(size[0]), int(size[1])), _grid(grid), _probability(p), _seed(seed))
    return source.block(slice(0, source.count), torch.device(device), dtype)


# -- internals ---------------------------------------------------------------------------


class _RandomMasks:
    """RISE's random masks, drawn once as cells and shifts; a block of them is upsampled on demand."""

    def __init__(self, count: int, size: tuple[int, int], grid: tuple[int, int], p: float, seed: int) -> None:
        self.count = count
        self.size = size
        self.cell = (math.ceil(size[0] / grid[0]), math.ceil(size[1] / grid[1]))
        self.upsampled = ((grid[0] + 1) * self.cell[0], (grid[1] + 1) * self.cell[1])
        generator = torch.Generator().manual_seed(seed)
        self.cells = torch.rand(count, 1, *grid, generator=generator) < p
        self.row_shifts = torch.randint(0, self.cell[0], (count,), generator=generator)
        self.column_shifts = torch.randint(0, self.cell[1], (count,), generator=generator)

    def block(self, block: slice, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Masks ``block``, ``Tensor[B, 1, H, W]``."""
        cells = self.cells[block].to(device, dtype)
        smooth = F.interpolate(cells, size=self.upsampled, mode="bilinear", align_corners=False)[:, 0]
        rows = (self.row_shifts[block][:, None] + torch.arange(self.size[0])).to(device)
        columns = (self.column_shifts[block][:, None] + torch.arange(self.size[1])).to(device)
        picked = torch.arange(smooth.shape[0], device=device)[:, None, None]
        return smooth[picked, rows[:, :, None], columns[:, None, :]][:, None]


class _GivenMasks:
    """Masks the caller gave, checked against the inputs' size."""

    def __init__(self, masks: Tensor, size: tuple[int, int]) -> None:
        if masks.ndim == 3:
            masks = masks[:, None]
        if masks.ndim != 4 or masks.shape[1] != 1 or tuple(masks.shape[2:]) != size:
            raise OptionError(
                f"option 'masks' must be (M, 1, H, W) or (M, H, W) with (H, W) = {size} as the inputs, got shape "
                f"{tuple(masks.shape)}"
            )
        if masks.shape[0] == 0:
            raise OptionError("option 'masks' holds no mask; give at least one, or an int to draw that many")
        if not masks.is_floating_point():
            masks = masks.float()
        low, high = float(masks.min()), float(masks.max())
        if not (0.0 <= low and high <= 1.0):
            raise OptionError(f"option 'masks' must hold values in [0, 1], got values in [{low:g}, {high:g}]")
        self.masks = masks.detach()
        self.count = masks.shape[0]

    def block(self, block: slice, device: torch.device, dtype: torch.dtype) -> Tensor:
        return self.masks[block].to(device, dtype)


def _count(masks: object) -> int:
    if isinstance(masks, bool) or not isinstance(masks, int):
        raise OptionError(f"option 'masks' takes an int (how many) or a tensor of masks, got {masks!r}")
    if masks < 1:
        raise OptionError(f"option 'masks' must be at least 1, got {masks}")
    return masks


def _grid(grid: object) -> tuple[int, int]:
    cells = (grid, grid) if isinstance(grid, int) and not isinstance(grid, bool) else grid
    if (
        not isinstance(cells, Sequence) or isinstance(cells, (str, bytes)) or len(cells) != 2
        or not all(isinstance(c, int) and not isinstance(c, bool) for c in cells)
    ):
        raise OptionError(f"option 'grid' takes an int or a pair of ints (rows, columns), got {grid!r}")
    if min(cells) < 1:
        raise OptionError(f"option 'grid' needs at least 1 cell per side, got {grid!r}")
    return int(cells[0]), int(cells[1])


def _probability(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise OptionError(f"option 'p' takes a number in (0, 1], got {p!r}")
    if not 0.0 < p <= 1.0:
        raise OptionError(f"option 'p' must be in (0, 1] (the probability of keeping a cell), got {p}")
    return float(p)


def _seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise OptionError(f"option 'seed' takes an int, got {seed!r}")
    return seed
