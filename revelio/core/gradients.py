"""Gradients of target scores: one per example, or K per example from one batched backward pass."""

from __future__ import annotations

import torch
from torch import Tensor

from revelio.errors import NotDifferentiableError


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

    Raises:
        NotDifferentiableError: the scores do not depend on ``wrt`` (and ``allow_unused``
            is false): a model that runs under ``torch.no_grad()``, or a target that
            returns a constant.

    Returns:
        ``Tensor[N, ...]`` for ``scores[N]``; ``Tensor[N, K, ...]`` for ``scores[N, K]``, from
        the one forward pass that made the scores: on a GPU one backward pass batched over
        the K targets (``torch.autograd.grad(..., is_grads_batched=True)``); on the CPU K
        backward passes through the kept graph, which the batched pass does not beat there
        (its vmapped kernels cost what K passes cost, at K times the memory).
    """
    if not scores.requires_grad:
        gradient = None
    elif scores.ndim == 1:
        (gradient,) = torch.autograd.grad(scores.sum(), wrt, retain_graph=retain_graph, allow_unused=True)
    elif scores.device.type == "cpu":
        count = scores.shape[1]
        columns = [
            torch.autograd.grad(scores[:, k].sum(), wrt, retain_graph=retain_graph or k < count - 1,
                                allow_unused=True)[0]
            for k in range(count)
        ]
        gradient = None if columns[0] is None else torch.stack(columns, dim=1)
    else:
        count = scores.shape[1]
        one_hot = torch.eye(count, dtype=scores.dtype, device=scores.device)[:, None, :].expand(count, *scores.shape)
        (gradient,) = torch.autograd.grad(
            scores, wrt, grad_outputs=one_hot, retain_graph=retain_graph, allow_unused=True, is_grads_batched=True
        )
        gradient = None if gradient is None else gradient.transpose(0, 1)
    if gradient is None and not allow_unused:
        raise NotDifferentiableError(
            "the target scores do not depend on the inputs through a differentiable path: does the model run "
            "(part of) its forward under torch.no_grad() or detach, or does the target return a constant? "
            "Gradient methods need scores computed from the inputs with gradients enabled"
        )
    return gradient


def input_leaf(inputs: Tensor) -> tuple[Tensor, Tensor]:
    """``(leaf, x)``: a copy of ``inputs`` that requires grad, and what to feed the model.

    ``x`` is a differentiable copy of ``leaf``, not a leaf itself, so a model that writes
    its input in place (``x.sub_(mean)``, ``F.relu(x, inplace=True)`` as its first op)
    runs, and the caller's tensor is never written (an inference tensor works too).
    Take gradients w.r.t. ``leaf``.
    """
    leaf = inputs.detach().clone().requires_grad_(True)
    return leaf, leaf.clone()
