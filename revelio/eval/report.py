"""The sanity report: per method and check, the criterion, the numbers, the status and the figure.

:class:`SanityReport` renders as a terminal table (:meth:`~SanityReport.table`), JSON
(:meth:`~SanityReport.to_dict`), Markdown (:meth:`~SanityReport.to_markdown`) and
PNG figures (:meth:`~SanityReport.write`, through :mod:`revelio.render`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from revelio.eval.checks import ATTRIBUTION_CHECKS, CHECKS, FEATUREVIZ_CHECKS, REFERENCES
from revelio.eval.outcome import STATUSES, Status
from revelio.registry import Outcome
from revelio.io import json_safe

SHORT: dict[str, str] = {
    "pass": "pass",
    "fail": "FAIL",
    "expected-fail": "xfail",
    "unexpected-pass": "XPASS",
    "report": "report",
    "n/a": "n/a",
    "degenerate": "DEGEN",
}
"""Short status names for the terminal table."""

LEGEND = (
    "pass: criterion met, as expected | FAIL: not met, though expected | xfail: not met, as the literature says | "
    "XPASS: met, though the literature says it fails | report: no expectation, numbers only | "
    "DEGEN: maps collapsed to all-zero, no verdict | n/a: does not apply"
)


@dataclass
class CheckResult:
    """The outcome of one check for one method.

    Attributes:
        check: the check's id (``"A3"``).
        method: the method's name (``"gradcam"``, or a feature-visualization preset such as ``"gaussian"``).
        status: one of :data:`~revelio.eval.outcome.STATUSES`.
        expected: what the literature expects: ``"pass"``, ``"fail"``, ``"report"`` or ``"n/a"``.
        source: where that expectation comes from (author, year, figure or table), or a
            remark for a check with no expectation.
        criterion: the criterion, in words, with its thresholds.
        summary: the headline numbers.
        met: whether the criterion was met (``None``: no criterion, or n/a).
        values: every number behind the verdict.
        note: remarks (degenerate shares, reasons for n/a, the controls' lessons).
        figures: file names of the figures that show this result.
    """

    check: str
    method: str
    status: Status
    expected: Outcome
    criterion: str
    summary: str
    met: bool | None = None
    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    figures: list[str] = field(default_factory=list)
    source: str = ""


@dataclass
class SanityReport:
    """Results of :func:`~revelio.eval.run_sanity` for one model.

    Attributes:
        model: the model's name.
        settings: how the run was made (images, seed, device, methods, slow, seconds).
        results: one :class:`CheckResult` per method and check.
        artifacts: the tensors the figures are drawn from (not serialised).
        titles: the display name of each method, by name.
    """

    model: str
    settings: dict[str, Any]
    results: list[CheckResult]
    artifacts: dict[str, Any] = field(default_factory=dict, repr=False)
    titles: dict[str, str] = field(default_factory=dict)

    def title(self, method: str) -> str:
        """The display name of ``method`` (its name when the report has none)."""
        return self.titles.get(method, method)

    def result(self, check: str, method: str) -> CheckResult:
        """The result of ``check`` for ``method``.

        Raises:
            KeyError: no such result; the message lists the checks and methods run.
        """
        for item in self.results:
            if item.check == check and item.method == method:
                return item
        raise KeyError(
            f"no result for check {check!r} and method {method!r}; checks run: {sorted({r.check for r in self.results})}, "
            f"methods: {self.methods}"
        )

    @property
    def methods(self) -> list[str]:
        """Methods in report order."""
        return list(dict.fromkeys(r.method for r in self.results))

    def counts(self) -> dict[str, int]:
        """How many results have each status."""
        return {status: sum(r.status == status for r in self.results) for status in STATUSES}

    # -- renderings ---------------------------------------------------------------

    def table(self) -> str:
        """The terminal table: a status matrix per kind of check, a legend, and the headline numbers."""
        heading = (
            f"revelio sanity: model {self.model!r}, {self.settings.get('images')} images, "
            f"seed {self.settings.get('seed')}, {self.settings.get('seconds', 0):.0f} s"
        )
        lines = [heading]
        for checks in (ATTRIBUTION_CHECKS, FEATUREVIZ_CHECKS):
            methods = [m for m in self.methods if any(r.method == m and r.check in checks for r in self.results)]
            if not methods:
                continue
            header = ["method", *checks]
            rows = [[m, *(self._cell(c, m, SHORT) for c in checks)] for m in methods]
            lines += ["", *_aligned([header, *rows])]
        lines += ["", LEGEND, ""]
        detail = [["check", "method", "status", "measured"]]
        detail += [[r.check, r.method, r.status, r.summary] for r in self.results if r.status != "n/a"]
        lines += _aligned(detail)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (``json.dumps``-able; NaN becomes ``None``)."""
        return json_safe(
            {
                "model": self.model,
                "settings": self.settings,
                "checks": {key: {"name": CHECKS[key], "reference": REFERENCES[key]} for key in CHECKS},
                "counts": self.counts(),
                "results": [asdict(r) for r in self.results],
            }
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def to_markdown(self, figures: dict[str, str] | None = None) -> str:
        """The report as Markdown: status matrices, then one row per result with its criterion.

        Args:
            figures: figure file name -> link target (relative paths); figures not in
                it are named without a link.
        """
        figures = figures or {}
        heading = (
            f"Model `{self.model}`; {self.settings.get('images')} images, seed {self.settings.get('seed')}, "
            f"{'with' if self.settings.get('slow') else 'without'} data randomization; "
            f"{self.settings.get('seconds', 0):.0f} s on {self.settings.get('device')}."
        )
        out = [heading, ""]
        for checks in (ATTRIBUTION_CHECKS, FEATUREVIZ_CHECKS):
            methods = [m for m in self.methods if any(r.method == m and r.check in checks for r in self.results)]
            if not methods:
                continue
            out.append("| method | " + " | ".join(f"{c} {name}" for c, name in checks.items()) + " |")
            out.append("|---" * (len(checks) + 1) + "|")
            out.append("| *number shown* | " + " | ".join(f"*{_escape(HEADLINES[c])}*" for c in checks) + " |")
            for method in methods:
                cells = [self._cell(check, method, None) for check in checks]
                out.append(f"| {self.title(method)} | " + " | ".join(cells) + " |")
            out.append("")
        out += ["Status: " + LEGEND.replace(" | ", "; "), ""]
        out.append("| check | method | status | expected (source) | measured | criterion | figures |")
        out.append("|---|---|---|---|---|---|---|")
        for r in self.results:
            links = ", ".join(f"[{name}]({figures[name]})" if name in figures else name for name in r.figures)
            measured = r.summary + (f" ({r.note})" if r.note else "")
            expected = r.expected + (f" ({r.source})" if r.source else "")
            out.append(
                f"| {r.check} | {r.method} | {r.status} | {_escape(expected)} | {_escape(measured)} | "
                f"{_escape(r.criterion)} | {links} |"
            )
        return "\n".join(out) + "\n"

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and the PNG figures into ``out_dir``.

        Returns:
            ``{name: path}`` of every file written.
        """
        from revelio.eval.figures import write_figures  # imports revelio.render

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = write_figures(self, out)
        for result in self.results:
            result.figures = [name for name in result.figures if name in written]
        markdown = self.to_markdown({name: path.name for name, path in written.items()})
        (out / "report.json").write_text(self.to_json() + "\n")
        (out / "report.md").write_text(markdown)
        written["report.json"] = out / "report.json"
        written["report.md"] = out / "report.md"
        return written

    def _cell(self, check: str, method: str, names: dict[str, str] | None) -> str:
        try:
            result = self.result(check, method)
        except KeyError:
            return ""
        status = names[result.status] if names else result.status
        number = headline(result) if names is None else ""
        return f"{status} {number}" if number else status


HEADLINES: dict[str, str] = {
    "A1": "largest relative error (Grad-CAM: Pearson with CAM)",
    "A2": "largest relative difference",
    "A3": "Spearman of |map| after head + last block / fully random",
    "A4": "SSIM, asked vs absent class",
    "A5": "Spearman of |map|, trained vs permuted-label model",
    "A6": "pointing hit rate / relevance mass",
    "A7": "mass difference",
    "A8": "deletion / insertion AUC",
    "F1": "Pearson with the planted pattern",
    "F2": "logit / dataset max (plain); / plain (blur), median",
    "F3": "high-frequency power (Gaussian) or total variation (bilateral), vs plain",
    "F4": "SSIM, trained vs random model",
}
"""What the number in each cell of the Markdown matrix is, per check."""


def headline(result: CheckResult) -> str:
    """The one or two numbers of a result that fit in a matrix cell ("" when n/a)."""
    v = result.values
    try:
        if result.check == "A1":
            return f"{v['min_pearson']:.4f}" if "min_pearson" in v else f"{v['relative_error']:.0e}"
        if result.check == "A2":
            return f"{v['relative_difference']:.0e}"
        if result.check == "A3":
            partial = v["stages"].index(v["partial_stage"])
            return f"{v['spearman_abs'][partial]:.2f} / {v['spearman_abs'][-1]:.2f}"
        if result.check in ("A4", "F4"):
            return f"{v['ssim']:.2f}" if result.check == "A4" else f"{v['mean']:.2f}"
        if result.check == "A5":
            return f"{v['spearman_abs']:.2f}"
        if result.check == "A6":
            return f"{v['pointing']:.2f} / {v['mass']:.2f}"
        if result.check == "A7":
            return f"{v['mass_difference']:.2f}"
        if result.check == "A8":
            return f"{v['deletion_auc']:.3f} / {v['insertion_auc']:.3f}"
        if result.check == "F1":
            return f"{v['pearson']:.3f}"
        if result.check == "F2":
            if "median_ratio_to_plain" in v:
                return f"{v['median_ratio_to_plain']:.2f}x"
            return f"{v['min_ratio_to_dataset_max']:.1f}x"
        if result.check == "F3":
            if "high_frequency_share" in v:
                return f"{v['high_frequency_share']:.2f} vs {v['plain_high_frequency_share']:.2f}"
            return f"{v['total_variation']:.2f} vs {v['plain_total_variation']:.2f}"
    except (KeyError, ValueError, TypeError, ZeroDivisionError, IndexError):
        pass
    return ""


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
