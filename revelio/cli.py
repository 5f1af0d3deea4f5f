"""The ``revelio`` command line: ``demo``, ``explain``, ``visualize``, ``layers``, ``sanity``.

It only wires the library up: models from :mod:`revelio.zoo`, methods from
:mod:`revelio.attribution` and :mod:`revelio.featureviz`, pictures from
:mod:`revelio.render`. A user error (a missing image, an unknown model or layer, a
target out of range, weights that do not fit, an unwritable output folder) prints one
line to stderr and exits with status 2, leaving no output behind.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from revelio.errors import RevelioError

if TYPE_CHECKING:
    import torch

    from revelio.zoo import ZooModel

USER_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.formatwarning = _one_line_warning
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    try:
        _seed(args.seed)
        return args.run(args) or 0
    except (RevelioError, ValueError, OSError) as error:
        print(f"revelio {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print(f"revelio {args.command}: interrupted", file=sys.stderr)
        return 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other user error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="revelio", description="See what PyTorch vision models see and learn."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="every method on the bundled shapes model, as an HTML report")
    demo.add_argument("--out", default="revelio-demo", help="output folder (default: %(default)s)")
    _add_common(demo)
    demo.set_defaults(run=_run_demo)

    explain = commands.add_parser(
        "explain", help="attribution maps for image files, or for a whole data set with --dataset",
        description="Attribution maps for IMAGE files: per image and method a picture at the image's own size "
        "(the input, the map, its legend), explanations.json and index.html, a page of them all. With --dataset "
        "for a whole data set: float16 maps in resumable shards plus manifest.jsonl; under torchrun the shards are "
        "spread over the processes.",
    )
    explain.add_argument("images", nargs="*", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    _add_model(explain)
    _add_model_options(explain)
    explain.add_argument("--method", action="append", metavar="NAME",
                         help=f"a method: {_method_choices()}, or all; repeat the flag or give a comma list for "
                         f"several (default: {_default_method()}; one method with --dataset)")
    explain.add_argument("--target", default="auto", help="auto (top class), a class index or a class name")
    explain.add_argument("--layer", help="layer for CAM methods (default: the model's usual one, or its last "
                         "spatial layer)")
    explain.add_argument("--out", required=True, help="output folder; new or empty, unless --overwrite")
    explain.add_argument("--overwrite", action="store_true",
                         help="replace an earlier explain result in --out as a whole (a folder holding other files "
                         "is refused)")
    explain.add_argument("--format", action="append", metavar="FMT",
                         help="png, jpg (pictures), npy, pt (the maps as numbers, at the image's size, NaN where the "
                         "model saw nothing); a comma list or a repeated flag (default: png)")
    batch = explain.add_argument_group("data sets (--dataset)")
    batch.add_argument("--dataset", metavar="DIR|GLOB|shapes:N",
                       help="a folder (every file below it), a quoted glob ('data/**/*.jpg') or shapes:N[:SEED]")
    batch.add_argument("--batch-size", type=_positive_int, default=32, help="images per batch (default: %(default)s)")
    batch.add_argument("--workers", type=int,
                       help="DataLoader workers per process (default: CPUs per process less one, at most 4)")
    batch.add_argument("--shard-size", type=_positive_int, default=256,
                       help="images per shard file (default: %(default)s)")
    batch.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                       help="continue an --out of the same configuration (default), or --no-resume to compute "
                       "every shard again; another configuration is always refused")
    _add_common(explain)
    explain.set_defaults(run=_run_explain)

    visualize = commands.add_parser(
        "visualize", help="feature visualization of units of a layer, deep dream, feature accentuation",
        description="Feature visualization: the images that units of a layer (or class logits) respond to most, "
        "with a preset (--method) whose parameterization (--param) and transformations (--transforms) can be "
        "replaced; deep dream (--method deepdream --start IMAGE...); feature accentuation of given images "
        "(--start IMAGE... --accentuate LAYER).",
    )
    _add_model(visualize)
    visualize.add_argument("--layer", help="dotted layer name (see `revelio layers`); not needed for class logits")
    visualize.add_argument("--units", default="0-7", help="channels, units or classes, e.g. 0-7 or 0,3,5 "
                           "(default: %(default)s)")
    visualize.add_argument("--objective", choices=["channel", "neuron", "class", "deepdream"],
                           help="what to maximise: a channel's mean (default), the unit at the centre, a class logit, "
                           "or a whole layer's activity (deep dream)")
    visualize.add_argument("--method", help="a feature-visualization preset (--list shows them), or deepdream "
                           "(default: readable, the preset whose pictures a second model recognises most often)")
    visualize.add_argument("--param", dest="parameterization", help="replace the preset's parameterization: "
                           "pixels, decorrelated, fourier, fourier-decorrelated, maco")
    visualize.add_argument("--transforms", help="replace the preset's transformations: none, lucid, lucid-scaled")
    visualize.add_argument("--steps", type=_positive_int, help="steps per image (default: 128); deep dream: "
                           "steps per octave (default: 10)")
    visualize.add_argument("--size", type=_positive_int, help="image size (default: the model's input size)")
    visualize.add_argument("--lr", type=float, help="learning rate (default: the preset's, 0.05 for "
                           "most, 0.1 for maco, 0.02 for accentuation; deep dream: 0.01)")
    visualize.add_argument("--images", type=_positive_int, default=1, help="images per unit, each from its own seed "
                           "(default: %(default)s)")
    visualize.add_argument("--diversity", type=float, default=0.0, help="weight of a diversity term across the "
                           "images at --layer (Olah et al. 2017; default: none)")
    visualize.add_argument("--start", nargs="+", metavar="IMAGE", default=[], help="image files to start from: "
                           "deep dream's images, the images to accentuate, or start images instead of noise")
    visualize.add_argument("--accentuate", metavar="LAYER", help="feature accentuation of the --start images, kept "
                           "close to them at this layer (Hamblin et al. 2024)")
    visualize.add_argument("--weight", type=float, default=1.0, help="accentuation: weight of the distance at the "
                           "--accentuate layer (default: %(default)s)")
    visualize.add_argument("--octaves", type=_positive_int, default=4, help="deep dream: octaves (default: %(default)s)")
    visualize.add_argument("--octave-scale", type=float, default=1.4, help="deep dream: size ratio between octaves "
                           "(default: %(default)s)")
    visualize.add_argument("--channels", type=_positive_int, help="image channels, for a model that does not take "
                           "RGB (then without normalisation)")
    visualize.add_argument("--list", action="store_true", help="list the presets, parameterizations and "
                           "transformation sets, and exit")
    visualize.add_argument("--out", help="output folder (required)")
    _add_common(visualize)
    visualize.set_defaults(run=_run_visualize)

    layers = commands.add_parser("layers", help="layer names, types and output shapes of a model")
    _add_model(layers)
    _add_model_options(layers)
    _add_common(layers)
    layers.set_defaults(run=_run_layers)

    sanity = commands.add_parser("sanity", help="sanity checks of every method, as a report")
    sanity.add_argument("--task", default="shapes", type=_task_name, metavar="NAME",
                        help="the ground-truth task whose held-out images are checked, one of revelio.zoo.tasks.TASKS "
                             "(default: %(default)s)")
    sanity.add_argument("--model", help="a torchvision name (default: the task's bundled model)")
    sanity.add_argument("--weights", help="a state_dict file for a torchvision model")
    sanity.add_argument("--method", "--methods", dest="methods", action="extend", nargs="+", metavar="NAME",
                        help=f"methods to check: {_method_choices()}, the controls (edge-detector, spectral-residual, random-map) or "
                        "feature-visualization presets; comma lists work (default: all, with the controls)")
    sanity.add_argument("--slow", action="store_true",
                        help="add data randomization (A5: trains a permuted-label model and a true-label control), "
                             "A3's independent randomization, and every method's full options (not its preview ones)")
    sanity.add_argument("--reset-batchnorm", action="store_true",
                        help="A3: reset BatchNorm running statistics too (default: kept, as Adebayo et al.'s code)")
    sanity.add_argument("--fixed-class", action="store_true",
                        help="A3: explain the trained model's class at every stage (default: re-taken, as Adebayo et "
                             "al.'s code)")
    sanity.add_argument("--images", type=_positive_int,
                        help="images per check (default: 32 on a task's model, 8 on other models)")
    sanity.add_argument("--out", default="revelio-sanity", help="output folder (default: %(default)s)")
    sanity.add_argument("--doc", metavar="PAGE",
                        help="also put the report into this Markdown page, between its <!-- sanity:TASK:start --> "
                             "and <!-- sanity:TASK:end --> lines (docs/sanity.md is made so)")
    _add_common(sanity)
    sanity.set_defaults(run=_run_sanity)
    return parser


def _method_choices() -> str:
    from revelio.registry import known_names  # imports no torch

    return ", ".join(known_names())


def _default_method() -> str:
    from revelio.registry import DEFAULT_METHOD

    return DEFAULT_METHOD


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="shapes",
                        help="shapes (bundled, default), a torchvision name (resnet50, ...) or package.module:factory")
    parser.add_argument("--weights", help="a state_dict file, or a torchvision weights name (DEFAULT, IMAGENET1K_V2)")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the model's inputs and outputs (default: what the model or its weights say)")
    group.add_argument("--classes", metavar="FILE|A,B,...",
                       help="class names: a text file with one name per line, or a comma list; one per output")
    group.add_argument("--input-size", metavar="N|WxH", help="the model's input size in pixels")
    group.add_argument("--mean", metavar="R,G,B", help="per-channel mean of the normalisation, for images in [0, 1]")
    group.add_argument("--std", metavar="R,G,B", help="per-channel standard deviation of the normalisation")
    group.add_argument("--fit", metavar="crop|pad|stretch",
                       help="how an image is fitted into the input: crop (the centre, torchvision's way), pad (the "
                       "whole image, aspect kept) or stretch (default: crop, stretch for the bundled model)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds random weights and every random draw, so runs repeat (default: %(default)s)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")


# -- commands --------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from revelio.demo import run_demo

    start = time.perf_counter()
    summary = run_demo(args.out, device=_device(args.device), seed=args.seed, progress=args.progress)
    print(summary)
    print(f"wrote {Path(args.out) / 'index.html'} in {time.perf_counter() - start:.0f} s")
    return 0


def _run_layers(args: argparse.Namespace) -> int:
    from revelio.core.layers import default_layer, describe_layers

    zoo_model = _configured(_load_model(args.model, args.weights, _device(args.device)), args)
    height, width = zoo_model.input_size
    import torch

    inputs = torch.zeros(1, len(zoo_model.mean), height, width, device=zoo_model.device)
    rows = describe_layers(zoo_model.model, inputs)
    cam_layer = zoo_model.gradcam_layer or default_layer(rows)
    width_name = max(len("layer"), *(len(row.name) for row in rows))
    width_type = max(len("type"), *(len(row.type) for row in rows))
    print(f"{'layer':<{width_name}}  {'type':<{width_type}}  {'output':<20}  params")
    for row in rows:
        shape = "x".join(map(str, row.output_shape)) if isinstance(row.output_shape, tuple) else row.output_shape
        mark = "  <- default layer of the CAM methods" if row.name == cam_layer else ""
        print(f"{row.name:<{width_name}}  {row.type:<{width_type}}  {shape:<20}  {row.parameters:,}{mark}")
    return 0


def _run_explain(args: argparse.Namespace) -> int:
    import os

    from revelio.explain import explain_images, method_names, parse_target

    if args.dataset is not None:  # a whole data set: resumable shards, spread over the processes under torchrun
        from revelio.batch import attribute_dataset, process_device

        if args.images:
            raise ValueError("give IMAGE files or --dataset, not both")
        _only_for("IMAGE files, not --dataset", (("--format", args.format), ("--overwrite", args.overwrite or None),
                                                  ("--fit", args.fit)))  # fmt: skip
        names = method_names(args.method)
        if len(names) != 1:
            raise ValueError("--dataset runs one method at a time; run it once per method, each with its own --out")
        device = process_device(_device(args.device))  # cuda -> cuda:LOCAL_RANK under torchrun
        zoo_model = _configured(_load_model(args.model, args.weights, device), args)  # seeded: the same everywhere
        summary = attribute_dataset(
            zoo_model, args.dataset, names[0], args.out, args.batch_size, layer=args.layer,
            target=parse_target(args.target, zoo_model), shard_size=args.shard_size, workers=args.workers,
            resume=args.resume, progress=args.progress,
        )
        if int(os.environ.get("RANK", "0")) == 0:
            print(summary)
        return 0
    if not args.images:
        raise ValueError("give IMAGE files, or --dataset DIR|GLOB|shapes:N for a whole data set")
    _only_for("--dataset runs", (("--workers", args.workers), ("--resume/--no-resume", args.resume)))
    zoo_model = _configured(_load_model(args.model, args.weights, _device(args.device)), args)
    lines = explain_images(
        zoo_model, args.images, method=args.method, target=args.target, layer=args.layer, out=args.out,
        formats=args.format, overwrite=args.overwrite, progress=args.progress,
    )
    print("\n".join(lines))
    return 0


def _only_for(what: str, flags: Sequence[tuple[str, object]]) -> None:
    given = [flag for flag, value in flags if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to {what} only")


def _run_visualize(args: argparse.Namespace) -> int:
    from revelio.visualize import VisualizeOptions, choices, visualize_units

    if args.list:
        print(choices())
        return 0
    if args.out is None:
        raise ValueError("--out FOLDER is required")
    options = VisualizeOptions(
        layer=args.layer, units=parse_units(args.units), objective=args.objective, method=args.method,
        parameterization=args.parameterization, transforms=args.transforms, steps=args.steps, size=args.size,
        lr=args.lr, images=args.images, diversity=args.diversity, start=args.start, accentuate=args.accentuate,
        weight=args.weight, octaves=args.octaves, octave_scale=args.octave_scale, channels=args.channels,
        seed=args.seed, progress=args.progress,
    )
    zoo_model = _load_model(args.model, args.weights, _device(args.device))
    written = visualize_units(zoo_model, options, args.out)
    print(f"wrote {written}")
    return 0


def _task_name(name: str) -> str:
    """A task of :data:`revelio.zoo.tasks.TASKS` (imported only when ``--task`` is given: it imports torch)."""
    from revelio.zoo.tasks import TASKS

    if name not in TASKS:
        raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {', '.join(map(repr, TASKS))})")
    return name


def _run_sanity(args: argparse.Namespace) -> int:
    from revelio.eval import run_sanity
    from revelio.io import check_writable

    check_writable(args.out)
    device = _device(args.device)
    zoo_model = None if args.model is None else _load_model(args.model, args.weights, device)
    report = run_sanity(zoo_model, args.methods, task=args.task, slow=args.slow, images=args.images, seed=args.seed,
                        device=device, progress=args.progress, retake_class=not args.fixed_class,
                        batchnorm_statistics="reset" if args.reset_batchnorm else "keep")
    from revelio.io import staged_output

    with staged_output(args.out) as stage:
        report.write(stage)
    print(report.table())
    print(f"wrote {Path(args.out)}")
    if args.doc:
        print(f"wrote {report.splice_into(args.doc, args.out)}")
    return 0


# -- shared pieces ------------------------------------------------------------------


def parse_units(spec: str) -> list[int]:
    """``"0-3,8"`` -> ``[0, 1, 2, 3, 8]``.

    Raises:
        ValueError: a part that is not an integer or an ``a-b`` range with ``a <= b``.
    """
    units: list[int] = []
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ValueError(f"--units must look like 0-7 or 0,3,5, got {spec!r}") from None
        if first < 0 or last < first:
            raise ValueError(f"--units range {part.strip()!r} must go from a smaller to a larger index >= 0")
        units.extend(range(first, last + 1))
    return units


def _load_model(name: str, weights: str | None, device: torch.device):
    from revelio import zoo

    if name in zoo.BUNDLED:
        if weights is not None:
            raise ValueError(f"--weights does not apply to the bundled model {name!r}; it ships its own")
        return zoo.load(name, device=device)
    from revelio.zoo.torchvision import build  # imports torchvision: seconds

    return build(name, weights, device=device)


def _configured(zoo_model: ZooModel, args: argparse.Namespace) -> ZooModel:
    """The model with the preprocessing and class names the command line gave (``--input-size`` ...)."""
    classes = _class_names(args.classes) if args.classes is not None else None
    outputs = _outputs(zoo_model) if classes is not None else None
    return zoo_model.configured(
        input_size=_input_size(args.input_size) if args.input_size is not None else None,
        mean=_channel_values("--mean", args.mean), std=_channel_values("--std", args.std),
        class_names=classes, fit=args.fit, outputs=outputs,
    )


def _class_names(spec: str) -> list[str]:
    path = Path(spec)
    if path.is_file():
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"--classes: cannot read {spec!r} as a text file of class names ({error})") from None
    else:
        names = [name.strip() for name in spec.split(",") if name.strip()]
        if len(names) < 2:
            raise ValueError(f"--classes {spec!r} is neither a file nor a comma list of class names")
    return names


def _outputs(zoo_model: ZooModel) -> int | None:
    """The model's number of outputs, from one forward pass of a blank input (``None`` if not a plain vector)."""
    import torch

    height, width = zoo_model.input_size
    with torch.no_grad():
        output = zoo_model.model(torch.zeros(1, len(zoo_model.mean), height, width, device=zoo_model.device))
    return int(output.shape[-1]) if isinstance(output, torch.Tensor) and output.ndim == 2 else None


def _input_size(spec: str) -> tuple[int, int]:
    width, _, height = spec.lower().partition("x")
    try:
        size = (int(height or width), int(width))
    except ValueError:
        raise ValueError(f"--input-size must be N or WxH in pixels (224, 320x240), got {spec!r}") from None
    if min(size) < 1:
        raise ValueError(f"--input-size must be positive, got {spec!r}")
    return size


def _channel_values(flag: str, spec: str | None) -> list[float] | None:
    if spec is None:
        return None
    try:
        return [float(value) for value in spec.split(",")]
    except ValueError:
        raise ValueError(f"{flag} must be numbers separated by commas (0.485,0.456,0.406), got {spec!r}") from None


def _seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators: random weights and every random draw repeat."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _device(spec: str) -> torch.device:
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec not in ("cpu", "cuda") and not spec.startswith("cuda:"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {spec!r}")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda, but this machine has no CUDA GPU; use --device cpu")
    return torch.device(spec)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as one line for the terminal, without the source line a Python warning shows."""
    return f"revelio: {category.__name__}: {message}\n"


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:  # not "[Errno 2] ..."
        return f"{error.strerror}: {error.filename!r}"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _version() -> str:
    from revelio import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
