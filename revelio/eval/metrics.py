"""Quality metrics of attribution maps: faithfulness, robustness, sparseness, complexity.

One value per image (``Tensor[N]``), computed for a whole batch at once in torch, on
the inputs' device:

- :func:`faithfulness_correlation` (Bhatt, Weller, Moura 2020, IJCAI, "Evaluating and
  Aggregating Feature-based Model Explanations"): the Pearson correlation, over random
  feature subsets ``S`` of a fixed size, between the attribution summed over ``S`` and
  the drop of the target's score when ``S`` is set to a baseline; higher is better.
- :func:`max_sensitivity` (Yeh et al. 2019, NeurIPS, "On the (In)fidelity and
  Sensitivity of Explanations", SENS_MAX): the largest change of the map when the input
  moves uniformly at random inside an L-infinity ball of radius ``r``; lower is better.
- :func:`sparseness` (Chalasani et al. 2020, ICML, "Concise Explanations of Neural
  Networks using Adversarial Training"): the Gini index of ``|map|``, in [0, 1 - 1/d];
  higher is sparser.
- :func:`complexity` (Bhatt, Weller, Moura 2020): the entropy of each feature's
  fractional contribution ``|g_i| / sum_j |g_j|``, in [0, log d]; lower is simpler.

The random parts draw from a ``torch.Generator`` seeded with ``seed`` on the CPU, so a
result does not depend on the device. Quantus (Hedström et al. 2023) implements the
same four; where its defaults differ from the papers, the option that reproduces it is
named in each function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from revelio.core.state import preserved_model_state
from revelio.errors import InputError, SettingError, SettingTypeError, TargetError
from revelio.eval.similarity import pearson

Explainer = Callable[[Tensor, Tensor], Tensor]
"""``(inputs, targets) -> maps``, e.g. an :class:`~revelio.attribution.Attribution`'s ``attribute``."""


def faithfulness_correlation(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    targets: Tensor | int,
    *,
    subset_size: int = 224,
    runs: int = 100,
    baseline: float | Tensor = 0.0,
    features: Literal["elements", "pixels"] = "elements",
    score: Callable[[Tensor], Tensor] | None = None,
    batch_size: int = 512,
    seed: int = 0,
) -> Tensor:
    """Faithfulness correlation of each map (Bhatt, Weller, Moura 2020).

    For ``runs`` random subsets ``S`` of ``subset_size`` features (drawn without
    replacement, a new subset per image and run), the inputs' features in ``S`` are set
    to ``baseline``; the result is the Pearson correlation, over the runs, between
    ``sum_{i in S} map_i`` and ``f(x) - f(x with S at the baseline)``. One forward pass
    takes the perturbed copies of every image for as many runs as ``batch_size`` allows.

    Args:
        model: the network; run in eval mode and left as it was.
        inputs: model inputs ``Tensor[N, ...]`` (images ``Tensor[N, C, H, W]``).
        maps: the attributions, the inputs' shape, or ``Tensor[N, 1, H, W]`` for
            images (a CAM; it applies to every channel).
        targets: the class whose score is followed, ``Tensor[N]`` or one ``int``.
        subset_size: ``|S|``, features per subset (Quantus' default: 224).
        runs: subsets per image (Quantus' default: 100).
        baseline: the value features in ``S`` take: a number, or a tensor broadcastable
            to the inputs. The default, 0, is the dataset's mean colour for revelio's
            normalised inputs; Quantus' default (``perturb_baseline="black"``) is each
            image's minimum, ``inputs.amin(dim=(1, 2, 3), keepdim=True)``.
        features: ``"elements"``: a feature is one input value (one channel of one
            pixel), the paper's ``x in R^d`` and Quantus' choice, with a ``(N, 1, H, W)``
            map repeated over the channels; ``"pixels"``: a feature is a pixel, all its
            channels set together, its attribution the map summed over channels.
        score: model output -> scores of every class (default: the output itself, the
            logits, as Quantus with ``softmax=False``); e.g. ``torch.softmax(o, 1)``.
        batch_size: perturbed inputs per forward pass (at least one run of all images).
        seed: seeds the subsets.

    Returns:
        ``Tensor[N]`` in [-1, 1] (float64, on the inputs' device); NaN for an image whose
        subset sums or score drops do not vary (a constant-zero map, a model that
        ignores the features).

    Raises:
        InputError: inputs or maps of the wrong type or shape.
        TargetError: targets that do not fit the batch or the model's output.
        SettingError: a setting out of range (``subset_size`` above the number of
            features, fewer than two runs).
    """
    _check_tensor(inputs, "inputs", min_ndim=2)
    _check_tensor(maps, "maps", min_ndim=2)
    n = inputs.shape[0]
    if features not in ("elements", "pixels"):
        raise SettingError(f"features must be 'elements' or 'pixels', got {features!r}")
    if features == "pixels" and inputs.ndim != 4:
        raise InputError(f"features='pixels' needs images (N, C, H, W), got inputs of shape {tuple(inputs.shape)}")
    image_map = inputs.ndim == 4 and maps.shape == (n, 1, *inputs.shape[2:])
    if maps.shape != inputs.shape and not image_map:
        raise InputError(
            f"maps must have the inputs' shape {tuple(inputs.shape)}"
            + (f" or (N, 1, H, W) = {(n, 1, *inputs.shape[2:])}" if inputs.ndim == 4 else "")
            + f", got {tuple(maps.shape)}; compute CAMs with upsample=True"
        )
    targets = _check_targets(targets, n, inputs.device)
    _check_count(subset_size, "subset_size", 1)
    _check_count(runs, "runs", 2)
    _check_count(batch_size, "batch_size", 1)
    _check_count(seed, "seed", 0)
    if score is not None and not callable(score):
        raise SettingTypeError(f"score must be a callable output -> class scores, or None, got {type(score).__name__}")
    if features == "pixels":
        attribution = maps.sum(dim=1).flatten(1)
        mask_shape = (n, 1, *inputs.shape[2:])
    else:
        attribution = maps.expand_as(inputs).flatten(1)
        mask_shape = tuple(inputs.shape)
    count = attribution.shape[1]
    if subset_size > count:
        raise SettingError(f"subset_size must be at most the number of features, {count}, got {subset_size}")
    baseline = torch.as_tensor(baseline, dtype=inputs.dtype, device=inputs.device)
    try:
        baseline = baseline.expand_as(inputs)
    except RuntimeError:
        raise InputError(
            f"baseline must be a number or broadcastable to the inputs {tuple(inputs.shape)}, "
            f"got shape {tuple(baseline.shape)}"
        ) from None
    to_scores = score if score is not None else (lambda output: output)
    generator = torch.Generator().manual_seed(seed)
    attribution = attribution.detach().to(inputs.device, torch.float64)
    per_pass = max(1, batch_size // n)
    sums, drops = [], []
    with preserved_model_state(model, eval_mode=True), torch.no_grad():
        clean = _target_scores(to_scores(model(inputs)), targets)
        for first in range(0, runs, per_pass):
            rounds = min(per_pass, runs - first)
            subsets = torch.stack([random_subsets(generator, n, count, subset_size) for _ in range(rounds)])
            subsets = subsets.to(inputs.device)  # (rounds, N, |S|)
            chosen = torch.zeros(rounds, n, count, dtype=torch.bool, device=inputs.device)
            chosen.scatter_(2, subsets, True)
            chosen = chosen.view(rounds, *mask_shape)
            perturbed = torch.where(chosen, baseline, inputs).flatten(0, 1)
            scores = _target_scores(to_scores(model(perturbed)), targets.repeat(rounds))
            drops.append((clean - scores.view(rounds, n)).double())
            sums.append(attribution.expand(rounds, n, count).gather(2, subsets).sum(2))
    return pearson(torch.cat(sums).T, torch.cat(drops).T)


def random_subsets(generator: torch.Generator, n: int, count: int, size: int) -> Tensor:
    """One random subset of ``size`` of ``count`` features per row, ``Tensor[n, size]`` of indices (CPU).

    The ``size`` largest of ``count`` uniform keys: a uniformly random subset, drawn
    without replacement. :func:`faithfulness_correlation` calls it once per run, in
    order, with its generator.
    """
    return torch.rand(n, count, generator=generator).topk(size, dim=1).indices


def max_sensitivity(
    explainer: Explainer,
    inputs: Tensor,
    targets: Tensor | int,
    *,
    radius: float = 0.2,
    samples: int = 200,
    relative: bool = False,
    maps: Tensor | None = None,
    batch_size: int | None = None,
    seed: int = 0,
) -> Tensor:
    """Max-sensitivity of each map (Yeh et al. 2019, SENS_MAX), by Monte Carlo sampling.

    ``max_k ||a(x + u_k) - a(x)||`` over ``samples`` noises ``u_k`` drawn uniformly from
    the L-infinity ball of ``radius`` (each input value moves by at most ``radius``),
    with ``||.||`` the Euclidean norm of the flattened map. Each sample is one call of
    ``explainer`` on the whole batch (``batch_size`` puts several samples in one call).

    Args:
        explainer: ``(inputs, targets) -> maps``; it must leave its model as it found
            it (revelio's methods do).
        inputs: model inputs ``Tensor[N, ...]``.
        targets: the class explained, ``Tensor[N]`` or one ``int``; kept for the noisy
            inputs.
        radius: ``r``, half the side of the ball (Quantus' default ``lower_bound``: 0.2).
        samples: noises per image (Quantus' default ``nr_samples``: 200).
        relative: divide by ``||a(x)||``. Yeh et al.'s definition of SENS_MAX does not; the
            authors' released code and Quantus' default (``norm_denominator=fro_norm``)
            do: ``relative=True`` reproduces them.
        maps: ``a(x)`` if already computed (else one more call of ``explainer``).
        batch_size: inputs per call of ``explainer``: the noisy copies of every image for
            ``batch_size // N`` samples at once (default: one sample per call).
        seed: seeds the noise: sample ``k`` is ``(2 * torch.rand(inputs.shape) - 1) *
            radius``, the ``k``-th draw of a CPU generator seeded with ``seed``.

    Returns:
        ``Tensor[N]`` (float64, on the inputs' device), >= 0; with ``relative=True``,
        infinite or NaN for a map that is zero everywhere.

    Raises:
        InputError: inputs not a floating tensor, or maps (given or returned) that are
            not tensors of one shape for the batch.
        TargetError: targets that do not fit the batch.
        SettingError: ``radius`` negative, ``samples`` or ``batch_size`` below 1.
        SettingTypeError: an explainer that is not callable, a setting of the wrong kind.
    """
    if not callable(explainer):
        raise SettingTypeError(
            f"explainer must be a callable (inputs, targets) -> maps, got {type(explainer).__name__}"
        )
    _check_tensor(inputs, "inputs", min_ndim=2)
    targets = _check_targets(targets, inputs.shape[0], inputs.device)
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not radius >= 0:
        raise SettingError(f"radius must be a number >= 0, got {radius!r}")
    _check_count(samples, "samples", 1)
    _check_count(seed, "seed", 0)
    if batch_size is not None:
        _check_count(batch_size, "batch_size", 1)
    if not isinstance(relative, bool):
        raise SettingTypeError(f"relative must be True or False, got {relative!r}")
    if maps is not None:
        _check_tensor(maps, "maps", min_ndim=2)
        if maps.shape[0] != inputs.shape[0]:
            raise InputError(f"maps must have one map per input ({inputs.shape[0]}), got shape {tuple(maps.shape)}")
    else:
        maps = _explained(explainer, inputs, targets, None)
    reference = maps.detach().flatten(1).to(inputs.device, torch.float64)
    n = inputs.shape[0]
    per_call = 1 if batch_size is None else max(1, batch_size // n)
    generator = torch.Generator().manual_seed(seed)
    worst = torch.full((n,), -torch.inf, dtype=torch.float64, device=reference.device)
    for first in range(0, samples, per_call):
        rounds = min(per_call, samples - first)
        noise = torch.stack(
            [
                (2 * torch.rand(inputs.shape, generator=generator, dtype=inputs.dtype) - 1) * radius
                for _ in range(rounds)
            ]
        )
        noisy_inputs = (inputs + noise.to(inputs.device)).flatten(0, 1)
        noisy = _explained(explainer, noisy_inputs, targets.repeat(rounds), (rounds * n, *maps.shape[1:]))
        change = (noisy.detach().flatten(1).to(inputs.device, torch.float64).view(rounds, n, -1) - reference).norm(
            dim=2
        )
        worst = torch.maximum(worst, change.amax(dim=0))
    if relative:
        worst = worst / reference.norm(dim=1)
    return worst


def sparseness(maps: Tensor) -> Tensor:
    """Gini index of ``|map|`` per image (Chalasani et al. 2020; the index as in Hurley and Rickard 2009).

    With ``v`` the ``d`` values of ``|map|`` sorted in increasing order,
    ``G = sum_k (2k - d - 1) v_k / (d sum_k v_k)``: 0 for a uniform map, ``1 - 1/d``
    for a map with one non-zero value. Quantus adds 1e-7 to every value (of the map
    divided by its largest ``|value|``) first; revelio does not.

    Args:
        maps: ``Tensor[N, ...]``, all values of an image count (pass
            :func:`~revelio.eval.heat` of the maps for one value per pixel).

    Returns:
        ``Tensor[N]`` (float64); NaN for a map that is zero everywhere.

    Raises:
        InputError: maps that are not a floating tensor ``(N, ...)``.
    """
    _check_tensor(maps, "maps", min_ndim=2)
    values = maps.detach().flatten(1).double().abs().sort(dim=1).values
    d = values.shape[1]
    weights = 2 * torch.arange(1, d + 1, dtype=torch.float64, device=values.device) - d - 1
    return (values * weights).sum(1) / (d * values.sum(1))


def complexity(maps: Tensor) -> Tensor:
    """Entropy of the fractional contribution of each feature (Bhatt, Weller, Moura 2020).

    ``-sum_i p_i log p_i`` with ``p_i = |g_i| / sum_j |g_j|`` (natural log, ``0 log 0 =
    0``): 0 for a map with one non-zero value, ``log d`` for a uniform map. Quantus
    adds 1e-12 inside the log; revelio does not.

    Args:
        maps: ``Tensor[N, ...]``, all values of an image count.

    Returns:
        ``Tensor[N]`` (float64); NaN for a map that is zero everywhere.

    Raises:
        InputError: maps that are not a floating tensor ``(N, ...)``.
    """
    _check_tensor(maps, "maps", min_ndim=2)
    values = maps.detach().flatten(1).double().abs()
    shares = values / values.sum(dim=1, keepdim=True)
    return -torch.special.xlogy(shares, shares).sum(1)


# -- helpers -----------------------------------------------------------------------------


def _check_tensor(value: object, name: str, *, min_ndim: int) -> None:
    if not isinstance(value, Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.ndim < min_ndim or value.shape[0] == 0:
        raise InputError(f"{name} must be a batch (N, ...) with N >= 1, got shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise InputError(f"{name} must not be empty, got shape {tuple(value.shape)}")


def _check_count(value: object, name: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingTypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < least:
        raise SettingError(f"{name} must be >= {least}, got {value}")


def _check_targets(targets: Tensor | int, n: int, device: torch.device) -> Tensor:
    if isinstance(targets, bool) or not isinstance(targets, (int, Tensor)):
        raise TargetError(f"targets must be an int or a Tensor[N] of class indices, got {type(targets).__name__}")
    targets = torch.as_tensor(targets, device=device)
    if targets.is_floating_point() or targets.is_complex() or targets.dtype is torch.bool:
        raise TargetError(f"targets must hold integer class indices, got dtype {targets.dtype}")
    if targets.ndim == 0:
        targets = targets.expand(n)
    if targets.shape != (n,):
        raise TargetError(f"targets must be one class per input, shape ({n},), got {tuple(targets.shape)}")
    if bool((targets < 0).any()):
        raise TargetError(f"targets must be class indices >= 0, got {targets.min().item()}")
    return targets.long()


def _target_scores(scores: Tensor, targets: Tensor) -> Tensor:
    if not isinstance(scores, Tensor) or scores.ndim != 2 or scores.shape[0] != targets.shape[0]:
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise InputError(f"the model (and score) must return one row of class scores per input, got {shape}")
    if int(targets.max()) >= scores.shape[1]:
        raise TargetError(f"targets must be below the number of classes, {scores.shape[1]}, got {int(targets.max())}")
    return scores.gather(1, targets[:, None]).squeeze(1)


def _explained(explainer: Explainer, inputs: Tensor, targets: Tensor, shape: tuple[int, ...] | None) -> Tensor:
    maps = explainer(inputs, targets)
    if not isinstance(maps, Tensor):
        raise InputError(f"the explainer must return a Tensor of maps, got {type(maps).__name__}")
    if shape is not None and maps.shape != torch.Size(shape):
        raise InputError(f"the explainer's maps must keep one shape {tuple(shape)}, got {tuple(maps.shape)}")
    if shape is None and (maps.ndim < 2 or maps.shape[0] != inputs.shape[0]):
        raise InputError(f"the explainer must return one map per input ({inputs.shape[0]}), got {tuple(maps.shape)}")
    return maps
