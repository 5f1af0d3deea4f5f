"""Command line of the benchmark suite: ``python -m benchmarks [--preset cpu|gpu|quick] [options]``.

Presets (``--preset``; ``--quick`` is ``--preset quick``):

- ``cpu`` (the default): the configurations the targets are set on (resnet50, batch 8,
  224x224, float32; activation maximization on vgg11 ``features.6``), then one
  configuration per other model; about 8 minutes on two CPU cores;
- ``quick``: resnet18 and densenet121 at 64x64, batch 2, and small feature-visualization
  runs, on one thread (see :data:`PRESETS`); about a minute. ``tests/test_benchmarks.py``
  runs it;
- ``gpu``: every model at batch 1 and 32, resnet50 also under bfloat16 and float16
  autocast and channels-last, activation maximization with 16 units per call; a few
  minutes on one GPU (``benchmarks/gpu.sh``).

On the CPU presets Score-CAM (a forward pass per example and channel: 2048 per image at
resnet50's ``layer4``) runs only when named with ``--method``.

Grid options (``--models``, ``--batch``, ``--size``, ``--dtype``, ``--memory-format``) take
comma-separated lists and replace the preset's attribution configurations by their
product; what is not given comes from the preset.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from benchmarks import report, workload
from benchmarks.attribution import attribution_group
from benchmarks.featureviz import am_group, dream_group
from benchmarks.measure import DTYPES, MEMORY_FORMATS, BenchmarkError, autocast, resolve_device
from benchmarks.sanity import run_sanity
from benchmarks.targets import evaluate, primary_group, verdict
from benchmarks.workload import Group, check_agreement, log, measure_memory, time_group

FEATUREVIZ = ("am", "deep_dream")
"""The feature-visualization workloads; every other name is a registered attribution method."""
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


@dataclass
class Config:
    """One attribution configuration."""

    model: str
    batch: int
    size: int = 224
    dtype: str = "float32"
    memory_format: str = "contiguous"
    rounds: int | None = None  # None: the plan's
    classes: int = 0  # > 0: Saliency and Grad-CAM also for this many classes per image
    only: tuple[str, ...] | None = None  # the registered methods this configuration runs (None: every one asked)
    skip: tuple[str, ...] = ()  # registered methods it leaves to a smaller configuration
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # by method: over the plan's options


@dataclass
class AMConfig:
    model: str = "vgg11"
    layer: str = "features.6"
    size: int = 224
    steps: int = 32
    batch: int = 4
    rounds: int | None = None


@dataclass
class DreamConfig:
    model: str = "vgg11"
    layer: str = "features.13"
    size: int = 224
    octaves: int = 3
    steps: int = 4
    batch: int = 2
    rounds: int | None = None


@dataclass
class Plan:
    device: str
    attribution: list[Config]
    am: AMConfig | None
    dream: DreamConfig | None
    rounds: int = 5
    warmup: int = 1
    threads: int | None = None  # None: torch's default
    notes: list[str] = field(default_factory=list)
    left_out: tuple[str, ...] = ()  # registered methods run only when named with --method: too costly for the preset
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # by method: over its registry defaults


PATH_AND_NOISE = ("integrated-gradients", "smoothgrad", "smoothgrad-squared", "vargrad")
PERTURBATION = ("occlusion", "rise", "scorecam")
MANY_PASS = PATH_AND_NOISE + PERTURBATION
"""Methods that run the model once per step, sample, window, mask or channel: the cpu preset measures them in
configurations small enough for a run of a few minutes on two cores, against the floor of the passes they need."""

def _gpu_configs() -> list[Config]:
    models = ["resnet50", "vgg16", "densenet121", "mobilenet_v3_large", "vit_b_16"]
    configs = [Config(m, b, classes=10 if m == "resnet50" and b == 32 else 0, skip=MANY_PASS)
               for m in models for b in (1, 32)]
    configs += [Config("resnet50", 32, memory_format="channels_last", skip=MANY_PASS)]
    configs += [
        Config("resnet50", 32, dtype=d, memory_format=f, skip=MANY_PASS)
        for d in ("bfloat16", "float16")
        for f in ("contiguous", "channels_last")
    ]
    # the many-pass methods at their defaults (50 steps or samples; Score-CAM: 2048 masked passes per image)
    configs += [Config("resnet50", 8, only=MANY_PASS)]
    return configs


PRESETS: dict[str, Plan] = {
    "quick": Plan(
        device="cpu",
        # the many-pass methods (and their peers) on resnet18 only: one configuration shows they run
        attribution=[Config("resnet18", 2, 64, classes=3), Config("densenet121", 2, 64, skip=MANY_PASS)],
        am=AMConfig(size=64, steps=8, batch=2, rounds=2),
        dream=DreamConfig(size=64, octaves=2, steps=2, batch=2, rounds=2),
        rounds=3,
        warmup=1,
        # One thread: on a busy machine (CI, shared cores) two OpenMP threads that wait for
        # each other can make a run several times slower; one thread cannot stall so.
        threads=1,
        # one masked forward pass per example and channel: 1024 (resnet18) and 2048 (densenet121) per call
        left_out=("scorecam",),
        # the many-pass methods' cost scales with steps, samples, windows and masks: few of them, so the run stays short
        options={"occlusion": {"window": (16, 16), "strides": (16, 16)}, "rise": {"masks": 16},
                 "integrated-gradients": {"steps": 8}, **{name: {"samples": 8} for name in PATH_AND_NOISE[1:]}},
    ),
    "cpu": Plan(
        device="cpu",
        attribution=[
            Config("resnet50", 8, rounds=9, classes=10, skip=MANY_PASS),  # the targets' configuration
            Config("resnet50", 8, memory_format="channels_last", skip=MANY_PASS),
            Config("vgg16", 2, skip=MANY_PASS),
            Config("densenet121", 8, skip=MANY_PASS),
            Config("mobilenet_v3_large", 8, skip=MANY_PASS),
            Config("vit_b_16", 2, skip=MANY_PASS),
            # 8 steps or samples of 2 images: 16 forward and input-backward passes of resnet50 per call
            Config("resnet50", 2, only=PATH_AND_NOISE, options={
                "integrated-gradients": {"steps": 8, "internal_batch_size": 8},
                **{name: {"samples": 8, "internal_batch_size": 8} for name in PATH_AND_NOISE[1:]},
            }),
            # resnet18 at 112x112: 169 windows, 256 masks and 512 channels per image
            Config("resnet18", 2, 112, only=PERTURBATION, options={
                "occlusion": {"window": (16, 16), "strides": (8, 8), "internal_batch_size": 32},
                "rise": {"masks": 256, "internal_batch_size": 32},
                "scorecam": {"internal_batch_size": 32},
            }),
        ],
        am=AMConfig(rounds=3),
        dream=DreamConfig(rounds=3),
        rounds=3,
        warmup=1,
    ),
    "gpu": Plan(
        device="cuda",
        attribution=_gpu_configs(),
        am=AMConfig(batch=16, rounds=5),
        dream=DreamConfig(batch=8, rounds=3),
        rounds=10,
        warmup=3,
    ),
}


def _list(kind, choices=None):
    def parse(text: str) -> list:
        values = [kind(part.strip()) for part in text.split(",") if part.strip()]
        if choices is not None:
            bad = [v for v in values if v not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"{bad[0]!r} is not one of {', '.join(choices)}")
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        return values

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Throughput and memory of revelio's methods against the floors and the peers, in one run.",
        epilog="Example: python -m benchmarks --models resnet50 --batch 1,8 --methods saliency,gradcam --no-memory",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="configurations to run (default cpu)")
    parser.add_argument("--quick", action="store_true", help="the quick preset: a small subset, about a minute")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--device", default=None, help="cpu or cuda[:index] (default: the preset's)")
    parser.add_argument("--models", type=_list(str), help="torchvision models, e.g. resnet50,vgg16")
    parser.add_argument("--batch", type=_list(int), help="batch sizes, e.g. 1,8")
    parser.add_argument("--size", type=_list(int), help="input sizes (square), e.g. 224")
    parser.add_argument("--dtype", type=_list(str, list(DTYPES)), help="float32, bfloat16, float16 (autocast, CUDA)")
    parser.add_argument("--memory-format", type=_list(str, list(MEMORY_FORMATS)), help="contiguous, channels_last")
    parser.add_argument("--method", "--methods", dest="methods", type=_list(str), action="extend", metavar="NAMES",
                        help="registered attribution methods (revelio.registry; installed plugins too) and "
                        f"{', '.join(FEATUREVIZ)}, comma-separated or repeated (default: all)")
    parser.add_argument("--classes", type=int, help="with a grid: also Saliency and Grad-CAM for this many classes "
                        "per image, in one call and one call per class")
    parser.add_argument("--rounds", type=int, help="timed rounds per configuration (default: the preset's)")
    parser.add_argument("--warmup", type=int, help="warm-up calls per workload (default: the preset's)")
    parser.add_argument("--am-model", help="activation-maximization model (default vgg11)")
    parser.add_argument("--am-layer", help="activation-maximization layer (default features.6)")
    parser.add_argument("--am-size", type=int, help="activation-maximization image size")
    parser.add_argument("--am-steps", type=int, help="activation-maximization steps")
    parser.add_argument("--am-batch", type=int, help="units per call of the batched revelio workload")
    parser.add_argument("--no-peers", action="store_true", help="skip Captum, pytorch-grad-cam and torch-cam")
    parser.add_argument("--no-baseline", action="store_true", help="skip the PytorchRevelio-style loops")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument("--sanity", action="store_true", help="append revelio.eval's quick sanity checks")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--traceback", action="store_true", help="print tracebacks of failing workloads")
    return parser


def _attribution_methods(methods: list[str]) -> list[str]:
    return [m for m in methods if m not in FEATUREVIZ]


def check_methods(methods: list[str] | None) -> list[str]:
    """The methods asked for, every name checked against the registry before any work (default: all)."""
    from revelio import registry

    if methods is None:
        return [*registry.names(), *FEATUREVIZ]
    for name in _attribution_methods(methods):
        try:
            registry.get(name)
        except ValueError as error:
            raise BenchmarkError(f"--method: {error}") from None
    return list(dict.fromkeys(methods))


def make_plan(args: argparse.Namespace) -> Plan:
    """The preset, with the command line's overrides."""
    name = "quick" if args.quick else (args.preset or "cpu")
    plan = PRESETS[name]
    plan = replace(plan, attribution=list(plan.attribution), notes=[f"preset {name}"])
    if args.device:
        plan.device = args.device
    if any(v is not None for v in (args.models, args.batch, args.size, args.dtype, args.memory_format)):
        first = plan.attribution[0]
        models = args.models or list(dict.fromkeys(c.model for c in plan.attribution))
        grid = itertools.product(
            models,
            args.batch or [first.batch],
            args.size or [first.size],
            args.dtype or [first.dtype],
            args.memory_format or [first.memory_format],
        )
        plan.attribution = [Config(m, b, s, d, f, classes=args.classes or 0) for m, b, s, d, f in grid]
    if args.rounds is not None:
        plan.rounds = args.rounds
        plan.attribution = [replace(c, rounds=None) for c in plan.attribution]
    if args.warmup is not None:
        plan.warmup = args.warmup
    am = plan.am or AMConfig()
    am = replace(
        am,
        model=args.am_model or am.model,
        layer=args.am_layer or am.layer,
        size=args.am_size or am.size,
        steps=args.am_steps or am.steps,
        batch=args.am_batch or am.batch,
        rounds=None if args.rounds is not None else am.rounds,
    )
    plan.am = am if "am" in args.methods else None
    if plan.dream is not None and args.rounds is not None:
        plan.dream = replace(plan.dream, rounds=None)
    if "deep_dream" not in args.methods:
        plan.dream = None
    if not _attribution_methods(args.methods):
        plan.attribution = []
    return plan


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workload.SHOW_TRACEBACKS = args.traceback
    try:
        return _run(args, argv if argv is not None else sys.argv[1:])
    except BenchmarkError as error:
        print(f"python -m benchmarks: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    started = time.time()
    named = args.methods is not None
    args.methods = check_methods(args.methods)
    plan = make_plan(args)
    if not named and plan.left_out:
        args.methods = [m for m in args.methods if m not in plan.left_out]
        plan.notes.append(f"left out of the preset (name them with --method to run them): {', '.join(plan.left_out)}")
    threads = args.threads or plan.threads
    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(plan.device)
    attribution_methods = _attribution_methods(args.methods)
    memory = not args.no_memory
    args.out.mkdir(parents=True, exist_ok=True)

    for config in plan.attribution:
        autocast(device, config.dtype)  # half precision is CUDA only: fail before any work
    attribution: list[Group] = []
    skipped: list[str] = []
    for config in plan.attribution:
        methods = [m for m in attribution_methods
                   if (config.only is None or m in config.only) and m not in config.skip]
        if not methods:
            continue
        options = {name: {**plan.options.get(name, {}), **config.options.get(name, {})}
                   for name in {*plan.options, *config.options}}
        try:
            group = attribution_group(
                config.model, config.batch, config.size, device, config.dtype, config.memory_format,
                methods, use_peers=not args.no_peers, baseline=not args.no_baseline,
                classes=config.classes,
                options=options,
            )
        except BenchmarkError as error:
            if len(plan.attribution) == 1:
                raise
            skipped.append(f"{config.model} batch {config.batch} size {config.size}: {error}")
            log(f"skipped {config.model} batch {config.batch} size {config.size}: {error}")
            continue
        _measure(group, config.rounds or plan.rounds, plan.warmup, memory)
        attribution.append(group)

    if plan.attribution and not attribution:
        raise BenchmarkError("no configuration could run: " + "; ".join(skipped))
    featureviz: list[Group] = []
    if plan.am is not None:
        a = plan.am
        group = am_group(a.model, a.layer, a.size, a.steps, a.batch, device, baseline=not args.no_baseline)
        _measure(group, a.rounds or plan.rounds, plan.warmup, memory)
        featureviz.append(group)
    if plan.dream is not None:
        d = plan.dream
        group = dream_group(d.model, d.layer, d.size, d.octaves, d.steps, d.batch, device,
                            baseline=not args.no_baseline)
        _measure(group, d.rounds or plan.rounds, plan.warmup, memory)
        featureviz.append(group)

    results: dict[str, Any] = {
        "suite": "revelio benchmarks",
        "schema": 1,
        "command": "python -m benchmarks" + ("" if not argv else " " + shlex.join(argv)),
        "plan": "; ".join(plan.notes),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": report.machine(device),
        "versions": report.versions(),
        "timing": (
            "each configuration's workloads run in interleaved rounds (every workload once per round, the order "
            "rotating), after warm-up calls; figures are medians with the interquartile range (IQR); "
            + ("CUDA events after synchronize" if device.type == "cuda" else "time.perf_counter")
            + "; ratios are between workloads of one configuration, measured in the same rounds"
        ),
        "memory": (
            "not measured (--no-memory)" if not memory else
            "peak bytes allocated during one call above those allocated at its start: "
            + ("torch.cuda.max_memory_allocated" if device.type == "cuda" else
               "torch's CPU allocations from the profiler's memory events (profile_memory=True); NumPy and OpenCV "
               "buffers are not counted")
        ),
        "agreement": (
            "before timing, each peer's (and each baseline's) result on the same inputs is compared with revelio's "
            "in float32: relative max error max|peer - revelio| / max|revelio|; it agrees within its tolerance "
            "(1e-3 unless noted)"
        ),
        "skipped_configurations": skipped,
        "attribution": [g.to_dict() for g in attribution],
        "featureviz": [g.to_dict() for g in featureviz],
    }
    results["targets"] = evaluate(attribution, featureviz)
    if args.sanity:
        log("sanity checks")
        from revelio.featureviz import PRESETS

        checked = attribution_methods + (list(PRESETS) if plan.am is not None else [])
        results["sanity"] = run_sanity(str(device), args.out / "sanity", checked)

    charts = []
    primary = primary_group(attribution)
    chart_notes = []
    if primary is not None:
        why_not = report.attribution_chart(primary, args.out / "chart.png")
        (chart_notes.append(why_not) if why_not else charts.append("chart.png"))
    am = next((g for g in featureviz if g.title.startswith("activation")), None)
    if am is not None:
        why_not = report.featureviz_chart(am, args.out / "chart-featureviz.png")
        (chart_notes.append(why_not) if why_not else charts.append("chart-featureviz.png"))
    results["charts"] = charts
    if chart_notes:
        results["chart_notes"] = chart_notes
    results["duration_s"] = time.time() - started
    results["machine"] = report.machine(device)  # load average at the end
    report.write_json(args.out / "results.json", results)
    report.write_markdown(args.out / "results.md", results, attribution, featureviz, charts)
    log(f"done in {results['duration_s']:.0f} s: {args.out / 'results.md'}")
    _print_targets(results["targets"])
    return 0


def _measure(group: Group, rounds: int, warmup: int, memory: bool) -> None:
    phases = {}
    begin = time.perf_counter()
    log(f"{group.title}: agreement")
    check_agreement(group)
    phases["agreement"] = time.perf_counter() - begin
    time_group(group, rounds, warmup)
    phases["timing"] = time.perf_counter() - begin - phases["agreement"]
    if memory:
        log(f"{group.title}: peak memory")
        measure_memory(group)
        phases["memory"] = time.perf_counter() - begin - phases["agreement"] - phases["timing"]
    group.extra.update({"rounds": rounds, "warmup": warmup, "phase_seconds": phases})
    log(f"{group.title}: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    group.release()


def _print_targets(targets: list[dict[str, Any]]) -> None:
    for t in targets:
        value = "" if t["measured"] is None else f"{t['measured']:.3f}"
        label = verdict(t)
        print(f"{label.upper() if label == 'missed' else label:>6}  {value:>7} {t['limit']:>7}  {t['target']}")
