"""A8: faithfulness by deletion and insertion (Petsiuk, Das, Saenko 2018, "RISE").

A faithful map ranks pixels by how much the model's score depends on them:

- *deletion*: remove pixels in the map's order (most important first), replacing them
  by a baseline (zeros in normalised space: the dataset's mean colour); the target's
  probability should fall fast, so the area under the curve is small;
- *insertion*: start from a blurred copy of the image and put the original pixels
  back in the map's order; the probability should rise fast, so the area is large.

Curves are sampled at ``steps + 1`` evenly spaced fractions of the pixels; the area is
the trapezoid rule over the fraction in [0, 1]. All perturbed images of many inputs go
through the model in a few large batches. Ties in a map (a Grad-CAM's zeros, a
constant map) are broken in a seeded random order, never by pixel position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from revelio.core.filters import gaussian_blur
from revelio.core.state import preserved_model_state
from revelio.errors import InputError
from revelio.eval.maps import heat

Probability = Callable[[Tensor], Tensor]


@dataclass
class PerturbationCurves:
    """Deletion and insertion curves of a batch of maps.

    Attributes:
        fractions: ``Tensor[S + 1]``, the share of pixels removed (deletion) or
            inserted (insertion) at each step, from 0 to 1.
        deletion: ``Tensor[N, S + 1]``, the target's probability along deletion.
        insertion: ``Tensor[N, S + 1]``, along insertion.
    """

    fractions: Tensor
    deletion: Tensor
    insertion: Tensor

    def deletion_auc(self) -> Tensor:
        """Area under each deletion curve, ``Tensor[N]`` (lower is better)."""
        return auc(self.fractions, self.deletion)

    def insertion_auc(self) -> Tensor:
        """Area under each insertion curve, ``Tensor[N]`` (higher is better)."""
        return auc(self.fractions, self.insertion)


def auc(fractions: Tensor, curves: Tensor) -> Tensor:
    """Trapezoid-rule area under each row of ``curves`` (``Tensor[N, S + 1]``) over ``fractions``."""
    if curves.ndim != 2 or curves.shape[1] != fractions.numel():
        raise InputError(f"curves must be (N, {fractions.numel()}) to match the fractions, got {tuple(curves.shape)}")
    return torch.trapezoid(curves, fractions.to(curves), dim=1)


def pixel_order(maps: Tensor, seed: int = 0) -> Tensor:
    """Each pixel's place in its map's order, most important first: ``Tensor[N, H * W]`` of ranks 0..P-1.

    Importance is :func:`~revelio.eval.maps.heat` (``sum_c |map_c|``); ties are broken
    in a random order drawn with ``seed``.
    """
    values = heat(maps).flatten(1).float()
    n, p = values.shape
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.rand(n, p, generator=generator).argsort(dim=1).to(values.device)
    order = shuffle.gather(1, values.gather(1, shuffle).argsort(dim=1, descending=True, stable=True))
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(p, device=values.device).expand(n, p))
    return ranks


def deletion_insertion(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    classes: Tensor,
    *,
    probability: Probability = lambda logits: torch.softmax(logits, dim=1),
    steps: int = 32,
    deletion_baseline: Tensor | None = None,
    insertion_start: Tensor | None = None,
    blur_sigma: float = 4.0,
    batch_size: int = 512,
    seed: int = 0,
) -> PerturbationCurves:
    """Deletion and insertion curves of ``maps`` for ``model`` on ``inputs``.

    Args:
        model: the network; run in eval mode and left as it was.
        inputs: model inputs ``Tensor[N, C, H, W]`` (normalised).
        maps: ``(N, C, H, W)`` or ``(N, 1, H, W)`` maps at the inputs' size.
        classes: ``Tensor[N]``, the class whose probability is followed.
        probability: model output -> probabilities: softmax (the default), or a
            sigmoid for a multi-label model (``ZooModel.probabilities``).
        steps: curve points minus one.
        deletion_baseline: what deleted pixels become (default: zeros, the mean colour
            in normalised space); a tensor broadcastable to ``inputs``.
        insertion_start: the image insertion starts from (default: ``inputs`` blurred
            with a Gaussian of ``blur_sigma`` pixels).
        blur_sigma: the blur of the default insertion start.
        batch_size: perturbed images per forward pass.
        seed: orders tied pixels.

    Returns:
        :class:`PerturbationCurves`.

    Petsiuk, Das, Saenko 2018, "RISE: Randomized Input Sampling for Explanation of
    Black-box Models".
    """
    if inputs.ndim != 4:
        raise InputError(f"inputs must be images (N, C, H, W), got shape {tuple(inputs.shape)}")
    n, _, h, w = inputs.shape
    if maps.ndim != 4 or maps.shape[0] != n or tuple(maps.shape[-2:]) != (h, w):
        raise InputError(
            f"maps must be (N, C, H, W) or (N, 1, H, W) at the inputs' size {(n, h, w)}, got {tuple(maps.shape)}; "
            "compute CAMs with upsample=True"
        )
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    classes = torch.as_tensor(classes, device=inputs.device).long()
    ranks = pixel_order(maps, seed).view(n, 1, h, w)
    counts = torch.round(torch.linspace(0, 1, steps + 1, dtype=torch.float64) * h * w).long().to(inputs.device)
    fractions = counts.double() / (h * w)
    baseline = torch.zeros_like(inputs) if deletion_baseline is None else deletion_baseline.expand_as(inputs)
    start = gaussian_blur(inputs, blur_sigma) if insertion_start is None else insertion_start.expand_as(inputs)
    per_chunk = max(1, batch_size // (steps + 1))
    deletion, insertion = [], []
    with preserved_model_state(model, eval_mode=True), torch.no_grad():
        for first in range(0, n, per_chunk):
            part = slice(first, min(n, first + per_chunk))
            chosen = ranks[part][:, None] < counts.view(1, -1, 1, 1, 1)  # (n', S+1, 1, H, W)
            x = inputs[part][:, None]
            deleted = torch.where(chosen, baseline[part][:, None], x)
            inserted = torch.where(chosen, x, start[part][:, None])
            batch = torch.cat([deleted, inserted]).flatten(0, 1)
            count = deleted.shape[0]
            scores = probability(model(batch)).reshape(2, count, steps + 1, -1)
            target = classes[part].view(1, count, 1, 1).expand(2, count, steps + 1, 1)
            picked = scores.gather(3, target).squeeze(3).float().cpu()
            deletion.append(picked[0])
            insertion.append(picked[1])
    return PerturbationCurves(fractions.float(), torch.cat(deletion), torch.cat(insertion))

