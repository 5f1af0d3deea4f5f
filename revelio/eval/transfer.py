"""Transfer: does a second, independently trained model see the class a visualization was made for?

A class visualization that only its own model recognises may be an adversarial
pattern of that model; one that another model, of another architecture and seed,
also classifies as the class shows something both learned: a picture. For each
feature-visualization preset this module visualises the class logits of the bundled
shapes model (:func:`revelio.zoo.load` ``("shapes")``) from several seeds, and counts
how many images the second bundled model (``"shapes-resnet"``) classifies as the
intended class (top-1 of its logits), next to the first model's own score.

Run ``python -m revelio.eval.transfer`` for the table of docs/featureviz.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from revelio.core.state import preserved_model_state
from revelio.errors import SettingError
from revelio.featureviz import PRESETS, Visualization, class_logit, get_preset
from revelio.zoo import ZooModel


@dataclass(frozen=True)
class TransferResult:
    """One preset's visualizations of every class, scored by both models.

    Attributes:
        preset: the preset's name.
        steps: optimisation steps per image.
        images: how many images (classes x seeds).
        own: the share the visualised model classifies as the intended class (top-1).
        transfer: the share the second model classifies as the intended class (top-1).
        per_class: ``transfer`` per class, in class order.
        seconds: wall time of the visualizations.
    """

    preset: str
    steps: int
    images: int
    own: float
    transfer: float
    per_class: tuple[float, ...]
    seconds: float


def top1_hits(model: torch.nn.Module, inputs: Tensor, classes: Tensor) -> Tensor:
    """``Tensor[N]`` of bool: the model's highest logit is ``classes[i]`` for input ``i`` (model left as found)."""
    with preserved_model_state(model, eval_mode=True), torch.no_grad():
        return model(inputs).argmax(dim=1) == classes.to(inputs.device)


def visualize_classes(
    source: ZooModel, preset: str, classes: Sequence[int], seeds: Sequence[int], steps: int
) -> Visualization:
    """Every class of ``classes`` from every seed of ``seeds``, one batch; image ``(s, c)`` has seed ``seed_s + c``."""
    visualizer = get_preset(preset).create(
        source.model, image_size=source.input_size, mean=source.mean, std=source.std, steps=steps
    )
    units = [c for _ in seeds for c in classes]
    image_seeds = [int(s) + c for s in seeds for c in classes]
    return visualizer.visualize(class_logit(units), seed=image_seeds)


def transfer(
    source: ZooModel, target: ZooModel, preset: str, *, steps: int, seeds: Sequence[int], classes: Sequence[int] | None = None
) -> TransferResult:
    """Score ``preset``'s class visualizations of ``source`` by ``source`` itself and by ``target``.

    Both models must take the same normalisation and class list (the two bundled shapes models do).

    Raises:
        SettingError: the models' class names or normalisations differ, or no seeds.
        MethodNotFoundError: an unknown preset.
    """
    if source.class_names != target.class_names or (source.mean, source.std) != (target.mean, target.std):
        raise SettingError("transfer needs two models with the same classes and input normalisation")
    if not seeds:
        raise SettingError("give at least one seed")
    classes = list(range(len(source.class_names or ()))) if classes is None else list(classes)
    started = time.perf_counter()
    result = visualize_classes(source, preset, classes, seeds, steps)
    seconds = time.perf_counter() - started
    intended = torch.tensor([c for _ in seeds for c in classes])
    inputs = target.normalize(result.display.to(target.device))
    own = top1_hits(source.model, source.normalize(result.display), intended).float()
    other = top1_hits(target.model, inputs, intended).float().cpu()
    per_class = tuple(float(other[intended == c].mean()) for c in classes)
    return TransferResult(preset, steps, len(intended), float(own.mean()), float(other.mean()), per_class, seconds)


def markdown_table(results: Sequence[TransferResult], class_names: Sequence[str]) -> str:
    """The results as a Markdown table: one row per preset, shares in percent and counts (no times: they vary)."""
    header = ["preset", "own model (top-1)", "second model (top-1)", *class_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = [
            f"`{r.preset}`",
            f"{100 * r.own:.0f}% ({round(r.own * r.images)}/{r.images})",
            f"**{100 * r.transfer:.0f}%** ({round(r.transfer * r.images)}/{r.images})",
            *(f"{100 * v:.0f}%" for v in r.per_class),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m revelio.eval.transfer [--steps N] [--seeds K] [--presets a,b] [--threads T]``: print the table."""
    from revelio import zoo

    parser = argparse.ArgumentParser(prog="python -m revelio.eval.transfer", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=256, help="steps per image (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=8, help="seeds per class (default: %(default)s)")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.seeds < 1:
        parser.error("--steps and --seeds must be >= 1")
    torch.set_num_threads(args.threads)
    source, target = zoo.load("shapes"), zoo.load("shapes-resnet")
    seeds = [1000 * k for k in range(args.seeds)]
    results = []
    for name in args.presets.split(","):
        results.append(transfer(source, target, name.strip(), steps=args.steps, seeds=seeds))
        done = results[-1]
        print(f"{name}: own {done.own:.2f}, transfer {done.transfer:.2f} ({done.seconds:.0f} s)", file=sys.stderr)
    command = "python -m revelio.eval.transfer " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"{len(seeds)} seeds x {len(source.class_names)} classes, {args.steps} steps; `{command.strip()}`\n")
    print(markdown_table(results, source.class_names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
