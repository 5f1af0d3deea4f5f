"""A model ready to explain: the network plus what it takes to feed and read it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize
from revelio.errors import InputError
from revelio.zoo.placement import FITS, Fit, Placement, place


@dataclass
class ZooModel:
    """A network in eval mode with its preprocessing, class names and default Grad-CAM layer.

    Every zoo model takes *normalised* inputs: images in [0, 1], minus :attr:`mean`,
    divided by :attr:`std`, per channel (normalisation is never inside the model).
    :meth:`preprocess` does that, after fitting the image into :attr:`input_size`
    (:meth:`placement` says how, and takes maps back onto the image).

    Attributes:
        model: the network, in eval mode, on its device.
        name: what it was loaded as (``"shapes"``, ``"resnet50"``, ``"pkg.mod:factory"``).
        input_size: ``(H, W)`` of the inputs the model was trained on.
        mean: per-channel mean subtracted from [0, 1] images.
        std: per-channel standard deviation divided out after that.
        class_names: one name per output, or ``None`` when unknown.
        resize_size: shorter side an image is resized to before the centre crop to
            :attr:`input_size` (torchvision's evaluation transform); ``None`` resizes
            straight to :attr:`input_size`.
        fit: how an image is fitted into :attr:`input_size`: ``"crop"``, ``"pad"`` or
            ``"stretch"`` (:mod:`revelio.zoo.placement`); ``None`` (default) crops when
            :attr:`resize_size` is set, else stretches.
        gradcam_layer: dotted name of the usual Grad-CAM layer, or ``None`` when unknown.
        gradcam_reshape: turns that layer's output into ``(N, K, h, w)`` when it is not
            already a feature map (``vit_reshape`` for ViT), else ``None``.
        multi_label: outputs are independent per-class logits (read them with a sigmoid)
            rather than one softmax over classes.
        weights: where the weights came from (a file, a torchvision weights name), or
            ``None`` for random initialisation.
    """

    model: nn.Module
    name: str
    input_size: tuple[int, int]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    class_names: tuple[str, ...] | None = None
    resize_size: int | None = None
    gradcam_layer: str | None = None
    gradcam_reshape: Callable[[Tensor], Tensor] | None = None
    multi_label: bool = False
    weights: str | None = None
    fit: Fit | None = None

    @property
    def fitting(self) -> Fit:
        """How an image is fitted into :attr:`input_size`: :attr:`fit`, or what :attr:`resize_size` implies."""
        if self.fit is not None:
            return self.fit
        return "crop" if self.resize_size is not None else "stretch"

    def placement(self, image_size: Sequence[int]) -> Placement:
        """Where an image of ``image_size`` ``(H, W)`` lands in the model's input (:func:`~revelio.zoo.placement.place`)."""
        return place(image_size, self.input_size, self.fitting, self.resize_size)

    def configured(
        self,
        *,
        input_size: int | Sequence[int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        fit: Fit | None = None,
        outputs: int | None = None,
    ) -> ZooModel:
        """A copy with other preprocessing or class names; what is ``None`` stays as it is.

        Args:
            input_size: ``N`` or ``(H, W)``; a crop's :attr:`resize_size` is scaled along
                (224 with 256 becomes 448 with 512).
            mean, std: one value per channel (as many as :attr:`mean` has); ``std`` > 0.
            class_names: one name per output.
            fit: ``"crop"``, ``"pad"`` or ``"stretch"``.
            outputs: the model's number of outputs, to check ``class_names`` against.

        Raises:
            InputError: a value of the wrong length or range.
        """
        changes: dict = {}
        if input_size is not None:
            size = (input_size, input_size) if isinstance(input_size, int) else tuple(int(v) for v in input_size)
            if len(size) != 2 or min(size) < 1:
                raise InputError(f"input size must be a positive N or (H, W), got {input_size!r}")
            changes["input_size"] = size
            if self.resize_size is not None:
                changes["resize_size"] = round(self.resize_size * min(size) / min(self.input_size))
        for name, values in (("mean", mean), ("std", std)):
            if values is None:
                continue
            values = tuple(float(v) for v in values)
            if len(values) != len(self.mean):
                raise InputError(f"{name} needs {len(self.mean)} values, one per input channel, got {len(values)}")
            if name == "std" and min(values) <= 0:
                raise InputError(f"std values must be positive, got {values}")
            changes[name] = values
        if class_names is not None:
            changes["class_names"] = check_class_names(class_names, outputs)
        if fit is not None:
            if fit not in FITS:
                raise InputError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
            changes["fit"] = fit
        return dataclasses.replace(self, **changes)

    @property
    def device(self) -> torch.device:
        """Device of the model's first parameter or buffer (CPU for a model with neither)."""
        for tensor in (*self.model.parameters(), *self.model.buffers()):
            return tensor.device
        return torch.device("cpu")

    def class_name(self, index: int) -> str:
        """Name of output ``index``: its class name, or ``"class <index>"`` when unknown."""
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return f"class {index}"

    def normalize(self, images: Tensor) -> Tensor:
        """Images in [0, 1] ``(..., C, H, W)`` -> model inputs: ``(images - mean) / std`` per channel."""
        return normalize(images, self.mean, self.std)

    def denormalize(self, inputs: Tensor) -> Tensor:
        """Model inputs -> images in [0, 1] scale (not clamped): the inverse of :meth:`normalize`."""
        return denormalize(inputs, self.mean, self.std)

    def preprocess(self, images: Tensor) -> Tensor:
        """Images ``(N, C, H, W)`` or ``(C, H, W)``, float in [0, 1] or uint8 -> model inputs on the model's device.

        Fits the images into :attr:`input_size` as :meth:`placement` says (by default:
        resizes, bilinear and antialiased, the shorter side to :attr:`resize_size` and
        centre-crops, or resizes straight to :attr:`input_size` when
        :attr:`resize_size` is ``None``); then normalises.
        """
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4:
            raise InputError(f"preprocess expects images (N, C, H, W) or (C, H, W), got shape {tuple(images.shape)}")
        if images.dtype == torch.uint8:
            images = images.float() / 255
        elif not images.is_floating_point():
            raise InputError(f"preprocess expects float images in [0, 1] or uint8, got dtype {images.dtype}")
        images = images.to(self.device)
        return self.normalize(self.placement(images.shape[-2:]).to_input(images, self.mean))

    def probabilities(self, logits: Tensor) -> Tensor:
        """Model outputs ``(N, classes)`` -> probabilities: sigmoid when :attr:`multi_label`, else softmax."""
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)


def check_class_names(class_names: Sequence[str] | None, outputs: int | None) -> tuple[str, ...] | None:
    """``class_names`` as a tuple, checked against the number of model outputs when known."""
    if class_names is None:
        return None
    names = tuple(str(name) for name in class_names)
    if outputs is not None and len(names) != outputs:
        raise InputError(f"got {len(names)} class names for a model with {outputs} outputs; pass one name per output")
    return names
