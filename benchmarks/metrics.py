"""Runtime of revelio.eval's map metrics on the bundled shapes model, and agreement with Quantus.

``python -m benchmarks.metrics [--threads 2] [--images 64] [--runs 100] [--samples 200] [--quantus]``

For Grad-CAM and saliency maps of ``--images`` held-out shapes images, times
:func:`~revelio.eval.faithfulness_correlation` (``--runs`` subsets of 224 features),
:func:`~revelio.eval.max_sensitivity` (``--samples`` noises of radius 0.2),
:func:`~revelio.eval.sparseness` and :func:`~revelio.eval.complexity`, next to their
floors measured in the same run: the perturbed images' forward passes alone, the
explainer's calls alone. ``--quantus`` also runs Quantus 0.6.0 on the same maps with
revelio's random subsets and noise replayed into ``numpy.random``, and prints the
largest difference.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def _repeat(fn: Callable[..., Any], times: int, *args: Any) -> None:
    for _ in range(times):
        fn(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--quantus", action="store_true")
    args = parser.parse_args()

    from revelio import registry, zoo
    from revelio.attribution import GradCAM, Saliency
    from revelio.eval import complexity, faithfulness_correlation, max_sensitivity, sparseness
    from revelio.zoo.tasks import get_task

    torch.set_num_threads(args.threads)
    shapes = zoo.load("shapes")
    task = get_task("shapes")
    inputs = shapes.normalize(task.make_batch(args.images, task.test_seed).images)
    with torch.no_grad():
        targets = shapes.model(inputs).argmax(1)
    methods = {
        registry.spec_of(method).name: method
        for method in (GradCAM(shapes.model, shapes.gradcam_layer), Saliency(shapes.model))
    }
    print(
        f"shapes model, {args.images} images {tuple(inputs.shape[1:])}, {args.threads} threads, torch {torch.__version__}"
    )
    per_pass = max(1, 512 // args.images)  # faithfulness_correlation's default batch_size

    def forwards() -> None:
        with torch.no_grad():
            batch = inputs.repeat(per_pass, 1, 1, 1)
            for first in range(0, args.runs, per_pass):
                shapes.model(batch[: args.images * min(per_pass, args.runs - first)])

    for name, method in methods.items():
        maps = method.attribute(inputs, targets)
        print(f"{name}: maps {tuple(maps.shape[1:])}")
        score, seconds = _timed(faithfulness_correlation, shapes.model, inputs, maps, targets, runs=args.runs)
        _, floor = _timed(forwards)
        print(
            f"  faithfulness_correlation (|S|=224, {args.runs} runs): {seconds:.2f} s, mean {score.nanmean():.3f}; "
            f"its {args.runs * args.images} forwards alone {floor:.2f} s (x{seconds / floor:.2f})"
        )
        score, seconds = _timed(max_sensitivity, method.attribute, inputs, targets, samples=args.samples, maps=maps)
        noise = torch.rand_like(inputs) * 0.4 - 0.2
        _, floor = _timed(_repeat, method.attribute, args.samples, inputs + noise, targets)
        print(
            f"  max_sensitivity (r=0.2, {args.samples} samples): {seconds:.2f} s, mean {score.mean():.3f}; "
            f"its {args.samples} explainer calls alone {floor:.2f} s (x{seconds / floor:.2f})"
        )
        score, seconds = _timed(sparseness, maps)
        print(f"  sparseness: {seconds:.4f} s, mean {score.mean():.3f}")
        score, seconds = _timed(complexity, maps)
        print(f"  complexity: {seconds:.4f} s, mean {score.mean():.3f}")
    if args.quantus:
        _against_quantus(shapes.model, inputs, targets, methods, args)


def _against_quantus(model, inputs, targets, methods, args) -> None:
    import quantus

    from revelio.eval import complexity, faithfulness_correlation, max_sensitivity, sparseness
    from revelio.eval.metrics import random_subsets

    x, y = inputs.numpy(), targets.numpy()
    original = {name: getattr(np.random, name) for name in ("choice", "uniform")}

    def replay(name: str, draws: list[np.ndarray]) -> None:
        queue = iter(draws)
        setattr(np.random, name, lambda *_, **__: next(queue))

    for name, method in methods.items():
        maps = method.attribute(inputs, targets)
        a = maps.numpy()
        generator = torch.Generator().manual_seed(0)
        subsets = [random_subsets(generator, len(inputs), inputs[0].numel(), 224) for _ in range(args.runs)]
        replay("choice", [row.numpy() for subset in subsets for row in subset])
        try:
            metric = quantus.FaithfulnessCorrelation(
                nr_runs=args.runs, subset_size=224, return_aggregate=False, disable_warnings=True
            )
            theirs, quantus_seconds = _timed(metric, model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu")
        finally:
            np.random.choice = original["choice"]
        baseline = inputs.amin(dim=(1, 2, 3), keepdim=True)
        ours, seconds = _timed(
            faithfulness_correlation, model, inputs, maps, targets, runs=args.runs, baseline=baseline
        )
        print(
            f"{name} faithfulness_correlation vs Quantus: max |diff| {np.abs(ours.numpy() - np.array(theirs)).max():.2e} "
            f"(revelio {seconds:.1f} s, Quantus {quantus_seconds:.1f} s)"
        )
        samples = min(args.samples, 20)
        generator = torch.Generator().manual_seed(0)
        noises = [(2 * torch.rand(inputs.shape, generator=generator) - 1) * 0.2 for _ in range(samples)]
        replay("uniform", [u.flatten(1).double().numpy() for u in noises])

        def explain(model, inputs, targets, method=method, **_):
            return method.attribute(torch.as_tensor(inputs), torch.as_tensor(targets)).numpy()

        try:
            metric = quantus.MaxSensitivity(nr_samples=samples, lower_bound=0.2, disable_warnings=True)
            theirs, quantus_seconds = _timed(
                metric, model=model, x_batch=x, y_batch=y, a_batch=a, explain_func=explain, device="cpu"
            )
        finally:
            np.random.uniform = original["uniform"]
        ours, seconds = _timed(
            max_sensitivity, method.attribute, inputs, targets, samples=samples, relative=True, maps=maps
        )
        relative = np.abs(ours.numpy() - np.array(theirs)) / np.array(theirs)
        print(
            f"{name} max_sensitivity ({samples} samples, relative=True) vs Quantus: max relative diff "
            f"{relative.max():.2e} (revelio {seconds:.1f} s, Quantus {quantus_seconds:.1f} s)"
        )
        unit = maps / maps.flatten(1).abs().amax(1).view(-1, 1, 1, 1)  # Quantus' max normalisation is then a no-op
        theirs = quantus.Sparseness(disable_warnings=True)(model=None, x_batch=x, y_batch=y, a_batch=unit.numpy())
        shifted = np.abs(sparseness(unit.abs().double() + 1e-7).numpy() - theirs).max()
        print(
            f"{name} sparseness vs Quantus: max |diff| {shifted:.2e} with Quantus' 1e-7 shift, "
            f"{np.abs(sparseness(unit).numpy() - theirs).max():.2e} without"
        )
        theirs = quantus.Complexity(disable_warnings=True)(model=None, x_batch=x, y_batch=y, a_batch=unit.numpy())
        print(f"{name} complexity vs Quantus: max |diff| {np.abs(complexity(unit).numpy() - theirs).max():.2e}")


if __name__ == "__main__":
    main()
