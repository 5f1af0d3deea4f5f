"""Many modified copies of each example: the classes they explain and the internal batches they run in.

Integrated gradients (one copy per point of the path) and SmoothGrad (one copy per noise
sample) explain many copies of each of the N examples. Their work is a flat list of
copies in which item ``j`` is copy ``j // N`` of example ``j % N``, run
``internal_batch_size`` items at a time (:func:`revelio.core.batching.chunks`). Every
copy explains the class of its clean example, found from one forward pass of the clean
inputs, as the papers do (Sundararajan et al. 2017 and Smilkov et al. 2017 explain the
class predicted for the original image).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from revelio.core.batching import auto_batch_size, chunks
from revelio.core.targets import Target


def clean_classes(model: nn.Module, inputs: Tensor, target: Target) -> Tensor | None:
    """Score ``target`` on one forward pass of the clean ``inputs`` (no graph) and return the classes it explains.

    The pass is the one :meth:`~revelio.attribution.Attribution.explain` reports (the
    target records it) and it checks the target against the model's output before any
    backward pass.

    Returns:
        ``Tensor[N]`` or ``Tensor[N, K]`` classes (the top class or top K resolved), or
        ``None`` for a callable target, which scores the copies itself.
    """
    with torch.no_grad():
        # a copy: a model that writes its input in place must not write the caller's tensor
        _, classes = target.scores(model(inputs.detach().clone()))
    return classes


def copies_target(target: Target, classes: Tensor | None, examples: Tensor) -> Target:
    """The target of a batch of copies, copy ``j`` being one of example ``examples[j]``.

    Args:
        target: the call's target (its callable, for a callable target).
        classes: :func:`clean_classes`'s result.
        examples: ``Tensor[B]`` example index of each copy.
    """
    if classes is None:
        return Target(len(examples), score_fn=target.score_fn)
    return Target(len(examples), classes=classes[examples.to(classes.device)])


def copies_batch_size(
    model: nn.Module, inputs: Tensor, size: int | None, count: int = 1, *, backward: bool = True
) -> int:
    """The internal batch: ``size`` if given, else as many copies as fit with a backward pass.

    ``count`` classes per example multiply the gradient memory of a batched backward
    pass, so the automatic size is divided by it. ``backward=False``: copies that only
    run forward (perturbation methods), without a graph, for every class at once.
    """
    if size is not None:
        return size
    # a copy: a model that writes its input in place must not write the caller's tensor
    return max(1, auto_batch_size(model, inputs[:1].clone(), backward=backward) // (count if backward else 1))


def copy_batches(
    copies: int, examples: int, size: int, device: torch.device
) -> Iterator[tuple[slice, Tensor, Tensor]]:
    """``(items, copy, example)`` of each internal batch of ``copies * examples`` items.

    Item ``j`` is copy ``j // examples`` of example ``j % examples``; a batch holds the
    ``items`` slice, at most ``size`` consecutive items (so it may end in the middle of a
    copy), and ``copy`` and ``example`` are their index tensors on ``device``.
    """
    for chunk in chunks(copies * examples, size):
        items = torch.arange(chunk.start, chunk.stop, device=device)
        yield chunk, items // examples, items % examples


def accumulate(total: Tensor | None, examples: Tensor, values: Tensor, count: int) -> Tensor:
    """``total`` (``Tensor[count, ...]``, created at the first batch) plus each row of ``values`` at its example."""
    if total is None:
        total = values.new_zeros((count, *values.shape[1:]))
    return total.index_add_(0, examples, values)
