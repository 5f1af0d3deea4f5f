"""The checks, their criteria, and what the literature expects of each method.

The table is docs/SANITY.md's; deconvolution and the controls are added. An expected
``"fail"`` is a known limitation (the check runs anyway, and a pass is reported as
"unexpected-pass"); ``"report"`` means the literature makes no claim, so only the
numbers and the figure are shown.
"""

from __future__ import annotations

from revelio.eval.outcome import Expectation

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

_P, _F, _R, _N = "pass", "fail", "report", "n/a"

EXPECTED: dict[str, dict[str, Expectation]] = {
    "saliency": {"A1": _P, "A2": _P, "A3": _P, "A4": _P, "A5": _P, "A6": _P, "A7": _R, "A8": _P},
    "guided-backprop": {"A1": _P, "A2": _P, "A3": _F, "A4": _F, "A5": _F, "A6": _P, "A7": _F, "A8": _R},
    "deconvolution": {"A1": _P, "A2": _P, "A3": _F, "A4": _F, "A5": _R, "A6": _R, "A7": _F, "A8": _R},
    "gradcam": {"A1": _P, "A2": _P, "A3": _P, "A4": _P, "A5": _P, "A6": _P, "A7": _P, "A8": _P},
    "guided-gradcam": {"A1": _P, "A2": _P, "A3": _F, "A4": _P, "A5": _F, "A6": _P, "A7": _P, "A8": _R},
    "edge-detector": {"A1": _N, "A2": _R, "A3": _F, "A4": _F, "A5": _F, "A6": _R, "A7": _F, "A8": _R},
    "random-map": {"A1": _N, "A2": _R, "A3": _P, "A4": _P, "A5": _P, "A6": _F, "A7": _F, "A8": _F},
    "am-plain": {"F1": _P, "F2": _P, "F3": _N, "F4": _P},
    "am-gaussian": {"F1": _R, "F2": _P, "F3": _P, "F4": _P},
    "am-bilateral": {"F1": _R, "F2": _P, "F3": _P, "F4": _P},
}
"""Expected outcome per method and check.

Sources: SANITY.md's table for saliency, guided backprop, Grad-CAM and guided Grad-CAM.
Deconvolution: Nie, Zhang, Patel 2018 ("A Theoretical Explanation for Perplexing
Behaviors of Backpropagation-based Visualizations") show that it, like guided
backprop, mostly reconstructs the image and is class-insensitive. Controls: an edge
detector depends on neither model nor class (it must fail A3, A4, A5, A7); a random
map depends on nothing, so it sits at the chance baseline of A6-A8, and it passes the
randomization and random-logit checks because noise never resembles noise.
"""

NOTES: dict[tuple[str, str], str] = {
    ("random-map", "A3"): "noise never resembles noise: a pass here shows A3 is necessary, not sufficient",
    ("random-map", "A4"): "noise never resembles noise",
    ("random-map", "A5"): "noise never resembles noise",
    ("edge-detector", "A6"): "edges lie on objects: localization alone cannot tell an explainer from an edge detector",
}
"""Remarks shown with a result, by (method, check)."""

FEATUREVIZ_METHODS: tuple[str, ...] = ("am-plain", "am-gaussian", "am-bilateral")
"""Report names of the activation-maximization variants."""

TITLES: dict[str, str] = {
    "am-plain": "Activation max. (plain)",
    "am-gaussian": "Activation max. (Gaussian blur)",
    "am-bilateral": "Activation max. (bilateral blur)",
}


def expected(method: str, check: str) -> Expectation:
    """The expected outcome of ``check`` for ``method`` (``"report"`` when the table has none)."""
    return EXPECTED.get(method, {}).get(check, _R)
