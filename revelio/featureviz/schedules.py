"""Schedules: a value that follows the optimisation's progress from 0 to 1.

A regularizer's strength (a blur's sigma, a decay rate) and the learning rate can
change over the run: Øygard (2015) blurs strongly at first and less at the end. A
schedule is a small object, ``value = schedule(progress)``, with ``progress`` in
[0, 1] (0 at the first step, 1 at the last). A plain number is a constant schedule
wherever a schedule is accepted.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod


class Schedule(ABC):
    """A number as a function of progress in [0, 1]."""

    @abstractmethod
    def __call__(self, progress: float) -> float:
        """Return the value at ``progress`` (0 = first step, 1 = last step)."""

    @property
    def start(self) -> float:
        """The value at progress 0."""
        return self(0.0)

    @property
    def end(self) -> float:
        """The value at progress 1."""
        return self(1.0)


class Constant(Schedule):
    """The same value all along.

    Args:
        value: the value.
    """

    def __init__(self, value: float) -> None:
        self.value = _check_number(value, "value")

    def __call__(self, progress: float) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


class _TwoEnded(Schedule):
    """A schedule from ``start`` at progress 0 to ``end`` at progress 1; subclasses give the curve."""

    def __init__(self, start: float, end: float) -> None:
        self._start = _check_number(start, "start")
        self._end = _check_number(end, "end")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._start!r}, {self._end!r})"


class Linear(_TwoEnded):
    """A straight line from ``start`` at progress 0 to ``end`` at progress 1.

    Args:
        start: value at the first step.
        end: value at the last step.
    """

    def __call__(self, progress: float) -> float:
        return self._start + (self._end - self._start) * progress


class Cosine(_TwoEnded):
    """Half a cosine from ``start`` to ``end``: flat at both ends, steepest midway.

    ``value = end + (start - end) * (1 + cos(pi * progress)) / 2`` (the cosine
    annealing of Loshchilov and Hutter 2017, "SGDR", without restarts).

    Args:
        start: value at the first step.
        end: value at the last step.
    """

    def __call__(self, progress: float) -> float:
        return self._end + (self._start - self._end) * (1.0 + math.cos(math.pi * progress)) / 2.0


SCHEDULES: dict[str, type[Schedule]] = {"linear": Linear, "cosine": Cosine}
"""Two-ended schedules by name, for ``schedule="linear"`` style arguments."""


def as_schedule(value: float | Schedule, name: str = "value") -> Schedule:
    """Return ``value`` as a :class:`Schedule` (a number becomes :class:`Constant`).

    Raises:
        TypeError: ``value`` is neither a number nor a schedule.
    """
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number or a Schedule (Constant, Linear, Cosine), got {type(value).__name__}")
    return Constant(float(value))


def ramp(start: float | Schedule, end: float | None, kind: str | type[Schedule], name: str) -> Schedule:
    """The schedule from ``start`` to ``end`` of the given kind (``"linear"``, ``"cosine"``).

    ``start`` may already be a schedule, in which case ``end`` must be ``None``; a
    ``None`` end means constant.

    Raises:
        ValueError: ``kind`` is not a known schedule, or both a schedule and an end were given.
    """
    if isinstance(start, Schedule):
        if end is not None:
            raise ValueError(f"{name}_start is already a schedule ({start!r}); leave {name}_end out")
        return start
    if end is None:
        return as_schedule(start, f"{name}_start")
    if isinstance(kind, str):
        if kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a Schedule class, got {kind!r}")
        kind = SCHEDULES[kind]
    return kind(_check_number(start, f"{name}_start"), _check_number(end, f"{name}_end"))


def _check_number(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)
