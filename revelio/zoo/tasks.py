"""Ground-truth tasks: datasets whose images come with the pixel mask of every object.

A :class:`Task` names a dataset generator, its classes, the bundled model trained on
it and the dataset seed held out for evaluation. The sanity checks, the demo and the
training command read tasks from :data:`TASKS`, so a task added here reaches them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from revelio.errors import ModelNotFoundError
from revelio.zoo import clutter, shapes
from revelio.zoo.clutter import ClutterBatch
from revelio.zoo.shapes import ShapesBatch


@dataclass(frozen=True)
class Task:
    """A dataset with known object masks, and the bundled model trained on it.

    Attributes:
        name: the command-line name (``revelio sanity --task NAME``).
        title: the display name.
        make_batch: ``make_batch(n, seed, start=0)``, items ``start .. start + n - 1``
            of dataset ``seed``, a batch with ``images`` (``Tensor[N, 3, H, W]`` in
            [0, 1]), ``labels`` (``Tensor[N, classes]`` multi-hot), ``classes``
            (``Tensor[N, K]``, the classes of the K labelled objects, all different)
            and ``masks`` (``Tensor[N, K, H, W]`` bool, each labelled object's
            visible pixels).
        class_names: one name per class.
        model: the name of the bundled model trained on it (:func:`revelio.zoo.load`).
        test_seed: the dataset seed never used in training or model selection.
        description: one sentence on what the images hold, for reports.
    """

    name: str
    title: str
    make_batch: Callable[..., ShapesBatch | ClutterBatch]
    class_names: tuple[str, ...]
    model: str
    test_seed: int
    description: str


TASKS: dict[str, Task] = {
    "shapes": Task(
        name="shapes",
        title="Shapes",
        make_batch=shapes.make_batch,
        class_names=shapes.CLASS_NAMES,
        model="shapes",
        test_seed=2,
        description="two flat-coloured objects of different classes on a smooth striped background, 64x64 pixels",
    ),
    "clutter": Task(
        name="clutter",
        title="Clutter",
        make_batch=clutter.make_batch,
        class_names=clutter.CLASS_NAMES,
        model="clutter",
        test_seed=2,
        description=(
            "three small textured objects of different classes and four unlabelled distractor shapes, overlapping, "
            "on a textured background, 64x64 pixels"
        ),
    ),
}
"""The ground-truth tasks by name."""

DEFAULT_TASK = "shapes"


def get_task(name: str = DEFAULT_TASK) -> Task:
    """The task called ``name``; an unknown name raises an error listing the known ones."""
    if name not in TASKS:
        close = difflib.get_close_matches(name, list(TASKS), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(key) for key in close)}? " if close else ""
        raise ModelNotFoundError(f"no task named {name!r}; {hint}tasks: {', '.join(map(repr, TASKS))}")
    return TASKS[name]
