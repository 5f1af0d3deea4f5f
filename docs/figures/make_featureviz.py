"""Make docs/figures/featureviz.png: the same units under every feature-visualization preset, side by side.

    python docs/figures/make_featureviz.py [--steps 256] [--out docs/figures/featureviz.png]

Rows: every preset of :data:`revelio.featureviz.PRESETS` (but ``accentuation``, which
starts from natural images: see make_featureviz_more.py), with its own settings;
columns: a few channels of the last conv block (seeds 0, 1, ...), then each class
logit (seeds 100, 101, ...) of the bundled shapes CNN (``revelio.zoo.load("shapes")``).
Deterministic: fixed seeds, one intra-op thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from revelio import render, zoo
from revelio.featureviz import DEFAULT_PRESET, PRESETS, channel, class_logit, get_preset

CHANNELS = [0, 5, 12, 21, 33]
UPSCALE = 2
SKIPPED = ("accentuation",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--out", default=str(Path(__file__).with_name("featureviz.png")))
    args = parser.parse_args()
    torch.set_num_threads(1)

    shapes = zoo.load("shapes")
    names = [name for name in PRESETS if name not in SKIPPED]
    tiles = []
    for name in names:
        visualizer = get_preset(name).create(shapes.model, image_size=shapes.input_size, mean=shapes.mean,
                                             std=shapes.std, steps=args.steps)
        tiles += list(visualizer.visualize(channel("block3", CHANNELS), seed=0).display)
        tiles += list(visualizer.visualize(class_logit(list(range(len(shapes.class_names)))), seed=100).display)
        print(f"{name} done", flush=True)
    headers = [f"block3 ch {c}" for c in CHANNELS] + [f"logit {name}" for name in shapes.class_names]
    rows = [f"{name} (default)" if name == DEFAULT_PRESET else name for name in names]
    figure = render.grid(tiles, ncols=len(headers), titles=headers, row_titles=rows, scale=UPSCALE)
    render.save_png(figure, args.out)
    print(f"wrote {args.out} ({args.steps} steps)")


if __name__ == "__main__":
    main()
