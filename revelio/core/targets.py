"""One rule for what to explain, shared by every method.

A target says which scalar per example is explained:

- ``None``: the model's top class for each example;
- an ``int``: that class for every example;
- a sequence or 1-D integer tensor of length N: one class per example;
- a callable ``output -> Tensor[N]``: any score per example, for models whose output
  is not a plain ``(N, classes)`` logits tensor (a dict, a tuple, a segmentation map,
  a multi-label head).

Several classes per example are explained in one call, and the maps gain a target
dimension, ``Tensor[N, K, ...]`` (``maps[:, k]`` is what a call for the k-th classes
alone gives):

- a nested sequence or 2-D integer tensor ``(N, K)``: K classes per example
  (``[[3, 7, 9], [1, 2, 4]]``);
- ``"topK"`` (``"top5"``): each example's K highest-scoring classes, best first.

:func:`resolve_target` checks everything that can be checked before the forward pass
(types, integers, non-negative, length); :meth:`Target.scores` checks the rest against
the model's output (class range, output form) before any backward pass.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any, Union

import torch
from torch import Tensor

from revelio.errors import NonFiniteError, TargetError

TargetSpec = Union[None, int, str, Sequence[int], Sequence[Sequence[int]], Tensor, Callable[[Any], Tensor]]

_CALLABLE_HINT = "pass a callable target, e.g. target=lambda out: out['logits'][:, 3]"
_TOP = re.compile(r"top([1-9][0-9]*)")


class Target:
    """A target checked against a batch size; turns a model output into scores.

    The first output it scores is the one being explained: :attr:`output`,
    :attr:`explained_classes` and :attr:`explained_scores` keep it, so that a method's
    caller learns what the model said without a second forward pass. What was asked
    for (``batch_size``, ``classes``, ``top``, ``score_fn``) is read-only.

    Attributes:
        batch_size: examples in the batch.
        classes: the requested classes, ``Tensor[N]`` or ``Tensor[N, K]`` (``None``:
            the top class, the top K, or a callable target).
        top: K for a ``"topK"`` target, else ``None``.
        score_fn: the callable of a callable target.
        output: the first output scored (detached), ``None`` until then.
        explained_classes: the classes explained, ``Tensor[N]`` or ``Tensor[N, K]``;
            ``None`` until then and for callable targets.
        explained_scores: the scores explained (detached), ``None`` until then.
    """

    def __init__(
        self,
        batch_size: int,
        classes: Tensor | None = None,
        score_fn: Callable[[Any], Tensor] | None = None,
        top: int | None = None,
    ) -> None:
        self._batch_size = batch_size
        self._classes = classes
        self._score_fn = score_fn
        self._top = top
        self.output: Any = None
        self.explained_classes: Tensor | None = None
        self.explained_scores: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def classes(self) -> Tensor | None:
        return self._classes

    @property
    def score_fn(self) -> Callable[[Any], Tensor] | None:
        return self._score_fn

    @property
    def top(self) -> int | None:
        return self._top

    @property
    def multiple(self) -> bool:
        """Whether several classes per example are explained: the maps get a target dimension."""
        return self._top is not None or (self._classes is not None and self._classes.ndim == 2)

    @property
    def count(self) -> int:
        """Classes explained per example: K for several, else 1."""
        if self._top is not None:
            return self._top
        return self._classes.shape[1] if self._classes is not None and self._classes.ndim == 2 else 1

    @property
    def recorded(self) -> bool:
        """Whether an output has been scored (and recorded) yet."""
        return self.explained_scores is not None

    def scores(self, output: Any) -> tuple[Tensor, Tensor | None]:
        """Return ``(scores, classes)``: the scores explained and the classes used.

        Both are ``Tensor[N]``, or ``Tensor[N, K]`` for several classes per example;
        ``classes`` is ``None`` for a callable target. The first output scored is
        recorded as the explained one.

        Raises:
            TargetError: the output does not fit the target (a class out of range, an
                output that is not ``(N, classes)`` for a class target, a callable that
                does not return ``N`` scores).
            NonFiniteError: a score is NaN or infinite.
        """
        scores, classes = self._scores(output)
        finite = torch.isfinite(scores.detach())
        if not bool(finite.all()):
            rows = finite.reshape(finite.shape[0], -1).all(dim=1)
            bad = torch.nonzero(~rows).flatten().tolist()
            raise NonFiniteError(
                f"the model's scores are NaN or infinite for examples {bad[:10]}; an attribution of them would be "
                "meaningless: check those inputs and the model's numerics (a division by zero, a log of 0, overflow "
                "in half precision)"
            )
        if not self.recorded:
            self.output = _detached(output)
            self.explained_classes = classes
            self.explained_scores = scores.detach()
        return scores, classes

    def per_class(self, k: int) -> Target:
        """A single-class target for the k-th classes of each example (classes known: a class or a recorded top K)."""
        classes = self._classes if self._top is None else self.explained_classes
        if classes is None or classes.ndim != 2:
            raise TargetError("per_class needs several classes per example that are known: score an output first")
        return Target(self._batch_size, classes=classes[:, k].cpu())

    def _scores(self, output: Any) -> tuple[Tensor, Tensor | None]:
        if self._score_fn is not None:
            return self._callable_scores(output), None
        if not isinstance(output, Tensor):
            raise TargetError(f"the model returned a {type(output).__name__}, not a logits tensor; {_CALLABLE_HINT}")
        if output.ndim != 2 or output.shape[0] != self._batch_size:
            raise TargetError(
                f"a class target needs model output of shape (N, classes) with N={self._batch_size}, "
                f"got {tuple(output.shape)}; {_CALLABLE_HINT}"
            )
        num_classes = output.shape[1]
        if self._top is not None:
            if self._top > num_classes:
                raise TargetError(f"target 'top{self._top}' asks for more classes than the model's {num_classes}")
            classes = output.detach().topk(self._top, dim=1).indices
        elif self._classes is None:
            classes = output.detach().argmax(dim=1)
        else:
            classes = self._classes.to(output.device)
            top = int(classes.max()) if classes.numel() else -1
            if top >= num_classes:
                raise TargetError(
                    f"target class {top} is out of range for a model with {num_classes} classes; "
                    f"use a class in 0..{num_classes - 1}"
                )
        if classes.ndim == 2:
            return output.gather(1, classes), classes
        return output.gather(1, classes[:, None]).squeeze(1), classes

    def _callable_scores(self, output: Any) -> Tensor:
        scores = self._score_fn(output)
        if not isinstance(scores, Tensor) or scores.shape != (self._batch_size,):
            got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
            raise TargetError(
                f"a callable target must return one score per example, a tensor of shape "
                f"({self._batch_size},), got {got}; reduce each example's output to one number"
            )
        if not scores.is_floating_point():
            raise TargetError(f"a callable target must return floating-point scores, got {scores.dtype}")
        return scores

    def __repr__(self) -> str:
        if self._score_fn is not None:
            what = "callable"
        elif self._top is not None:
            what = f"top{self._top}"
        elif self._classes is None:
            what = "top class"
        else:
            what = f"classes {self._classes.tolist()}"
        return f"Target(batch_size={self._batch_size}, {what})"


def resolve_target(target: TargetSpec | Target, batch_size: int) -> Target:
    """Check ``target`` for a batch of ``batch_size`` examples before any work.

    A :class:`Target` already checked for this batch size is returned as it is.

    Raises:
        TargetError: a wrong type, a non-integer or negative class, or a per-example
            target whose length is not ``batch_size``.
    """
    if isinstance(target, Target):
        if target.batch_size != batch_size:
            raise TargetError(f"a Target for a batch of {target.batch_size} was given for a batch of {batch_size}")
        return target
    if target is None:
        return Target(batch_size)
    if isinstance(target, str):
        match = _TOP.fullmatch(target.strip().lower())
        if match is None:
            raise TargetError(f"a string target must be 'topK' with K >= 1 ('top5'), got {target!r}")
        return Target(batch_size, top=int(match.group(1)))
    if hasattr(target, "__array__") and not isinstance(target, Tensor):
        target = torch.as_tensor(target)
    if isinstance(target, Tensor):
        classes = _tensor_classes(target, batch_size)
    elif callable(target):
        return Target(batch_size, score_fn=target)
    elif _is_index(target):
        classes = torch.full((batch_size,), _as_index(target), dtype=torch.long)
    elif isinstance(target, Sequence) and not isinstance(target, bytes):
        classes = _nested_classes(target)
    else:
        raise TargetError(
            "target must be None, an int, one int per example, K ints per example, 'topK', or a callable, got "
            f"{type(target).__name__}"
        )
    if classes.shape[0] != batch_size:
        raise TargetError(
            f"target has classes for {classes.shape[0]} examples in a batch of {batch_size}; "
            "give one class (or one row of classes) per example, or a single int for all"
        )
    if classes.numel() and int(classes.min()) < 0:
        raise TargetError(f"target classes must be >= 0, got {int(classes.min())}")
    return Target(batch_size, classes=classes)


def _nested_classes(target: Sequence[Any]) -> Tensor:
    """A sequence of ints -> ``Tensor[N]``; a sequence of sequences of ints -> ``Tensor[N, K]``."""
    rows = list(target)
    if rows and all(isinstance(row, Sequence) and not isinstance(row, (str, bytes)) for row in rows):
        lengths = {len(row) for row in rows}
        if len(lengths) != 1 or 0 in lengths:
            raise TargetError(
                f"several classes per example need the same number K >= 1 for every example, got lengths "
                f"{[len(row) for row in rows]}"
            )
        return torch.tensor([[_as_index(value) for value in row] for row in rows], dtype=torch.long)
    return torch.tensor([_as_index(value) for value in rows], dtype=torch.long)


def _detached(output: Any) -> Any:
    """``output`` with every tensor in it detached (tuples, lists and dicts are walked)."""
    if isinstance(output, Tensor):
        return output.detach()
    if isinstance(output, (tuple, list)):
        return type(output)(_detached(item) for item in output) if not hasattr(output, "_fields") else output
    if isinstance(output, dict):
        return {key: _detached(value) for key, value in output.items()}
    return output


def _tensor_classes(target: Tensor, batch_size: int) -> Tensor:
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TargetError(f"target must hold integer class indices, got a tensor of {target.dtype}")
    if target.ndim > 2:
        raise TargetError(
            f"target must be an int, one class per example (N,) or K classes per example (N, K), got shape "
            f"{tuple(target.shape)}"
        )
    if target.ndim == 2 and target.shape[1] == 0:
        raise TargetError(f"several classes per example need K >= 1, got shape {tuple(target.shape)}")
    classes = target.detach().to("cpu", torch.long, copy=True)
    return classes.reshape(1).expand(batch_size) if target.ndim == 0 else classes


def _is_index(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.ndim == 0 and not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
    return not isinstance(value, bool) and hasattr(value, "__index__") and not hasattr(value, "__len__")


def _as_index(value: Any) -> int:
    if isinstance(value, bool) or not _is_index(value):
        raise TargetError(f"target classes must be integers, got {value!r} ({type(value).__name__})")
    index = operator.index(value)
    if index >= 2**63:
        raise TargetError(f"target class {index} is beyond any model's classes (and a 64-bit index); give a class index")
    return index
