"""Make docs/figures/tasks.png and print how well model-free maps and Grad-CAM localise on each task.

    python docs/figures/make_tasks_figure.py [--images 500] [--out docs/figures/tasks.png]

Figure rows, for each task (shapes, then clutter): a few held-out images (the task's
test seed, items 0, 1, ...); their masks, one colour per labelled object (red, green,
blue in the order of ``classes``) and grey for the clutter distractors; the Sobel edge
magnitude of the image (``revelio.attribution.controls.EdgeDetector``), a map that
knows nothing of the model.

Printed, on the first ``--images`` held-out images of each task, for every (image,
labelled object) pair: the pointing game (Zhang et al. 2016) -- a hit when the map's
maximum lies in the object's visible mask (tolerance 0), or strictly within
15 * 64 / 224 = 4.3 pixels of it (the paper's 15 px at 224 scaled, a Euclidean disk,
as TorchRay counts it) -- and the relevance mass (Arras et al. 2022), the share of the
map inside the mask; for the Sobel map, a centred Gaussian (sigma a quarter of the
side) and Grad-CAM of the task's bundled model on its Grad-CAM layer, asked for the
object's class. A model-free map is the same whichever object is asked for.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from revelio.attribution.controls import EdgeDetector
from revelio.attribution.gradcam import GradCAM
from revelio.eval.localization import centre_baseline
from revelio.zoo import load
from revelio.zoo.tasks import get_task

COLUMNS = 6
COLOURS = torch.tensor([[0.9, 0.15, 0.15], [0.15, 0.75, 0.2], [0.2, 0.35, 0.95]])


def _masks_picture(batch, index: int) -> torch.Tensor:
    picture = torch.zeros(*batch.masks.shape[-2:], 3)
    distractors = getattr(batch, "distractors", None)
    if distractors is not None:
        picture[distractors[index]] = 0.55
    for k in range(batch.masks.shape[1]):
        picture[batch.masks[index, k]] = COLOURS[k]
    return picture


def _scores(maps: torch.Tensor, masks: torch.Tensor) -> tuple[float, float, float]:
    """Maps ``(M, H, W)`` >= 0 and masks ``(M, H, W)``: pointing at tolerance 0, within the disk, relevance mass."""
    flat = maps.flatten(1)
    top = flat.argmax(dim=1)
    rows = torch.arange(maps.shape[0])
    found = flat.amax(dim=1) > flat.amin(dim=1)  # a constant map points nowhere
    radius = 15 * maps.shape[-1] / 224
    reach = int(radius) + 1
    offsets = torch.arange(-reach, reach + 1, dtype=torch.float32)
    disk = ((offsets[:, None] ** 2 + offsets[None, :] ** 2).sqrt() < radius).float()[None, None]
    near = F.conv2d(masks.float()[:, None], disk, padding=reach)[:, 0] > 0
    inside = masks.flatten(1)[rows, top] & found
    within = near.flatten(1)[rows, top] & found
    mass = (maps * masks).flatten(1).sum(dim=1) / flat.sum(dim=1).clamp_min(1e-12)
    return inside.float().mean().item(), within.float().mean().item(), mass.mean().item()


def print_scores(task, n: int) -> None:
    batch = task.make_batch(n, task.test_seed)
    k = batch.masks.shape[1]
    masks = batch.masks.flatten(0, 1)
    zoo_model = load(task.model)
    cams = GradCAM(zoo_model.model, zoo_model.gradcam_layer).attribute(
        zoo_model.normalize(batch.images), target=batch.classes
    )
    maps = {
        "Sobel edges": EdgeDetector(torch.nn.Identity()).attribute(batch.images)[:, 0].repeat_interleave(k, dim=0),
        "centred Gaussian": centre_baseline(n * k, *batch.images.shape[-2:]),
        f"Grad-CAM ({task.model})": cams[:, :, 0].flatten(0, 1).detach(),
    }
    print(f"{task.name}: {n} images (seed {task.test_seed}) x {k} objects")
    for name, values in maps.items():
        inside, within, mass = _scores(values, masks)
        print(f"  {name:24s} pointing: in mask {inside:.3f}, within 4.3 px {within:.3f}; relevance mass {mass:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500, help="held-out images per task for the printed scores")
    parser.add_argument("--out", default=str(Path(__file__).with_name("tasks.png")))
    args = parser.parse_args()
    tasks = [get_task("shapes"), get_task("clutter")]
    for task in tasks:
        print_scores(task, args.images)
    fig, axes = plt.subplots(3 * len(tasks), COLUMNS, figsize=(1.6 * COLUMNS, 1.75 * 3 * len(tasks)))
    for t, task in enumerate(tasks):
        batch = task.make_batch(COLUMNS, task.test_seed)
        edges = EdgeDetector(torch.nn.Identity()).attribute(batch.images)[:, 0]
        for i in range(COLUMNS):
            names = ", ".join(task.class_names[c] for c in batch.classes[i].tolist())
            rows = [
                (batch.images[i].permute(1, 2, 0), names),
                (_masks_picture(batch, i), "masks"),
                (edges[i], "Sobel edges"),
            ]
            for r, (picture, title) in enumerate(rows):
                ax = axes[3 * t + r, i]
                ax.imshow(picture, cmap="magma" if picture.ndim == 2 else None, interpolation="nearest")
                ax.set_title(title, fontsize=7)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[3 * t, 0].set_ylabel(f"{task.title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
