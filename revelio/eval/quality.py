"""Quality metrics of each method's maps on the task's images, with bootstrap intervals, for the sanity report.

:func:`quality_metrics` runs the four metrics of :mod:`revelio.eval.metrics` on the
maps the sanity run already computed (the class the model is surest of, per image):
faithfulness correlation and complexity (Bhatt, Weller, Moura 2020), max-sensitivity
(Yeh et al. 2019) and sparseness (Chalasani et al. 2020). They are reported, not
judged: no paper sets a threshold for them on these tasks.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from revelio.eval.maps import heat
from revelio.eval.metrics import complexity, faithfulness_correlation, max_sensitivity, sparseness
from revelio.eval.uncertainty import bootstrap_mean

METRICS: dict[str, str] = {
    "faithfulness_correlation": "faithfulness correlation (Bhatt et al. 2020; higher: more faithful)",
    "max_sensitivity": "max-sensitivity (Yeh et al. 2019; lower: more robust)",
    "sparseness": "sparseness, Gini of |map| (Chalasani et al. 2020; higher: sparser)",
    "complexity": "complexity, entropy of |map| shares (Bhatt et al. 2020; lower: simpler)",
}
"""The metrics the report shows, with what a higher value means."""


def quality_metrics(
    model: nn.Module,
    explain: Callable[[Tensor, Tensor], Tensor],
    inputs: Tensor,
    maps: Tensor,
    classes: Tensor,
    weights: Tensor,
    *,
    runs: int,
    samples: int,
    seed: int = 0,
    sensitivity_images: int | None = None,
    sensitivity_weights: Tensor | None = None,
) -> dict[str, dict[str, float]]:
    """The four metrics of ``maps`` (of ``classes`` on ``inputs``), each a mean with its bootstrap interval.

    Args:
        model: the network explained.
        explain: ``(inputs, classes) -> maps``, for max-sensitivity's noisy inputs.
        inputs: the model inputs.
        maps: the maps already computed for ``classes``.
        classes: ``Tensor[N]``, the class explained per image.
        weights: resample weights of the ``N`` images (:func:`~revelio.eval.uncertainty.resample_weights`).
        runs: faithfulness correlation's random subsets per image.
        samples: max-sensitivity's noisy inputs per image; 0 leaves max-sensitivity out (it
            calls the method ``samples`` times, the costliest of the four).
        seed: seeds the subsets and the noise.
        sensitivity_images: max-sensitivity on the first this many images only (default: all).
        sensitivity_weights: resample weights of those images (required with ``sensitivity_images``).

    Returns:
        ``{metric: {"estimate", "low", "high"}}``.
    """
    per_image = {
        "faithfulness_correlation": faithfulness_correlation(model, inputs, maps, classes, runs=runs, seed=seed),
        "sparseness": sparseness(heat(maps)),
        "complexity": complexity(heat(maps)),
    }
    result = {name: bootstrap_mean(values.double().cpu(), weights).as_dict() for name, values in per_image.items()}
    if samples:
        count = len(inputs) if sensitivity_images is None else sensitivity_images
        sensitivity = max_sensitivity(
            explain, inputs[:count], classes[:count], samples=samples, maps=maps[:count], seed=seed
        )
        result["max_sensitivity"] = bootstrap_mean(
            sensitivity.double().cpu(), weights if sensitivity_weights is None else sensitivity_weights
        ).as_dict()
    return {name: result[name] for name in METRICS if name in result}
