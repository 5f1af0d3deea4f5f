"""Train the bundled models, each on its task, deterministically, on CPU.

Run ``python -m revelio.zoo.train`` to remake the weights that ship in
``revelio/zoo/weights/shapes_cnn.pt`` (two to three minutes on two CPU cores),
``python -m revelio.zoo.train --model shapes-resnet`` for the second shapes model's
(``shapes_resnet.pt``: another architecture, another seed),
``python -m revelio.zoo.train --model clutter`` for the clutter task's model
(``clutter_cnn.pt``), or ``python -m revelio.zoo.train --smoke --out /tmp/w.pt`` for a
run of a few seconds. The model chooses the task (:attr:`Architecture.task`).

Every epoch trains on freshly generated images (dataset seed ``TRAIN_SEED + epoch``);
accuracy is measured on the held-out dataset seed :data:`VALIDATION_SEED`, and
:data:`TEST_SEED` is never used for training or model selection. With the same
configuration, thread count and machine, two runs write bit-identical weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revelio.errors import ModelNotFoundError
from revelio.zoo import clutter, shapes
from revelio.zoo.models import ShapesCNN, ShapesResNet
from revelio.zoo.tasks import get_task

TRAIN_SEED = 1_000
"""Epoch ``e`` trains on dataset seed ``TRAIN_SEED + e``."""

VALIDATION_SEED = 1
"""Dataset seed of the held-out images printed after each epoch."""

TEST_SEED = 2
"""Dataset seed never used in training or validation; tests measure accuracy on it."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run."""

    epochs: int = 14
    images_per_epoch: int = 6144
    batch_size: int = 64
    learning_rate: float = 4e-3
    weight_decay: float = 1e-4
    validation_images: int = 1000
    seed: int = 0
    threads: int = 2


FULL = TrainConfig()
SMOKE = TrainConfig(epochs=2, images_per_epoch=256, batch_size=64, validation_images=128, threads=1)


CLUTTER = TrainConfig(epochs=36, images_per_epoch=6144, batch_size=32)
"""The clutter model's configuration: the shapes CNN's recipe with smaller batches and more epochs (36), so more steps."""


@dataclass(frozen=True)
class Architecture:
    """A bundled model that this module trains: its class, weights file, full configuration and task.

    Attributes:
        build: makes the untrained network.
        weights: the file name in ``revelio/zoo/weights/``.
        config: the configuration of the shipped weights.
        task: the name of the task it learns (:data:`revelio.zoo.tasks.TASKS`).
        normalize: images in [0, 1] -> the network's inputs.
    """

    build: Callable[[], nn.Module]
    weights: str
    config: TrainConfig
    task: str = "shapes"
    normalize: Callable[[Tensor], Tensor] = shapes.normalize


ARCHITECTURES: dict[str, Architecture] = {
    "shapes": Architecture(ShapesCNN, "shapes_cnn.pt", FULL),
    "shapes-resnet": Architecture(ShapesResNet, "shapes_resnet.pt", replace(FULL, seed=1)),
    "clutter": Architecture(ShapesCNN, "clutter_cnn.pt", CLUTTER, task="clutter", normalize=clutter.normalize),
}
"""The bundled models by name (:data:`revelio.zoo.BUNDLED`); ``--model NAME`` trains one."""


def default_weights_path(model: str = "shapes") -> Path:
    """Where the shipped weights of ``model`` live in the source tree: ``revelio/zoo/weights/<file>``."""
    return Path(str(resources.files("revelio.zoo").joinpath("weights", ARCHITECTURES[model].weights)))


def _architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ModelNotFoundError(f"model must be one of {', '.join(ARCHITECTURES)}, got {name!r}")
    return ARCHITECTURES[name]


@torch.no_grad()
def evaluate(
    model: nn.Module, n: int, seed: int, batch_size: int = 500, *, task_of: str = "shapes"
) -> tuple[float, float]:
    """Per-label accuracy and exact-match accuracy of ``model`` on ``n`` images of dataset ``seed``.

    The images are those of the task of the bundled model ``task_of``, normalised as it
    is. A label counts as predicted when its logit is positive (sigmoid > 0.5); exact
    match needs all labels right. The model is evaluated in eval mode, then put back.
    """
    architecture = _architecture(task_of)
    make_batch, normalize = get_task(architecture.task).make_batch, architecture.normalize
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct_labels = correct_images = 0
    try:
        for start in range(0, n, batch_size):
            batch = make_batch(min(batch_size, n - start), seed, start)
            predicted = model(normalize(batch.images).to(device)).cpu() > 0
            right = predicted == batch.labels.bool()
            correct_labels += int(right.sum())
            correct_images += int(right.all(dim=1).sum())
    finally:
        model.train(was_training)
    return correct_labels / (n * batch.labels.shape[1]), correct_images / n


EpochData = Callable[[int], tuple[Tensor, Tensor]]
"""``epoch -> (inputs, labels)``: one epoch's normalised images and multi-hot labels, in training order."""


def fresh_images(config: TrainConfig, model: str = "shapes") -> EpochData:
    """The default training data: newly generated images of ``model``'s task every epoch (dataset seed ``TRAIN_SEED + epoch``)."""
    architecture = _architecture(model)
    make_batch = get_task(architecture.task).make_batch

    def epoch_data(epoch: int) -> tuple[Tensor, Tensor]:
        data = make_batch(config.images_per_epoch, TRAIN_SEED + epoch)
        return architecture.normalize(data.images), data.labels

    return epoch_data


def train(
    config: TrainConfig = FULL,
    out: str | Path | None = None,
    log=print,
    data: EpochData | None = None,
    *,
    model: str = "shapes",
) -> nn.Module:
    """Train the bundled ``model`` (:data:`ARCHITECTURES`) on its task with ``config``; save its ``state_dict`` to ``out`` when given.

    Adam with a one-cycle learning-rate schedule, binary cross-entropy on the logits.
    ``data`` gives each epoch's training set (default :func:`fresh_images`; the sanity
    checks pass permuted labels). The global torch settings it changes (threads,
    deterministic algorithms, seed) are restored afterwards.
    """
    architecture = _architecture(model)
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    rng_state = torch.get_rng_state()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False  # NaN-filling new tensors costs ~20%
    torch.manual_seed(config.seed)
    try:
        network = _train(config, log, data or fresh_images(config, model), architecture.build, model)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.set_rng_state(rng_state)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(network.state_dict(), out)
        log(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
    return network


def _train(config: TrainConfig, log, data: EpochData, build: Callable[[], nn.Module], name: str) -> nn.Module:
    model = build()
    steps_per_epoch = config.images_per_epoch // config.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch, pct_start=0.2
    )
    parameters = sum(p.numel() for p in model.parameters())
    log(
        f"training {type(model).__name__} ({parameters} parameters) for {config.epochs} epochs of {config.images_per_epoch} images"
    )
    started = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        images, labels = data(epoch)
        total = 0.0
        for step in range(steps_per_epoch):
            batch = slice(step * config.batch_size, (step + 1) * config.batch_size)
            loss = F.binary_cross_entropy_with_logits(model(images[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        label_accuracy, image_accuracy = evaluate(model, config.validation_images, VALIDATION_SEED, task_of=name)
        log(
            f"epoch {epoch + 1:2d}/{config.epochs}  loss {total / steps_per_epoch:.4f}  "
            f"held-out accuracy: per label {label_accuracy:.4f}, all labels {image_accuracy:.4f}  "
            f"[{time.perf_counter() - started:.0f} s]"
        )
    model.eval()
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m revelio.zoo.train [--model NAME] [--out PATH] [--epochs N] [--smoke]``."""
    parser = argparse.ArgumentParser(prog="python -m revelio.zoo.train", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default="shapes",
        choices=list(ARCHITECTURES),
        help="the bundled model to train (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the state_dict (default: the shipped weights file)"
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run of a few seconds, for tests")
    parser.add_argument("--epochs", type=int, help="number of epochs")
    parser.add_argument("--images-per-epoch", type=int, help="fresh training images per epoch")
    parser.add_argument("--batch-size", type=int, help="images per optimisation step")
    parser.add_argument("--lr", type=float, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--seed", type=int, help="seed of the weight initialisation")
    parser.add_argument("--threads", type=int, help="torch CPU threads (results depend on it)")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else ARCHITECTURES[args.model].config
    overrides = {
        "epochs": args.epochs,
        "images_per_epoch": args.images_per_epoch,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "seed": args.seed,
        "threads": args.threads,
    }
    config = replace(config, **{key: value for key, value in overrides.items() if value is not None})
    if config.epochs < 1 or config.images_per_epoch < config.batch_size or config.batch_size < 2:
        parser.error("need --epochs >= 1 and --images-per-epoch >= --batch-size >= 2")
    train(config, out=args.out if args.out is not None else default_weights_path(args.model), model=args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
