"""Score-CAM (Wang et al. 2020): each channel weighted by the class score of the input masked by that channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from revelio.attribution.cam import CAMAttribution, check_spatial, weighted_map
from revelio.core.batching import auto_batch_size, check_batch_size, chunks
from revelio.core.targets import TargetSpec, resolve_target
from revelio.errors import TargetError

ScoreWeights = Literal["softmax-channels", "class-probability"]
SCORE_WEIGHTS: tuple[str, ...] = ("softmax-channels", "class-probability")
"""Score-CAM's channel weights: the paper's softmax over channels, or the released code's class probability."""


class ScoreCAM(CAMAttribution):
    """Score-weighted class activation map: no gradient, one masked forward pass per channel.

    Each channel ``A^k`` of the layer, upsampled bilinearly to the input's size and
    min-max normalised to [0, 1], is a mask ``M_k``; the input is multiplied by it and
    run through the model. With ``weights="softmax-channels"`` (default: the paper's
    Algorithm 1) the channel weights are ``a_k = softmax_k(f_c(x * M_k) - f_c(x_b))``, a
    softmax over the channels of the logits; ``f_c(x_b)`` of a baseline is the same for
    every channel and cancels in the softmax, so no baseline pass is run. With
    ``weights="class-probability"`` (the authors' released code) ``a_k`` is the class
    probability ``softmax(f(x * M_k))_c``, a softmax over the classes. The map is
    ``L = ReLU(sum_k a_k A^k)``, upsampled bilinearly.

    A channel that is constant over the input has no min-max normalisation: its mask is
    0 (the masked input is all zero), as in pytorch-grad-cam and torch-cam (whose
    ``1e-8`` in the denominator gives the same); with ``"class-probability"`` its weight
    is 0, as the released code skips it.

    Cost: one forward pass for the activation, then one forward pass per example and
    channel (``N K`` masked copies, e.g. 512 per image at ResNet18's ``layer4``), in
    internal batches; no backward pass. Several classes per example are scored from
    the same masked passes.

    Args:
        model: the network.
        layer: the layer whose channels mask the input (see
            :class:`~revelio.attribution.cam.CAMAttribution`).
        reshape: maps the layer's output to ``(N, K, h, w)`` (``vit_reshape`` for ViT tokens).

    Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu 2020, "Score-CAM: Score-Weighted
    Visual Explanations for Convolutional Neural Networks".

    Example:
        >>> maps = ScoreCAM(model, "layer4").attribute(images, internal_batch_size=256)
    """

    multiple_targets = True

    def attribute(
        self,
        inputs: Tensor,
        target: TargetSpec = None,
        *,
        upsample: bool = True,
        relu: bool = True,
        weights: ScoreWeights = "softmax-channels",
        internal_batch_size: int | None = None,
    ) -> Tensor:
        """The Score-CAM map of ``target`` for each example: ``Tensor[N, 1, H, W]``.

        Several classes per example (``target`` of shape ``(N, K)`` or ``"topK"``) give
        ``Tensor[N, K, 1, H, W]``, every class scored from the same masked forward passes.

        Args:
            inputs: ``Tensor[N, C, H, W]`` on the model's device.
            target: ``None`` (top class), a class, one class per example, K classes per
                example, ``"topK"``, or a callable. A callable is applied to the output of
                internal batches of masked copies, so it must score each row of the
                output on its own (``lambda out: out[:, 3]``).
            upsample: resize bilinearly to the input's ``(H, W)``; ``False`` keeps the
                layer's grid ``(h, w)``.
            relu: clamp negative evidence to zero, as in the paper.
            weights: ``"softmax-channels"`` (the paper's) or ``"class-probability"`` (the
                released code's; needs class targets).
            internal_batch_size: masked copies per forward pass; ``None`` chooses it from
                the memory budget (measured in one more forward pass of one example). The
                result does not depend on it.

        Raises:
            ValueError: an unknown ``weights``.
            TargetError: ``"class-probability"`` with a callable target.
            InputError: a bad ``internal_batch_size``; inputs that are not ``(N, C, H, W)``.
        """
        if weights not in SCORE_WEIGHTS:
            raise ValueError(f"weights must be 'softmax-channels' or 'class-probability', got {weights!r}")
        check_batch_size(internal_batch_size)
        target = resolve_target(target, inputs.shape[0])
        if weights == "class-probability" and target.score_fn is not None:
            raise TargetError(
                "weights='class-probability' takes a softmax over classes, which a callable target does not have; "
                "give classes, or use weights='softmax-channels'"
            )
        check_spatial(inputs, "; Score-CAM masks the input with each upsampled channel")
        with torch.no_grad():
            output, activation = self.record(inputs)
            _, classes = target.scores(output)
            activation = self.feature_map(activation.detach())
            if internal_batch_size is None:
                internal_batch_size = auto_batch_size(self.model, inputs[:1].clone(), backward=False)
            scores, constant = self._masked_scores(
                inputs.detach(), activation, classes, target.score_fn, weights == "class-probability",
                internal_batch_size,
            )
        if weights == "softmax-channels":
            channel_weights = scores.softmax(dim=1)
        else:
            channel_weights = scores.masked_fill(constant[..., None], 0)
        count = scores.shape[2]  # classes per example: (N, K, count) -> one map per example and class
        maps = weighted_map(
            channel_weights.transpose(1, 2).flatten(0, 1),
            activation.repeat_interleave(count, dim=0),
            inputs.shape[-2:] if upsample else None,
            relu=relu,
        )
        return maps.unflatten(0, (-1, count)) if target.multiple else maps

    def _masked_scores(
        self,
        inputs: Tensor,
        activation: Tensor,
        classes: Tensor | None,
        score_fn: Callable[[Any], Tensor] | None,
        probability: bool,
        batch_size: int,
    ) -> tuple[Tensor, Tensor]:
        """The scores of every masked copy, ``Tensor[N, K, count]``, and which channels are constant, ``Tensor[N, K]``.

        Masked copy ``i`` is example ``i // K`` times the mask of its channel ``i % K``;
        they run ``batch_size`` at a time, each batch one forward pass.
        """
        n, k = activation.shape[:2]
        maps = activation.flatten(0, 1)
        if classes is not None and classes.ndim == 1:
            classes = classes[:, None]
        scores, constant = [], []
        for items in chunks(n * k, batch_size):
            examples = torch.arange(items.start, items.stop, device=inputs.device) // k
            masks, flat = _masks(maps[items], inputs.shape[-2:])
            output = self.model(inputs[examples].mul_(masks))
            scores.append(_item_scores(output, classes, examples, score_fn, probability))
            constant.append(flat)
        return torch.cat(scores).view(n, k, -1), torch.cat(constant).view(n, k)


def _masks(maps: Tensor, size: torch.Size) -> tuple[Tensor, Tensor]:
    """Channels ``(B, h, w)`` upsampled to ``size``, min-max normalised: masks ``(B, 1, H, W)``, constant ``(B,)``."""
    upsampled = F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)
    low = upsampled.amin(dim=(2, 3), keepdim=True)
    span = upsampled.amax(dim=(2, 3), keepdim=True) - low
    varies = span > 0
    masks = torch.where(varies, (upsampled - low) / torch.where(varies, span, 1), 0)
    return masks, ~varies.flatten()


def _item_scores(
    output: Any, classes: Tensor | None, examples: Tensor, score_fn: Callable[[Any], Tensor] | None, probability: bool
) -> Tensor:
    """The target scores of a batch of masked copies of the examples ``examples``: ``Tensor[B, count]``."""
    if score_fn is None:
        if probability:
            output = output.softmax(dim=1)
        return output.gather(1, classes[examples])
    scores = score_fn(output)
    if not isinstance(scores, Tensor) or scores.shape != examples.shape:
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise TargetError(
            f"Score-CAM scores a batch of {len(examples)} masked copies with the callable target, which returned "
            f"{got}; the callable must score each row of the output on its own (lambda out: out[:, 3])"
        )
    return scores[:, None]
