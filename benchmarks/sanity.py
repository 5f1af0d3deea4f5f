"""Sanity checks next to speed: revelio.eval's quick checks, when that revelio has them.

``python -m benchmarks --sanity`` runs ``revelio.eval.run_sanity`` (its default, quick
set: everything but data randomization, on the bundled shapes model) and puts its
verdicts next to each method's speed in one table, so that one report shows how fast a
method is and whether it passes the checks of SANITY.md. The sanity suite's own report
(Markdown, JSON and figures) is written to ``OUT/sanity/``. Where the installed revelio
has no ``run_sanity``, the report says so and the rest of the run is unaffected.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

SANITY_NAMES = {
    "saliency": "saliency",
    "guided_backprop": "guided-backprop",
    "gradcam": "gradcam",
    "guided_gradcam": "guided-gradcam",
    "am plain": "am-plain",
    "am gaussian": "am-gaussian",
    "am bilateral": "am-bilateral",
}
"""The benchmark's method names -> the sanity suite's."""


def run_sanity(device: str = "cpu", out: Path | None = None) -> dict[str, Any]:
    """Run revelio's quick sanity checks.

    Returns:
        ``{"status": "ok", "report", "markdown", "statuses": {method: {check: status}}, "files"}``,
        or ``{"status": "not available" | "error", "note"}``.
    """
    try:
        from revelio.eval import run_sanity as revelio_run_sanity
    except ImportError:
        return {"status": "not available", "note": "this revelio has no revelio.eval.run_sanity"}
    parameters = inspect.signature(revelio_run_sanity).parameters
    options: dict[str, Any] = {}
    if "quick" in parameters:
        options["quick"] = True
    if "device" in parameters:
        options["device"] = device
    try:
        report = revelio_run_sanity(**options)
    except Exception as error:  # noqa: BLE001  # a failing check suite is reported next to the speed figures
        return {"status": "error", "note": f"{type(error).__name__}: {error}"}
    result: dict[str, Any] = {
        "status": "ok",
        "options": options,
        "report": _as_data(report),
        "markdown": _as_markdown(report),
        "statuses": _statuses(report),
    }
    if out is not None and callable(getattr(report, "write", None)):
        try:
            result["files"] = sorted(str(Path(p).relative_to(out.parent)) for p in report.write(out).values())
        except Exception as error:  # noqa: BLE001
            result["files_error"] = f"{type(error).__name__}: {error}"
    return result


def _statuses(report: Any) -> dict[str, dict[str, str]]:
    statuses: dict[str, dict[str, str]] = {}
    for item in getattr(report, "results", []):
        method, check, status = getattr(item, "method", None), getattr(item, "check", None), getattr(item, "status", None)
        if method and check and status:
            statuses.setdefault(str(method), {})[str(check)] = str(status)
    return statuses


def _as_data(report: Any) -> Any:
    for name in ("to_dict", "as_dict"):
        method = getattr(report, name, None)
        if callable(method):
            return method()
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return dataclasses.asdict(report)
    return str(report)


def _as_markdown(report: Any) -> str:
    method = getattr(report, "to_markdown", None)
    if callable(method):
        return str(method())
    return "```\n" + str(report) + "\n```"
