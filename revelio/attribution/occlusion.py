"""Occlusion: how much the score drops when a window of the input is replaced by a baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from revelio.attribution.base import Attribution
from revelio.attribution.perturbation import CopyScores, Score, internal_batch, with_targets
from revelio.core.batching import check_batch_size
from revelio.core.copies import copy_batches
from revelio.core.targets import TargetSpec, resolve_target
from revelio.errors import OptionError

Sizes = int | Sequence[int] | None

DEFAULT_WINDOWS_PER_SIDE = 8
"""With no window given, the window spans ``1 / 8`` of the input in each dim after the channels (rounded up)."""


class Occlusion(Attribution):
    """The score's drop when a sliding window is replaced by a baseline, spread over the window.

    For each window position ``w``: ``d_w = f_c(x) - f_c(x with the window replaced by
    the baseline)``; each element's attribution is the mean of ``d_w`` over the windows
    that cover it (Captum's convention: the sum divided by the count). Positions start
    at 0 and step by the strides; where the last step overruns the input, the last
    window is cut at the border, so every element is covered.

    Cost: one forward pass of the batch, then one forward pass per window position and
    example, batched (``internal_batch_size`` copies per pass) and without a graph; every
    class asked for comes from the same passes. No backward pass.

    Zeiler and Fergus 2014, "Visualizing and Understanding Convolutional Networks"
    (Sec. 4.2, occlusion sensitivity).

    Example:
        >>> maps = Occlusion(model).attribute(images, target=281, window=(15, 15), strides=8)
    """

    multiple_targets = True

    def attribute(
        self,
        inputs: Tensor,
        target: TargetSpec = None,
        *,
        window: Sizes = None,
        strides: Sizes = None,
        baseline: float | Tensor = 0.0,
        score: Score = "logit",
        internal_batch_size: int | None = None,
    ) -> Tensor:
        """The occlusion map of ``target`` for each example: input-shaped ``Tensor[N, ...]``.

        Several classes per example (``target`` of shape ``(N, K)`` or ``"topK"``) give
        ``Tensor[N, K, ...]`` from the same forward passes.

        Args:
            inputs: ``Tensor[N, C, H, W]`` (any ``Tensor[N, ...]``) on the model's device.
            target: ``None`` (top class), a class, one class per example, K classes per
                example, ``"topK"``, or a callable.
            window: the sliding window's shape over one example: ``(C', h, w)``, or the
                sizes of the last dims only, ``(h, w)``, the dims left out (the channels)
                spanned whole; an int ``k`` is ``(k, k)``. ``None``: all channels and an
                eighth of the input in each further dim, rounded up (28 x 28 at
                224 x 224, 8 x 8 at 64 x 64).
            strides: the steps between window positions, in the window's forms (a dim
                left out steps by the window's size there). ``None``: half the window,
                rounded up, and the channel window's size. Each stride is at most the
                window where the window is smaller than the input (otherwise elements
                would be skipped).
            baseline: what a window is replaced by: a number, or a tensor that broadcasts
                to the inputs (the inputs' shape, one example's shape, per channel
                ``(C, 1, 1)``, per example ``(N, 1, 1, 1)``). 0 is the dataset's mean
                colour for inputs normalised by mean and std, the grey square of Zeiler
                and Fergus.
            score: ``"logit"`` (the class's output, as Captum) or ``"probability"`` (its
                softmax, the paper's Fig. 7 display). A callable target's score is used as
                it returns it.
            internal_batch_size: perturbed copies per forward pass; ``None`` chooses it
                from the memory budget (:func:`~revelio.core.batching.auto_batch_size`).

        Raises:
            OptionError: a window larger than the input, a stride that is 0 or larger
                than the window, a baseline that does not broadcast to the inputs, an
                option of the wrong kind.
            InputError: ``internal_batch_size`` that is not a positive int.
        """
        target = resolve_target(target, inputs.shape[0])
        shape = tuple(inputs.shape[1:])
        full_window, full_strides = sliding_windows(shape, window, strides)
        base = _baseline(baseline, inputs)
        check_batch_size(internal_batch_size)

        x = inputs.detach()
        scores = CopyScores(self.model, x, target, score)
        size = internal_batch(self.model, x, internal_batch_size)
        covers = [_covers(n, w, s, x.device) for n, w, s in zip(shape, full_window, full_strides)]
        positions = [cover.shape[0] for cover in covers]
        total, count = math.prod(positions), x.shape[0]
        drops = x.new_empty(total * count, scores.clean.shape[1])  # item j: window j // N of example j % N
        for items, numbers, example in copy_batches(total, count, size, x.device):
            replacement = base[example] if base.shape[0] > 1 else base  # per-example baselines only are indexed
            occluded = torch.where(_window_masks(covers, positions, numbers), replacement, x[example])
            drops[items] = scores.clean[example] - scores(occluded, example)
        # every element's mean over the windows covering it, one dim at a time: the windows are boxes
        spread = drops.view(total, count, -1).permute(1, 2, 0).reshape(count, -1, *positions)
        for cover in covers:
            spread = torch.tensordot(spread, cover.to(spread.dtype), dims=([2], [0]))
        coverage = _outer([cover.sum(dim=0) for cover in covers])
        return with_targets(spread / coverage.to(spread.dtype), target)


def sliding_windows(shape: Sequence[int], window: Sizes = None, strides: Sizes = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The window and strides of :class:`Occlusion` over one example of ``shape``, one size per dim.

    Args:
        shape: one example's shape, ``(C, H, W)`` (any ``(D1, ...)``).
        window: as :meth:`Occlusion.attribute` takes it.
        strides: as :meth:`Occlusion.attribute` takes it.

    Returns:
        ``(window, strides)``, each a tuple of ``len(shape)`` ints (Captum's
        ``sliding_window_shapes`` and ``strides``).

    Raises:
        OptionError: not ``None``, an int or a sequence of ints; more sizes than dims; a
            size that is not positive; a window larger than the input; a stride larger
            than the window where the window is smaller than the input.
    """
    shape = tuple(int(n) for n in shape)
    if window is None:
        leading = (shape[0],) if len(shape) >= 2 else ()  # the channels, whole
        full_window = (*leading, *(math.ceil(n / DEFAULT_WINDOWS_PER_SIDE) for n in shape[len(leading):]))
    else:
        full_window = _sizes("window", window, shape, fill=shape)
    for dim, (size, extent) in enumerate(zip(full_window, shape)):
        if size > extent:
            raise OptionError(
                f"option 'window' {_given(window)} is larger than the inputs {shape} in dim {dim + 1} "
                f"({size} > {extent}); use a window of at most the input's size"
            )
    if strides is None:
        leading = full_window[:1] if len(shape) >= 2 else ()  # channel windows side by side
        full_strides = (*leading, *(math.ceil(size / 2) for size in full_window[len(leading):]))
    else:
        full_strides = _sizes("strides", strides, shape, fill=full_window)
    for dim, (step, size, extent) in enumerate(zip(full_strides, full_window, shape)):
        if step > size and size < extent:
            raise OptionError(
                f"option 'strides' {_given(strides)} skips elements: in dim {dim + 1} the stride {step} is larger "
                f"than the window {size}, so elements between windows would be left out; use strides of at most "
                f"the window {full_window}"
            )
    return full_window, full_strides


def window_count(shape: Sequence[int], window: Sizes = None, strides: Sizes = None) -> int:
    """How many window positions :class:`Occlusion` perturbs per example (its forward passes per example)."""
    full_window, full_strides = sliding_windows(shape, window, strides)
    return math.prod(math.ceil((n - w) / s) + 1 for n, w, s in zip(shape, full_window, full_strides))


# -- internals ---------------------------------------------------------------------------


def _sizes(name: str, value: Sizes, shape: tuple[int, ...], fill: tuple[int, ...]) -> tuple[int, ...]:
    """One size per dim of ``shape``: an int for every dim after the first, or a sequence for the last dims.

    The dims left out take their size from ``fill`` (the input's extent for a window: it
    spans them whole; the window's size for strides).
    """
    if isinstance(value, Tensor) and value.ndim <= 1 and not (value.is_floating_point() or value.dtype == torch.bool):
        value = value.tolist()
    if _is_int(value):
        sizes: tuple[int, ...] = (int(value),) * max(1, len(shape) - 1)  # type: ignore[arg-type]
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and all(_is_int(v) for v in value):
        sizes = tuple(int(v) for v in value)
    else:
        raise OptionError(f"option {name!r} takes None, an int or a tuple of ints, got {value!r}")
    if not 1 <= len(sizes) <= len(shape):
        raise OptionError(
            f"option {name!r} {_given(value)} has {len(sizes)} sizes for examples of shape {shape}; give one to "
            f"{len(shape)}, for the last dims (the dims left out are spanned whole)"
        )
    if any(size < 1 for size in sizes):
        raise OptionError(f"option {name!r} needs positive sizes, got {_given(value)}")
    return (*fill[: len(shape) - len(sizes)], *sizes)


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def _given(value: object) -> str:
    return repr(tuple(value) if isinstance(value, list) else value)


def _baseline(baseline: float | Tensor, inputs: Tensor) -> Tensor:
    """The baseline in the inputs' dtype and device, with the inputs' number of dims: ``(N or 1, ...)``.

    Not expanded: a baseline the same for every example stays one example, or one number.
    """
    if isinstance(baseline, Tensor):
        value = baseline.detach().to(inputs.device, inputs.dtype)
        try:
            fits = torch.broadcast_shapes(value.shape, inputs.shape) == inputs.shape  # it must not enlarge them
        except RuntimeError:
            fits = False
        if not fits:
            raise OptionError(
                f"option 'baseline' of shape {tuple(baseline.shape)} does not broadcast to the inputs' shape "
                f"{tuple(inputs.shape)}; give a number, or a tensor of the inputs' shape, of one example's shape "
                f"{tuple(inputs.shape[1:])}, per channel {(inputs.shape[1], *([1] * (inputs.ndim - 2)))} or per "
                f"example {(inputs.shape[0], *([1] * (inputs.ndim - 1)))}"
            )
        return value.reshape((1,) * (inputs.ndim - value.ndim) + tuple(value.shape))
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise OptionError(f"option 'baseline' takes a number or a tensor, got {baseline!r}")
    return torch.full((1,) * inputs.ndim, float(baseline), dtype=inputs.dtype, device=inputs.device)


def _covers(extent: int, size: int, step: int, device: torch.device) -> Tensor:
    """``Tensor[P, extent]`` of bools: row ``p`` marks the elements of the window at position ``p`` in one dim."""
    starts = torch.arange(0, math.ceil((extent - size) / step) + 1, device=device) * step
    index = torch.arange(extent, device=device)
    return (index[None] >= starts[:, None]) & (index[None] < starts[:, None] + size)


def _window_masks(covers: list[Tensor], positions: list[int], flat: Tensor) -> Tensor:
    """``Tensor[B, *shape]`` of bools: the windows numbered ``flat`` (row-major over the positions of every dim)."""
    masks: Tensor | None = None
    for dim, cover in enumerate(covers):
        index = (flat // math.prod(positions[dim + 1 :])) % positions[dim]
        rows = cover[index].view(-1, *([1] * dim), cover.shape[1], *([1] * (len(covers) - dim - 1)))
        masks = rows if masks is None else masks & rows
    return masks  # type: ignore[return-value]


def _outer(vectors: list[Tensor]) -> Tensor:
    """The outer product of 1-D tensors, ``Tensor[len(v0), len(v1), ...]``."""
    result = vectors[0]
    for vector in vectors[1:]:
        result = result[..., None] * vector
    return result
