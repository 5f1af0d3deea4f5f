"""Quadrature rules on [0, 1]: the nodes and weights with which integrated gradients sums its path.

Each rule gives ``steps`` nodes ``t_k`` in [0, 1] and weights ``w_k`` with
``sum_k w_k g(t_k) ~ integral_0^1 g(t) dt``; the weights of every rule sum to 1, so a
constant integrand (a linear model's gradient) is integrated exactly. The names and
nodes are Captum's (``IntegratedGradients(method=...)``):

============================  ================================  =============================
rule                          nodes ``t_k``, k = 0 .. n-1       weights ``w_k``
============================  ================================  =============================
``"riemann_left"``            ``k / n``                         ``1 / n``
``"riemann_right"``           ``(k + 1) / n``                   ``1 / n``
``"riemann_middle"``          ``(k + 1/2) / n``                 ``1 / n``
``"riemann_trapezoid"``       ``k / (n - 1)``                   ``1 / (n - 1)``, halved at both ends
``"gausslegendre"``           Gauss-Legendre nodes on [0, 1]    Gauss-Legendre weights / 2
============================  ================================  =============================

The trapezoid weights differ from Captum's: Captum weights its trapezoid nodes
``1 / n`` (halved at the ends), which sum to ``(n - 1) / n``, so its trapezoid
integral is ``(n - 1) / n`` times the trapezoid rule's and misses completeness by
``1 / n`` of the score difference even on a linear model.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from scipy.special import roots_legendre
from torch import Tensor

QUADRATURE_RULES: tuple[str, ...] = (
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
    "gausslegendre",
)
"""The rule names :func:`quadrature` takes (Captum's names)."""


def check_quadrature(method: object, steps: object) -> None:
    """Refuse an unknown rule or a number of steps it cannot use, with an error that says what is allowed.

    Raises:
        ValueError: ``method`` is not one of :data:`QUADRATURE_RULES`, or ``steps`` is
            not an int >= 1 (>= 2 for the trapezoid rule).
    """
    if method not in QUADRATURE_RULES:
        raise ValueError(f"method must be one of {', '.join(map(repr, QUADRATURE_RULES))}, got {method!r}")
    least = 2 if method == "riemann_trapezoid" else 1
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < least:
        raise ValueError(f"steps must be an int >= {least} for {method!r}, got {steps!r}")


def quadrature(method: str, steps: int) -> tuple[Tensor, Tensor]:
    """The nodes and weights of a rule with ``steps`` nodes, ``Tensor[steps]`` each, float64 on the CPU.

    Args:
        method: one of :data:`QUADRATURE_RULES`.
        steps: the number of nodes (>= 2 for the trapezoid rule).

    Raises:
        ValueError: an unknown rule or an unusable number of steps (:func:`check_quadrature`).
    """
    check_quadrature(method, steps)
    nodes, weights = _rule(method, steps)
    return torch.tensor(nodes), torch.tensor(weights)


@functools.lru_cache(maxsize=64)
def _rule(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(steps, dtype=np.float64)
    if method == "gausslegendre":
        # SciPy's roots: Golub-Welsch for small n, asymptotic expansions beyond (milliseconds for n = 1000);
        # they agree with NumPy's leggauss, which Captum uses, to 1e-14
        nodes, weights = roots_legendre(steps)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_trapezoid":
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return k / (steps - 1), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (k + offset) / steps, np.full(steps, 1.0 / steps)
