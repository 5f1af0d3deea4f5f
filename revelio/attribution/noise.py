"""SmoothGrad, SmoothGrad-squared and VarGrad: a method's maps over noisy copies of the input, summarised.

One wrapper for any :class:`~revelio.attribution.Attribution`: input methods (saliency,
guided backpropagation, integrated gradients ...) and layer methods (Grad-CAM ...)
alike. The subclasses differ only in the statistic of the noisy maps they return.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from revelio.attribution.base import Attribution, LayerAttribution
from revelio.attribution.saliency import Saliency
from revelio.core.batching import check_batch_size
from revelio.core.copies import accumulate, clean_classes, copies_batch_size, copy_batches
from revelio.core.targets import TargetSpec, resolve_target


class SmoothGrad(Attribution):
    """SmoothGrad: the mean of a method's maps over ``x + N(0, sigma^2)``.

    ``M(x) = 1/n sum_s M_c(x + e_s)``, ``e_s ~ N(0, sigma^2)`` per input element, with
    ``sigma = noise_level * (max(x) - min(x))`` taken over each example (the paper's
    10-20% of the input range). Every noisy copy explains the class of the clean input
    (the top class of one clean forward pass for ``target=None`` or ``"topK"``).

    Args:
        method: the method to smooth, any :class:`Attribution` instance (its options
            go in ``method_options``), or a plain model, which means the paper's
            setting: the signed gradient (:class:`Saliency` with ``abs=False``).
        seed: seeds the noise. Every call draws the same noise from it, so a call is a
            deterministic function of its inputs. Each example gets the same
            standard-normal draws, scaled by its own ``sigma``, so its map does not
            depend on the batch it is in; :meth:`noise` returns exactly what a call adds.

    Cost: ``samples`` calls of the method per example, run ``internal_batch_size``
    (example, sample) items at a time, plus one forward pass of the clean inputs.

    Smilkov, Thorat, Kim, Viegas, Wattenberg 2017, "SmoothGrad: removing noise by adding
    noise". Captum: ``NoiseTunnel(method)`` with ``nt_type="smoothgrad"``; Captum's
    ``stdevs`` is an absolute standard deviation per input tensor and its defaults are
    5 samples of ``stdevs=1.0``; revelio's are the paper's, 50 samples at 15% of each
    example's range.

    Example:
        >>> maps = SmoothGrad(model).attribute(images, target=281)  # mean gradient, 50 samples
        >>> cams = SmoothGrad(GradCAM(model, "layer4")).attribute(images, samples=20)
    """

    multiple_targets = True
    min_samples = 1
    """The fewest samples the statistic is defined for."""

    def __init__(self, method: Attribution | nn.Module, *, seed: int = 0) -> None:
        if isinstance(method, Attribution):
            inner, defaults = method, {}
        elif isinstance(method, nn.Module):
            inner, defaults = Saliency(method), {"abs": False}
        else:
            what = method.__name__ if isinstance(method, type) else type(method).__name__
            raise TypeError(
                f"method must be an Attribution instance such as Saliency(model), or a model; a model must be a "
                f"torch.nn.Module, got {what}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        super().__init__(inner.model)
        self.method = inner
        self.method_defaults: dict[str, Any] = defaults
        """Options passed to the method before ``method_options`` (``abs=False`` for a plain model)."""
        self.seed = seed

    def attribute(
        self,
        inputs: Tensor,
        target: TargetSpec = None,
        *,
        samples: int = 50,
        noise_level: float = 0.15,
        internal_batch_size: int | None = None,
        method_options: Mapping[str, Any] | None = None,
    ) -> Tensor:
        """The statistic of the method's maps over noisy copies of each example (the mean for SmoothGrad).

        Args:
            inputs: ``Tensor[N, ...]`` on the model's device.
            target: ``None`` (top class of the clean input), a class, one class per
                example, K classes per example, ``"topK"``, or a callable (passed to the
                method for every noisy copy).
            samples: noisy copies per example (``n``; the paper's 50).
            noise_level: ``sigma`` as a fraction of each example's value range
                ``max - min`` (the paper's 10-20%); 0 gives the method's map of the clean input.
            internal_batch_size: (example, sample) items per call of the method; ``None``
                chooses it from the memory budget. Any size gives the same map up to float rounding.
            method_options: options of the wrapped method's ``attribute`` (for example
                ``{"relu": False}`` for Grad-CAM); their names are checked before any work.

        Returns:
            A map of the wrapped method's shape: ``Tensor[N, ...]``, or ``Tensor[N, K, ...]``
            for K classes per example.

        Raises:
            ValueError: ``samples`` or ``noise_level`` out of range, or a bad
                ``internal_batch_size``; TypeError: a ``method_options`` name the method
                does not take. All before any forward pass.
        """
        self._check_samples(samples, noise_level)
        size = check_batch_size(internal_batch_size)
        options = self._method_options(method_options)
        target = resolve_target(target, inputs.shape[0])
        x = inputs.detach()
        classes = clean_classes(self.model, x, target)
        size = copies_batch_size(self.model, x, size, target.count)
        sigma = _sigma(x, noise_level)
        draws = _NoiseDraws(self.seed, x)
        count, reference, total, squares = x.shape[0], None, None, None
        for items, sample, example in copy_batches(samples, count, size, x.device):
            first = items.start // count
            noisy = x[example] + draws.between(first, (items.stop - 1) // count)[sample - first] * sigma[example]
            maps = self.method.attribute(noisy, target.score_fn if classes is None else classes[example], **options)
            # sums of deviations from each example's first noisy map (which comes before its others): the
            # variance does not cancel digits away where it is small next to the mean, and is 0 for equal maps
            if first == 0:
                firsts = slice(0, min(items.stop, count) - items.start)  # the batch's items of sample 0
                reference = accumulate(reference, example[firsts], maps[firsts], count)
            deviation = maps - reference[example]
            total = accumulate(total, example, deviation, count)
            squares = accumulate(squares, example, deviation * deviation, count)
        shift = total / samples
        return self.combine(reference + shift, (squares / samples - shift * shift).clamp(min=0))

    def combine(self, mean: Tensor, variance: Tensor) -> Tensor:
        """The returned statistic from the mean and the (population) variance of the noisy maps: the mean."""
        return mean

    def noise(self, inputs: Tensor, *, samples: int = 50, noise_level: float = 0.15) -> Tensor:
        """The noise :meth:`attribute` adds to ``inputs``: ``Tensor[samples, N, ...]``.

        Copy ``s`` of example ``i`` is ``inputs[i] + noise[s, i]``, bit for bit, for the
        same ``seed``, ``samples`` and ``noise_level``; a reference implementation (or
        a peer library) given these copies computes the same maps.
        """
        self._check_samples(samples, noise_level)
        x = inputs.detach()
        return _NoiseDraws(self.seed, x).between(0, samples - 1)[:, None] * _sigma(x, noise_level)

    def rebind(self, model: nn.Module, layer: str | nn.Module | None = None) -> SmoothGrad:
        """The same wrapper and settings for another model: the wrapped method is rebound to it.

        Args:
            model: the other model, of the same architecture.
            layer: for a wrapped layer method, the layer to explain in ``model``
                (default: the same name).
        """
        clone = super().rebind(model)
        if isinstance(self.method, LayerAttribution):
            clone.method = self.method.rebind(model, layer)
        elif layer is not None:
            raise TypeError(f"layer= is for a wrapped layer method; {type(self.method).__name__} explains the input")
        else:
            clone.method = self.method.rebind(model)
        return clone

    def check_inputs(self, inputs: Any) -> None:
        """The wrapped method's input checks, before any work."""
        super().check_inputs(inputs)
        self.method.check_inputs(inputs)

    def _check_samples(self, samples: object, noise_level: object) -> None:
        name = type(self).__name__
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < self.min_samples:
            raise ValueError(f"{name}: samples must be an int >= {self.min_samples}, got {samples!r}")
        if isinstance(noise_level, bool) or not isinstance(noise_level, (int, float)) or not (
            math.isfinite(noise_level) and noise_level >= 0
        ):
            raise ValueError(
                f"{name}: noise_level must be a number >= 0, the noise's standard deviation as a fraction of "
                f"each example's value range (the paper's 0.1 to 0.2), got {noise_level!r}"
            )

    def _method_options(self, options: object) -> dict[str, Any]:
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise TypeError(
                f"method_options must be a dict of the wrapped method's options, got {type(options).__name__}"
            )
        valid = self.method.options()
        unknown = [key for key in options if key not in valid]
        if unknown:
            inner = type(self.method).__name__
            raise TypeError(
                f"{type(self).__name__}: method_options {unknown} are not options of {inner}.attribute; "
                f"its options are: {', '.join(valid) or 'none'}"
            )
        return {**self.method_defaults, **options}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method!r}, seed={self.seed})"


class SmoothGradSquared(SmoothGrad):
    """SmoothGrad-squared: the mean of the squared maps over ``x + N(0, sigma^2)``, a non-negative map.

    As :class:`SmoothGrad` in everything else. Captum: ``NoiseTunnel`` with
    ``nt_type="smoothgrad_sq"``.

    Hooker, Erhan, Kindermans, Kim 2019, "A Benchmark for Interpretability Methods in
    Deep Neural Networks" (SmoothGrad-Squared), on Smilkov et al. 2017.
    """

    def combine(self, mean: Tensor, variance: Tensor) -> Tensor:
        """The mean of the squares, ``variance + mean^2``."""
        return variance + mean * mean


class VarGrad(SmoothGrad):
    """VarGrad: the variance of the maps over ``x + N(0, sigma^2)``, a non-negative map.

    The population variance ``mean(M^2) - mean(M)^2``, as Captum's ``NoiseTunnel`` with
    ``nt_type="vargrad"`` defines it; revelio sums deviations from the first noisy map
    (a shifted-data variance), so that a variance small next to the mean keeps its
    digits and equal maps give exactly 0. Needs ``samples >= 2``. As :class:`SmoothGrad`
    in everything else.

    Adebayo, Gilmer, Goodfellow, Kim 2018, "Local Explanation Methods for Deep Neural
    Networks Lack Sensitivity to Parameter Values"; used in Adebayo et al. 2018,
    "Sanity Checks for Saliency Maps".
    """

    min_samples = 2

    def combine(self, mean: Tensor, variance: Tensor) -> Tensor:
        """The variance."""
        return variance


def _sigma(x: Tensor, noise_level: float) -> Tensor:
    """Each example's noise standard deviation, ``noise_level * (max - min)``, shaped to broadcast over it."""
    flat = x.flatten(1)
    spread = flat.amax(dim=1) - flat.amin(dim=1)
    return (noise_level * spread).view(-1, *[1] * (x.ndim - 1))


class _NoiseDraws:
    """Standard-normal draws of one example's shape, sample after sample, from a generator seeded per call."""

    def __init__(self, seed: int, like: Tensor) -> None:
        self._generator = torch.Generator(device=like.device).manual_seed(seed)
        self._like = like
        self._index = -1
        self._last: Tensor | None = None

    def between(self, first: int, last: int) -> Tensor:
        """Draws ``first`` to ``last`` inclusive, ``Tensor[last - first + 1, ...]``: the last again, then new ones."""
        draws = []
        for index in range(first, last + 1):
            if index != self._index:
                if index != self._index + 1:
                    raise RuntimeError(f"noise draws are made in order: asked for {index} after {self._index}")
                self._last = torch.randn(
                    self._like.shape[1:], generator=self._generator, dtype=self._like.dtype, device=self._like.device
                )
                self._index = index
            draws.append(self._last)
        return torch.stack(draws)
