"""Bootstrap confidence intervals over images, and verdicts that admit "inconclusive".

Every figure of the sanity report is a mean (or a per-class mean) over images; its
uncertainty is a percentile bootstrap interval over those images (Efron and Tibshirani
1993, Ch. 13): the images are drawn with replacement ``resamples`` times, with one
seeded index matrix shared by every figure of a run, so that paired figures (a method
and its baseline on the same images) are resampled together. A criterion "figure below
threshold" is then met when the whole interval is below the threshold, not met when the
whole interval is above it, and *inconclusive* when the interval straddles it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from revelio.errors import InputError

RESAMPLES = 1000
"""Bootstrap resamples per figure."""

LEVEL = 0.95
"""Coverage of the intervals."""


@dataclass(frozen=True)
class Interval:
    """A figure with its bootstrap interval.

    Attributes:
        estimate: the figure on the images as drawn.
        low: the lower end of the interval.
        high: the upper end of the interval.
    """

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}]"

    def as_dict(self) -> dict[str, float]:
        """``{"estimate", "low", "high"}``, for JSON."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high}

    @property
    def finite(self) -> bool:
        """Whether the estimate and both ends are numbers."""
        return all(math.isfinite(v) for v in (self.estimate, self.low, self.high))


def resample_weights(n: int, *, resamples: int = RESAMPLES, seed: int = 0) -> Tensor:
    """How often each of ``n`` images is drawn in each resample, ``Tensor[resamples, n]`` (float64).

    Row ``b`` is the bincount of ``n`` draws with replacement; a weighted mean with row
    ``b`` is the figure on resample ``b``.
    """
    if n < 1:
        raise InputError(f"a bootstrap needs at least one image, got {n}")
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(0, n, (resamples, n), generator=generator)
    weights = torch.zeros(resamples, n, dtype=torch.float64)
    weights.scatter_add_(1, draws, torch.ones_like(draws, dtype=torch.float64))
    return weights


def bootstrap_mean(
    values: Tensor, weights: Tensor | None = None, *, groups: Tensor | None = None, seed: int = 0
) -> Interval:
    """The mean of ``values`` (``Tensor[N]``) with its bootstrap interval; ``nan`` values are left out.

    Args:
        values: one value per image.
        weights: :func:`resample_weights` for these ``N`` images (drawn with ``seed`` when ``None``).
        groups: ``Tensor[N]`` of int, a group per image (a class): the figure is then
            the mean over groups of the per-group mean, as TorchRay's pointing game
            averages its hit rate per class.
        seed: seeds the resamples when ``weights`` is ``None``.
    """
    values = values.detach().double().cpu().flatten()
    n = values.numel()
    if weights is None:
        weights = resample_weights(n, seed=seed)
    if weights.shape[1] != n:
        raise InputError(f"weights are for {weights.shape[1]} images, values for {n}")
    keep = ~torch.isnan(values)
    if not bool(keep.any()):
        return Interval(math.nan, math.nan, math.nan)
    values = torch.where(keep, values, torch.zeros_like(values))
    observed = keep.double()[None]
    all_weights = torch.cat([observed, weights * keep.double()])  # row 0: the images as drawn
    if groups is None:
        total = all_weights.sum(dim=1)
        means = (all_weights @ values) / total
    else:
        one_hot = torch.nn.functional.one_hot(groups.detach().cpu().long().flatten()).double()  # [N, G]
        one_hot = one_hot[:, one_hot[keep].sum(dim=0) > 0]  # groups with at least one value
        counts = all_weights @ one_hot  # [B + 1, G]
        sums = all_weights @ (one_hot * values[:, None])
        per_group = sums / counts
        means = torch.nanmean(per_group, dim=1)  # a group absent from a resample is left out of it
    estimate = float(means[0])
    tail = (1 - LEVEL) / 2
    spread = means[1:][~torch.isnan(means[1:])]
    if spread.numel() == 0:
        return Interval(estimate, math.nan, math.nan)
    low, high = torch.quantile(spread, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return Interval(estimate, low, high)


def resampled_means(values: Tensor, weights: Tensor) -> Tensor:
    """Means of each row of ``values`` (``Tensor[K, N]``) on the images as drawn and on each resample.

    Returns:
        ``Tensor[1 + resamples, K]``: row 0 on the images as drawn, then one row per
        resample of ``weights`` (:func:`resample_weights`); ``nan`` values are left out.
    """
    values = values.detach().double().cpu()
    keep = ~torch.isnan(values)
    filled = torch.where(keep, values, torch.zeros_like(values))
    all_weights = torch.cat([torch.ones(1, values.shape[1], dtype=torch.float64), weights.double()])
    sums = all_weights @ filled.T
    counts = all_weights @ keep.double().T
    return sums / counts


def interval(samples: Tensor) -> Interval:
    """An :class:`Interval` from a statistic on the images as drawn (``samples[0]``) and on each resample."""
    estimate = float(samples[0])
    spread = samples[1:][torch.isfinite(samples[1:])].double()
    if spread.numel() == 0 or not math.isfinite(estimate):
        return Interval(estimate, math.nan, math.nan)
    tail = (1 - LEVEL) / 2
    low, high = torch.quantile(spread, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return Interval(estimate, low, high)


def below(interval: Interval, threshold: float) -> bool | None:
    """``True`` when the interval lies below ``threshold``, ``False`` above it, ``None`` (inconclusive) across it."""
    if not interval.finite:
        return None
    if interval.high < threshold:
        return True
    if interval.low > threshold:
        return False
    return None


def above(interval: Interval, threshold: float) -> bool | None:
    """``True`` when the interval lies above ``threshold``, ``False`` below it, ``None`` (inconclusive) across it."""
    result = below(interval, threshold)
    return None if result is None else not result


__all__ = [
    "LEVEL",
    "RESAMPLES",
    "Interval",
    "above",
    "below",
    "bootstrap_mean",
    "interval",
    "resample_weights",
    "resampled_means",
]
