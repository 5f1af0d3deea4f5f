"""What one check measured, and how that reads against the literature's expectation.

A check returns a :class:`Measurement` (the numbers, and whether the criterion was
met); :func:`decide` turns it and the expected outcome into a status:

=================  ==========================================================
status             meaning
=================  ==========================================================
pass               the criterion is met, as the literature expects
fail               the criterion is not met, though the literature expects it to be
expected-fail      not met, and the literature says this method fails here
unexpected-pass    met, though the literature says it fails: reported, never hidden
report             no expectation (or no criterion): the numbers and the figure
n/a                the check does not apply (the reason is in the note)
degenerate         the maps collapsed (all zero) where the criterion reads them:
                   no verdict, and never a pass
=================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from revelio.registry import Outcome

Status = Literal["pass", "fail", "expected-fail", "unexpected-pass", "report", "n/a", "degenerate"]

STATUSES: tuple[str, ...] = ("pass", "fail", "expected-fail", "unexpected-pass", "report", "n/a", "degenerate")


@dataclass
class Measurement:
    """The outcome of one check for one method.

    Attributes:
        summary: the headline numbers, short (``"0.36 / 0.17"``).
        met: whether the criterion holds; ``None`` when the check has no criterion or
            did not apply.
        values: every number behind the verdict, JSON-ready (floats, lists, strings).
        note: anything a reader must know (a degenerate share, a reason for n/a).
        degenerate: the maps the criterion reads were constant (all zero).
        applicable: ``False`` when the check does not apply to this model or method.
        tensors: tensors for figures (not part of the report's JSON).
    """

    summary: str
    met: bool | None
    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    degenerate: bool = False
    applicable: bool = True
    tensors: dict[str, Any] = field(default_factory=dict, repr=False)


def not_applicable(reason: str) -> Measurement:
    """A :class:`Measurement` for a check that does not apply, with the reason."""
    return Measurement(summary="-", met=None, note=reason, applicable=False)


def decide(expected: Outcome, measurement: Measurement) -> Status:
    """The status of a measurement given the expected outcome (see the module's table)."""
    if not measurement.applicable or expected == "n/a":
        return "n/a"
    if measurement.degenerate:
        return "degenerate"
    if expected == "report" or measurement.met is None:
        return "report"
    if expected == "pass":
        return "pass" if measurement.met else "fail"
    return "unexpected-pass" if measurement.met else "expected-fail"
