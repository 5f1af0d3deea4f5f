"""A5: data randomization (Adebayo et al. 2018, Sec. 5): a model trained on permuted labels, and its control.

A model trained on labels that were shuffled across the training images can only
memorise them: nothing in an image tells its label. A method whose maps depend on the
relation between images and labels must give different maps for this model than for
the properly trained one.

The model is a bundled model's architecture (:data:`revelio.zoo.train.ARCHITECTURES`:
``"shapes"``, ``"shapes-resnet"``, ``"clutter"``), built with the same initialisation seed and
trained with the zoo's recipe for that model (:mod:`revelio.zoo.train`: Adam,
one-cycle learning rate, binary cross-entropy, the same hyper-parameters) on a fixed
set of its task's images whose label rows are permuted, for enough epochs to memorise
them. The control is a model trained the same way (same images, epochs, initialisation
and shuffling) on the true labels (:func:`train_on_labels` with ``permuted=False``), so
that the two differ only in the labels. Slow: a minute or two each on two CPU cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from revelio.zoo.tasks import get_task
from revelio.zoo.train import ARCHITECTURES, TRAIN_SEED, VALIDATION_SEED, TrainConfig, evaluate, train


@dataclass
class PermutedLabelModel:
    """A bundled model's architecture trained on a fixed set of images (labels permuted or not), and how well it fits them.

    Attributes:
        model: the trained network, in eval mode.
        permuted: whether the labels were permuted.
        train_accuracy: per-label accuracy on its own training labels.
        heldout_accuracy: per-label accuracy on held-out images with their true labels
            (for the permuted model near the rate of always answering "absent": 4 of 6
            labels on shapes, 3 of 6 on clutter).
        images: training images.
        epochs: passes over them.
        seconds: training time.
    """

    model: nn.Module
    permuted: bool
    train_accuracy: float
    heldout_accuracy: float
    images: int
    epochs: int
    seconds: float


def train_on_labels(
    images: int = 512,
    epochs: int = 60,
    *,
    permuted: bool = True,
    seed: int = 0,
    model: str = "shapes",
    config: TrainConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> PermutedLabelModel:
    """Train the bundled ``model``'s architecture on ``images`` fixed images of its task, labels permuted (or, the control, not).

    Args:
        permuted: permute the labels across the images; ``False`` trains the control
            on the true labels, with everything else the same.
        images: size of the fixed training set (dataset seed ``TRAIN_SEED``).
        epochs: passes over it.
        seed: seeds the label permutation; the weights start from ``config.seed``, as
            the bundled model's did.
        model: the bundled model (:data:`revelio.zoo.train.ARCHITECTURES`) whose
            architecture, task and recipe are used.
        config: the training hyper-parameters (learning rate, weight decay, batch
            size, threads; default the bundled model's).
        log: called with the zoo's training log, a line per epoch.

    Training is :func:`revelio.zoo.train.train` itself, given the permuted set
    (reshuffled every epoch) as its data; it restores the global torch settings it
    changes for determinism.
    """
    if model not in ARCHITECTURES:
        raise ValueError(f"model must be one of {', '.join(ARCHITECTURES)}, got {model!r}")
    architecture = ARCHITECTURES[model]
    config = config or architecture.config
    if images < config.batch_size or epochs < 1:
        raise ValueError(f"need images >= batch size ({config.batch_size}) and epochs >= 1, got {images}, {epochs}")
    data = get_task(architecture.task).make_batch(images, TRAIN_SEED)
    permutation = torch.randperm(images, generator=torch.Generator().manual_seed(seed))
    if not permuted:
        permutation = torch.arange(images)
    inputs, labels = architecture.normalize(data.images), data.labels[permutation]
    shuffle = torch.Generator().manual_seed(seed + 1)

    def epoch_data(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        order = torch.randperm(images, generator=shuffle)
        return inputs[order], labels[order]

    config = replace(config, epochs=epochs, images_per_epoch=images, validation_images=128)
    started = time.perf_counter()
    network = train(config, log=log or (lambda line: None), data=epoch_data, model=model)
    with torch.no_grad():
        predicted = torch.cat([network(inputs[i : i + 256]) for i in range(0, images, 256)]) > 0
    train_accuracy = float((predicted == labels.bool()).float().mean())
    heldout_accuracy, _ = evaluate(network, 512, VALIDATION_SEED, task_of=model)
    seconds = time.perf_counter() - started
    return PermutedLabelModel(network, permuted, train_accuracy, heldout_accuracy, images, epochs, seconds)


def train_on_permuted_labels(images: int = 512, epochs: int = 60, **options) -> PermutedLabelModel:
    """:func:`train_on_labels` with permuted labels."""
    return train_on_labels(images, epochs, permuted=True, **options)
