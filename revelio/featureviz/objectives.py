"""Objectives: what a feature visualization maximises, as small composable values.

An objective names the layer(s) it needs and maps their activations,
``{layer_name: Tensor[N, ...]}``, to one number per image, ``Tensor[N]``. Objectives
add (``a + b``, ``sum([...])``), subtract and scale by numbers (``2 * a``, ``-a``,
``a / 4``), as in lucent.

A list of units is a *batch*: ``channel("features.6", [0, 1, 2, 3])`` gives image
``i`` the objective for unit ``i``, and all four images are optimised together, one
forward and one backward pass per step. A single unit applies to every image.

Layers are submodules or dotted names (``"features.6"``, ``"layer4.1.conv2"``), and
every objective takes the layer first, then the unit (``channel(layer, unit)``,
``neuron(layer, unit, position)``, ``direction(layer, vector)``); :func:`class_logit`
reads the model's output unless given ``layer=`` as a keyword. The activation is the layer's
true output even when an in-place ReLU follows it (see :class:`~revelio.core.LayerCapture`).

Example:
    >>> objective = channel("features.6", [0, 1, 2, 3]) - 0.1 * deepdream("features.3")
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from numbers import Real

import torch
from torch import Tensor, nn

from revelio.core.layers import resolve_layer
from revelio.errors import SettingError, SettingTypeError, UnitIndexError

LayerSpec = str | nn.Module
"""A layer: a submodule of the model or its dotted name; ``""`` is the model's output."""

OUTPUT = ""
"""The layer name of the model's output (the root module)."""


class Objective(ABC):
    """One number per image to maximise, computed from layer activations.

    Subclasses implement :attr:`layers`, :meth:`__call__`, :meth:`resolve`,
    :meth:`check` and :meth:`labels`; :attr:`num_images` says how many images the
    objective defines (``None``: any number, the same objective for each).
    """

    @property
    @abstractmethod
    def layers(self) -> tuple[LayerSpec, ...]:
        """The layers whose activations :meth:`__call__` reads."""

    @property
    def num_images(self) -> int | None:
        """Images this objective defines: the length of its unit list, or ``None`` for any."""
        return None

    @abstractmethod
    def __call__(self, activations: Mapping[str, Tensor]) -> Tensor:
        """Return ``Tensor[N]``, the objective of each image, from ``{layer_name: activation}``."""

    @abstractmethod
    def resolve(self, model: nn.Module) -> Objective:
        """Return this objective with every layer given by its dotted name in ``model``.

        Raises:
            LayerNotFoundError: a layer is not part of ``model``.
        """

    @abstractmethod
    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        """Check unit indices against the layers' output shapes (``{name: (N, ...)}``).

        Raises:
            UnitIndexError: an index is out of range.
            SettingError: a layer's output has the wrong number of dimensions.
        """

    @abstractmethod
    def labels(self, n: int) -> tuple[str, ...]:
        """One description per image for a batch of ``n`` images."""

    def units_needed(self, layer: str) -> tuple[int, ...] | None:
        """The output channels of ``layer`` this objective reads (``None``: all of them).

        The loop may then compute only those channels of the deepest layer (see
        :mod:`~revelio.featureviz.forward`); the others are zeros. The default, ``None``,
        is always safe: override it only in an objective that reads nothing else.
        """
        return None

    def __str__(self) -> str:
        labels = self.labels(self.num_images or 1)
        return labels[0] if len(labels) == 1 else "[" + ", ".join(labels) + "]"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"

    # -- composition -------------------------------------------------------------

    def __add__(self, other: Objective | float) -> Objective:
        if isinstance(other, Real) and other == 0:
            return self
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum((self, other))

    def __radd__(self, other: Objective | float) -> Objective:
        # sum([...]) starts from 0
        if isinstance(other, Real) and other == 0:
            return self
        return NotImplemented

    def __mul__(self, scale: float) -> Objective:
        if isinstance(scale, bool) or not isinstance(scale, Real):
            return NotImplemented
        return Scaled(self, float(scale))

    __rmul__ = __mul__

    def __truediv__(self, scale: float) -> Objective:
        if isinstance(scale, bool) or not isinstance(scale, Real):
            return NotImplemented
        return Scaled(self, 1.0 / float(scale))

    def __neg__(self) -> Objective:
        return Scaled(self, -1.0)

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum((self, Scaled(other, -1.0)))


class LayerObjective(Objective):
    """An objective on one layer's activation; subclasses implement :meth:`_value`.

    Args:
        layer: a submodule or its dotted name (``""``: the model's output).
    """

    kind = "layer"

    def __init__(self, layer: LayerSpec) -> None:
        if not isinstance(layer, (str, nn.Module)):
            raise SettingTypeError(f"layer must be a module or a dotted name, got {type(layer).__name__}")
        self.layer = layer

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        return (self.layer,)

    def resolve(self, model: nn.Module) -> Objective:
        name, _ = resolve_layer(model, self.layer)
        resolved = copy.copy(self)
        resolved.layer = name
        return resolved

    def __call__(self, activations: Mapping[str, Tensor]) -> Tensor:
        if not isinstance(self.layer, str):
            raise SettingTypeError(f"{type(self).__name__} on a module: call objective.resolve(model) first")
        return self._value(activations[self.layer])

    @abstractmethod
    def _value(self, activation: Tensor) -> Tensor:
        """``Tensor[N]`` from this layer's activation ``Tensor[N, ...]``."""

    @property
    def layer_label(self) -> str:
        """The layer as it reads in labels and messages."""
        if isinstance(self.layer, nn.Module):
            return type(self.layer).__name__
        return "output" if self.layer == OUTPUT else self.layer

    def _shape(self, shapes: Mapping[str, Sequence[int]], min_ndim: int) -> tuple[int, ...]:
        shape = tuple(shapes[self.layer])  # type: ignore[index]
        if len(shape) < min_ndim:
            raise SettingError(
                f"{self.kind} objective: layer {self.layer_label!r} gives outputs of shape {shape}, and a "
                f"{self.kind} needs (N, units{', positions' if min_ndim > 2 else ''}...); choose another layer"
            )
        return shape


class _UnitObjective(LayerObjective):
    """A layer objective on one unit per image (or the same unit for every image)."""

    unit_name = "unit"

    def __init__(self, layer: LayerSpec, unit: int | Sequence[int]) -> None:
        super().__init__(layer)
        self.units, self.batched = _as_units(unit, self.unit_name)
        self._index_cache: dict[torch.device, Tensor] = {}

    @property
    def num_images(self) -> int | None:
        return len(self.units) if self.batched else None

    def _select(self, activation: Tensor) -> Tensor:
        """``activation[i, unit_i]`` for each image: ``Tensor[N, ...]``."""
        if not self.batched:
            return activation[:, self.units[0]]
        if activation.shape[0] != len(self.units):
            raise SettingError(
                f"{self.kind} objective with {len(self.units)} units got a batch of {activation.shape[0]} images; "
                "a list of units means one image per unit"
            )
        index = self._index_cache.get(activation.device)
        if index is None:
            index = torch.tensor(self.units, device=activation.device)
            self._index_cache[activation.device] = index
        return activation[torch.arange(len(self.units), device=activation.device), index]

    def units_needed(self, layer: str) -> tuple[int, ...] | None:
        return self.units if layer == self.layer else ()

    def _check_units(self, shape: tuple[int, ...]) -> None:
        count = shape[1]
        bad = [unit for unit in self.units if not 0 <= unit < count]
        if bad:
            raise UnitIndexError(
                f"{self.unit_name} {bad[0]} is out of range for layer {self.layer_label!r}, whose output "
                f"has {count} {self.unit_name}s (shape per image {shape[1:]}); use indices 0..{count - 1}"
            )

    def _unit_labels(self, n: int, suffix: str = "") -> tuple[str, ...]:
        units = self.units if self.batched else self.units * n
        return tuple(f"{self.layer_label}:{self.unit_name} {unit}{suffix}" for unit in units)

    def __copy__(self) -> _UnitObjective:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._index_cache = {}
        return clone


class Channel(_UnitObjective):
    """Mean activation of a channel over all positions (``Tensor[N, K, ...]`` -> ``[N]``).

    On a ``Tensor[N, K]`` output (a linear layer) it is the unit's value.

    Erhan, Bengio, Courville and Vincent 2009, "Visualizing Higher-Layer Features of a
    Deep Network".
    """

    kind = "channel"
    unit_name = "channel"

    def _value(self, activation: Tensor) -> Tensor:
        selected = self._select(activation)
        return selected.flatten(1).mean(1) if selected.ndim > 1 else selected

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        self._check_units(self._shape(shapes, 2))

    def labels(self, n: int) -> tuple[str, ...]:
        return self._unit_labels(n)


class Neuron(_UnitObjective):
    """One unit at one position: a linear unit, or a conv channel at ``position``.

    Args:
        layer: the layer.
        unit: the unit (channel) index, or a list of them (one image each).
        position: for outputs with spatial axes, the index along each, e.g. ``(y, x)``;
            ``None``: the centre (``(H // 2, W // 2)``). Must be ``None`` for
            ``Tensor[N, K]`` outputs.
    """

    kind = "neuron"
    unit_name = "unit"

    def __init__(self, layer: LayerSpec, unit: int | Sequence[int], position: Sequence[int] | None = None) -> None:
        super().__init__(layer, unit)
        if position is not None:
            position = tuple(position)
            if not all(isinstance(p, int) and not isinstance(p, bool) for p in position):
                raise SettingTypeError(f"position must be a tuple of integers such as (y, x), got {position!r}")
        self.position = position

    def _position(self, spatial: Sequence[int]) -> tuple[int, ...]:
        if self.position is None:
            return tuple(size // 2 for size in spatial)
        return self.position

    def _value(self, activation: Tensor) -> Tensor:
        selected = self._select(activation)
        position = self._position(selected.shape[1:])
        return selected[(slice(None), *position)] if position else selected

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        shape = self._shape(shapes, 2)
        self._check_units(shape)
        spatial = shape[2:]
        if self.position is None:
            return
        if len(self.position) != len(spatial):
            raise SettingError(
                f"neuron position {self.position} has {len(self.position)} indices, but layer "
                f"{self.layer_label!r} has {len(spatial)} spatial axes (output shape {shape}); "
                f"give {len(spatial) or 'no'} indices{' (position=None)' if not spatial else ''}"
            )
        for index, size in zip(self.position, spatial):
            if not 0 <= index < size:
                raise UnitIndexError(
                    f"neuron position {self.position} is outside layer {self.layer_label!r}'s spatial size "
                    f"{tuple(spatial)}; use indices from 0 to size - 1"
                )

    def labels(self, n: int) -> tuple[str, ...]:
        suffix = "" if self.position is None else f" at {self.position}"
        return self._unit_labels(n, suffix)


class ClassLogit(Neuron):
    """The pre-softmax score of a class: the model's output ``Tensor[N, classes]`` at ``unit``.

    Args:
        layer: where the logits are (``""``: the model's output).
        unit: the class index, or a list of them (one image each).

    Simonyan, Vedaldi and Zisserman 2014, "Deep Inside Convolutional Networks".
    """

    kind = "class logit"
    unit_name = "class"

    def __init__(self, layer: LayerSpec, unit: int | Sequence[int]) -> None:
        super().__init__(layer, unit)

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        shape = self._shape(shapes, 2)
        if len(shape) != 2:
            raise SettingError(
                f"class logit objective: {self.layer_label!r} gives outputs of shape {shape}, not (N, classes); "
                "for a spatial output use neuron(layer, unit, position)"
            )
        self._check_units(shape)


class Direction(LayerObjective):
    """The activation projected on a direction of the layer's channel space, averaged over positions.

    ``value = mean_ij <a_ij, v> / |v|`` for a conv layer's ``Tensor[N, K, H, W]``
    output (``a_ij`` the channel vector at position ``(i, j)``); ``<a, v> / |v|`` for a
    ``Tensor[N, K]`` output. A channel is the direction of a one-hot ``v``.

    Args:
        layer: the layer.
        vector: ``Tensor[K]`` (the same direction for every image) or ``Tensor[N, K]``
            (one direction per image: a batch of ``N`` images). Not all zero.

    Raises:
        SettingError: a vector that is not 1-D or 2-D, not finite, or zero.

    Olah, Mordvintsev and Schubert 2017, "Feature Visualization" (optimising a direction
    of activation space: "neurons are not special").
    """

    kind = "direction"

    def __init__(self, layer: LayerSpec, vector: Tensor | Sequence[float] | Sequence[Sequence[float]]) -> None:
        super().__init__(layer)
        try:
            vector = torch.as_tensor(vector).detach()
        except (TypeError, ValueError, RuntimeError):
            raise SettingTypeError(f"vector must be a tensor or a list of numbers, got {type(vector).__name__}") from None
        if vector.ndim not in (1, 2) or vector.shape[-1] == 0 or not vector.is_floating_point():
            raise SettingError(f"vector must be a float Tensor[K] or Tensor[N, K], got {vector.dtype} {tuple(vector.shape)}")
        if not bool(torch.isfinite(vector).all()):
            raise SettingError("vector holds NaN or infinite values")
        norms = torch.linalg.vector_norm(vector, dim=-1, keepdim=True)
        if bool((norms == 0).any()):
            raise SettingError("vector must not be zero: a direction needs a length")
        self.unit_vector = vector / norms
        self._cache: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    @property
    def num_images(self) -> int | None:
        return self.unit_vector.shape[0] if self.unit_vector.ndim == 2 else None

    def _value(self, activation: Tensor) -> Tensor:
        key = (activation.device, activation.dtype)
        if key not in self._cache:
            self._cache[key] = self.unit_vector.to(device=activation.device, dtype=activation.dtype)
        vector = self._cache[key]
        vector = vector.view(vector.shape[0] if vector.ndim == 2 else 1, -1, *([1] * (activation.ndim - 2)))
        return (activation * vector).sum(1).flatten(1).mean(1) if activation.ndim > 2 else (activation * vector).sum(1)

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        shape = self._shape(shapes, 2)
        if shape[1] != self.unit_vector.shape[-1]:
            raise SettingError(
                f"direction objective: layer {self.layer_label!r} has {shape[1]} channels but the vector has "
                f"{self.unit_vector.shape[-1]}; give one value per channel"
            )

    def labels(self, n: int) -> tuple[str, ...]:
        return tuple(f"{self.layer_label}:direction {i if self.num_images else ''}".rstrip() for i in range(n))

    def __copy__(self) -> Direction:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._cache = {}
        return clone


class LayerActivation(LayerObjective):
    """A whole layer's activity (deep dream): the mean of the squared activation.

    Args:
        layer: the layer.
        reduction: ``"mean_square"`` (mean of ``a^2``), ``"l2"`` (L2 norm of the
            activation) or ``"mean"`` (mean of ``a``).

    Mordvintsev, Olah and Tyka 2015, "Inceptionism: Going Deeper into Neural Networks".
    """

    kind = "layer"
    REDUCTIONS = ("mean_square", "l2", "mean")

    def __init__(self, layer: LayerSpec, reduction: str = "mean_square") -> None:
        super().__init__(layer)
        if reduction not in self.REDUCTIONS:
            raise SettingError(f"reduction must be one of {self.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _value(self, activation: Tensor) -> Tensor:
        flat = activation.flatten(1)
        if self.reduction == "mean_square":
            return flat.square().mean(1)
        if self.reduction == "l2":
            return flat.norm(dim=1)
        return flat.mean(1)

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        self._shape(shapes, 1)

    def units_needed(self, layer: str) -> tuple[int, ...] | None:
        return None if layer == self.layer else ()

    def labels(self, n: int) -> tuple[str, ...]:
        return (f"{self.layer_label}:{self.reduction}",) * n


class Sum(Objective):
    """The sum of objectives, image by image."""

    def __init__(self, terms: Sequence[Objective]) -> None:
        flat: list[Objective] = []
        for term in terms:
            if not isinstance(term, Objective):
                raise SettingTypeError(f"can only add objectives, got {type(term).__name__}")
            flat.extend(term.terms if isinstance(term, Sum) else [term])
        counts = {term.num_images for term in flat} - {None}
        if len(counts) > 1:
            raise SettingError(
                f"cannot add objectives over different numbers of units ({sorted(counts)}): a list of units "
                "means one image per unit, so every list in a sum must have the same length"
            )
        self.terms = tuple(flat)

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        seen: list[LayerSpec] = []
        for term in self.terms:
            for layer in term.layers:
                if not any(layer is other or (isinstance(layer, str) and layer == other) for other in seen):
                    seen.append(layer)
        return tuple(seen)

    @property
    def num_images(self) -> int | None:
        return next((term.num_images for term in self.terms if term.num_images is not None), None)

    def __call__(self, activations: Mapping[str, Tensor]) -> Tensor:
        total = self.terms[0](activations)
        for term in self.terms[1:]:
            total = total + term(activations)
        return total

    def resolve(self, model: nn.Module) -> Objective:
        return Sum([term.resolve(model) for term in self.terms])

    def units_needed(self, layer: str) -> tuple[int, ...] | None:
        units: set[int] = set()
        for term in self.terms:
            needed = term.units_needed(layer)
            if needed is None:
                return None
            units.update(needed)
        return tuple(sorted(units))

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        for term in self.terms:
            term.check(shapes)

    def labels(self, n: int) -> tuple[str, ...]:
        per_term = [term.labels(n) for term in self.terms]
        return tuple(" + ".join(parts).replace("+ -", "- ") for parts in zip(*per_term))


class Scaled(Objective):
    """An objective times a number."""

    def __init__(self, objective: Objective, scale: float) -> None:
        if not isinstance(objective, Objective):
            raise SettingTypeError(f"can only scale an objective, got {type(objective).__name__}")
        if isinstance(objective, Scaled):
            scale, objective = scale * objective.scale, objective.objective
        self.objective = objective
        self.scale = float(scale)

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        return self.objective.layers

    @property
    def num_images(self) -> int | None:
        return self.objective.num_images

    def __call__(self, activations: Mapping[str, Tensor]) -> Tensor:
        return self.scale * self.objective(activations)

    def resolve(self, model: nn.Module) -> Objective:
        return Scaled(self.objective.resolve(model), self.scale)

    def units_needed(self, layer: str) -> tuple[int, ...] | None:
        return self.objective.units_needed(layer)

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        self.objective.check(shapes)

    def labels(self, n: int) -> tuple[str, ...]:
        inner = self.objective.labels(n)
        if self.scale == -1:
            return tuple(
                f"-{label}" if isinstance(self.objective, LayerObjective) else f"-({label})" for label in inner
            )
        wrap = (lambda s: s) if isinstance(self.objective, LayerObjective) else (lambda s: f"({s})")
        return tuple(f"{self.scale:g} * {wrap(label)}" for label in inner)


# -- the functions users call ---------------------------------------------------


def channel(layer: LayerSpec, unit: int | Sequence[int]) -> Channel:
    """The mean activation of channel ``unit`` of ``layer`` (a list: one image per channel)."""
    return Channel(layer, unit)


def neuron(layer: LayerSpec, unit: int | Sequence[int], position: Sequence[int] | None = None) -> Neuron:
    """One unit's activation: a linear unit, or a conv channel at ``position`` (default: centre)."""
    return Neuron(layer, unit, position)


def class_logit(unit: int | Sequence[int], *, layer: LayerSpec | None = None) -> ClassLogit:
    """The pre-softmax score of class ``unit`` (a list: one image per class).

    Like every objective, the layer comes before the unit; here it is the model's output
    unless given, so it is a keyword: ``class_logit(3)``, ``class_logit(3, layer="fc")``.

    Args:
        unit: the class index, or a list of them.
        layer: where the logits are, if not the model's output (``None``).
    """
    return ClassLogit(OUTPUT if layer is None else layer, unit)


def direction(layer: LayerSpec, vector: Tensor | Sequence[float] | Sequence[Sequence[float]]) -> Direction:
    """The mean projection of ``layer``'s activation on ``vector`` (``Tensor[K]``, or ``Tensor[N, K]``: one per image)."""
    return Direction(layer, vector)


def deepdream(layer: LayerSpec, reduction: str = "mean_square") -> LayerActivation:
    """A whole layer's activity: mean of the squared activation (``"l2"``: its L2 norm)."""
    return LayerActivation(layer, reduction)


def _as_units(unit: int | Sequence[int] | Tensor, name: str) -> tuple[tuple[int, ...], bool]:
    if isinstance(unit, Tensor):
        if unit.ndim > 1 or unit.is_floating_point():
            raise SettingTypeError(
                f"{name} as a tensor must be a 0-D or 1-D integer tensor, got {unit.dtype} {tuple(unit.shape)}"
            )
        unit = unit.tolist()
    if isinstance(unit, bool):
        raise SettingTypeError(f"{name} must be an integer or a list of integers, got a bool")
    if isinstance(unit, int):
        if unit < 0:
            raise UnitIndexError(f"{name} must be >= 0, got {unit}")
        return (unit,), False
    if isinstance(unit, Sequence) and not isinstance(unit, str):
        units = tuple(unit)
        if not units:
            raise SettingError(f"the list of {name}s is empty; give at least one")
        if not all(isinstance(u, int) and not isinstance(u, bool) for u in units):
            raise SettingTypeError(f"{name}s must be integers, got {list(units)!r}")
        negative = [u for u in units if u < 0]
        if negative:
            raise UnitIndexError(f"{name} must be >= 0, got {negative[0]}")
        return units, True
    raise SettingTypeError(f"{name} must be an integer or a list of integers, got {type(unit).__name__}")
