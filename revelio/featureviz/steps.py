"""Step rules: how a gradient becomes an update of the image.

A step rule maps the gradient of the objective (w.r.t. the image's parameters) to an
ascent direction; the visualizer adds ``lr * direction``. Every rule works per image,
so images of one batch never influence each other's steps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from torch import Tensor

from revelio.errors import SettingError
from revelio.featureviz.arguments import by_name


class StepRule(ABC):
    """Base class: ``direction = rule.direction(gradient, state)``.

    ``state`` is a dict that belongs to one run (empty at its start), for rules with
    memory such as :class:`Adam`.
    """

    @abstractmethod
    def direction(self, gradient: Tensor, state: dict[str, Any]) -> Tensor:
        """Return the ascent direction for ``gradient`` (``Tensor[N, ...]``, one row per image)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NormalizedGradient(StepRule):
    """Gradient divided by its root mean square, per image: every step has the same size.

    ``direction_i = g_i / (sqrt(mean(g_i^2)) + eps)`` for image ``i``, as in
    PytorchRevelio and the deep-dream notebooks (which divide by the mean absolute
    value). The RMS is taken per image: one over the whole batch would couple images.

    Args:
        eps: added to the RMS, so an all-zero gradient gives an all-zero step.

    Erhan, Bengio, Courville and Vincent 2009, "Visualizing Higher-Layer Features of a
    Deep Network".
    """

    def __init__(self, eps: float = 1e-8) -> None:
        if not eps >= 0:
            raise SettingError(f"eps must be >= 0, got {eps!r}")
        self.eps = eps

    def direction(self, gradient: Tensor, state: dict[str, Any]) -> Tensor:
        rms = gradient.flatten(1).square().mean(1).sqrt_()
        return gradient / (rms + self.eps).view(-1, *([1] * (gradient.ndim - 1)))

    def __repr__(self) -> str:
        return f"NormalizedGradient(eps={self.eps!r})"


class Adam(StepRule):
    """Adam, for ascent: running means of the gradient and of its square, bias-corrected.

    Elementwise, so images stay independent.

    Args:
        betas: decay rates of the first and second moment estimates.
        eps: added to the square root of the second moment.

    Kingma and Ba 2015, "Adam: A Method for Stochastic Optimization".
    """

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise SettingError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not eps > 0:
            raise SettingError(f"eps must be > 0, got {eps!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = eps

    def direction(self, gradient: Tensor, state: dict[str, Any]) -> Tensor:
        beta1, beta2 = self.betas
        if not state:
            state["t"] = 0
            state["m"] = gradient.new_zeros(gradient.shape)
            state["v"] = gradient.new_zeros(gradient.shape)
        state["t"] += 1
        t, m, v = state["t"], state["m"], state["v"]
        m.mul_(beta1).add_(gradient, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        return m_hat / (v_hat.sqrt_() + self.eps)

    def __repr__(self) -> str:
        return f"Adam(betas={self.betas!r}, eps={self.eps!r})"


STEP_RULES: dict[str, type[StepRule]] = {"normalized": NormalizedGradient, "adam": Adam}
"""Step rules by name."""


def as_step_rule(step: str | StepRule) -> StepRule:
    """Return ``step`` as a :class:`StepRule` (``"normalized"`` or ``"adam"`` by name).

    Raises:
        SettingError: an unknown name.
        SettingTypeError: neither a name nor a StepRule.
    """
    return by_name(step, StepRule, STEP_RULES, "step")
