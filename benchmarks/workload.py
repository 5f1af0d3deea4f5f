"""A workload (one timed call) and a group of them run together: agreement, warm-up, rounds, memory.

A group is the unit of comparison: every ratio in the report is between two workloads
of one group, measured in the same rounds.
"""

from __future__ import annotations

import contextlib
import math
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmarks.measure import peak_memory, relative_error, rotated, summary, time_call

OK = "ok"
ERROR = "error"
NOT_INSTALLED = "not installed"
NOT_APPLICABLE = "not applicable"
SKIPPED = "skipped"

SHOW_TRACEBACKS = False
"""Print the traceback of a workload that fails (``--traceback``)."""


@dataclass
class Workload:
    """One call to time.

    Attributes:
        name: how the report names it (``"revelio Saliency"``, ``"Captum Saliency"``).
        library: ``"revelio"``, a peer's name, ``"floor"`` or ``"PytorchRevelio-style"``.
        method: what it computes (``"saliency"``, ``"gradcam"``, ``"forward"`` ...).
        run: the call; it returns its result (compared, then dropped).
        items: images (or units) one call produces: throughput is ``items / seconds``.
        comparable: maps the result to the form compared with the reference (default: itself).
        agreement_run: a cheaper call whose result is compared instead of ``run``'s (a
            short run of the same loop), already in comparable form.
        reference: computes revelio's result in that same form; ``None``: nothing to compare.
        compared_with: names what the reference is, for the report.
        tolerance: the largest relative max error that counts as agreement.
        note: a remark for the report.
        status: ``ok``, ``error``, ``not installed``, ``not applicable`` or ``skipped``.
    """

    name: str
    library: str
    method: str
    run: Callable[[], Any] | None
    items: int
    comparable: Callable[[Any], torch.Tensor] | None = None
    agreement_run: Callable[[], torch.Tensor] | None = None
    reference: Callable[[], torch.Tensor] | None = None
    compared_with: str | None = None
    tolerance: float = 1e-3
    note: str = ""
    status: str = OK
    error: str | None = None
    times: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    relative_error: float | None = None
    agrees: bool | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def fail(self, error: BaseException) -> None:
        self.status = ERROR
        self.error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        self.run = None

    def median(self) -> float | None:
        return summary(self.times).get("median_s") if self.times else None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "name": self.name,
            "library": self.library,
            "method": self.method,
            "status": self.status,
            "items_per_call": self.items,
        }
        if self.error:
            record["error"] = self.error
        if self.note:
            record["note"] = self.note
        if self.times:
            stats = summary(self.times)
            record.update(stats)
            record["items_per_s"] = self.items / stats["median_s"]
            record["times_s"] = list(self.times)
        if self.peak_bytes is not None:
            record["peak_memory_mb"] = self.peak_bytes / 2**20
        if self.compared_with is not None:
            record["compared_with"] = self.compared_with
            record["relative_error"] = _finite(self.relative_error)
            record["tolerance"] = self.tolerance
            record["agrees"] = self.agrees
        return record


@dataclass
class Group:
    """Workloads measured together, with the settings they ran under."""

    title: str
    settings: dict[str, Any]
    workloads: list[Workload]
    device: torch.device
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    extra: dict[str, Any] = field(default_factory=dict)

    def by_name(self, name: str) -> Workload | None:
        return next((w for w in self.workloads if w.name == name), None)

    def release(self) -> None:
        """Drop the workloads' callables (and with them the model and inputs): the figures stay."""
        for w in self.workloads:
            w.run = w.comparable = w.reference = w.agreement_run = None
        self.context = contextlib.nullcontext

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "settings": self.settings,
            "workloads": [w.to_dict() for w in self.workloads],
            **self.extra,
        }


def log(message: str) -> None:
    """Progress, to stderr."""
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def _finite(value: float | None) -> float | None | str:
    if value is None:
        return None
    return value if math.isfinite(value) else "inf"


def _call(workload: Workload, context: Callable[[], contextlib.AbstractContextManager]) -> Any:
    assert workload.run is not None
    with warnings.catch_warnings(), context():
        warnings.simplefilter("ignore")  # peers warn about in-place ReLU, requires_grad ...
        return workload.run()


def check_agreement(group: Group) -> None:
    """Compare each workload that has a reference with revelio's result (float32, no autocast).

    A workload that raises is marked ``error`` and not timed.
    """
    for workload in group.workloads:
        if not workload.ok or workload.reference is None:
            continue
        try:
            if workload.agreement_run is not None:
                result = actual = workload.agreement_run()
            else:
                result = _call(workload, contextlib.nullcontext)
                actual = workload.comparable(result) if workload.comparable is not None else result
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = workload.reference()
            workload.relative_error = relative_error(actual, expected)
            workload.agrees = workload.relative_error <= workload.tolerance
            del result, actual, expected
        except Exception as error:  # noqa: BLE001  # a peer that fails is reported, not fatal
            _log_failure(workload, error)


def time_group(group: Group, rounds: int, warmup: int) -> None:
    """Warm up, then time every workload in ``rounds`` interleaved rounds (order rotating)."""
    for workload in group.workloads:
        for _ in range(warmup):
            if not workload.ok:
                break
            try:
                _call(workload, group.context)
            except Exception as error:  # noqa: BLE001
                _log_failure(workload, error)
    for index in range(rounds):
        for workload in rotated(group.workloads, index):
            if not workload.ok:
                continue
            try:
                seconds = time_call(lambda w=workload: _call(w, group.context), group.device)
            except Exception as error:  # noqa: BLE001
                _log_failure(workload, error)
                continue
            workload.times.append(seconds)
        log(f"{group.title}: round {index + 1}/{rounds}")


def measure_memory(group: Group) -> None:
    """Peak memory of one call of each workload (after the timed rounds: all warm)."""
    for workload in group.workloads:
        if not workload.ok:
            continue
        try:
            workload.peak_bytes = peak_memory(lambda w=workload: _call(w, group.context), group.device)
        except Exception as error:  # noqa: BLE001
            log(f"{workload.name}: memory not measured ({type(error).__name__}: {error})")


def _log_failure(workload: Workload, error: BaseException) -> None:
    workload.fail(error)
    log(f"{workload.name}: {workload.error}")
    if SHOW_TRACEBACKS:
        traceback.print_exception(error)
