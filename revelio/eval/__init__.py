"""Evaluation of explanations: sanity checks, localization against ground truth, faithfulness.

- :func:`run_sanity` runs the sanity checks (A1-A8 for attribution methods and
  controls, F1-F4 for feature visualization) of every method in :mod:`revelio.registry` and returns a :class:`SanityReport`
  (terminal table, JSON, Markdown, PNG figures);
- the pieces, usable on their own: similarity measures (:func:`spearman`,
  :func:`pearson`, :func:`ssim`, :func:`hog_similarity`), bootstrap intervals
  (:func:`bootstrap_mean`), model randomization (:func:`model_randomization`,
  :class:`WeightRandomizer`, :func:`randomization_groups`), localization scores
  (:func:`pointing_game`, :func:`relevance_mass`, :func:`relevance_rank`,
  :func:`class_discrimination`), deletion and insertion (:func:`deletion_insertion`)
  and the control explainers (:class:`EdgeDetector`, :class:`SpectralResidual`, :class:`RandomMap`);
- quality metrics of maps, one value per image: :func:`faithfulness_correlation`,
  :func:`max_sensitivity`, :func:`sparseness`, :func:`complexity`.

Example:
    >>> report = run_sanity(progress=True)  # the bundled shapes model
    >>> print(report.table())
    >>> report.write("sanity-report")
"""

from revelio.attribution.controls import EdgeDetector, RandomMap, SpectralResidual
from revelio.eval.evidence import Evidence
from revelio.eval.faithfulness import PerturbationCurves, auc, deletion_insertion
from revelio.eval.localization import (
    centre_baseline,
    class_discrimination,
    heat,
    pointing_game,
    random_baseline,
    relevance_mass,
    relevance_rank,
    scaled_tolerance,
)
from revelio.eval.metrics import complexity, faithfulness_correlation, max_sensitivity, sparseness
from revelio.eval.outcome import STATUSES, Criterion, Measurement
from revelio.eval.randomization import (
    LayerGroup,
    RandomizationResult,
    WeightRandomizer,
    model_randomization,
    randomization_groups,
    randomized,
)
from revelio.eval.report import CheckResult, SanityReport
from revelio.eval.sanity import run_sanity
from revelio.eval.similarity import hog, hog_similarity, pearson, spearman, ssim
from revelio.eval.uncertainty import Interval, bootstrap_mean, resample_weights

__all__ = [
    "STATUSES",
    "CheckResult",
    "Criterion",
    "EdgeDetector",
    "Evidence",
    "Interval",
    "LayerGroup",
    "Measurement",
    "PerturbationCurves",
    "RandomMap",
    "RandomizationResult",
    "SanityReport",
    "SpectralResidual",
    "WeightRandomizer",
    "auc",
    "bootstrap_mean",
    "centre_baseline",
    "class_discrimination",
    "complexity",
    "deletion_insertion",
    "faithfulness_correlation",
    "heat",
    "hog",
    "hog_similarity",
    "max_sensitivity",
    "model_randomization",
    "pearson",
    "pointing_game",
    "random_baseline",
    "randomization_groups",
    "randomized",
    "relevance_mass",
    "relevance_rank",
    "resample_weights",
    "run_sanity",
    "scaled_tolerance",
    "sparseness",
    "spearman",
    "ssim",
]
