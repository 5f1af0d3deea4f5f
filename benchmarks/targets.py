"""The performance targets, checked against a run's results.

Attribution targets are read from the *primary* configuration: resnet50, batch 8,
224x224, float32, contiguous when the run has it (the configuration the targets were
set on), otherwise the first configuration that has every method. Each target is a
ratio of two workloads of one group, so it never mixes figures from different runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.attribution import FLOOR, FORWARD, many_passes, method_title, passes_floor_name
from benchmarks.workload import Group, Workload
from revelio import GradCAM, GuidedBackprop, GuidedGradCAM, Saliency, registry

PRIMARY = {"model": "resnet50", "batch": 8, "size": 224, "dtype": "float32", "memory_format": "contiguous"}


def primary_group(groups: Sequence[Group]) -> Group | None:
    """The configuration the attribution targets are read from."""
    for group in groups:
        if all(group.settings.get(key) == value for key, value in PRIMARY.items()):
            return group
    most = max((len(g.settings.get("methods", ())) for g in groups), default=0)
    return next((g for g in groups if len(g.settings.get("methods", ())) == most), None)


def _median(group: Group, name: str) -> float | None:
    workload = group.by_name(name)
    return workload.median() if workload is not None and workload.ok else None


def _rate(workload: Workload | None) -> float | None:
    if workload is None or not workload.ok or not workload.times:
        return None
    return workload.items / workload.median()


def _entry(
    target_id: str,
    description: str,
    value: float | None,
    limit: float,
    sense: str,
    where: str,
    detail: str = "",
    informational: bool = False,
) -> dict[str, Any]:
    if value is None or informational:
        passed = None
    else:
        passed = value <= limit if sense == "<=" else value >= limit
    entry = {
        "id": target_id,
        "target": description,
        "limit": f"{sense} {limit:g}",
        "measured": value,
        "passed": passed,
        "measured_on": where,
    }
    if informational:
        entry["informational"] = True
    if detail:
        entry["detail"] = detail
    if value is not None and passed is False:
        entry["missed_by"] = f"{abs(value / limit - 1) * 100:.1f}%"
    return entry


def verdict(entry: dict[str, Any]) -> str:
    """``"info"``, ``"n/a"`` (not measured), ``"met"`` or ``"missed"`` for one target entry."""
    if entry.get("informational"):
        return "info"
    if entry["passed"] is None:
        return "n/a"
    return "met" if entry["passed"] else "missed"


def evaluate(attribution: Sequence[Group], am: Sequence[Group]) -> list[dict[str, Any]]:
    """Every target that the run's groups can answer, with the measured value and pass / miss."""
    entries: list[dict[str, Any]] = []
    group = primary_group(attribution)
    if group is not None:
        where = group.title
        forward, floor = _median(group, FORWARD), _median(group, FLOOR)

        def ratio(name: str, base: float | None) -> float | None:
            value = _median(group, name)
            return value / base if value is not None and base else None

        saliency, guided, gradcam, guided_gradcam = (
            registry.spec_of(cls) for cls in (Saliency, GuidedBackprop, GradCAM, GuidedGradCAM)
        )
        entries.append(_entry(saliency.name, "revelio Saliency / forward+input-backward floor",
                              ratio(method_title(saliency), floor), 1.03, "<=", where))
        entries.append(_entry(guided.name, "revelio GuidedBackprop / forward+input-backward floor",
                              ratio(method_title(guided), floor), 1.05, "<=", where))
        entries.append(_entry(gradcam.name, "revelio GradCAM / bare forward (no_grad)",
                              ratio(method_title(gradcam), forward), 1.05, "<=", where))
        entries.append(_entry(guided_gradcam.name, "revelio GuidedGradCAM / revelio GuidedBackprop",
                              ratio(method_title(guided_gradcam), _median(group, method_title(guided))), 1.15, "<=",
                              where))
        count = group.settings.get("classes")
        if count:
            for spec, limit, base in ((gradcam, 1.3, method_title(gradcam)),
                                      (saliency, 0.7, f"{method_title(saliency)}, {count} classes, one call per class")):
                entries.append(_entry(
                    f"{spec.name}_classes", f"{method_title(spec)}, {count} classes per image in one call / {base}",
                    ratio(f"{method_title(spec)}, {count} classes in one call", _median(group, base)), limit, "<=",
                    where))
        gradcam, bare = group.by_name(method_title(gradcam)), group.by_name(FORWARD)
        memory = None
        if gradcam is not None and bare is not None and gradcam.peak_bytes and bare.peak_bytes:
            memory = gradcam.peak_bytes / bare.peak_bytes
        entries.append(_entry("gradcam_memory", "revelio GradCAM peak memory / bare forward (no_grad) peak memory",
                              memory, 1.3, "<=", where))
    for many in attribution:
        entries += _many_pass_entries(many)
    for am_group in am:
        if not am_group.title.startswith("activation maximization"):
            continue
        where = am_group.title
        batch = am_group.settings["batch"]
        for variant in am_group.settings["variants"]:
            base = _rate(am_group.by_name(f"PytorchRevelio-style {variant} x1"))
            single = _rate(am_group.by_name(f"revelio {variant} x1"))
            entries.append(_entry(
                f"am_{variant}", f"activation maximization, {variant}: revelio units/s (1 unit per call) / "
                "PytorchRevelio-style units/s", single / base if single and base else None, 2.5, ">=", where))
            entries.append(_batching_entry(am_group, variant, f"activation maximization, {variant}", batch, where))
            blur = next((w for w in am_group.workloads if w.method == f"regularizer {variant}"), None)
            run = _median(am_group, f"revelio {variant} x1")
            if blur is not None:
                share = blur.median() / run if blur.ok and blur.times and run else None
                whole = _median(am_group, "revelio plain x1")
                detail = ""
                if run and whole:
                    detail = f"whole-run difference to plain: {100 * (1 - whole / run):+.1f}% of the {variant} run"
                entries.append(_entry(f"regularizer_{variant}", f"{type_name(blur)} time / {variant} run time "
                                      "(1 unit per call)", share, 0.15, "<=", where, detail))
        entries += _parameterization_entries(am_group, where, batch)
    return entries


PASSES_LIMITS = {"scorecam": 1.1}
"""Time over the floor of the passes a many-pass method needs: 1.05 unless named here."""
PEER_SPEEDUP = {"scorecam": 2.0}
"""Peer time over revelio's time that a many-pass method must reach: 1 (no slower) unless named here."""


def _many_pass_entries(group: Group) -> list[dict[str, Any]]:
    """For each many-pass method of ``group``: time over its passes' floor, peak memory over the floor's, and
    against each peer that agrees with it."""
    entries = []
    where = group.title
    for name in group.settings.get("methods", ()):
        spec = registry.get(name)
        if many_passes(spec.load()) is None:
            continue
        title, floor_name = method_title(spec), passes_floor_name(spec)
        run, floor = _median(group, title), _median(group, floor_name)
        entries.append(_entry(
            f"{name}_passes", f"{title} / the floor of the model passes it needs, batched as it batches them",
            run / floor if run and floor else None, PASSES_LIMITS.get(name, 1.05), "<=", where))
        ours, bare = group.by_name(title), group.by_name(floor_name)
        if ours is not None and bare is not None and ours.peak_bytes and bare.peak_bytes:
            entries.append(_entry(
                f"{name}_memory", f"{title} peak memory / its floor's peak memory (bounded by the internal batch, "
                "not by the steps, samples or masks)", ours.peak_bytes / bare.peak_bytes, 1.3, "<=", where))
        for peer in group.workloads:
            if peer.method != name or peer.library in ("revelio", "floor") or not peer.ok or not run:
                continue
            if peer.agrees is False:
                continue
            speedup = PEER_SPEEDUP.get(name, 1.0)
            entries.append(_entry(
                f"{name}_vs_{peer.library}", f"{peer.name} time / {title} time (equal results)",
                peer.median() / run, speedup, ">=", where))
    return entries


def _parameterization_entries(am_group: Group, where: str, batch: int) -> list[dict[str, Any]]:
    """Each parameterization's run time over pixels' (<= 1.15 on the CPU), and the default preset's batching."""
    entries = []
    cpu = am_group.device.type == "cpu"
    pixels = _median(am_group, f"revelio plain x{batch}")
    for name in am_group.settings.get("parameterizations", ()):
        run = _median(am_group, f"revelio {name} x{batch}")
        entries.append(_entry(
            f"param_{name}", f"{name} parameterization: run time / pixels run time ({batch} units per call, same "
            "steps)", run / pixels if run and pixels else None, 1.15, "<=", where,
            detail="" if cpu else "a target on the CPU; here for information", informational=not cpu))
    default = am_group.settings.get("default_preset")
    if default is not None:
        entries.append(_batching_entry(am_group, default, f"the default preset ({default})", batch, where))
    return entries


def _batching_entry(am_group: Group, name: str, what: str, batch: int, where: str) -> dict[str, Any]:
    """Per-unit throughput of ``batch`` units per call over one unit per call: >= 8 for 16 units on a GPU."""
    single = _rate(am_group.by_name(f"revelio {name} x1"))
    batched = _rate(am_group.by_name(f"revelio {name} x{batch}"))
    target = am_group.device.type == "cuda" and batch >= 16
    return _entry(
        f"am_batch_{name}", f"{what}: per-unit throughput, {batch} units per call / 1 unit per call",
        batched / single if batched and single else None, 8.0, ">=", where,
        detail="" if target else "a target for 16 units per call on a GPU; here for information",
        informational=not target)


def type_name(workload: Workload) -> str:
    return workload.name.split(" alone")[0]
