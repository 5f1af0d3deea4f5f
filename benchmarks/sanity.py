"""Sanity checks next to speed: revelio.eval's quick checks for the methods the run measured.

``python -m benchmarks --sanity`` runs :func:`revelio.eval.run_sanity` (its quick set:
everything but data randomization, on the bundled shapes model) for the run's
attribution methods and, when activation maximization was measured, every
feature-visualization preset, and puts the verdicts next to each method's speed in
one table, so that one report shows how fast a method is and whether it passes its
checks. The sanity suite's own report (Markdown, JSON and figures) is written to
``OUT/sanity/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_sanity(device: str = "cpu", out: Path | None = None, methods: Sequence[str] | None = None) -> dict[str, Any]:
    """Run revelio's quick sanity checks for ``methods`` (registered names or presets; default: all).

    Returns:
        ``{"status": "ok", "report", "markdown", "statuses": {method: {check: status}}, "files"}``,
        or ``{"status": "error", "note"}`` when the checks raised.
    """
    from revelio.eval import run_sanity as revelio_run_sanity

    try:
        report = revelio_run_sanity(methods=list(methods) if methods is not None else None, device=device)
    except Exception as error:  # noqa: BLE001  # a failing check suite is reported next to the speed figures
        return {"status": "error", "note": f"{type(error).__name__}: {error}"}
    result: dict[str, Any] = {
        "status": "ok",
        "report": report.to_dict(),
        "markdown": report.to_markdown(),
        "statuses": _statuses(report),
    }
    if out is not None:
        result["files"] = sorted(str(Path(p).relative_to(out.parent)) for p in report.write(out).values())
    return result


def _statuses(report: Any) -> dict[str, dict[str, str]]:
    statuses: dict[str, dict[str, str]] = {}
    for item in report.results:
        statuses.setdefault(item.method, {})[item.check] = item.status
    return statuses
