"""Feature-visualization workloads: activation maximization and deep dream.

Activation maximization (one model, one layer, ``steps`` steps, each variant: plain,
Gaussian blur, bilateral blur):

- ``PytorchRevelio-style``: one unit per call, as PytorchRevelio runs it: the model in
  train mode, the whole network at every step, ``loss.backward()`` computing every
  parameter's gradient, a 3x3 Gaussian kernel, bilateral blur through NumPy and
  OpenCV on the CPU. Re-implemented here (hooks removed after each call), on revelio's
  objective (the layer's true output, also when an in-place ReLU follows) and pixel
  space ([0, 1], normalised for the model, clamped), so that its plain variant
  computes what revelio's does and the two are compared numerically;
- ``revelio``: :class:`~revelio.featureviz.ActivationMaximization`, one unit per call
  and a batch of units per call;
- ``floor``: a hand-written loop, the forward pass truncated after the layer
  (``model.features[:k + 1]``), gradients for the image only, no regularizer;
- each blur alone, ``steps`` applications to one image: its share of a step;
- each parameterization (Fourier, decorrelated colour, both, MACO) on the batch of
  units with the plain variant's settings: its cost over pixels; and the default
  preset with one unit and with a batch of units per call.

Deep dream (one layer, several octaves, random jitter): revelio's
:class:`~revelio.featureviz.DeepDream` on a batch of images against a
PytorchRevelio-style loop on one image per call (whole network in train mode,
parameter gradients), both over the same octaves.

Throughput is units (channels) or images per second: ``items / median seconds``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.models import build_model
from benchmarks.workload import Group, Workload
from revelio.featureviz import (
    DEFAULT_PRESET,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ActivationMaximization,
    DeepDream,
    channel,
    deepdream,
    get_preset,
)

AGREEMENT_STEPS = 3
"""Steps of the short runs whose results are compared (plain variant, same start image)."""

PYTORCHREVELIO_VARIANTS = ("plain", "gaussian", "bilateral")
"""PytorchRevelio's three variants, each against revelio's preset of the same name."""

PARAMETERIZATIONS = ("fourier", "decorrelated", "fourier-decorrelated", "maco")
"""The parameterizations timed against pixels (the plain variant), same steps and batch."""

BLUR_SETTINGS = {
    # PytorchRevelio-style equivalents of revelio's presets: (start, end) schedules
    "gaussian": {"sigma": (1.0, 0.3)},
    "bilateral": {"kernel_size": 5, "sigma_space": (2.0, 1.0), "sigma_color": (0.5, 0.1)},
}


class _Normalizer:
    def __init__(self, device: torch.device) -> None:
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def __call__(self, images: Tensor) -> Tensor:
        return (images - self.mean) / self.std

    def round_trip(self, images: Tensor) -> Tensor:
        """``images`` normalised and back, as revelio turns a ``start`` in model-input space into pixels."""
        return self(images) * self.std + self.mean


def _layer_depth(model: nn.Module, layer: str) -> int | None:
    """``k`` for a layer ``features.k`` of a model with a sequential ``features`` (VGG, AlexNet)."""
    prefix, _, index = layer.partition(".")
    if prefix == "features" and index.isdigit() and isinstance(getattr(model, "features", None), nn.Sequential):
        return int(index)
    return None


# -- activation maximization ----------------------------------------------------------


def pytorchrevelio_am(
    model: nn.Module, layer: str, unit: int, start: Tensor, steps: int, variant: str, lr: float = 0.05
) -> Tensor:
    """One unit, PytorchRevelio's way (see the module docstring); returns the final [0, 1] image."""
    normalize = _Normalizer(start.device)
    with _pytorchrevelio_model(model, layer) as store:
        image = start.detach().clone().requires_grad_(True)
        for step in range(steps):
            progress = step / (steps - 1) if steps > 1 else 1.0
            model.zero_grad(set_to_none=True)
            model(normalize(image))
            store["activation"][:, unit].mean().backward()
            image = _ascend(image.detach(), image.grad, lr)
            if variant == "gaussian":
                image = _gaussian_3x3(image, *BLUR_SETTINGS["gaussian"]["sigma"], progress)
            elif variant == "bilateral":
                image = _opencv_bilateral(image, progress)
            image = image.clamp(0, 1).requires_grad_(True)
        return image.detach()


@contextlib.contextmanager
def _pytorchrevelio_model(model: nn.Module, layer: str) -> Iterator[dict[str, Tensor]]:
    """The model as PytorchRevelio runs it: train mode, all parameters requiring grad, a hook on ``layer``.

    Yields the dict whose ``"activation"`` the hook sets; mode, flags and ``.grad`` are restored afterwards.
    """
    module = dict(model.named_modules())[layer]
    store: dict[str, Tensor] = {}

    def hook(module: nn.Module, args: object, output: Tensor) -> Tensor:
        store["activation"] = output
        return output.clone()  # the true output is kept: an in-place ReLU after the layer changes the copy

    was_training = model.training
    flags = [parameter.requires_grad for parameter in model.parameters()]
    model.train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        for parameter, flag in zip(model.parameters(), flags):
            parameter.requires_grad_(flag)


def _ascend(image: Tensor, gradient: Tensor, lr: float) -> Tensor:
    """One normalised-gradient step, ``image + lr * g / (rms(g) + 1e-8)`` per image, in revelio's float order."""
    rms = gradient.flatten(1).square().mean(1).sqrt()
    return image.add(gradient / (rms + 1e-8).view(-1, 1, 1, 1), alpha=lr)


def _gaussian_3x3(image: Tensor, start: float, end: float, progress: float) -> Tensor:
    sigma = start + (end - start) * progress
    taps = torch.exp(-0.5 * (torch.arange(-1.0, 2.0, device=image.device) / sigma) ** 2)
    kernel = taps[:, None] * taps[None, :]
    kernel = (kernel / kernel.sum()).expand(image.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(image, (1, 1, 1, 1)), kernel, groups=image.shape[1])


def _opencv_bilateral(image: Tensor, progress: float) -> Tensor:
    settings = BLUR_SETTINGS["bilateral"]
    space = settings["sigma_space"][0] + (settings["sigma_space"][1] - settings["sigma_space"][0]) * progress
    color = settings["sigma_color"][0] + (settings["sigma_color"][1] - settings["sigma_color"][0]) * progress
    array = image[0].detach().cpu().numpy().transpose(1, 2, 0)
    array = cv2.bilateralFilter(np.ascontiguousarray(array) * 255.0, settings["kernel_size"], color * 255, space)
    return torch.from_numpy(array.transpose(2, 0, 1) / 255.0).float()[None].to(image.device)


def floor_am(model: nn.Module, depth: int, unit: int, start: Tensor, steps: int, lr: float = 0.05) -> Tensor:
    """The least work: ``model.features[: depth + 1]``, image gradient only, revelio's step and clamp."""
    trunk = model.features[: depth + 1]
    normalize = _Normalizer(start.device)
    parameters = list(model.parameters())
    flags = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        image = start.detach().clone().requires_grad_(True)
        for _ in range(steps):
            value = trunk(normalize(image))[:, unit].mean()
            (gradient,) = torch.autograd.grad(value, image)
            with torch.no_grad():
                image.copy_(_ascend(image, gradient, lr).clamp_(0, 1))
        return image.detach()
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)


def am_group(
    model_name: str,
    layer: str,
    size: int,
    steps: int,
    batch: int,
    device: torch.device,
    variants: Sequence[str] = PYTORCHREVELIO_VARIANTS,
    baseline: bool = True,
    parameterizations: Sequence[str] = PARAMETERIZATIONS,
) -> Group:
    """Activation-maximization workloads for one model and layer.

    Besides the PytorchRevelio variants: each of ``parameterizations`` with the plain
    variant's step rule, learning rate and steps on the same batch of units (their cost
    over pixels), and :data:`~revelio.featureviz.DEFAULT_PRESET` with one unit and with a
    batch of units per call.
    """
    model = build_model(model_name, device)
    generator = torch.Generator().manual_seed(0)
    start = torch.rand(1, 3, size, size, generator=generator).to(device)
    normalize = _Normalizer(device)
    depth = _layer_depth(model, layer)
    workloads: list[Workload] = []
    for variant in variants:
        if baseline:
            workloads.append(
                Workload(
                    f"PytorchRevelio-style {variant} x1",
                    "PytorchRevelio-style",
                    f"am {variant}",
                    lambda v=variant: pytorchrevelio_am(model, layer, 0, start, steps, v),
                    1,
                    **_am_agreement(model, layer, start, normalize, variant, "plain PytorchRevelio-style"),
                )
            )
        am = get_preset(variant).create(model, image_size=size, steps=steps)
        workloads.append(
            Workload(f"revelio {variant} x1", "revelio", f"am {variant}", lambda am=am: am.visualize(channel(layer, 0)), 1)
        )
        if batch > 1:
            units = list(range(batch))
            workloads.append(
                Workload(
                    f"revelio {variant} x{batch}",
                    "revelio",
                    f"am {variant}",
                    lambda am=am, units=units: am.visualize(channel(layer, units)),
                    batch,
                )
            )
    if depth is not None:
        workloads.append(
            Workload(
                "floor: truncated loop x1",
                "floor",
                "am plain",
                lambda: floor_am(model, depth, 0, start, steps),
                1,
                note=f"model.features[:{depth + 1}], image gradient only, no regularizer",
                **_am_agreement(model, layer, start, normalize, "plain", "floor", depth=depth),
            )
        )
    units = list(range(batch))
    for name in parameterizations:
        am = ActivationMaximization(model, parameterization=name, image_size=size, steps=steps)
        workloads.append(
            Workload(f"revelio {name} x{batch}", "revelio", f"parameterization {name}",
                     lambda am=am: am.visualize(channel(layer, units)), batch,
                     note="the plain variant's step rule, lr and steps: only the parameterization differs")
        )
    if DEFAULT_PRESET not in variants:
        default = get_preset(DEFAULT_PRESET).create(model, image_size=size, steps=steps)
        workloads.append(Workload(f"revelio {DEFAULT_PRESET} x1", "revelio", f"am {DEFAULT_PRESET}",
                                  lambda: default.visualize(channel(layer, 0)), 1, note="the default preset"))
        if batch > 1:
            workloads.append(Workload(f"revelio {DEFAULT_PRESET} x{batch}", "revelio", f"am {DEFAULT_PRESET}",
                                      lambda: default.visualize(channel(layer, units)), batch,
                                      note="the default preset"))
    image = torch.rand(1, 3, size, size, generator=generator).to(device)
    for variant in variants:
        regularizers = get_preset(variant).create(model).regularizers
        if not regularizers:
            continue
        (regularizer,) = regularizers

        def blur(regularizer=regularizer) -> Tensor:
            out = image
            for step in range(steps):
                out = regularizer(out, step / max(steps - 1, 1))
            return out

        workloads.append(
            Workload(f"{type(regularizer).__name__} alone x1", "revelio", f"regularizer {variant}", blur, 1,
                     note=f"{steps} applications to one image: the blur's share of a {variant} run")
        )
    settings = {
        "model": model_name,
        "layer": layer,
        "size": size,
        "steps": steps,
        "batch": batch,
        "device": str(device),
        "dtype": "float32",
        "variants": list(variants),
        "parameterizations": list(parameterizations),
        "default_preset": DEFAULT_PRESET,
    }
    title = f"activation maximization {model_name} {layer} {size}x{size} {steps} steps {device.type}"
    return Group(title, settings, workloads, device)


def _am_agreement(
    model: nn.Module, layer: str, start: Tensor, normalize: _Normalizer, variant: str, what: str,
    depth: int | None = None,
) -> dict:
    """Agreement options: the plain variant, ``AGREEMENT_STEPS`` steps from the same start, vs revelio."""
    if variant != "plain":
        return {"note": "its blur differs from revelio's by design (3x3 kernel / OpenCV): no numerical comparison"}

    def reference() -> Tensor:
        am = ActivationMaximization(model, image_size=tuple(start.shape[-2:]), steps=AGREEMENT_STEPS)
        return am.visualize(channel(layer, 0), start=normalize(start)).display

    same_start = normalize.round_trip(start)  # bit for bit the pixels revelio starts from
    if depth is None:
        def short() -> Tensor:
            return pytorchrevelio_am(model, layer, 0, same_start, AGREEMENT_STEPS, "plain")
    else:
        def short() -> Tensor:
            return floor_am(model, depth, 0, same_start, AGREEMENT_STEPS)

    return {
        "reference": reference,
        "agreement_run": short,  # a short run of the same loop, not the timed long one
        "compared_with": f"revelio plain, {AGREEMENT_STEPS} steps from the same start image",
        "tolerance": 1e-3,
    }


# -- deep dream ------------------------------------------------------------------------------


def pytorchrevelio_dream(
    model: nn.Module, layer: str, image: Tensor, octaves: int, scale: float, steps: int, lr: float = 0.01,
    jitter: int = 8, seed: int = 0,
) -> Tensor:
    """Deep dream on one image, PytorchRevelio's way (whole network, train mode, ``loss.backward()``).

    Same octaves, detail carrying, objective (mean squared activation), step and clamp
    as :class:`~revelio.featureviz.DeepDream`; ``image`` is in [0, 1].
    """
    normalize = _Normalizer(image.device)
    generator = torch.Generator().manual_seed(seed)
    with _pytorchrevelio_model(model, layer) as store:
        sizes = octave_sizes(tuple(image.shape[-2:]), octaves, scale)
        detail = torch.zeros_like(image[..., : sizes[0][0], : sizes[0][1]])
        for size in sizes:
            base = _resize(image, size)
            current = (base + _resize(detail, size)).requires_grad_(True)
            for _ in range(steps):
                model.zero_grad(set_to_none=True)
                shifted = current
                if jitter:
                    dy, dx = (torch.randint(2 * jitter + 1, (2,), generator=generator) - jitter).tolist()
                    shifted = torch.roll(current, shifts=(dy, dx), dims=(-2, -1))
                model(normalize(shifted))
                store["activation"].square().mean().backward()
                current = _ascend(current.detach(), current.grad, lr)
                current = current.clamp(0, 1).requires_grad_(True)
            detail = current.detach() - base
        return current.detach()


def octave_sizes(size: tuple[int, int], octaves: int, scale: float) -> list[tuple[int, int]]:
    """The image size of each octave, smallest first, the last one ``size`` (as DeepDream documents)."""
    sizes = [(round(size[0] / scale**k), round(size[1] / scale**k)) for k in range(octaves - 1, -1, -1)]
    sizes[-1] = size
    return sizes


def _resize(images: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrink = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def dream_group(
    model_name: str,
    layer: str,
    size: int,
    octaves: int,
    steps: int,
    batch: int,
    device: torch.device,
    baseline: bool = True,
) -> Group:
    """Deep-dream workloads: revelio on a batch, PytorchRevelio-style on one image per call."""
    model = build_model(model_name, device)
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(batch, 3, size, size, generator=generator).to(device)  # [0, 1]
    normalize = _Normalizer(device)
    scale = 1.4
    dream = DeepDream(model, octaves=octaves, octave_scale=scale, steps=steps)
    workloads = []
    if baseline:
        short_steps = 2

        def reference() -> Tensor:
            plain = DeepDream(model, octaves=octaves, octave_scale=scale, steps=short_steps, regularizers=[])
            # Contiguous inputs, as the baseline's: over several octaves, ulp-level differences of
            # another memory format's kernels flip a few ReLUs and move a few pixels by one step.
            plain.channels_last = False
            return plain.visualize(deepdream(layer), start=normalize(images[:1])).display

        workloads.append(
            Workload(
                "PytorchRevelio-style deep dream x1",
                "PytorchRevelio-style",
                "deep dream",
                lambda: pytorchrevelio_dream(model, layer, images[:1], octaves, scale, steps),
                1,
                agreement_run=lambda: pytorchrevelio_dream(
                    model, layer, normalize.round_trip(images[:1]), octaves, scale, short_steps, jitter=0
                ),
                reference=reference,
                compared_with=f"revelio DeepDream without jitter, {short_steps} steps per octave, same image, "
                "contiguous inputs",
                note="one image per call, whole network in train mode, parameter gradients; same octaves and jitter",
            )
        )
    workloads.append(
        Workload(
            f"revelio DeepDream x{batch}",
            "revelio",
            "deep dream",
            lambda: dream.visualize(deepdream(layer), start=normalize(images)),
            batch,
            note=f"regularizers {dream.regularizers}",
        )
    )
    settings = {
        "model": model_name,
        "layer": layer,
        "size": size,
        "octaves": octaves,
        "octave_scale": scale,
        "steps_per_octave": steps,
        "batch": batch,
        "device": str(device),
        "dtype": "float32",
    }
    title = f"deep dream {model_name} {layer} {size}x{size} {octaves} octaves x {steps} steps {device.type}"
    return Group(title, settings, workloads, device)

