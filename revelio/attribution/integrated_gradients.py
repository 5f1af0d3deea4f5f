"""Integrated gradients: the gradient integrated along the straight path from a baseline to the input."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from revelio.attribution.base import Attribution
from revelio.core.batching import check_batch_size
from revelio.core.copies import accumulate, clean_classes, copies_batch_size, copies_target, copy_batches
from revelio.core.gradients import input_leaf, score_gradient
from revelio.core.quadrature import check_quadrature, quadrature
from revelio.core.state import preserved_model_state
from revelio.core.targets import TargetSpec, resolve_target
from revelio.errors import InputError

QuadratureRule = Literal["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]
Baseline = float | Tensor


class IntegratedGradients(Attribution):
    """Integrated gradients: ``(x - x') * integral_0^1 d f_c(x' + t (x - x')) / d x dt``.

    The integral is a quadrature over ``steps`` points of the straight path from the
    baseline ``x'`` to the input ``x`` (:mod:`revelio.core.quadrature`: Riemann sums
    left, right, middle, trapezoid, or Gauss-Legendre). Completeness: the map sums to
    ``f_c(x) - f_c(x')`` up to the quadrature error, which
    :meth:`convergence_delta` measures; on a linear model the map is exactly
    ``(x - x') * w_c``. Every point of the path explains the class of the input (the
    top class of the clean input for ``target=None``).

    Cost: ``steps`` forward and input-backward passes per example, run
    ``internal_batch_size`` (example, point) items at a time, plus one forward pass of
    the clean inputs; several classes per example share the forward passes (one batched
    backward pass per internal batch). Peak memory is that of one internal batch,
    whatever ``steps``.

    Not input invariant with a fixed baseline such as zero: a constant shift of the
    input that the first layer absorbs changes ``x - x'`` and so the map (Kindermans et
    al. 2019, "The (Un)reliability of Saliency Methods").

    Sundararajan, Taly, Yan 2017, "Axiomatic Attribution for Deep Networks".
    Captum: ``IntegratedGradients``, the same nodes and weights for every rule except
    ``"riemann_trapezoid"``, whose weights Captum scales by ``(n - 1) / n``
    (:mod:`revelio.core.quadrature`).

    Example:
        >>> ig = IntegratedGradients(model)
        >>> maps = ig.attribute(images, target=281, steps=64)
        >>> ig.convergence_delta(images, maps, target=281)  # ~0: the map sums to f(x) - f(0)
    """

    multiple_targets = True

    def attribute(
        self,
        inputs: Tensor,
        target: TargetSpec = None,
        *,
        baseline: Baseline = 0.0,
        steps: int = 50,
        method: QuadratureRule = "gausslegendre",
        internal_batch_size: int | None = None,
    ) -> Tensor:
        """The integrated gradients of the target score for each example: a signed, input-shaped map.

        Args:
            inputs: ``Tensor[N, ...]`` on the model's device.
            target: ``None`` (top class), a class, one class per example, K classes per
                example, ``"topK"``, or a callable (it scores every point of the path).
            baseline: the path's start ``x'``: a number, or a tensor broadcastable to
                ``inputs`` (``Tensor[C, H, W]`` for all examples, ``Tensor[N, C, H, W]``
                per example, ``Tensor[1, C, 1, 1]`` per channel).
            steps: points on the path (Captum's ``n_steps``).
            method: the quadrature rule: ``"gausslegendre"`` (default, as Captum),
                ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"`` or
                ``"riemann_trapezoid"``.
            internal_batch_size: (example, point) items per forward and backward pass;
                ``None`` chooses it from the memory budget
                (:func:`~revelio.core.batching.auto_batch_size`). Any size gives the same
                map up to float rounding.

        Returns:
            ``Tensor[N, ...]`` like ``inputs``; ``Tensor[N, K, ...]`` for K classes per example.

        Raises:
            ValueError: an unknown ``method``, ``steps`` below 1 (2 for the trapezoid), a
                bad ``internal_batch_size``, or a baseline that does not fit the
                inputs; all before any forward pass.
        """
        check_quadrature(method, steps)
        size = check_batch_size(internal_batch_size)
        start = path_start(baseline, inputs)
        target = resolve_target(target, inputs.shape[0])
        x = inputs.detach()
        classes = clean_classes(self.model, x, target)
        nodes, weights = (values.to(x.device, x.dtype) for values in quadrature(method, steps))
        size = copies_batch_size(self.model, x, size, target.count)
        difference = x - start
        count, total = x.shape[0], None
        for _, step, example in copy_batches(steps, count, size, x.device):
            node = nodes[step].view(-1, *[1] * (x.ndim - 1))
            points, fed = input_leaf(start[example] + node * difference[example])
            scores, _ = copies_target(target, classes, example).scores(self.model(fed))
            gradient = score_gradient(scores, points)
            weight = weights[step].view(-1, *[1] * (gradient.ndim - 1))
            total = accumulate(total, example, gradient * weight, count)
        return total * (difference.unsqueeze(1) if target.multiple else difference)

    def convergence_delta(
        self, inputs: Tensor, maps: Tensor, target: TargetSpec = None, *, baseline: Baseline = 0.0
    ) -> Tensor:
        """How far ``maps`` miss completeness: ``sum(maps) - (f_c(x) - f_c(x'))`` per example (and class).

        Two forward passes (inputs and baseline), no backward pass, under the same
        model-state guard as :meth:`attribute`. It tends to 0 as ``steps`` grows; the
        Gauss-Legendre and middle rules get there fastest on smooth paths, and ReLU
        kinks along the path slow every rule down.

        Args:
            inputs: the inputs ``maps`` explain.
            maps: :meth:`attribute`'s result for them.
            target: the target ``maps`` were computed for (``None``: the top class of
                ``inputs``, as :meth:`attribute` takes it).
            baseline: the baseline ``maps`` were computed from.

        Returns:
            ``Tensor[N]``, or ``Tensor[N, K]`` for K classes per example.

        Raises:
            InputError: ``maps`` that are not ``attribute``'s shape for these inputs and
                target, or a baseline that does not fit the inputs.
        """
        self.check_inputs(inputs)
        target = resolve_target(target, inputs.shape[0])
        start = path_start(baseline, inputs)
        expected = (inputs.shape[0], target.count, *inputs.shape[1:]) if target.multiple else tuple(inputs.shape)
        if not isinstance(maps, Tensor) or tuple(maps.shape) != expected:
            got = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
            raise InputError(
                f"maps must be attribute()'s result for these inputs and target, shape {expected}, got {got}"
            )
        with preserved_model_state(self.model, eval_mode=True, freeze=True), torch.no_grad():
            # copies: a model that writes its input in place must not write the caller's tensors
            end_scores, classes = target.scores(self.model(inputs.detach().clone()))
            everyone = torch.arange(inputs.shape[0], device=inputs.device)
            start_output = self.model(start.clone(memory_format=torch.contiguous_format))
            start_scores, _ = copies_target(target, classes, everyone).scores(start_output)
        summed = maps.detach().sum(dim=tuple(range(2 if target.multiple else 1, maps.ndim)))
        return summed - (end_scores - start_scores)


def path_start(baseline: object, inputs: Tensor) -> Tensor:
    """The baseline as a tensor of the inputs' shape, dtype and device (an expanded view, not a copy).

    Raises:
        TypeError: a baseline that is neither a real number nor a tensor.
        InputError: a tensor that does not broadcast to the inputs' shape, lives on
            another device, or holds no real numbers; a number that is not finite.
    """
    if isinstance(baseline, Tensor):
        if baseline.dtype == torch.bool or baseline.is_complex():
            raise InputError(f"a baseline tensor must hold real numbers, got {baseline.dtype}")
        if baseline.device != inputs.device:
            raise InputError(
                f"the baseline is on {baseline.device} but the inputs are on {inputs.device}; "
                f"move it with baseline.to({str(inputs.device)!r})"
            )
        try:
            fits = torch.broadcast_shapes(baseline.shape, inputs.shape) == inputs.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise InputError(
                f"a baseline tensor must broadcast to the inputs' shape {tuple(inputs.shape)}, got "
                f"{tuple(baseline.shape)}; give one baseline (C, H, W), one per example (N, C, H, W), or a number"
            )
        return baseline.detach().to(inputs.dtype).expand_as(inputs)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise TypeError(
            f"baseline must be a number or a tensor broadcastable to the inputs, got {type(baseline).__name__}"
        )
    if not math.isfinite(baseline):
        raise InputError(f"a baseline number must be finite, got {baseline!r}")
    return inputs.new_tensor(baseline).expand_as(inputs)
