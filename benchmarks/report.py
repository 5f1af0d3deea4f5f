"""The run's outputs: ``results.json`` (every figure), ``results.md`` (tables) and PNG charts."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks import peers
from benchmarks.attribution import FLOOR, FORWARD, floor_of, method_title
from benchmarks.targets import verdict
from benchmarks.workload import Group, Workload
from revelio import registry
from revelio.io import json_safe

PEER_ORDER = ("revelio", "Captum", "pytorch-grad-cam", "torch-cam", "PytorchRevelio-style")


# -- machine and versions -------------------------------------------------------------


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    try:
        info["load_average_at_end"] = list(os.getloadavg())
    except OSError:
        pass
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info["gpu"] = properties.name
        info["gpu_memory_gb"] = round(properties.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """Versions of Python, torch, revelio and every peer (``"not installed"`` for absent ones)."""
    import numpy
    import torchvision

    import revelio

    found = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "revelio": getattr(revelio, "__version__", "unknown"),
    }
    found.update(peers.versions())
    return found


# -- JSON ---------------------------------------------------------------------------------


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(json_safe(results), indent=1, allow_nan=False) + "\n")


# -- Markdown -----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if value >= 0.01 else f"{value * 1e3:.2f} ms"


def _agreement(workload: Workload) -> str:
    if workload.compared_with is None or workload.relative_error is None:
        return ""
    error = workload.relative_error
    text = f"{error:.1e}" if math.isfinite(error) else "shape differs"
    return f"yes ({text})" if workload.agrees else f"**NO** ({text})"


def _status(workload: Workload) -> str:
    if workload.ok:
        return ""
    reason = workload.error or workload.note
    return f"{workload.status}" + (f": {reason}" if reason else "")


def attribution_table(group: Group) -> str:
    """One configuration's table: time, spread, throughput, ratios to the floors, memory, agreement."""
    forward, floor = group.by_name(FORWARD), group.by_name(FLOOR)
    forward_s = forward.median() if forward and forward.ok else None
    floor_s = floor.median() if floor and floor.ok else None
    forward_mem = forward.peak_bytes if forward and forward.ok else None
    lines = [
        "| workload | s / batch | IQR | img / s | x forward | x floor | peak MB | x forward mem | agrees (rel. err) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for w in group.workloads:
        if not w.ok or not w.times:
            lines.append(f"| {w.name} | {_status(w)} | | | | | | | |")
            continue
        stats = w.to_dict()
        median = stats["median_s"]
        memory = w.peak_bytes / 2**20 if w.peak_bytes is not None else None
        memory_ratio = w.peak_bytes / forward_mem if w.peak_bytes is not None and forward_mem else None
        lines.append(
            f"| {w.name} | {_seconds(median)} | {_seconds(stats['q1_s'])}-{_seconds(stats['q3_s'])} | "
            f"{_fmt(w.items / median, 1)} | {_fmt(median / forward_s if forward_s else None)} | "
            f"{_fmt(median / floor_s if floor_s else None)} | {_fmt(memory, 1)} | {_fmt(memory_ratio)} | "
            f"{_agreement(w)} |"
        )
    return "\n".join(lines)


def featureviz_table(group: Group) -> str:
    """Activation maximization or deep dream: time, throughput, ratio to the PytorchRevelio-style loop."""
    unit = "units" if group.title.startswith("activation") else "images"
    lines = [
        f"| workload | s / call | IQR | {unit} / s | x PytorchRevelio-style | peak MB | agrees (rel. err) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for w in group.workloads:
        if not w.ok or not w.times:
            lines.append(f"| {w.name} | {_status(w)} | | | | | |")
            continue
        stats = w.to_dict()
        rate = w.items / stats["median_s"]
        base = _baseline_rate(group, w)
        memory = w.peak_bytes / 2**20 if w.peak_bytes is not None else None
        lines.append(
            f"| {w.name} | {_seconds(stats['median_s'])} | {_seconds(stats['q1_s'])}-{_seconds(stats['q3_s'])} | "
            f"{_fmt(rate, 3)} | {_fmt(rate / base if base and not w.method.startswith('regularizer') else None)} | "
            f"{_fmt(memory, 1)} | {_agreement(w)} |"
        )
    return "\n".join(lines)


def _baseline_rate(group: Group, workload: Workload) -> float | None:
    variant = workload.method.removeprefix("am ")
    candidates = [w for w in group.workloads if w.library == "PytorchRevelio-style" and w.ok and w.times]
    for candidate in candidates:
        if candidate.method == workload.method or candidate.method == f"am {variant}":
            return candidate.items / candidate.median()
    return None


def targets_table(targets: Sequence[dict[str, Any]]) -> str:
    lines = ["| target | limit | measured | result |", "|---|---:|---:|---|"]
    for t in targets:
        result = {"info": "for information", "n/a": "not measured", "met": "met"}.get(verdict(t)) or (
            f"**missed** by {t['missed_by']}"
        )
        measured = _fmt(t["measured"]) if t["measured"] is not None else ""
        lines.append(f"| {t['target']} | {t['limit']} | {measured} | {result} |")
    return "\n".join(lines)


def write_markdown(path: Path, results: dict[str, Any], attribution: Sequence[Group], featureviz: Sequence[Group],
                   charts: Sequence[str]) -> None:
    m, v = results["machine"], results["versions"]
    out = [
        "# revelio benchmarks",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {m['processor']}, {m['cpu_count']} CPUs, {m['torch_threads']} torch threads"
        + (f", GPU {m['gpu']}" if "gpu" in m else "")
        + f"; device {m['device']}. Versions: "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + ".",
        "",
        f"Timing: {results['timing']}",
        "",
        f"Memory: {results['memory']}",
        "",
    ]
    if results.get("targets"):
        out += ["## Targets", "", targets_table(results["targets"]), ""]
    for chart in charts:
        out += [f"![{chart}]({chart})", ""]
    for group in attribution:
        out += [f"## {group.title}", "", _settings_line(group), "", attribution_table(group), ""]
    for group in featureviz:
        out += [f"## {group.title}", "", _settings_line(group), "", featureviz_table(group), ""]
    sanity = results.get("sanity")
    if sanity:
        out += ["## Speed and sanity", ""]
        if sanity.get("status") == "ok":
            out += [
                "Speed from the tables above; sanity verdicts from `revelio.eval.run_sanity` (bundled shapes model; "
                "see docs/sanity.md)" + (f", full report in `{sanity['files'][0].split('/')[0]}/`" if sanity.get("files")
                                         else "") + ".",
                "",
                speed_and_sanity_table(attribution, featureviz, sanity["statuses"]),
                "",
                "### Sanity report",
                "",
                sanity["markdown"],
            ]
        else:
            out.append(f"Sanity checks {sanity.get('status')}: {sanity.get('note', '')}")
        out.append("")
    path.write_text("\n".join(out))


def speed_and_sanity_table(
    attribution: Sequence[Group], featureviz: Sequence[Group], statuses: dict[str, dict[str, str]]
) -> str:
    """revelio's speed (primary configuration, activation maximization) next to each method's sanity verdicts."""
    from benchmarks.targets import primary_group

    checks = sorted({check for by_check in statuses.values() for check in by_check})
    lines = ["| method | speed | " + " | ".join(checks) + " |", "|---|---|" + "---|" * len(checks)]
    group = primary_group(attribution)
    if group is not None:
        for spec in map(registry.get, group.settings.get("methods", ())):
            w = group.by_name(method_title(spec))
            if w is None or not w.ok or not w.times:
                continue
            base = group.by_name(floor_of(spec))
            label = "forward" if floor_of(spec) == FORWARD else "floor"
            speed = f"{w.items / w.median():.1f} img/s"
            if base is not None and base.ok and base.times:
                speed += f", {w.median() / base.median():.2f}x {label}"
            row = statuses.get(spec.name, {})
            lines.append(f"| {spec.title} | {speed} | " + " | ".join(row.get(c, "") for c in checks) + " |")
    am = next((g for g in featureviz if g.title.startswith("activation")), None)
    if am is not None:
        for variant in am.settings["variants"]:
            w = am.by_name(f"revelio {variant} x1")
            if w is None or not w.ok or not w.times:
                continue
            rate = w.items / w.median()
            base = _baseline_rate(am, w)
            speed = f"{rate:.2f} units/s" + (f", {rate / base:.1f}x PytorchRevelio-style" if base else "")
            row = statuses.get(variant, {})
            lines.append(f"| AM {variant} | {speed} | " + " | ".join(row.get(c, "") for c in checks) + " |")
    return "\n".join(lines)


def _settings_line(group: Group) -> str:
    s = group.settings
    keep = {k: v for k, v in s.items() if k not in ("device", "methods", "variants", "autocast")}
    rounds = group.extra.get("rounds")
    text = ", ".join(f"{k} {v}" for k, v in keep.items())
    if rounds:
        text += f"; {rounds} interleaved rounds after {group.extra.get('warmup')} warm-up call(s), medians"
    return text + "."


# -- charts -------------------------------------------------------------------------------

LIBRARY_HATCHES = {"revelio": None, "Captum": "//", "pytorch-grad-cam": "..", "torch-cam": "xx",
                   "PytorchRevelio-style": "--"}
"""How the bars of each library are told apart: a method keeps its colour, a library has its hatch."""
FLOOR_COLOR = "#b3b3b3"


def attribution_chart(group: Group, path: Path) -> str | None:
    """Throughput per method, revelio vs peers, floors as a series and the bare forward as a line.

    Each method's bars are in its colour (:func:`revelio.render.method_color`), each library's
    in its hatch; the floors are grey. Returns ``None`` when made, else why not. A peer whose
    result disagrees with revelio's gets a ``*`` after its method's name.
    """
    from revelio import render

    specs = [registry.get(name) for name in group.settings.get("methods", ())]
    methods = [spec.name for spec in specs]
    forward = group.by_name(FORWARD)
    series: dict[str, list[float]] = {}
    flagged: set[str] = set()
    for library in PEER_ORDER:
        values = []
        for method in methods:
            ws = [w for w in group.workloads if w.library == library and w.method == method and w.ok and w.times]
            values.append(ws[0].items / ws[0].median() if ws else math.nan)
            if any(w.agrees is False for w in ws):
                flagged.add(method)
        if not all(math.isnan(v) for v in values):
            series[library] = values
    floors = []
    for spec in specs:
        base = group.by_name(floor_of(spec))
        floors.append(base.items / base.median() if base and base.ok and base.times else math.nan)
    floor_name = "floor (fwd+bwd; fwd for the CAMs)"
    series[floor_name] = floors
    hline = forward.items / forward.median() if forward and forward.ok and forward.times else None
    labels = [spec.title + (" *" if spec.name in flagged else "") for spec in specs]
    s = group.settings
    figure = render.bar_chart(
        labels,
        series,
        title=f"{s['model']} batch {s['batch']} {s['size']}px, {s['device']} {s['dtype']}"
        + ("; * a peer disagrees with revelio" if flagged else ""),
        ylabel="images / s (higher is better)",
        group_colors={label: render.method_color(spec.name) for label, spec in zip(labels, specs)},
        colors={floor_name: FLOOR_COLOR},
        hatches={name: hatch for name, hatch in LIBRARY_HATCHES.items() if hatch},
        hline=hline,
        hline_label="bare forward (no_grad)",
        size=(9.0, 4.2),
    )
    render.save_chart(figure, path)
    return None


def featureviz_chart(group: Group, path: Path) -> str | None:
    """Units per second per variant: PytorchRevelio-style, revelio x1, revelio xN, floor as a line.

    Each variant's bars are in its colour, each configuration in its hatch.
    """
    from revelio import render

    variants = group.settings["variants"]
    batch = group.settings["batch"]

    def rate(name: str) -> float:
        w = group.by_name(name)
        return w.items / w.median() if w and w.ok and w.times else math.nan

    series = {
        "PytorchRevelio-style x1": [rate(f"PytorchRevelio-style {v} x1") for v in variants],
        "revelio x1": [rate(f"revelio {v} x1") for v in variants],
    }
    if batch > 1:
        series[f"revelio x{batch}"] = [rate(f"revelio {v} x{batch}") for v in variants]
    floor = rate("floor: truncated loop x1")
    s = group.settings
    figure = render.bar_chart(
        list(variants),
        series,
        title=f"activation maximization {s['model']} {s['layer']}, {s['size']}px, {s['steps']} steps, {s['device']}",
        ylabel="units / s (higher is better)",
        group_colors=render.method_colors(variants),
        hatches={"PytorchRevelio-style x1": "--", "revelio x1": ".."},
        hline=None if math.isnan(floor) else floor,
        hline_label="hand-written truncated loop",
        size=(9.0, 4.2),
    )
    render.save_chart(figure, path)
    return None
