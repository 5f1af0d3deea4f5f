"""Models to explain: the bundled shapes and clutter CNNs, torchvision classifiers, your own.

- :func:`load` gives a bundled model: ``load("shapes")`` is a small ReLU CNN trained
  on the :mod:`~revelio.zoo.shapes` dataset (two objects per image, pixel masks
  known), whose weights ship with the package; ``load("shapes-resnet")`` a second,
  independent one (a residual network, another seed), which checks that what the
  first shows is a picture, not its own adversarial pattern; ``load("clutter")`` the
  same CNN architecture trained on the harder :mod:`~revelio.zoo.clutter`
  dataset (three small textured objects, four unlabelled distractors, occlusion, a
  textured background).
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
from types import ModuleType

import torch

from revelio.errors import ModelNotFoundError, WeightsError
from revelio.zoo import clutter, shapes
from revelio.zoo.base import IMAGENET_MEAN, IMAGENET_STD, ZooModel
from revelio.zoo.models import ShapesCNN, ShapesResNet
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

SHAPES_RESNET_WEIGHTS = "shapes_resnet.pt"
"""File name of the second shapes model's weights inside ``revelio/zoo/weights/``."""

CLUTTER_WEIGHTS = "clutter_cnn.pt"
"""File name of the clutter model's weights inside ``revelio/zoo/weights/``."""


def _load_bundled(
    name: str,
    network: torch.nn.Module,
    weights: str,
    gradcam_layer: str,
    device: str | torch.device,
    dataset: ModuleType = shapes,
) -> ZooModel:
    """The bundled ``network`` with its ``weights``, and the image size, normalisation and classes of ``dataset``."""
    resource = resources.files("revelio.zoo").joinpath("weights", weights)
    if not resource.is_file():
        flag = "" if name == "shapes" else f" --model {name}"
        raise WeightsError(
            f"the {name} weights file revelio/zoo/weights/{weights} is missing from this installation; "
            f"remake it with `python -m revelio.zoo.train{flag}` (a few minutes on CPU)"
        )
    with resource.open("rb") as file:
        state = torch.load(file, map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return ZooModel(
        model=network.eval().to(device),
        name=name,
        input_size=(dataset.IMAGE_SIZE, dataset.IMAGE_SIZE),
        mean=dataset.MEAN,
        std=dataset.STD,
        class_names=dataset.CLASS_NAMES,
        resize_size=None,
        gradcam_layer=gradcam_layer,
        multi_label=True,
        weights=f"revelio/zoo/weights/{weights}",
    )


def _load_shapes(device: str | torch.device) -> ZooModel:
    return _load_bundled("shapes", ShapesCNN(), SHAPES_WEIGHTS, "block3", device)


def _load_shapes_resnet(device: str | torch.device) -> ZooModel:
    return _load_bundled("shapes-resnet", ShapesResNet(), SHAPES_RESNET_WEIGHTS, "stage2", device)


def _load_clutter(device: str | torch.device) -> ZooModel:
    return _load_bundled("clutter", ShapesCNN(), CLUTTER_WEIGHTS, "block3", device, clutter)


BUNDLED: dict[str, Callable[[str | torch.device], ZooModel]] = {
    "shapes": _load_shapes,
    "shapes-resnet": _load_shapes_resnet,
    "clutter": _load_clutter,
}
"""Bundled models by name, each a function of the device."""


def load(name: str = "shapes", device: str | torch.device = "cpu") -> ZooModel:
    """Load a bundled model with its trained weights.

    Args:
        name: a bundled model's name (:data:`BUNDLED`): ``"shapes"``, ``"shapes-resnet"`` or ``"clutter"``.
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
    "CLUTTER_WEIGHTS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SIZE",
    "MEAN",
    "SHAPES_RESNET_WEIGHTS",
    "SHAPES_WEIGHTS",
    "STD",
    "ShapesBatch",
    "ShapesCNN",
    "ShapesDataset",
    "ShapesResNet",
    "ShapesSample",
    "ZooModel",
    "load",
    "make_batch",
    "normalize",
    "render",
]
