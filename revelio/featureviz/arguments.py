"""The argument checks of the feature visualizers: each turns one flexible argument into one form, or refuses it.

They run before any work, and every refusal is a typed error of :mod:`revelio.errors`
whose message names the argument, what is allowed and what was given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import torch
from torch import Tensor, nn

from revelio.core.explainable import explainable
from revelio.errors import InputError, SettingError, SettingTypeError
from revelio.featureviz.objectives import Objective

T = TypeVar("T")


def by_name(value: object, kind: type[T], table: Mapping[str, Callable[[], T]], what: str) -> T:
    """``value`` if it is a ``kind``, else the default-built ``table[value]``.

    Raises:
        SettingError: an unknown name; the message lists the names.
        SettingTypeError: neither a name nor a ``kind``.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        if value not in table:
            raise SettingError(f"unknown {what} {value!r}; choose from {', '.join(table)}")
        return table[value]()
    raise SettingTypeError(f"{what} must be a name ({', '.join(table)}) or a {kind.__name__}, got {type(value).__name__}")


def check_objective(objective: object) -> Objective:
    """``objective`` if it is an :class:`Objective`.

    Raises:
        SettingTypeError: it is not (a layer name, a number, ...).
    """
    if not isinstance(objective, Objective):
        raise SettingTypeError(
            f"objective must be an Objective (revelio.featureviz.channel(...), neuron, class_logit, direction, "
            f"deepdream, ...), got {type(objective).__name__}"
        )
    return objective


def check_model(model: object) -> nn.Module:
    """The module to run for ``model`` (:func:`revelio.core.explainable.explainable`: a compiled
    model's original, in eager mode).

    Raises:
        SettingTypeError: it is not an ``nn.Module``.
        UnsupportedModelError: TorchScript, compiled submodules or an exported graph, whose layers
            no hook can reach.
    """
    if not isinstance(model, nn.Module):
        raise SettingTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return explainable(model, needs_layers=True)


def check_steps(steps: int) -> int:
    """``steps`` if it is an integer >= 1.

    Raises:
        SettingError: it is not.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise SettingError(f"steps must be an integer >= 1, got {steps!r}")
    return steps


def as_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``H`` or ``(H, W)`` as ``(H, W)`` of positive integers.

    Raises:
        SettingError: anything else.
    """
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in pair):
        raise SettingError(f"image_size must be a positive integer or (H, W), got {size!r}")
    return pair  # type: ignore[return-value]


def as_normalization(
    mean: Sequence[float] | None, std: Sequence[float] | None, channels: int | None
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None, int]:
    """``(mean, std, channels)``: the per-channel normalisation, or ``(None, None, channels)`` for none.

    ``channels`` defaults to the length of ``mean``, or 3 without normalisation.

    Raises:
        SettingError: only one of mean and std, lengths that differ from each other or
            from ``channels``, a std that is not positive and finite, or channels < 1.
    """
    if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
        raise SettingError(f"channels must be an integer >= 1, got {channels!r}")
    if mean is None and std is None:
        return None, None, 3 if channels is None else channels
    if mean is None or std is None:
        raise SettingError("give both mean and std, or neither (no normalisation)")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != len(std) or not mean:
        raise SettingError(f"mean and std need one value per channel, got {len(mean)} and {len(std)}")
    if not all(s > 0 and math.isfinite(s) for s in std) or not all(math.isfinite(m) for m in mean):
        raise SettingError(f"std must be positive and mean finite, got mean {mean}, std {std}")
    if channels is not None and channels != len(mean):
        raise SettingError(f"channels is {channels} but mean and std have {len(mean)} values; give one per channel")
    return mean, std, len(mean)


def batch_size(objective: Objective, num_images: int | None, start: Tensor | None) -> int:
    """The number of images: the objective's unit count, ``start``'s, ``num_images`` or 1; they must agree.

    Raises:
        SettingError: ``num_images`` is not an integer >= 1, or disagrees with the objective.
        InputError: ``start`` is not ``(N, C, H, W)`` or disagrees with the objective or ``num_images``.
    """
    defined = objective.num_images
    if num_images is not None and (isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1):
        raise SettingError(f"num_images must be an integer >= 1, got {num_images!r}")
    if start is not None:
        if not isinstance(start, Tensor) or start.ndim != 4:
            raise InputError("start must be a Tensor[N, C, H, W] of model inputs (normalised)")
        count = start.shape[0]
        if defined is not None and defined != count:
            raise InputError(f"start holds {count} images but the objective has {defined} units (one image per unit)")
        if num_images is not None and num_images != count:
            raise InputError(f"start holds {count} images but num_images is {num_images}")
        return count
    if defined is not None:
        if num_images is not None and num_images != defined:
            raise SettingError(
                f"the objective has {defined} units, one image each, but num_images is {num_images}; leave num_images out"
            )
        return defined
    return 1 if num_images is None else num_images


def as_seeds(seed: int | Sequence[int], n: int) -> list[int]:
    """One seed per image: ``seed + i`` for image ``i``, or the list given.

    Raises:
        SettingTypeError: a bool or a non-integer seed.
        SettingError: a list whose length is not ``n``.
    """
    if isinstance(seed, bool):
        raise SettingTypeError("seed must be an integer or a list of integers, got a bool")
    if isinstance(seed, int):
        return [seed + i for i in range(n)]
    if not isinstance(seed, Sequence) or isinstance(seed, str):
        raise SettingTypeError(f"seed must be an integer or a list of integers, got {type(seed).__name__}")
    seeds = list(seed)
    if len(seeds) != n or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise SettingError(f"seed as a list must hold one integer per image ({n}), got {seeds!r}")
    return seeds


def check_start(start: Tensor, channels: int, device: torch.device) -> None:
    """Refuse start images that are not floating point, have other channels, another device, or NaN.

    Raises:
        InputError: saying which.
    """
    if not start.is_floating_point():
        raise InputError(f"start must be floating point, got {start.dtype}")
    if start.shape[1] != channels:
        raise InputError(f"start has {start.shape[1]} channels, the visualizer {channels}")
    if start.device != device:
        raise InputError(
            f"start is on {start.device} but the model is on {device}; move it with start.to({str(device)!r})"
        )
    if not bool(torch.isfinite(start).all()):
        raise InputError("start holds NaN or infinite values; give finite model inputs")


def device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of the model's first parameter or buffer (CPU, default dtype without)."""
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    if tensor is None or not tensor.is_floating_point():
        return torch.device("cpu") if tensor is None else tensor.device, torch.get_default_dtype()
    return tensor.device, tensor.dtype
