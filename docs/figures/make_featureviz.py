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

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from revelio.featureviz import VARIANTS, ActivationMaximization, channel, class_logit

CHANNELS = [0, 5, 12, 21, 33]
UPSCALE = 2
LABEL_WIDTH = 96


def _model():
    """The trained shapes CNN with its preprocessing, or a random one (say which)."""
    from revelio import zoo
    from revelio.errors import WeightsError

    try:
        bundled = zoo.load("shapes")
        return bundled.model, bundled.mean, bundled.std, list(bundled.class_names), "trained shapes CNN"
    except WeightsError:  # weights not installed
        torch.manual_seed(0)
        return zoo.ShapesCNN().eval(), zoo.MEAN, zoo.STD, list(zoo.CLASS_NAMES), "shapes CNN, RANDOM weights"


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.4) -> None:
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--out", default=str(Path(__file__).with_name("featureviz.png")))
    args = parser.parse_args()

    model, mean, std, class_names, description = _model()
    rows = []
    for variant in VARIANTS:
        am = ActivationMaximization.variant(variant, model, image_size=64, mean=mean, std=std, steps=args.steps)
        channels = am.visualize(channel("block3", CHANNELS), seed=0).display
        classes = am.visualize(class_logit(list(range(len(class_names)))), seed=100).display
        rows.append(torch.cat([channels, classes]))
    images = F.interpolate(torch.cat(rows), scale_factor=UPSCALE, mode="nearest")
    columns = len(CHANNELS) + len(class_names)
    grid = make_grid(images, nrow=columns, padding=4, pad_value=1.0)
    grid = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)[:, :, ::-1].copy()  # RGB -> BGR

    tile = 64 * UPSCALE + 4
    header = 36
    canvas = np.full((grid.shape[0] + header, grid.shape[1] + LABEL_WIDTH, 3), 255, np.uint8)
    canvas[header:, LABEL_WIDTH:] = grid
    for row, variant in enumerate(VARIANTS):
        _label(canvas, variant, (8, header + row * tile + tile // 2 + 4), 0.5)
    for col in range(columns):
        text = f"ch {CHANNELS[col]}" if col < len(CHANNELS) else class_names[col - len(CHANNELS)]
        _label(canvas, text, (LABEL_WIDTH + 8 + col * tile, header - 6))
    _label(canvas, f"{description}: block3 channels | class logits", (8, 14), 0.45)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, canvas)
    print(f"wrote {args.out} ({description}, {args.steps} steps)")


if __name__ == "__main__":
    main()
