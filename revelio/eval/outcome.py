"""What one check measured, and how that reads against the literature's expectation.

A check returns a :class:`Measurement`: its figures, each a :class:`Criterion` (a
figure with its bootstrap interval, a threshold and a direction), and whether the
criterion was met. :func:`decide` turns it and the expected outcome into a status, from
one vocabulary:

===================  ========================================================
status               meaning
===================  ========================================================
pass                 the criterion is met, as the literature expects
fail                 the criterion is not met, though the literature expects it to be
expected fail        not met, and the literature says this method fails here
unexpected pass      met, though the literature says it fails: reported, never hidden
inconclusive         an interval straddles its threshold: neither pass nor fail
no expectation       no paper says what this method should do here: reported, not judged
n/a                  the check does not apply (the reason is in the note)
degenerate           the maps collapsed (all zero) where the criterion reads them:
                     no verdict, and never a pass
===================  ========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from revelio.eval.uncertainty import Interval, above, below
from revelio.registry import Outcome

Status = Literal[
    "pass", "fail", "expected fail", "unexpected pass", "inconclusive", "no expectation", "n/a", "degenerate"
]

STATUSES: tuple[str, ...] = (
    "pass", "fail", "expected fail", "unexpected pass", "inconclusive", "no expectation", "n/a", "degenerate",
)


@dataclass(frozen=True)
class Criterion:
    """One figure judged against one threshold.

    Attributes:
        figure: what is measured (``"Spearman |.| after head + block3"``).
        interval: the figure with its bootstrap interval.
        threshold: the threshold.
        direction: ``"below"`` or ``"above"``: on which side of the threshold the criterion holds.
    """

    figure: str
    interval: Interval
    threshold: float
    direction: Literal["below", "above"]

    @property
    def met(self) -> bool | None:
        """``True``/``False``, or ``None`` when the interval straddles the threshold."""
        judge = below if self.direction == "below" else above
        return judge(self.interval, self.threshold)

    def flip(self) -> str:
        """Where the threshold would change this verdict, in words."""
        i = self.interval
        if not i.finite:
            return "no figure"
        return (
            f"inconclusive for a threshold in [{i.low:.2f}, {i.high:.2f}]; "
            f"the point estimate {i.estimate:.2f} flips at that threshold"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "figure": self.figure, **self.interval.as_dict(), "threshold": self.threshold,
            "direction": self.direction, "met": self.met,
        }


def combine(criteria: list[Criterion]) -> bool | None:
    """All met: ``True``; any clearly not met: ``False``; otherwise ``None`` (inconclusive)."""
    verdicts = [c.met for c in criteria]
    if any(v is False for v in verdicts):
        return False
    if verdicts and all(v is True for v in verdicts):
        return True
    return None


@dataclass
class Measurement:
    """The outcome of one check for one method.

    Attributes:
        summary: the headline numbers, short (``"0.36 [0.30, 0.41]"``).
        met: whether the criterion holds; ``None`` when it is inconclusive, when the
            check has no criterion, or when it did not apply.
        values: every number behind the verdict, JSON-ready (floats, lists, strings).
        note: anything a reader must know (a degenerate share, a reason for n/a).
        degenerate: the maps the criterion reads were constant (all zero).
        applicable: ``False`` when the check does not apply to this model or method.
        criteria: the figures judged, with their intervals and thresholds.
        tensors: tensors for figures (not part of the report's JSON).
    """

    summary: str
    met: bool | None
    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    degenerate: bool = False
    applicable: bool = True
    criteria: list[Criterion] = field(default_factory=list)
    tensors: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def inconclusive(self) -> bool:
        """A criterion was applied and neither holds nor fails."""
        return self.applicable and bool(self.criteria) and self.met is None


def judged(summary: str, criteria: list[Criterion], **fields: Any) -> Measurement:
    """A :class:`Measurement` whose verdict is :func:`combine` of ``criteria``."""
    return Measurement(summary=summary, met=combine(criteria), criteria=criteria, **fields)


def not_applicable(reason: str) -> Measurement:
    """A :class:`Measurement` for a check that does not apply, with the reason."""
    return Measurement(summary="-", met=None, note=reason, applicable=False)


def decide(expected: Outcome, measurement: Measurement) -> Status:
    """The status of a measurement given the expected outcome (see the module's table)."""
    if not measurement.applicable or expected == "n/a":
        return "n/a"
    if measurement.degenerate:
        return "degenerate"
    if expected == "report":
        return "no expectation"
    if measurement.inconclusive:
        return "inconclusive"
    if measurement.met is None:
        return "no expectation"
    if expected == "pass":
        return "pass" if measurement.met else "fail"
    return "unexpected pass" if measurement.met else "expected fail"
