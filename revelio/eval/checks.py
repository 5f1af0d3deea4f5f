"""A3-A8: each check's criterion applied to maps already computed.

:func:`~revelio.eval.run_sanity` computes the maps (batched, once per model state);
the functions here turn them into a :class:`~revelio.eval.outcome.Measurement`. The
thresholds are ours where the papers set none. What each method is expected to do in
each check is in its registry entry (:mod:`revelio.registry`), with the paper it comes
from.

Where a criterion says "above a baseline", the method must beat it by more than twice
the standard error of the paired per-image difference, so that a map no better than
chance (the random-map control) does not pass by luck.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from revelio.eval.faithfulness import PerturbationCurves
from revelio.eval.localization import class_discrimination, pointing_game, relevance_mass, relevance_rank
from revelio.eval.maps import heat, normalized_heat
from revelio.eval.outcome import Measurement
from revelio.eval.randomization import RandomizationResult
from revelio.eval.similarity import constant, spearman, ssim

ATTRIBUTION_CHECKS: dict[str, str] = {
    "A1": "known answers",
    "A2": "input invariance",
    "A3": "cascading model randomization",
    "A4": "random logit",
    "A5": "data randomization",
    "A6": "localization",
    "A7": "class discrimination",
    "A8": "deletion / insertion",
}
"""Attribution checks, by id."""

FEATUREVIZ_CHECKS: dict[str, str] = {
    "F1": "known answer",
    "F2": "objective attained",
    "F3": "regularizer effect",
    "F4": "randomization",
}
"""Feature-visualization checks, by id."""

CHECKS: dict[str, str] = {**ATTRIBUTION_CHECKS, **FEATUREVIZ_CHECKS}

REFERENCES: dict[str, str] = {
    "A1": "Simonyan et al. 2013; Springenberg et al. 2014; Selvaraju et al. 2017; Zhou et al. 2016",
    "A2": "Kindermans et al. 2019, The (Un)reliability of Saliency Methods",
    "A3": "Adebayo et al. 2018, Sanity Checks for Saliency Maps",
    "A4": "Sixt, Granz, Landgraf 2020, When Explanations Lie",
    "A5": "Adebayo et al. 2018, Sanity Checks for Saliency Maps",
    "A6": "Zhang et al. 2016 (pointing game); Arras, Osman, Samek 2022 (relevance mass and rank)",
    "A7": "Selvaraju et al. 2017; Nie, Zhang, Patel 2018",
    "A8": "Petsiuk, Das, Saenko 2018, RISE",
    "F1": "Erhan et al. 2009",
    "F2": "Erhan et al. 2009; Oygard 2015; Tyka 2016",
    "F3": "Oygard 2015; Tyka 2016; Tomasi and Manduchi 1998",
    "F4": "Adebayo et al. 2018 (the same test, applied to feature visualization)",
}

A3_PARTIAL, A3_FULL = 0.5, 0.3
A4_MAX_SSIM = 0.5
A5_MAX_SPEARMAN = 0.5
A7_MIN_DIFFERENCE = 0.2
DEGENERATE_SHARE = 0.5
"""More than this share of all-zero maps where a criterion reads them: degenerate."""

CRITERIA: dict[str, str] = {
    "A3": (
        f"randomize head down; mean Spearman of |maps| vs trained <= {A3_PARTIAL} after head + last block, "
        f"<= {A3_FULL} fully random"
    ),
    "A4": f"map for the asked class vs a class not in the image: mean SSIM < {A4_MAX_SSIM}",
    "A5": f"retrain on permuted labels: mean Spearman of |maps| vs trained <= {A5_MAX_SPEARMAN}",
    "A6": "pointing hit rate and relevance mass above the centre and random baselines (by > 2 SE)",
    "A7": f"mass in the asked class's mask minus mass in the other object's > {A7_MIN_DIFFERENCE} on average",
    "A8": "deletion AUC lower and insertion AUC higher than a random map's (by > 2 SE)",
}


def beats(ours: Tensor, theirs: Tensor, *, higher: bool = True) -> tuple[bool, float, float]:
    """Whether ``ours`` beats ``theirs`` (paired, ``Tensor[N]``) by more than 2 standard errors.

    Returns:
        ``(beaten, mean difference, standard error)``; the difference is ``ours - theirs``.
    """
    difference = (ours.double() - theirs.double()).flatten()
    mean = float(difference.mean())
    error = float(difference.std() / math.sqrt(difference.numel())) if difference.numel() > 1 else 0.0
    margin = 2 * error
    return (mean > margin if higher else mean < -margin), mean, error


def cascading_randomization(result: RandomizationResult, independent: RandomizationResult | None = None) -> Measurement:
    """A3 from a cascading randomization (and, for the record, an independent one)."""
    partial = min(1, len(result.stages) - 1)
    full = len(result.stages) - 1
    means = result.mean("spearman_abs")
    zero = result.constant_fraction()
    values = {
        "stages": result.stages,
        "spearman_abs": result.mean("spearman_abs").tolist(),
        "spearman": result.mean("spearman").tolist(),
        "ssim": result.mean("ssim").tolist(),
        "constant_share": zero.tolist(),
        "partial_stage": result.stages[partial],
    }
    if independent is not None:
        values["independent"] = {
            "stages": independent.stages,
            "spearman_abs": independent.mean("spearman_abs").tolist(),
            "spearman": independent.mean("spearman").tolist(),
            "ssim": independent.mean("ssim").tolist(),
            "constant_share": independent.constant_fraction().tolist(),
        }
    degenerate = bool(zero[partial] > DEGENERATE_SHARE or zero[full] > DEGENERATE_SHARE)
    at_partial, at_full = float(means[partial]), float(means[full])
    note = _zero_note(max(float(zero[partial]), float(zero[full])), "randomized", excluded=True)
    if math.isnan(at_partial) or math.isnan(at_full):
        degenerate = True
    return Measurement(
        summary=f"Spearman |.| {at_partial:.2f} after {_stage_label(result.stages, partial)}, {at_full:.2f} fully random",
        met=at_partial <= A3_PARTIAL and at_full <= A3_FULL,
        values=values,
        note=note,
        degenerate=degenerate,
    )


UNRELATED_MARGIN = 0.05
"""A4 notes a similarity within this of the one between maps of different images."""


def random_logit(asked: Tensor, other: Tensor) -> Measurement:
    """A4: SSIM between the maps for the asked class and for a class absent from the image.

    For scale, the same SSIM is taken between each asked map and the other-class map of
    the *next* image (unrelated content): sparse maps score high there too, because SSIM
    counts a shared dark background as similar.
    """
    asked_scaled, other_scaled = normalized_heat(heat(asked)), normalized_heat(heat(other))
    similarity = ssim(asked_scaled, other_scaled).float().cpu()
    mean = float(similarity.mean())
    unrelated = float(ssim(asked_scaled, other_scaled.roll(1, dims=0)).mean()) if len(asked) > 1 else math.nan
    zero_asked = float(constant(heat(asked)).float().mean())
    zero_other = float(constant(heat(other)).float().mean())
    notes = [n for n in (_zero_note(zero_other, "other-class"),) if n]
    if abs(mean - unrelated) < UNRELATED_MARGIN:
        notes.append(
            f"as similar as maps of two different images (SSIM {unrelated:.2f}): SSIM reads the maps' sparsity here"
        )
    return Measurement(
        summary=f"SSIM {mean:.2f} (different images: {unrelated:.2f})",
        met=mean < A4_MAX_SSIM,
        values={"ssim": mean, "ssim_per_image": similarity.tolist(), "ssim_different_images": unrelated,
                "constant_share": zero_asked, "other_constant_share": zero_other},
        note="; ".join(notes),
        degenerate=zero_asked > DEGENERATE_SHARE,
    )


def data_randomization(trained: Tensor, permuted: Tensor, train_accuracy: float, heldout_accuracy: float) -> Measurement:
    """A5: the trained model's maps against those of a model trained on permuted labels."""
    trained_heat, permuted_heat = heat(trained), heat(permuted)
    rank_abs = spearman(trained_heat, permuted_heat).float().cpu()
    rank_signed = spearman(_signed(trained), _signed(permuted)).float().cpu()
    similarity = ssim(normalized_heat(trained_heat), normalized_heat(permuted_heat)).float().cpu()
    zero = float(constant(permuted_heat).float().mean())
    mean = float(torch.nanmean(rank_abs))
    return Measurement(
        summary=f"Spearman |.| {mean:.2f}, SSIM {float(similarity.mean()):.2f}",
        met=mean <= A5_MAX_SPEARMAN,
        values={
            "spearman_abs": mean,
            "spearman": float(torch.nanmean(rank_signed)),
            "ssim": float(similarity.mean()),
            "constant_share": zero,
            "permuted_model_train_accuracy": train_accuracy,
            "permuted_model_heldout_accuracy": heldout_accuracy,
        },
        note=_zero_note(zero, "permuted-model", excluded=True),
        degenerate=zero > DEGENERATE_SHARE or math.isnan(mean),
    )


def localization(maps: Tensor, masks: Tensor, centre: Tensor, random: Tensor, tolerance: int) -> Measurement:
    """A6: pointing game, relevance mass and rank, against the centre and random baselines."""
    def scores(values: Tensor) -> dict[str, Tensor]:
        return {
            "pointing": pointing_game(values, masks, tolerance).double().cpu(),
            "mass": relevance_mass(values, masks).double().cpu(),
            "rank": relevance_rank(values, masks).double().cpu(),
        }

    ours, by_centre, by_random = scores(maps), scores(centre), scores(random)
    met = True
    values: dict[str, object] = {"tolerance_pixels": tolerance}
    for key in ("pointing", "mass", "rank"):
        values[key] = float(ours[key].mean())
        values[f"centre_{key}"] = float(by_centre[key].mean())
        values[f"random_{key}"] = float(by_random[key].mean())
    for key in ("pointing", "mass"):
        for name, baseline in (("centre", by_centre), ("random", by_random)):
            beaten, difference, error = beats(ours[key], baseline[key])
            values[f"{key}_minus_{name}"] = difference
            values[f"{key}_minus_{name}_se"] = error
            met = met and beaten
    zero = float(constant(heat(maps)).float().mean())
    return Measurement(
        summary=(
            f"hit {values['pointing']:.2f}, mass {values['mass']:.2f} (centre {values['centre_pointing']:.2f} / "
            f"{values['centre_mass']:.2f}, random {values['random_pointing']:.2f} / {values['random_mass']:.2f})"
        ),
        met=met,
        values=values,
        note=_zero_note(zero, ""),
        degenerate=zero > DEGENERATE_SHARE,
    )


def discrimination(first: Tensor, second: Tensor, masks: Tensor) -> Measurement:
    """A7: maps for each object's class (``first``, ``second``) against the two objects' masks ``(N, 2, H, W)``."""
    scores = torch.cat(
        [
            class_discrimination(first, masks[:, 0], masks[:, 1]),
            class_discrimination(second, masks[:, 1], masks[:, 0]),
        ]
    ).cpu()
    mean = float(scores.mean())
    zero = float(constant(heat(torch.cat([first, second]))).float().mean())
    return Measurement(
        summary=f"mass difference {mean:.2f}",
        met=mean > A7_MIN_DIFFERENCE,
        values={"mass_difference": mean, "standard_error": float(scores.std() / math.sqrt(scores.numel()))},
        note=_zero_note(zero, ""),
        degenerate=zero > DEGENERATE_SHARE,
    )


def faithfulness(curves: PerturbationCurves, reference: PerturbationCurves) -> Measurement:
    """A8: deletion and insertion AUCs against a random map's on the same images."""
    deletion, insertion = curves.deletion_auc(), curves.insertion_auc()
    random_deletion, random_insertion = reference.deletion_auc(), reference.insertion_auc()
    lower, deletion_gap, deletion_se = beats(deletion, random_deletion, higher=False)
    higher, insertion_gap, insertion_se = beats(insertion, random_insertion, higher=True)
    values = {
        "deletion_auc": float(deletion.mean()),
        "insertion_auc": float(insertion.mean()),
        "random_deletion_auc": float(random_deletion.mean()),
        "random_insertion_auc": float(random_insertion.mean()),
        "deletion_minus_random": deletion_gap,
        "deletion_minus_random_se": deletion_se,
        "insertion_minus_random": insertion_gap,
        "insertion_minus_random_se": insertion_se,
        "steps": curves.fractions.numel() - 1,
        "fractions": curves.fractions.tolist(),
        "mean_deletion_curve": curves.deletion.mean(dim=0).tolist(),
        "mean_insertion_curve": curves.insertion.mean(dim=0).tolist(),
    }
    return Measurement(
        summary=(
            f"deletion {values['deletion_auc']:.3f} (random {values['random_deletion_auc']:.3f}), "
            f"insertion {values['insertion_auc']:.3f} (random {values['random_insertion_auc']:.3f})"
        ),
        met=lower and higher,
        values=values,
    )


def _signed(maps: Tensor) -> Tensor:
    return maps.sum(dim=1) if maps.ndim == 4 else maps


def _stage_label(stages: list[str], index: int) -> str:
    return " + ".join(stages[: index + 1])


def _zero_note(share: float, what: str, excluded: bool = False) -> str:
    if share <= 0:
        return ""
    text = f"{share:.0%} of {what + ' ' if what else ''}maps all-zero"
    return text + (", left out of the mean" if excluded and share < 1 else "")
