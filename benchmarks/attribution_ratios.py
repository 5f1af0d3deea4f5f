"""Time each attribution method against the physical floors, in one interleaved run.

    python benchmarks/attribution_ratios.py [--model resnet50] [--batch 8] [--size 224] [--rounds 7]

Floors: a bare forward pass under ``no_grad``, and a forward plus a backward pass to
the input only (parameters frozen). Every round runs every workload once, in turn, so
that a noisy shared machine slows them alike; the table gives medians and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

from revelio import GradCAM, GuidedBackprop, GuidedGradCAM, Saliency

LAYERS = {"resnet50": "layer4", "vgg16": "features.28", "densenet121": "features", "resnet18": "layer4"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", choices=sorted(LAYERS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = torchvision.models.get_model(args.model, weights=None).eval()
    layer = LAYERS[args.model]
    x = torch.randn(args.batch, 3, args.size, args.size)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def forward_backward() -> None:
        for p in model.parameters():
            p.requires_grad_(False)
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(model(xg).max(1).values.sum(), xg)
        for p in model.parameters():
            p.requires_grad_(True)

    workloads = {
        "forward (no_grad)": forward,
        "forward+input backward": forward_backward,
        "Saliency": lambda: Saliency(model).attribute(x),
        "GuidedBackprop": lambda: GuidedBackprop(model).attribute(x),
        "GradCAM": lambda: GradCAM(model, layer).attribute(x),
        "GuidedGradCAM": lambda: GuidedGradCAM(model, layer).attribute(x),
    }
    times: dict[str, list[float]] = {name: [] for name in workloads}
    for run in workloads.values():
        run()  # warm-up
    for _ in range(args.rounds):
        for name, run in workloads.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    median = {name: statistics.median(t) for name, t in times.items()}
    fwd, floor = median["forward (no_grad)"], median["forward+input backward"]
    print(f"{args.model}, batch {args.batch}, {args.size}x{args.size}, {torch.get_num_threads()} threads, "
          f"{args.rounds} interleaved rounds (medians)")
    print(f"{'workload':<24}{'s/batch':>9}{'img/s':>8}{'x fwd':>8}{'x floor':>9}")
    for name, t in median.items():
        print(f"{name:<24}{t:>9.3f}{args.batch / t:>8.1f}{t / fwd:>8.2f}{t / floor:>9.2f}")
    print(f"GuidedGradCAM / GuidedBackprop: {median['GuidedGradCAM'] / median['GuidedBackprop']:.2f}")


if __name__ == "__main__":
    main()
