"""Make docs/figures/featureviz_more.png: MACO's transparency, feature accentuation, diversity, interpolation, deep dream.

    python docs/figures/make_featureviz_more.py [--steps 128] [--out docs/figures/featureviz_more.png]

On the bundled shapes CNN (``revelio.zoo.load("shapes")``), each row one technique:

1. MACO (``maco`` preset) of the six class logits, each image shown under its
   transparency map (the image blended to white where the accumulated gradient is small);
2. six held-out shapes images, and 3. their feature accentuation (``accentuation``
   preset, regularization layer ``block1``, weight 1) for the class of their first object;
4. the default preset with a diversity term (weight 0.25): six images of one channel (``block3``
   channel 12), pushed apart in ``block2``'s Gram matrices;
5. an interpolation from the ``star`` logit to the ``cross`` logit, one start for all six;
6. deep dream on the images of row 2 (``block2``, 3 octaves).

Deterministic: fixed seeds, one intra-op thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from revelio import render, zoo
from revelio.featureviz import (
    DEFAULT_PRESET,
    DeepDream,
    accentuate,
    channel,
    class_logit,
    diversity,
    get_preset,
    interpolate,
)
from revelio.zoo.train import TEST_SEED

UPSCALE = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--out", default=str(Path(__file__).with_name("featureviz_more.png")))
    args = parser.parse_args()
    torch.set_num_threads(1)

    shapes = zoo.load("shapes")
    names = list(shapes.class_names)
    settings = {"image_size": shapes.input_size, "mean": shapes.mean, "std": shapes.std, "steps": args.steps}

    maco = get_preset("maco").create(shapes.model, **settings).visualize(class_logit(list(range(6))), seed=100)
    shown = maco.display * maco.transparency + (1 - maco.transparency)  # transparent where the unit does not look

    batch = zoo.make_batch(6, TEST_SEED, start=40)
    start = shapes.normalize(batch.images)
    targets = batch.classes[:, 0].tolist()
    accentuation = get_preset("accentuation").create(shapes.model, **settings)
    accented = accentuate(accentuation, class_logit(targets), start, layer="block1", weight=1.0, seed=7)

    default = get_preset(DEFAULT_PRESET).create(shapes.model, **settings)
    diverse = default.visualize(channel("block3", 12) + 0.25 * diversity("block2"), num_images=6, seed=0)
    path = default.visualize(interpolate(class_logit(4), class_logit(3), 6), seed=[5] * 6)

    dream = DeepDream(shapes.model, octaves=3, steps=max(1, args.steps // 16), mean=shapes.mean, std=shapes.std)
    dreamed = dream.visualize("block2", start=start, seed=3)

    tiles = [*shown, *batch.images, *accented.display, *diverse.display, *path.display, *dreamed.display]
    titles = names + [f"{names[c]} image" for c in targets]
    titles += [f"{names[c]} accentuated" for c in targets] + [f"ch 12, #{i}" for i in range(6)]
    titles += [f"{1 - i / 5:.1f} star + {i / 5:.1f} cross" for i in range(6)] + [f"dream {i}" for i in range(6)]
    rows = ["MACO (transparency)", "held-out images", "accentuation", "diversity", "interpolation", "deep dream"]
    figure = render.grid(tiles, ncols=6, titles=titles, row_titles=rows, scale=UPSCALE)
    render.save_png(figure, args.out)
    print(f"wrote {args.out} ({args.steps} steps)")


if __name__ == "__main__":
    main()
