"""Gradients of target scores: one per example, or K per example from one batched backward pass."""

from __future__ import annotations

import torch
from torch import Tensor


def score_gradient(scores: Tensor, wrt: Tensor, *, retain_graph: bool = False, allow_unused: bool = False) -> Tensor | None:
    """The gradient of each example's scores w.r.t. ``wrt``.

    Examples are independent (the model runs in eval mode), so the gradient of the
    summed scores holds each example's own gradient in its row.

    Args:
        scores: ``Tensor[N]``, one score per example, or ``Tensor[N, K]``, K scores per
            example (several targets).
        wrt: a tensor the scores depend on, ``Tensor[N, ...]`` (the input, a layer's output).
        retain_graph: keep the graph for a further backward pass.
        allow_unused: return ``None`` when the scores do not depend on ``wrt``.

    Returns:
        ``Tensor[N, ...]`` for ``scores[N]``; ``Tensor[N, K, ...]`` for ``scores[N, K]``, from
        one backward pass batched over the K targets
        (``torch.autograd.grad(..., is_grads_batched=True)``), not K passes.
    """
    if scores.ndim == 1:
        (gradient,) = torch.autograd.grad(scores.sum(), wrt, retain_graph=retain_graph, allow_unused=allow_unused)
        return gradient
    count = scores.shape[1]
    one_hot = torch.eye(count, dtype=scores.dtype, device=scores.device)[:, None, :].expand(count, *scores.shape)
    (gradient,) = torch.autograd.grad(
        scores, wrt, grad_outputs=one_hot, retain_graph=retain_graph, allow_unused=allow_unused,
        is_grads_batched=True,
    )
    return None if gradient is None else gradient.transpose(0, 1)
