"""Internal batches: work that scales with steps, samples, masks or channels, in chunks that fit in memory.

Integrated gradients over n steps, SmoothGrad over n samples, occlusion over many
windows, RISE over many masks and Score-CAM over many channels each need many forward
(and backward) passes of a batch. They run them as few large batches as fit: an
``internal_batch_size`` items at a time, each item one perturbed copy of one example.
Given no size, :func:`auto_batch_size` picks it from a memory budget and the memory one
item takes, measured from the model's own layer outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from revelio.errors import InputError

DEFAULT_CPU_BUDGET = 2 * 1024**3
"""Bytes of activations an internal batch may take on the CPU (at most a quarter of the machine's memory)."""

CUDA_BUDGET_SHARE = 0.5
"""Share of the GPU's free memory an internal batch may take."""

BACKWARD_FACTOR = 3
"""Activation memory of a forward and backward pass, in units of the forward pass's layer outputs."""

MAX_BATCH = 4096
"""The largest internal batch chosen automatically."""


def check_batch_size(value: object, name: str = "internal_batch_size") -> int | None:
    """``value`` if it is ``None`` or a positive int; otherwise an :class:`InputError` that says so."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive int, or None to choose it from a memory budget; got {value!r}")
    return value


def memory_budget(device: torch.device) -> int:
    """Bytes an internal batch may take on ``device``: half the free GPU memory, or 2 GiB (a quarter of RAM at most)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_BUDGET_SHARE)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_CPU_BUDGET
    return min(DEFAULT_CPU_BUDGET, total // 4)


def example_bytes(model: nn.Module, example: Tensor) -> int:
    """Bytes of every leaf module's output for one example (``example``: ``Tensor[1, ...]``), one forward pass.

    The model must already be in the state the call runs it in (eval mode, under the
    model-state guard); nothing is kept.
    """
    total = 0

    def count(module: nn.Module, args: object, output: object) -> None:
        nonlocal total
        if isinstance(output, Tensor):
            total += output.numel() * output.element_size()

    leaves = [module for module in model.modules() if next(module.children(), None) is None]
    handles = [module.register_forward_hook(count) for module in leaves]
    try:
        with torch.no_grad():
            model(example.detach().clone())  # a copy: a model may write its input in place
    finally:
        for handle in handles:
            handle.remove()
    return max(total, example.numel() * example.element_size())


def auto_batch_size(model: nn.Module, example: Tensor, *, backward: bool, budget: int | None = None) -> int:
    """How many perturbed copies of ``example`` (``Tensor[1, ...]``) fit in one internal batch.

    Args:
        model: the network, in the state the call runs it in.
        example: one example as the model takes it.
        backward: the batch also runs a backward pass (its activations are kept).
        budget: bytes; default :func:`memory_budget` of the example's device.
    """
    budget = memory_budget(example.device) if budget is None else budget
    per_item = example_bytes(model, example) * (BACKWARD_FACTOR if backward else 1)
    return int(max(1, min(MAX_BATCH, budget // per_item)))


def chunks(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(total)`` of at most ``size`` items."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))
