"""What perturbation methods share: the scores of perturbed copies, read as the clean batch's, in internal batches.

Occlusion and RISE explain a score by running the model on perturbed copies of each
example, forward only: no graph is recorded and no gradient is computed. Every class
asked for (K per example with several targets) is read from the same forward passes.
The copies follow :mod:`revelio.core.copies`: item ``j`` of the flat list is copy
``j // N`` of example ``j % N``, ``internal_batch_size`` items per forward pass.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from revelio.core.copies import clean_classes, copies_batch_size, copies_target
from revelio.core.explainable import is_exported
from revelio.core.targets import Target
from revelio.errors import NonFiniteError

Score = Literal["logit", "probability"]
"""What is read from each forward pass: the class's output, or its softmax (the base class checks the value)."""


class CopyScores:
    """The explained scores of a batch and of perturbed copies of it, from forward passes without a graph.

    Built from the clean batch: its forward pass is the one the target records (so
    ``explain()`` reports the model's output for the inputs themselves), and it fixes
    the classes read from every copy (a ``"topK"`` target's K classes are the clean
    output's, not each copy's).

    Args:
        model: the network, already in the state the call runs it in.
        inputs: the clean batch ``Tensor[N, ...]``.
        target: the checked target for ``N`` examples.
        score: ``"logit"``: the class's output; ``"probability"``: its softmax over the
            output's dim 1. A callable target's score is used as it returns it, either way.

    Attributes:
        clean: the clean batch's scores, ``Tensor[N, K]`` (K = 1 for one class per example).
    """

    def __init__(self, model: nn.Module, inputs: Tensor, target: Target, score: Score) -> None:
        self.model = model
        self.target = target
        self.score = score
        self.dtype = inputs.dtype
        self.classes = clean_classes(model, inputs, target)  # the clean pass: checks the target, records the output
        self.clean = self.read(target.output, torch.arange(inputs.shape[0], device=inputs.device))

    def __call__(self, copies: Tensor, examples: Tensor) -> Tensor:
        """Scores ``Tensor[B, K]`` of copies ``Tensor[B, ...]``, copy ``j`` being one of example ``examples[j]``."""
        with torch.no_grad():
            output = self.model(copies)
        try:
            return self.read(output, examples)
        except NonFiniteError as error:
            raise NonFiniteError(
                "the model's scores are NaN or infinite for perturbed copies of the inputs (a region replaced by the "
                "baseline, or masked): a model that divides by a statistic of its input (its std, its norm) fails "
                "on constant regions; try another baseline, or check the model's numerics"
            ) from error

    def read(self, output: Tensor, examples: Tensor) -> Tensor:
        """The scores in ``output``, the model's output for copies of ``examples``: ``Tensor[B, K]``."""
        if self.classes is not None and self.score == "probability":
            output = output.detach().to(torch.promote_types(output.dtype, torch.float32)).softmax(dim=1)
        scores, _ = copies_target(self.target, self.classes, examples).scores(output)
        return scores.detach().reshape(len(examples), -1).to(self.dtype)


def internal_batch(model: nn.Module, inputs: Tensor, internal_batch_size: int | None) -> int:
    """The copies per forward pass: ``internal_batch_size``, or the memory budget's choice (forward only) for ``None``.

    A ``torch.export`` graph with a fixed batch dimension takes only the batch it was
    exported with: it gets the caller's, one copy of every example per pass.
    """
    if _fixed_batch(model):
        return inputs.shape[0]
    return copies_batch_size(model, inputs, internal_batch_size, backward=False)


def weighted_sums(scores: Tensor, masks: Tensor, examples: Tensor, count: int) -> Tensor:
    """``sum_j [examples[j] = n] scores[j, k] masks[j]`` for each example n and class k: ``Tensor[count, K, ...]``.

    One matrix product over the batch (``scores``: ``Tensor[B, K]``, ``masks``:
    ``Tensor[B, ...]``), without a ``B x K x mask`` intermediate.
    """
    weights = scores.new_zeros(len(examples), count, scores.shape[1])
    weights[torch.arange(len(examples), device=scores.device), examples] = scores
    return (weights.flatten(1).T @ masks.flatten(1)).view(count, scores.shape[1], *masks.shape[1:])


def with_targets(maps: Tensor, target: Target) -> Tensor:
    """``maps`` of shape ``(N, K, ...)`` as the caller asked: the target dimension dropped for one class."""
    return maps if target.multiple else maps[:, 0]


def _fixed_batch(model: nn.Module) -> bool:
    """An exported graph whose first input's batch dimension is a number, not a symbol."""
    if not is_exported(model):
        return False
    for node in model.graph.nodes:
        if node.op == "placeholder":
            value = node.meta.get("val")
            return isinstance(value, Tensor) and value.ndim > 0 and isinstance(value.shape[0], int)
    return False


__all__ = ["CopyScores", "Score", "internal_batch", "weighted_sums", "with_targets"]
