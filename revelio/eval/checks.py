"""A3-A8: each check's criterion applied to maps already computed.

:func:`~revelio.eval.run_sanity` computes the maps (batched, once per model state);
the functions here turn them into a :class:`~revelio.eval.outcome.Measurement`. The
thresholds are ours where the papers set none. What each method is expected to do in
each check is in its registry entry (:mod:`revelio.registry`), with the paper it comes
from.

Every figure comes with a bootstrap interval over images
(:mod:`revelio.eval.uncertainty`); a criterion holds when the whole interval is on the
right side of its threshold, fails when the whole interval is on the wrong side, and is
inconclusive otherwise. Comparisons with a baseline are paired: the interval is the one
of the per-image difference.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from revelio.eval.faithfulness import PerturbationCurves
from revelio.eval.localization import pointing_game, relevance_mass
from revelio.eval.maps import heat, minmax_heat
from revelio.eval.outcome import Criterion, Measurement, judged
from revelio.eval.randomization import RandomizationResult
from revelio.eval.similarity import constant, spearman, ssim
from revelio.eval.uncertainty import Interval, bootstrap_mean, interval, resampled_means

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
    "A6": (
        "Zhang et al. 2016 (pointing game, as TorchRay computes it); Hou and Zhang 2007 (spectral residual); "
        "Arras, Osman, Samek 2022 (relevance mass)"
    ),
    "A7": "Selvaraju et al. 2017; Nie, Zhang, Patel 2018",
    "A8": "Petsiuk, Das, Saenko 2018, RISE",
    "F1": "Erhan et al. 2009",
    "F2": "Erhan et al. 2009; Oygard 2015; Tyka 2016",
    "F3": "Oygard 2015; Tyka 2016; Tomasi and Manduchi 1998",
    "F4": "Adebayo et al. 2018 (the same test, applied to feature visualization)",
}

A3_PARTIAL, A3_FULL = 0.5, 0.3
"""A3: mean Spearman of ``|map|`` at most this after head + last block, and fully random (ours: the paper sets none)."""

A4_CLASS_EFFECT = 0.5
"""A4: the class may change the map at most this much less than changing the image does (ours)."""

A4_REPEAT = 0.5
"""A4: a map must agree with itself (recomputed) by at least this much more than with another image's (ours)."""

A5_MAX_SPEARMAN = 0.5
A5_MIN_CONTROL_GAIN = 0.1
"""A5 applies only when the true-label control learned the task: its held-out per-label accuracy beats the permuted model's by this much."""
A7_MIN_DIFFERENCE = 0.2
DEGENERATE_SHARE = 0.5
"""More than this share of all-zero maps where a criterion reads them: degenerate."""

CRITERIA: dict[str, str] = {
    "A3": (
        f"randomize head down (class re-taken, BatchNorm statistics kept); mean Spearman of |maps| vs trained "
        f"<= {A3_PARTIAL} after head + last block and <= {A3_FULL} fully random (whole 95% interval)"
    ),
    "A4": (
        "Spearman of |maps|, asked vs absent class (s), calibrated between unrelated images (u) and the map "
        f"recomputed (c): class effect (s - u) / (c - u) < {A4_CLASS_EFFECT} and c - u > {A4_REPEAT}"
    ),
    "A5": (
        f"maps of a model trained on permuted labels vs a true-label model trained identically: mean Spearman "
        f"of |maps| <= {A5_MAX_SPEARMAN} (when the control learned the task: held-out per-label accuracy "
        f"{A5_MIN_CONTROL_GAIN} above the permuted model's)"
    ),
    "A6": (
        "pointing game (TorchRay: disk, strict <, 15 px at 224 scaled, per-class mean) above the centre "
        "point, a model-free objectness map (spectral residual) and the hit rate on another labelled object"
    ),
    "A7": f"mass in the asked object's mask minus mass in another labelled object's > {A7_MIN_DIFFERENCE}",
    "A8": "deletion AUC below and insertion AUC above a random map's, paired per image",
}


def cascading_randomization(result: RandomizationResult, weights: Tensor) -> Measurement:
    """A3 from a cascading randomization: intervals of every similarity at every stage compared.

    The criterion reads the stage "head + last block" (the stage whose label joins two
    groups) and the last stage (fully random).
    """
    partial = next((i for i, label in enumerate(result.stages) if label.count(" + ") == 1), 0)
    full = len(result.stages) - 1
    zero = result.constant_fraction()
    per_stage = {
        measure: [bootstrap_mean(getattr(result, measure)[s], weights) for s in range(len(result.stages))]
        for measure in ("spearman_abs", "spearman", "ssim", "hog")
    }
    values = {
        "stages": result.stages,
        "partial_stage": result.stages[partial],
        "constant_share": zero.tolist(),
        **{measure: [i.as_dict() for i in intervals] for measure, intervals in per_stage.items()},
    }
    at_partial, at_full = per_stage["spearman_abs"][partial], per_stage["spearman_abs"][full]
    criteria = [
        Criterion(f"Spearman |.| after {result.stages[partial]}", at_partial, A3_PARTIAL, "below"),
        Criterion("Spearman |.| fully random", at_full, A3_FULL, "below"),
    ]
    degenerate = bool(zero[partial] > DEGENERATE_SHARE or zero[full] > DEGENERATE_SHARE)
    degenerate = degenerate or not (math.isfinite(at_partial.estimate) and math.isfinite(at_full.estimate))
    note = _zero_note(max(float(zero[partial]), float(zero[full])), "randomized", excluded=True)
    return judged(
        f"Spearman |.| {at_partial} after {result.stages[partial]}, {at_full} fully random",
        criteria, values=values, note=note, degenerate=degenerate,
    )


def random_logit(asked: Tensor, other: Tensor, again: Tensor, weights: Tensor) -> Measurement:
    """A4 (Sixt, Granz, Landgraf 2020): does the map change when another class is asked?

    ``asked``: the maps for a class in the image; ``other``: for a class not in it;
    ``again``: the asked maps recomputed (equal to ``asked`` for a deterministic method).
    The similarity (Spearman of ``|map|``) ``s`` of asked and absent-class maps of one
    image is placed between two references on the same images: ``u``, the similarity of
    an asked map and the absent-class map of the next image (unrelated content), and
    ``c``, the similarity of the asked map and its recomputation. The class effect
    ``(s - u) / (c - u)`` is 1 for a map that ignores the class, 0 for one that changes
    as much with the class as with the image: maps of unrelated images are the zero of
    this scale, not a pass by their own, since the criterion also asks that the map
    repeat (``c - u``), which noise does not. SSIM is reported too: it rewards a shared
    dark background, so two unrelated sparse maps score high on it.
    """
    a, o, g = heat(asked), heat(other), heat(again)
    same = spearman(a, o).double().cpu()
    unrelated = spearman(a, o.roll(1, dims=0)).double().cpu() if len(a) > 1 else torch.full_like(same, math.nan)
    repeat = spearman(a, g).double().cpu()
    means = resampled_means(torch.stack([same, unrelated, repeat]), weights)  # [B + 1, 3]
    span = means[:, 2] - means[:, 1]
    effect = (means[:, 0] - means[:, 1]) / span
    effect_interval, span_interval = interval(effect), interval(span)
    similarity = ssim(minmax_heat(a), minmax_heat(o)).double().cpu()
    zero_asked = float(constant(a).float().mean())
    zero_other = float(constant(o).float().mean())
    criteria = [
        Criterion("class effect (s - u) / (c - u)", effect_interval, A4_CLASS_EFFECT, "below"),
        Criterion("repeatability c - u", span_interval, A4_REPEAT, "above"),
    ]
    return judged(
        f"class effect {effect_interval} (s {interval(means[:, 0])}, unrelated {interval(means[:, 1])}, "
        f"recomputed {interval(means[:, 2])})",
        criteria,
        values={
            "class_effect": effect_interval.as_dict(),
            "spearman_abs": interval(means[:, 0]).as_dict(),
            "spearman_abs_unrelated_images": interval(means[:, 1]).as_dict(),
            "spearman_abs_recomputed": interval(means[:, 2]).as_dict(),
            "ssim": bootstrap_mean(similarity, weights).as_dict(),
            "ssim_unrelated_images": bootstrap_mean(
                ssim(minmax_heat(a), minmax_heat(o.roll(1, dims=0))).double().cpu(), weights
            ).as_dict(),
            "constant_share": zero_asked,
            "other_constant_share": zero_other,
        },
        note=_zero_note(zero_other, "absent-class"),
        degenerate=zero_asked > DEGENERATE_SHARE or zero_other > DEGENERATE_SHARE,
    )


def data_randomization(
    control: Tensor, permuted: Tensor, bundled: Tensor, weights: Tensor, training: dict[str, float]
) -> Measurement:
    """A5 (Adebayo et al. 2018, Sec. 5): maps of a permuted-label model vs a true-label model trained identically.

    ``control``: maps of the true-label model; ``permuted``: of the permuted-label model
    (same images, epochs and initialisation); ``bundled``: of the bundled model, for the
    reference similarity of two models that both learned the task. When the control
    did not learn the task either (``training``'s held-out accuracies), there is no
    trained model to compare with: the numbers are reported and the check is ``n/a``.
    """
    control_heat, permuted_heat = heat(control), heat(permuted)
    rank_abs = bootstrap_mean(spearman(control_heat, permuted_heat).double().cpu(), weights)
    learned = training["control_model_heldout_accuracy"], training["permuted_model_heldout_accuracy"]
    if learned[0] - learned[1] < A5_MIN_CONTROL_GAIN:
        return Measurement(
            summary=f"Spearman |.| {rank_abs}",
            met=None,
            values={"spearman_abs": rank_abs.as_dict(), **training},
            note=(
                f"the true-label control did not learn the task from its {training['training_images']} images "
                f"(held-out per-label accuracy {learned[0]:.2f}, the permuted model's {learned[1]:.2f}): "
                "there is no trained model to compare with"
            ),
            applicable=False,
        )
    rank_signed = bootstrap_mean(spearman(_signed(control), _signed(permuted)).double().cpu(), weights)
    reference = bootstrap_mean(spearman(control_heat, heat(bundled)).double().cpu(), weights)
    similarity = bootstrap_mean(ssim(minmax_heat(control_heat), minmax_heat(permuted_heat)).double().cpu(), weights)
    zero = float(constant(permuted_heat).float().mean())
    criteria = [Criterion("Spearman |.|, true-label vs permuted-label model", rank_abs, A5_MAX_SPEARMAN, "below")]
    return judged(
        f"Spearman |.| {rank_abs} (true-label control vs bundled model: {reference})",
        criteria,
        values={
            "spearman_abs": rank_abs.as_dict(),
            "spearman": rank_signed.as_dict(),
            "ssim": similarity.as_dict(),
            "spearman_abs_control_vs_bundled": reference.as_dict(),
            "constant_share": zero,
            **training,
        },
        note=_zero_note(zero, "permuted-model", excluded=True),
        degenerate=zero > DEGENERATE_SHARE or not math.isfinite(rank_abs.estimate),
    )


def localization(
    maps: Tensor,
    masks: Tensor,
    other_masks: Tensor,
    classes: Tensor,
    baselines: dict[str, Tensor],
    tolerance: float,
    weights: Tensor,
) -> Measurement:
    """A6: the pointing game as TorchRay plays it, against the centre point, objectness and another object.

    Args:
        maps: ``(M, ...)``, one map per (image, labelled object), object-major.
        masks: ``Tensor[M, H, W]``, the asked object's visible pixels.
        other_masks: ``Tensor[M, H, W]``, another labelled object of the same image.
        classes: ``Tensor[M]``, the asked class (hit rates are averaged per class).
        baselines: ``{"centre": maps, "objectness": maps}``, each ``(M, H, W)``.
        tolerance: TorchRay's tolerance scaled to the image.
        weights: resample weights of the ``M`` rows (each image's rows drawn together).
    """

    def rate(values: Tensor) -> Interval:
        return bootstrap_mean(values.double(), weights, groups=classes)

    hit = pointing_game(maps, masks, tolerance).cpu()
    exact = pointing_game(maps, masks, 0).cpu()
    other = pointing_game(maps, other_masks, tolerance).cpu()
    mass = relevance_mass(maps, masks).cpu()
    values: dict[str, object] = {
        "tolerance_pixels": tolerance,
        "pointing": rate(hit).as_dict(),
        "pointing_tolerance_0": rate(exact).as_dict(),
        "pointing_other_object": rate(other).as_dict(),
        "mass": bootstrap_mean(mass.double(), weights).as_dict(),
    }
    criteria = [Criterion("hit rate minus other object's", rate(hit.double() - other.double()), 0.0, "above")]
    for name, baseline in baselines.items():
        theirs = pointing_game(baseline, masks, tolerance).cpu()
        values[f"{name}_pointing"] = rate(theirs).as_dict()
        values[f"{name}_pointing_tolerance_0"] = rate(pointing_game(baseline, masks, 0).cpu()).as_dict()
        values[f"{name}_mass"] = bootstrap_mean(relevance_mass(baseline, masks).cpu().double(), weights).as_dict()
        criteria.append(Criterion(f"hit rate minus {name}'s", rate(hit.double() - theirs.double()), 0.0, "above"))
    zero = float(constant(heat(maps)).float().mean())
    summary = (
        f"hit {rate(hit)} (tolerance 0: {rate(exact).estimate:.2f}; other object {rate(other).estimate:.2f}; "
        + "; ".join(f"{name} {values[f'{name}_pointing']['estimate']:.2f}" for name in baselines)
        + ")"
    )
    return judged(summary, criteria, values=values, note=_zero_note(zero, ""), degenerate=zero > DEGENERATE_SHARE)


def discrimination(maps: Tensor, masks: Tensor, other_masks: Tensor, weights: Tensor) -> Measurement:
    """A7: mass in the asked object's mask minus mass in another labelled object's, rows as in :func:`localization`."""
    scores = (relevance_mass(maps, masks) - relevance_mass(maps, other_masks)).double().cpu()
    difference = bootstrap_mean(scores, weights)
    zero = float(constant(heat(maps)).float().mean())
    return judged(
        f"mass difference {difference}",
        [Criterion("mass difference", difference, A7_MIN_DIFFERENCE, "above")],
        values={"mass_difference": difference.as_dict()},
        note=_zero_note(zero, ""),
        degenerate=zero > DEGENERATE_SHARE,
    )


def faithfulness(curves: PerturbationCurves, reference: PerturbationCurves, weights: Tensor) -> Measurement:
    """A8: deletion and insertion AUCs against a random map's on the same images (paired)."""
    deletion, insertion = curves.deletion_auc().double().cpu(), curves.insertion_auc().double().cpu()
    random_deletion = reference.deletion_auc().double().cpu()
    random_insertion = reference.insertion_auc().double().cpu()
    deletion_gap = bootstrap_mean(deletion - random_deletion, weights)
    insertion_gap = bootstrap_mean(insertion - random_insertion, weights)
    values = {
        "deletion_auc": bootstrap_mean(deletion, weights).as_dict(),
        "insertion_auc": bootstrap_mean(insertion, weights).as_dict(),
        "random_deletion_auc": bootstrap_mean(random_deletion, weights).as_dict(),
        "random_insertion_auc": bootstrap_mean(random_insertion, weights).as_dict(),
        "deletion_minus_random": deletion_gap.as_dict(),
        "insertion_minus_random": insertion_gap.as_dict(),
        "steps": curves.fractions.numel() - 1,
    }
    criteria = [
        Criterion("deletion AUC minus random map's", deletion_gap, 0.0, "below"),
        Criterion("insertion AUC minus random map's", insertion_gap, 0.0, "above"),
    ]
    return judged(
        f"deletion {values['deletion_auc']['estimate']:.3f} (random {values['random_deletion_auc']['estimate']:.3f}), "
        f"insertion {values['insertion_auc']['estimate']:.3f} (random {values['random_insertion_auc']['estimate']:.3f})",
        criteria,
        values=values,
    )


def _signed(maps: Tensor) -> Tensor:
    return maps.sum(dim=1) if maps.ndim == 4 else maps


def _zero_note(share: float, what: str, excluded: bool = False) -> str:
    if share <= 0:
        return ""
    text = f"{share:.0%} of {what + ' ' if what else ''}maps all-zero"
    return text + (", left out of the mean" if excluded and share < 1 else "")
