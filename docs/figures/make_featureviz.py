"""Make docs/figures/featureviz.png: plain vs Gaussian vs bilateral activation maximization.

    python docs/figures/make_featureviz.py [--steps 128] [--out docs/figures/featureviz.png]

Rows: the three variants of :class:`revelio.featureviz.ActivationMaximization` with
their default settings (:data:`revelio.featureviz.VARIANTS`); columns: a few channels
of the last conv block, then each class logit. The model is the bundled shapes CNN
(``revelio.zoo.load("shapes")``) when its weights are installed, else the same
architecture with random weights, and the figure says so. Deterministic (fixed seeds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from revelio import render
from revelio.featureviz import VARIANTS, ActivationMaximization, channel, class_logit

CHANNELS = [0, 5, 12, 21, 33]
UPSCALE = 2


def _model():
    """The shapes CNN, its preprocessing and class names, and whether it is the trained one."""
    from revelio import zoo
    from revelio.errors import WeightsError

    try:
        bundled = zoo.load("shapes")
        return bundled.model, bundled.mean, bundled.std, list(bundled.class_names), True
    except WeightsError:  # weights not installed
        torch.manual_seed(0)
        return zoo.ShapesCNN().eval(), zoo.MEAN, zoo.STD, list(zoo.CLASS_NAMES), False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--out", default=str(Path(__file__).with_name("featureviz.png")))
    args = parser.parse_args()

    model, mean, std, class_names, trained = _model()
    tiles = []
    for variant in VARIANTS:
        am = ActivationMaximization.variant(variant, model, image_size=64, mean=mean, std=std, steps=args.steps)
        tiles += list(am.visualize(channel("block3", CHANNELS), seed=0).display)
        tiles += list(am.visualize(class_logit(list(range(len(class_names)))), seed=100).display)
    headers = [f"block3 ch {c}" for c in CHANNELS] + [f"logit {name}" for name in class_names]
    rows = [variant if trained else f"{variant}, RANDOM weights" for variant in VARIANTS]
    figure = render.grid(tiles, ncols=len(headers), titles=headers, row_titles=rows, scale=UPSCALE)
    render.save_png(figure, args.out)
    print(f"wrote {args.out} ({'trained' if trained else 'RANDOM'} shapes CNN, {args.steps} steps)")


if __name__ == "__main__":
    main()
