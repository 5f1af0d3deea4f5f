"""Models to explain: the bundled shapes CNN, torchvision classifiers, your own.

- :func:`load` gives a bundled model: ``load("shapes")`` is a small ReLU CNN trained
  on the :mod:`~revelio.zoo.shapes` dataset (two objects per image, pixel masks
  known), whose weights ship with the package.
- :func:`revelio.zoo.torchvision.build` gives any torchvision classifier by name, or
  a model of yours from ``"package.module:factory"``.

Both return a :class:`ZooModel`: the model in eval mode with its preprocessing,
class names and usual Grad-CAM layer.

Example:
    >>> zoo_model = load("shapes")
    >>> batch = make_batch(8, seed=2)
    >>> logits = zoo_model.model(zoo_model.normalize(batch.images))
    >>> maps = GradCAM(zoo_model.model, zoo_model.gradcam_layer).attribute(zoo_model.normalize(batch.images))
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import resources

import torch

from revelio.errors import ModelNotFoundError, WeightsError
from revelio.zoo.base import IMAGENET_MEAN, IMAGENET_STD, ZooModel
from revelio.zoo.models import ShapesCNN
from revelio.zoo.shapes import (
    CLASS_NAMES,
    IMAGE_SIZE,
    MEAN,
    STD,
    ShapesBatch,
    ShapesDataset,
    ShapesSample,
    make_batch,
    normalize,
    render,
)

SHAPES_WEIGHTS = "shapes_cnn.pt"
"""File name of the shapes CNN's weights inside ``revelio/zoo/weights/``."""


def _load_shapes(device: str | torch.device) -> ZooModel:
    resource = resources.files("revelio.zoo").joinpath("weights", SHAPES_WEIGHTS)
    if not resource.is_file():
        raise WeightsError(
            f"the shapes weights file revelio/zoo/weights/{SHAPES_WEIGHTS} is missing from this installation; "
            "remake it with `python -m revelio.zoo.train` (a few minutes on CPU)"
        )
    with resource.open("rb") as file:
        state = torch.load(file, map_location="cpu", weights_only=True)
    model = ShapesCNN()
    model.load_state_dict(state)
    return ZooModel(
        model=model.eval().to(device),
        name="shapes",
        input_size=(IMAGE_SIZE, IMAGE_SIZE),
        mean=MEAN,
        std=STD,
        class_names=CLASS_NAMES,
        resize_size=None,
        gradcam_layer="block3",
        multi_label=True,
        weights=f"revelio/zoo/weights/{SHAPES_WEIGHTS}",
    )


BUNDLED: dict[str, Callable[[str | torch.device], ZooModel]] = {"shapes": _load_shapes}
"""Bundled models by name, each a function of the device."""


def load(name: str = "shapes", device: str | torch.device = "cpu") -> ZooModel:
    """Load a bundled model with its trained weights.

    Args:
        name: a bundled model's name (:data:`BUNDLED`): ``"shapes"``.
        device: where to put the model.

    Returns:
        a :class:`ZooModel`, the model in eval mode.

    Raises:
        ModelNotFoundError: ``name`` is not a bundled model; the message lists the bundled ones.
        WeightsError: the bundled weights file is missing from the installation.
    """
    if name not in BUNDLED:
        known = ", ".join(repr(key) for key in BUNDLED)
        close = difflib.get_close_matches(name, list(BUNDLED), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(key) for key in close)}? " if close else ""
        raise ModelNotFoundError(
            f"no bundled model named {name!r}; {hint}bundled models: {known}. "
            f"For a torchvision model or one of yours use revelio.zoo.torchvision.build({name!r}, weights=...)"
        )
    return BUNDLED[name](device)


__all__ = [
    "BUNDLED",
    "CLASS_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SIZE",
    "MEAN",
    "STD",
    "SHAPES_WEIGHTS",
    "ShapesBatch",
    "ShapesCNN",
    "ShapesDataset",
    "ShapesSample",
    "ZooModel",
    "load",
    "make_batch",
    "normalize",
    "render",
]
