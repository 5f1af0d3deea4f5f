"""Named feature-visualization configurations, read by the command line, the demo and the sanity checks.

Each :class:`Preset` builds a visualizer for a model; the sanity report lists them
under their names, with what the literature expects of each in the feature
visualization checks (F1 known answer, F2 objective attained, F3 regularizer effect,
F4 randomization). :func:`register_preset` adds one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from revelio.errors import MethodNotFoundError, RegistryError
from revelio.featureviz.base import FeatureVisualizer
from revelio.registry import Expectation


@dataclass(frozen=True)
class Preset:
    """A named feature-visualization configuration.

    Attributes:
        name: the command-line name (``"gaussian"``).
        title: the display name.
        build: ``build(model, **options) -> FeatureVisualizer``; ``options`` are the
            visualizer's keyword arguments (``image_size``, ``mean``, ``std``, ``steps``,
            ``lr``, ...); extra ``regularizers`` run after the preset's own.
        paper: the paper it follows.
        expectations: what the literature expects in each check (``"F2"``), with its
            source; checks not named are reported, not judged.
    """

    name: str
    title: str
    build: Callable[..., FeatureVisualizer]
    paper: str = ""
    expectations: Mapping[str, Expectation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expectations", MappingProxyType(dict(self.expectations)))

    def __hash__(self) -> int:
        return hash(self.name)

    def create(self, model: nn.Module, **options: Any) -> FeatureVisualizer:
        """The visualizer of this preset for ``model``."""
        return self.build(model, **options)

    def expected(self, check: str) -> Expectation:
        """The expectation for ``check`` (``"report"`` when the preset names none)."""
        return self.expectations.get(check, Expectation("report"))


PRESETS: dict[str, Preset] = {}
"""Every preset by name, in the order registered."""

DEFAULT_PRESET = "gaussian"
"""The preset ``revelio visualize`` uses when given none."""


def register_preset(preset: Preset, *, replace_existing: bool = False) -> Preset:
    """Add ``preset`` to :data:`PRESETS`.

    Raises:
        RegistryError: the name is taken and ``replace_existing`` is false.
    """
    if preset.name in PRESETS and not replace_existing:
        raise RegistryError(f"a preset named {preset.name!r} is already registered; pass replace_existing=True")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        MethodNotFoundError: no such preset; the message suggests the closest and lists them.
    """
    if name in PRESETS:
        return PRESETS[name]
    close = difflib.get_close_matches(str(name), list(PRESETS), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise MethodNotFoundError(f"unknown feature-visualization preset {name!r}; {hint}choose from {', '.join(PRESETS)}")


def _activation_maximization(regularizers: Callable[[], list]) -> Callable[..., FeatureVisualizer]:
    def build(model: nn.Module, **options: Any) -> FeatureVisualizer:
        from revelio.featureviz.activation_max import ActivationMaximization

        extra = list(options.pop("regularizers", ()))
        return ActivationMaximization(model, regularizers=regularizers() + extra, **options)

    return build


def _gaussian() -> list:
    from revelio.featureviz.regularizers import GaussianBlur

    return [GaussianBlur(1.0, 0.3)]


def _bilateral() -> list:
    from revelio.featureviz.regularizers import BilateralBlur

    return [BilateralBlur(5, sigma_space=(2.0, 1.0), sigma_color=(0.5, 0.1))]


_LINEAR_UNIT = "Erhan et al. 2009, Sec. 3.1 (a linear unit's maximising input of bounded norm is its weight vector)"
_BEYOND_DATA = "Olah, Mordvintsev, Schubert 2017 (Distill), Feature Visualization: optimised inputs beat dataset examples"

register_preset(Preset(
    "plain", "Activation max. (plain)", _activation_maximization(list),
    "Erhan, Bengio, Courville, Vincent 2009, Visualizing Higher-Layer Features of a Deep Network",
    {"F1": Expectation("pass", _LINEAR_UNIT), "F2": Expectation("pass", _BEYOND_DATA), "F3": Expectation("n/a")},
))
register_preset(Preset(
    "gaussian", "Activation max. (Gaussian blur)", _activation_maximization(_gaussian),
    "Øygard 2015, Visualizing GoogLeNet Classes",
    {"F3": Expectation("pass", "Øygard 2015 (blurring every step removes the high frequencies of plain ascent)")},
))
register_preset(Preset(
    "bilateral", "Activation max. (bilateral blur)", _activation_maximization(_bilateral),
    "Tyka 2016, Class visualization with bilateral filters",
    {"F3": Expectation("pass", "Tyka 2016; Tomasi and Manduchi 1998 (smooth regions, edges kept)")},
))
