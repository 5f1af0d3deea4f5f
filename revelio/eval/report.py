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

from revelio import registry
from revelio.eval.checks import ATTRIBUTION_CHECKS, CHECKS, FEATUREVIZ_CHECKS, REFERENCES
from revelio.eval.evidence import Evidence
from revelio.eval.outcome import STATUSES, Status
from revelio.io import json_safe
from revelio.registry import Outcome, PaperNumber

LEGEND = (
    "pass: criterion met, as the cited paper expects | fail: not met, though expected | expected fail: not met, "
    "as the paper says | unexpected pass: met, though the paper says it fails | inconclusive: a 95% interval "
    "straddles its threshold | no expectation: no paper says; numbers only | degenerate: maps collapsed to "
    "all-zero, no verdict | n/a: does not apply"
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
        source: where the expectation comes from (author, year, figure or table).
        criteria: each figure judged: its estimate, 95% interval, threshold, direction,
            verdict and where the threshold would flip it.
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
    criteria: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SanityReport:
    """Results of :func:`~revelio.eval.run_sanity` for one model.

    Attributes:
        model: the model's name.
        settings: how the run was made (images, seed, device, methods, slow, seconds).
        results: one :class:`CheckResult` per method and check.
        evidence: what the figures are drawn from, one typed field per check (not serialised).
        titles: the display name of each method, by name.
        metrics: per method, the quality metrics of its maps (:mod:`revelio.eval.quality`),
            each ``{"estimate", "low", "high"}``; reported, not judged.
    """

    model: str
    settings: dict[str, Any]
    results: list[CheckResult]
    evidence: Evidence = field(default_factory=Evidence, repr=False)
    titles: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

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
        """The terminal summary: one line per method, its checks grouped by status, by name."""
        heading = (
            f"revelio sanity: model {self.model!r}, task {self.settings.get('task')!r}, "
            f"{self.settings.get('images')} images ({self.settings.get('data', '')}), seed {self.settings.get('seed')}, "
            f"{self.settings.get('seconds', 0):.0f} s"
        )
        lines = [heading, ""]
        width = min(28, max((len(self.title(m)) for m in self.methods), default=0))
        for method in self.methods:
            groups = []
            for status in STATUSES:
                if status == "n/a":
                    continue
                names = [CHECKS.get(r.check, r.check) for r in self.results if r.method == method and r.status == status]
                if names:
                    groups.append(f"{status}: {', '.join(names)}")
            lines.append(f"{self.title(method).ljust(width)}  " + "; ".join(groups))
        counts = ", ".join(f"{count} {status}" for status, count in self.counts().items() if count)
        lines += ["", f"totals: {counts}", LEGEND]
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
                "metrics": self.metrics,
                "papers": {f"{check} {method}": {"theirs": number.value, "setup": number.setup}
                           for (check, method), number in paper_numbers().items()},
            }
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def to_markdown(self, figures: dict[str, str] | None = None) -> str:
        """The report as Markdown: status matrices with intervals, then one row per result with its criterion,
        where its threshold would flip it, and the paper's own numbers where there are some.

        Args:
            figures: figure file name -> link target (relative paths); figures not in
                it are named without a link.
        """
        figures = figures or {}
        settings = self.settings
        heading = (
            f"Model `{self.model}` on task `{settings.get('task')}`: {settings.get('data')}; seed {settings.get('seed')}; "
            f"{'with' if settings.get('slow') else 'without'} data randomization and independent randomization "
            f"({settings.get('options')}); {settings.get('resamples')} bootstrap resamples, 95% intervals; "
            f"{settings.get('seconds', 0):.0f} s on {settings.get('device')}."
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
                cells = [self._cell(check, method) for check in checks]
                out.append(f"| {self.title(method)} | " + " | ".join(cells) + " |")
            out.append("")
        out += ["Status: " + LEGEND.replace(" | ", "; "), ""]
        out += self.metrics_table()
        out.append("| check | method | status | expected (source) | measured | criterion | flips at | figures |")
        out.append("|---|---|---|---|---|---|---|---|")
        for r in self.results:
            links = ", ".join(f"[{name}]({figures[name]})" if name in figures else name for name in r.figures)
            measured = r.summary + (f" ({r.note})" if r.note else "")
            expected = {"report": "no expectation"}.get(r.expected, r.expected) + (f" ({r.source})" if r.source else "")
            flips = "; ".join(f"{c['figure']}: {c['flip']}" for c in r.criteria) or "-"
            out.append(
                f"| {r.check} | {r.method} | {r.status} | {_escape(expected)} | {_escape(measured)} | "
                f"{_escape(r.criterion)} | {_escape(flips)} | {links} |"
            )
        comparison = self.paper_comparison()
        if comparison:
            out += ["", COMPARISON_INTRO, "", *comparison]
        shown = list(dict.fromkeys(name for r in self.results for name in r.figures if name in figures))
        if shown:
            out += ["", *(f"![{name}]({figures[name]})\n" for name in shown)]
        return "\n".join(out) + "\n"

    def metrics_table(self) -> list[str]:
        """Markdown lines: each method's quality metrics with their 95% intervals (empty without metrics)."""
        from revelio.eval.quality import METRICS

        if not self.metrics:
            return []
        used = self.settings.get("metrics", {})
        lines = [
            (
                "Quality metrics of each method's maps (the class the model is surest of; reported, not judged): "
                f"faithfulness correlation over {used.get('faithfulness_correlation_runs', '?')} random subsets of "
                f"224 input values per image, "
                + (f"max-sensitivity over {used['max_sensitivity_samples']} noisy copies (L-inf radius 0.2) of "
                   f"{used.get('max_sensitivity_images', '?')} images, " if used.get("max_sensitivity_samples")
                   else "max-sensitivity with --slow only, ")
                + "sparseness and complexity of |map| per pixel."
            ),
            "",
            "| method | " + " | ".join(_escape(text) for text in METRICS.values()) + " |",
            "|---" * (len(METRICS) + 1) + "|",
        ]
        for method, values in self.metrics.items():
            cells = [_interval(values[name]) if name in values else "" for name in METRICS]
            lines.append(f"| {self.title(method)} | " + " | ".join(cells) + " |")
        return [*lines, ""]

    def paper_comparison(self) -> list[str]:
        """Markdown lines: the papers' own numbers beside ours, for the methods both report."""
        lines = ["| check | method | ours (this report) | the paper's (setup) |", "|---|---|---|---|"]
        for (check, method), number in paper_numbers().items():
            try:
                result = self.result(check, method)
            except KeyError:
                continue
            lines.append(f"| {check} | {self.title(method)} | {_escape(headline(result) or result.summary)} | "
                         f"{_escape(number.value)} ({_escape(number.setup)}) |")  # fmt: skip
        return lines if len(lines) > 2 else []

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

    def splice_into(self, page: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
        """Put this report's Markdown into ``page`` between its task's markers; return the page's path.

        The page holds ``<!-- sanity:TASK:start -->`` and ``<!-- sanity:TASK:end -->``;
        what lies between them is replaced, with figure links relative to the page
        (the figures being in ``out_dir``, where :meth:`write` put them).

        Raises:
            InputError: the page lacks the markers (the message shows them).
        """
        from revelio.errors import InputError

        path = Path(page)
        task = self.settings.get("task") or self.model
        start, end = f"<!-- sanity:{task}:start -->", f"<!-- sanity:{task}:end -->"
        text = path.read_text()
        if start not in text or end not in text or text.index(start) > text.index(end):
            raise InputError(f"{path} has no {start} ... {end} block; add the two lines where the report goes")
        relative = Path(os.path.relpath(Path(out_dir), path.parent)).as_posix()
        names = [name for result in self.results for name in result.figures]
        markdown = self.to_markdown({name: f"{relative}/{name}" for name in names})
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        path.write_text(f"{before}{start}\n{markdown}{end}{after}")
        return path

    def _cell(self, check: str, method: str) -> str:
        try:
            result = self.result(check, method)
        except KeyError:
            return ""
        number = headline(result)
        return f"{result.status} {number}" if number else result.status


HEADLINES: dict[str, str] = {
    "A1": "largest relative error (Grad-CAM: Pearson with CAM)",
    "A2": "largest relative difference",
    "A3": "Spearman of |map| after head + last block / fully random [95% interval]",
    "A4": "class effect (s - u) / (c - u) [95% interval]",
    "A5": "Spearman of |map|, true-label vs permuted-label model [95% interval]",
    "A6": "pointing hit rate, TorchRay tolerance [95% interval] / tolerance 0",
    "A7": "mass difference [95% interval]",
    "A8": "deletion / insertion AUC",
    "F1": "Pearson with the planted pattern",
    "F2": "logit / dataset max (plain); / plain (blur), median",
    "F3": "high-frequency power (Gaussian) or total variation (bilateral), vs plain",
    "F4": "SSIM, trained vs random model",
}
"""What the number in each cell of the Markdown matrix is, per check."""

COMPARISON_INTRO = (
    "The papers' own numbers where a paper reports the same check for the same method; the setups differ "
    "(the task, the model, the image size), so they give scale, not a target:"
)

def paper_numbers() -> dict[tuple[str, str], PaperNumber]:
    """The papers' own figures by (check, method), as the registered methods declare them."""
    return {
        (check, spec.name): number
        for spec in registry.methods(controls=True).values()
        for check, number in spec.paper_numbers.items()
    }


def headline(result: CheckResult) -> str:
    """The one or two numbers of a result that fit in a matrix cell ("" when n/a)."""
    v = result.values

    def ci(value: dict) -> str:
        return f"{value['estimate']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"

    try:
        if result.check == "A1":
            return f"{v['min_pearson']:.4f}" if "min_pearson" in v else f"{v['relative_error']:.0e}"
        if result.check == "A2":
            return f"{v['relative_difference']:.0e}"
        if result.check == "A3":
            partial = v["stages"].index(v["partial_stage"])
            return f"{ci(v['spearman_abs'][partial])} / {ci(v['spearman_abs'][-1])}"
        if result.check == "A4":
            return ci(v["class_effect"])
        if result.check == "F4":
            return f"{v['mean']:.2f}"
        if result.check == "A5":
            return ci(v["spearman_abs"])
        if result.check == "A6":
            return f"{ci(v['pointing'])} / {v['pointing_tolerance_0']['estimate']:.2f}"
        if result.check == "A7":
            return ci(v["mass_difference"])
        if result.check == "A8":
            return f"{v['deletion_auc']['estimate']:.3f} / {v['insertion_auc']['estimate']:.3f}"
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


def _interval(value: dict[str, float]) -> str:
    return f"{value['estimate']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
