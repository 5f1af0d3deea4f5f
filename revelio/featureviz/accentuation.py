"""Feature accentuation: change a natural image only as much as a unit needs to respond to it.

Start from the image itself and maximise ``objective - weight * distance``, where the
distance is the mean squared difference between the layer activations of the current
image and of the original one (the *regularization layer*): the image stays close to
what the network saw, and what changes shows *what* in this image the unit responds
to (Hamblin, Fel, Saha, Konkle and Alvarez 2024, "Feature Accentuation: Revealing
'What' Features Respond to in Natural Images"). The paper optimises in the Fourier
domain from the image's own spectrum, with transformations: any visualizer works, and
the ``"accentuation"`` preset is that configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.core.calls import revelio_call
from revelio.core.capture import LayerCapture
from revelio.core.layers import resolve_layer
from revelio.core.state import preserved_model_state
from revelio.errors import InputError, SettingError
from revelio.featureviz.arguments import check_objective, check_start, device_dtype
from revelio.featureviz.base import FeatureVisualizer
from revelio.featureviz.objectives import LayerObjective, LayerSpec, Objective
from revelio.featureviz.regularizers import check_number
from revelio.featureviz.visualization import Visualization


class ActivationDistance(LayerObjective):
    """The mean squared difference between a layer's activation and a fixed reference, per image.

    Args:
        layer: the layer.
        reference: ``Tensor[N, ...]``, the layer's activation on the original images.
            When the current activation has another spatial size (transformations that
            pad or crop), the reference is resized to it (bilinear) first.

    Raises:
        InputError: ``reference`` is not a floating tensor with a batch axis.
    """

    kind = "distance"

    def __init__(self, layer: LayerSpec, reference: Tensor) -> None:
        super().__init__(layer)
        if not isinstance(reference, Tensor) or reference.ndim < 2 or not reference.is_floating_point():
            raise InputError("reference must be a floating-point Tensor[N, ...] of the layer's activations")
        self.reference = reference.detach()

    @property
    def num_images(self) -> int:
        return self.reference.shape[0]

    def _value(self, activation: Tensor) -> Tensor:
        reference = self.reference.to(device=activation.device, dtype=activation.dtype)
        if reference.shape[2:] != activation.shape[2:] and reference.ndim == 4:
            reference = F.interpolate(reference, size=activation.shape[2:], mode="bilinear", align_corners=False)
        return (activation - reference).square().flatten(1).mean(1)

    def check(self, shapes: Mapping[str, Sequence[int]]) -> None:
        shape = self._shape(shapes, 2)
        if shape[1] != self.reference.shape[1] or len(shape) != self.reference.ndim:
            raise SettingError(
                f"the reference of layer {self.layer_label!r} has shape {tuple(self.reference.shape[1:])} per image, "
                f"the layer gives {tuple(shape[1:])}"
            )

    def labels(self, n: int) -> tuple[str, ...]:
        return (f"{self.layer_label}:distance",) * n


def layer_activation(visualizer: FeatureVisualizer, layer: LayerSpec, inputs: Tensor) -> Tensor:
    """``layer``'s activation on ``inputs`` (model inputs), without gradients, the model left as it was."""
    name, module = resolve_layer(visualizer.model, layer)
    with revelio_call(), preserved_model_state(visualizer.model, eval_mode=True), torch.no_grad():
        with LayerCapture([(name, module)], stop=True) as capture:
            capture.forward(visualizer.model, inputs)
        return capture[name].detach().clone()


def accentuate(
    visualizer: FeatureVisualizer,
    objective: Objective,
    start: Tensor,
    *,
    layer: LayerSpec,
    weight: float = 1.0,
    steps: int | None = None,
    seed: int | Sequence[int] = 0,
    progress: bool | None = None,
) -> Visualization:
    """Feature accentuation of ``start`` for ``objective``, kept close to it at ``layer``.

    Args:
        visualizer: any feature visualizer (the ``"accentuation"`` preset is the paper's
            configuration: Fourier, decorrelated colour, transformations).
        objective: what to accentuate (a unit list gives one unit per start image).
        start: the natural images, ``Tensor[N, C, H, W]`` in model-input space.
        layer: the regularization layer: an early one keeps the pixels close, a later
            one lets them change where the layer does not see a difference.
        weight: the distance's weight, >= 0 (0: plain maximisation from the image).
        steps: gradient steps (default: the visualizer's).
        seed: seeds of the random transformations.
        progress: show a progress bar.

    Returns:
        the :class:`Visualization`; its history is ``objective - weight * distance``.

    Raises:
        InputError: ``start`` is not a tensor of model inputs with the visualizer's
            channels, on the model's device, finite.
        SettingError: ``weight`` out of range; and every error of
            :meth:`FeatureVisualizer.visualize`, before any work.

    Hamblin, Fel, Saha, Konkle and Alvarez 2024, "Feature Accentuation: Revealing 'What'
    Features Respond to in Natural Images".
    """
    objective = check_objective(objective)
    weight = check_number(weight, "weight", 0.0, 1e6)
    if not isinstance(start, Tensor) or start.ndim != 4 or not start.is_floating_point():
        raise InputError("start must be a floating-point Tensor[N, C, H, W] of model inputs (normalised)")
    check_start(start, visualizer.channels, device_dtype(visualizer.model)[0])
    reference = layer_activation(visualizer, layer, start)
    total = objective - weight * ActivationDistance(layer, reference) if weight else objective
    return visualizer.visualize(total, steps, seed, start=start, progress=progress)
