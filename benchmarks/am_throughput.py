"""Activation-maximization throughput: revelio against a PytorchRevelio-style loop and the floor.

    python benchmarks/am_throughput.py [--model vgg11] [--layer features.6] [--size 224]
        [--steps 32] [--batch 4] [--rounds 3] [--device cpu] [--threads N] [--skip-baseline]

Workloads, each timed per call and reported in channels (units) per second:

- ``baseline``: what PytorchRevelio does (re-implemented here, hooks removed after
  each call): one unit per call, the model in train mode, the whole network run at
  every step, ``loss.backward()`` computing every parameter's gradient, Gaussian blur
  with a fixed 3x3 kernel, bilateral blur through the CPU with OpenCV;
- ``revelio``: :class:`~revelio.featureviz.ActivationMaximization` variants (plain,
  Gaussian, bilateral), one unit per call and ``--batch`` units per call;
- ``floor``: a hand-written loop whose forward stops at the layer
  (``model.features[:k]``), with gradients for the image only and no regularizer.

Every round runs every workload once, in turn, so a noisy shared machine slows them
alike; the table gives medians. It also times each blur alone on one image, as a
share of a plain step.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from revelio.featureviz import ActivationMaximization, channel
from revelio.featureviz.activation_max import VARIANTS

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def baseline(model, layer_name: str, unit: int, size: int, steps: int, variant: str, device: str) -> torch.Tensor:
    """PytorchRevelio's activation maximization loop, one unit, as its code does it."""
    model.train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    layer = dict(model.named_modules())[layer_name]
    store: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda module, args, output: store.__setitem__("a", output))
    try:
        start = np.random.uniform(140, 170, (size, size, 3)).astype(np.uint8)
        x = ((torch.from_numpy(start).permute(2, 0, 1)[None].float() / 255 - MEAN) / STD).to(device)
        x.requires_grad_(True)
        sigmas = np.linspace(1.0, 0.5, steps)
        lr = 0.05 / 0.226  # about revelio's step in [0, 1] units
        for step in range(steps):
            model.zero_grad()
            model(x)
            store["a"][:, unit].mean().backward()
            gradient = x.grad
            gradient = gradient / (torch.sqrt(torch.mean(gradient * gradient)) + 1e-5)
            x = x.detach() + lr * gradient
            if variant == "gaussian":
                k = torch.exp(-0.5 * (torch.arange(-1.0, 2.0) / float(sigmas[step])) ** 2)
                kernel = (k[:, None] * k[None, :]) / (k.sum() ** 2)
                x = F.conv2d(F.pad(x, (1, 1, 1, 1)), kernel.expand(3, 1, 3, 3).to(device), groups=3)
            elif variant == "bilateral":
                image = x.squeeze(0).cpu().numpy().transpose(1, 2, 0)
                low, high = image.min(), image.max()
                image = (image - low) / (high - low)
                image = cv2.bilateralFilter(image * 255.0, 5, 0.3 * 255, 2.0) / 255.0
                image = image * (high - low) + low
                x = torch.tensor(image.transpose(2, 0, 1), dtype=torch.float32)[None].to(device)
            x = x.detach().requires_grad_(True)
        return x
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
        model.eval()


def floor(model, depth: int, unit: int, size: int, steps: int, device: str) -> torch.Tensor:
    """The least work: truncated forward (``model.features[:depth]``), image gradient only."""
    trunk = model.features[:depth]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    mean, std = MEAN.to(device), STD.to(device)
    x = (torch.rand(1, 3, size, size, device=device) * 0.2 + 0.4).requires_grad_(True)
    for _ in range(steps):
        value = trunk((x - mean) / std)[:, unit].mean()
        (gradient,) = torch.autograd.grad(value, x)
        with torch.no_grad():
            x += 0.05 * gradient / (gradient.square().mean().sqrt() + 1e-8)
            x.clamp_(0, 1)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg11")
    parser.add_argument("--layer", default="features.6")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-baseline", action="store_true", help="time revelio and the floor only")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    np.random.seed(0)
    device = args.device
    model = torchvision.models.get_model(args.model, weights=None).to(device).eval()
    depth = int(args.layer.split(".")[1]) + 1 if args.layer.startswith("features.") else None
    size, steps, batch = args.size, args.steps, args.batch

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    workloads: dict[str, tuple[int, Callable[[], object]]] = {}
    for variant in VARIANTS:
        am = ActivationMaximization.variant(variant, model, image_size=size, steps=steps)
        if not args.skip_baseline:
            workloads[f"baseline {variant}"] = (
                1,
                lambda v=variant: baseline(model, args.layer, 0, size, steps, v, device),
            )
        workloads[f"revelio {variant} x1"] = (1, lambda am=am: am.visualize(channel(args.layer, 0)))
        workloads[f"revelio {variant} x{batch}"] = (
            batch,
            lambda am=am: am.visualize(channel(args.layer, list(range(batch)))),
        )
    if depth is not None:
        workloads["floor (truncated, x1)"] = (1, lambda: floor(model, depth, 0, size, steps, device))

    times: dict[str, list[float]] = {name: [] for name in workloads}
    short = max(2, steps // 8)
    for name, (_, run) in workloads.items():  # warm-up (allocator, kernels)
        if name.startswith("revelio"):
            ActivationMaximization(model, image_size=size, steps=short).visualize(channel(args.layer, 0))
        else:
            run()
        sync()
    for _ in range(args.rounds):
        for name, (_, run) in workloads.items():
            sync()
            start = time.perf_counter()
            run()
            sync()
            times[name].append(time.perf_counter() - start)

    median = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"{args.model} {args.layer}, {size}x{size}, {steps} steps, random weights, device {device}, "
        f"{torch.get_num_threads()} threads, {args.rounds} interleaved rounds (medians)"
    )
    print(f"{'workload':<26}{'s/call':>9}{'units/s':>9}{'x baseline':>12}")
    for name, seconds in median.items():
        units = workloads[name][0]
        rate = units / seconds
        variant = next((v for v in VARIANTS if v in name), None)
        base = median.get(f"baseline {variant}")
        ratio = f"{rate / (1 / base):>12.2f}" if base and variant else f"{'':>12}"
        print(f"{name:<26}{seconds:>9.2f}{rate:>9.3f}{ratio}")

    for variant in VARIANTS:
        single, batched = median[f"revelio {variant} x1"], median[f"revelio {variant} x{batch}"]
        print(f"batching, {variant}: x{batch} gives {single * batch / batched:.2f}x the per-unit throughput of x1")
    if depth is not None:
        print(f"revelio plain x1 / floor: {median['floor (truncated, x1)'] / median['revelio plain x1']:.2f}x")

    # Regularizer share: each blur alone on one image, against a plain step.
    image = torch.rand(1, 3, size, size, device=device)
    plain_step = median["revelio plain x1"] / steps
    for variant in ("gaussian", "bilateral"):
        (regularizer,) = VARIANTS[variant]()
        for _ in range(3):
            regularizer(image, 0.5)
        sync()
        start = time.perf_counter()
        for i in range(20):
            regularizer(image, i / 19)
        sync()
        seconds = (time.perf_counter() - start) / 20
        print(
            f"{variant} blur alone: {seconds * 1e3:.2f} ms per image per step = "
            f"{100 * seconds / (plain_step + seconds):.1f}% of a {variant} step "
            f"(whole-run difference: {100 * (1 - median['revelio plain x1'] / median[f'revelio {variant} x1']):+.1f}%)"
        )


if __name__ == "__main__":
    main()
