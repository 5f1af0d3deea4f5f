"""Schedules: a value that follows the optimisation's progress from 0 to 1.

A regularizer's strength (a blur's sigma, a decay rate) and the learning rate can
change over the run: Øygard (2015) blurs strongly at first and less at the end. A
schedule is a small object, ``value = schedule(progress)``, with ``progress`` in
[0, 1] (0 at the first step, 1 at the last). A plain number is a constant schedule
wherever a schedule is accepted, and a pair ``(start, end)`` is a ramp: every setting
that follows a schedule takes the same three forms (:func:`as_schedule`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from revelio.errors import SettingError, SettingTypeError


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

    def __str__(self) -> str:
        return f"{self.value:g}"


class _TwoEnded(Schedule):
    """A schedule from ``start`` at progress 0 to ``end`` at progress 1; subclasses give the curve."""

    def __init__(self, start: float, end: float) -> None:
        self._start = _check_number(start, "start")
        self._end = _check_number(end, "end")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._start!r}, {self._end!r})"

    def __str__(self) -> str:
        return f"{self._start:g} to {self._end:g} ({type(self).__name__.lower()})"


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

ScheduleSpec = float | tuple[float, float] | Schedule
"""How every schedule-taking setting is given: a number (constant), a pair ``(start, end)``
(a ramp of the kind the setting's ``schedule=`` names), or a :class:`Schedule`."""


def as_schedule(value: ScheduleSpec, name: str = "value", kind: str | type[Schedule] = "linear") -> Schedule:
    """Return ``value`` as a :class:`Schedule`: a number is :class:`Constant`, ``(start, end)`` a ramp of ``kind``.

    Args:
        value: a number, a pair ``(start, end)``, or a schedule (returned as it is).
        name: the setting's name, for messages.
        kind: the ramp for pairs: ``"linear"``, ``"cosine"``, or a two-ended Schedule class.

    Raises:
        SettingTypeError: ``value`` is none of these.
        SettingError: a number that is not finite, a pair that is not two numbers, or an unknown ``kind``.
    """
    if isinstance(value, Schedule):
        return value
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise SettingError(f"{name} as a pair must be (start, end), got {value!r}")
        ramp = _ramp_class(kind)
        return ramp(_check_number(value[0], f"{name} start"), _check_number(value[1], f"{name} end"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingTypeError(
            f"{name} must be a number, a pair (start, end) or a Schedule (Constant, Linear, Cosine), "
            f"got {type(value).__name__}"
        )
    return Constant(_check_number(value, name))


def check_range(
    schedule: Schedule, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    """Refuse a schedule whose start or end lies outside ``[low, high]`` (open ends where asked).

    Raises:
        SettingError: naming the setting, the allowed range and the schedule.
    """
    for value in (schedule.start, schedule.end):
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if below or above or not math.isfinite(value):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise SettingError(f"{name} must stay in {interval}, got {schedule}")


def _ramp_class(kind: str | type[Schedule]) -> type[Schedule]:
    if isinstance(kind, str):
        if kind not in SCHEDULES:
            raise SettingError(f"schedule must be one of {sorted(SCHEDULES)} or a Schedule class, got {kind!r}")
        return SCHEDULES[kind]
    if isinstance(kind, type) and issubclass(kind, _TwoEnded):
        return kind
    raise SettingError(f"schedule must be one of {sorted(SCHEDULES)} or a two-ended Schedule class, got {kind!r}")


def _check_number(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingError(f"{name} must be a finite number, got {value!r}")
    return float(value)
