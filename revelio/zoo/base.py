"""A model ready to explain: the network plus what it takes to feed and read it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revelio.core.normalization import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize
from revelio.errors import InputError


@dataclass
class ZooModel:
    """A network in eval mode with its preprocessing, class names and default Grad-CAM layer.

    Every zoo model takes *normalised* inputs: images in [0, 1], minus :attr:`mean`,
    divided by :attr:`std`, per channel (normalisation is never inside the model).
    :meth:`preprocess` does that, after resizing to :attr:`input_size`.

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

        Resizes (bilinear, antialiased) the shorter side to :attr:`resize_size` and
        centre-crops to :attr:`input_size`, or resizes straight to :attr:`input_size`
        when :attr:`resize_size` is ``None``; then normalises.
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
        height, width = self.input_size
        if self.resize_size is None:
            if tuple(images.shape[-2:]) != (height, width):
                images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        else:
            h, w = images.shape[-2:]
            scale = self.resize_size / min(h, w)
            size = (max(height, round(h * scale)), max(width, round(w * scale)))
            if size != (h, w):
                images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
            top, left = (size[0] - height) // 2, (size[1] - width) // 2
            images = images[..., top : top + height, left : left + width]
        return self.normalize(images)

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
