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
            ``lr``, ``parameterization``, ...), which replace the preset's; extra
            ``regularizers`` run after the preset's own; ``transforms``, the name of a
            transformation set, replaces the preset's transformations.
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

DEFAULT_PRESET = "readable"
"""The preset ``revelio visualize`` uses when given none: the one that gives the most readable
pictures, i.e. whose class visualizations a second, independently trained model recognises
most often (docs/featureviz.md, "Transfer")."""


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


def _configuration(defaults: Callable[[tuple[int, int]], dict[str, Any]]) -> Callable[..., FeatureVisualizer]:
    """A preset's build: ``defaults(image_size)`` are the visualizer's settings, which ``options`` override,
    except ``regularizers``, which run after the preset's own, and ``transforms``, the name of a
    transformation set (:data:`~revelio.featureviz.transforms.TRANSFORM_SETS`) that replaces the preset's."""

    def build(model: nn.Module, **options: Any) -> FeatureVisualizer:
        from revelio.featureviz.activation_max import ActivationMaximization
        from revelio.featureviz.arguments import as_size
        from revelio.featureviz.transforms import transform_set

        size = as_size(options.get("image_size", 224))
        settings = defaults(size)
        own = list(settings.get("regularizers", ()))
        transforms = options.pop("transforms", None)
        if transforms is not None:
            own = [r for r in own if r.stage != "input"] + transform_set(transforms, size)
        settings["regularizers"] = own + list(options.pop("regularizers", ()))
        return ActivationMaximization(model, **{**settings, **options})

    return build


def _plain(size: tuple[int, int]) -> dict[str, Any]:
    return {}


def _gaussian(size: tuple[int, int]) -> dict[str, Any]:
    from revelio.featureviz.regularizers import GaussianBlur

    return {"regularizers": [GaussianBlur((1.0, 0.3))]}


def _bilateral(size: tuple[int, int]) -> dict[str, Any]:
    from revelio.featureviz.regularizers import BilateralBlur

    return {"regularizers": [BilateralBlur(5, sigma_space=(2.0, 1.0), sigma_color=(0.5, 0.1))]}


def _fourier(size: tuple[int, int]) -> dict[str, Any]:
    return {"parameterization": "fourier", "step": "adam", "lr": 0.05}


def _decorrelated(size: tuple[int, int]) -> dict[str, Any]:
    return {"parameterization": "decorrelated", "step": "adam", "lr": 0.05}


def _lucid(size: tuple[int, int]) -> dict[str, Any]:
    from revelio.featureviz.transforms import standard_transforms

    return {"parameterization": "fourier-decorrelated", "regularizers": standard_transforms(), "step": "adam", "lr": 0.05}


def _maco(size: tuple[int, int]) -> dict[str, Any]:
    from revelio.featureviz.transforms import scaled_transforms

    return {"parameterization": "maco", "regularizers": scaled_transforms(size), "step": "adam", "lr": 0.1}


def _accentuation(size: tuple[int, int]) -> dict[str, Any]:
    from revelio.featureviz.transforms import scaled_transforms

    return {"parameterization": "fourier-decorrelated", "regularizers": scaled_transforms(size), "step": "adam", "lr": 0.02}


def _readable(size: tuple[int, int]) -> dict[str, Any]:
    from revelio.featureviz.parameterizations import Fourier
    from revelio.featureviz.transforms import standard_transforms

    return {"parameterization": Fourier(1.5, color="auto"), "regularizers": standard_transforms(), "step": "adam",
            "lr": 0.05}


_LINEAR_UNIT = "Erhan et al. 2009, Sec. 3.1 (a linear unit's maximising input of bounded norm is its weight vector)"
_BEYOND_DATA = "Olah, Mordvintsev, Schubert 2017 (Distill), Feature Visualization: optimised inputs beat dataset examples"
_OLAH = "Olah, Mordvintsev, Schubert 2017, Feature Visualization (Distill)"

register_preset(Preset(
    "plain", "Activation max. (plain)", _configuration(_plain),
    "Erhan, Bengio, Courville, Vincent 2009, Visualizing Higher-Layer Features of a Deep Network",
    {"F1": Expectation("pass", _LINEAR_UNIT), "F2": Expectation("pass", _BEYOND_DATA), "F3": Expectation("n/a")},
))
register_preset(Preset(
    "gaussian", "Activation max. (Gaussian blur)", _configuration(_gaussian),
    "Øygard 2015, Visualizing GoogLeNet Classes",
    {"F3": Expectation("pass", "Øygard 2015 (blurring every step removes the high frequencies of plain ascent)")},
))
register_preset(Preset(
    "bilateral", "Activation max. (bilateral blur)", _configuration(_bilateral),
    "Tyka 2016, Class visualization with bilateral filters",
    {"F3": Expectation("pass", "Tyka 2016; Tomasi and Manduchi 1998 (smooth regions, edges kept)")},
))
register_preset(Preset(
    "fourier", "Fourier (1/f)", _configuration(_fourier), _OLAH + ", section Preconditioning and parameterization",
))
register_preset(Preset(
    "decorrelated", "Decorrelated colour", _configuration(_decorrelated),
    _OLAH + ", section Preconditioning and parameterization",
))
register_preset(Preset(
    "lucid", "lucid (Fourier, decorrelated, transformations)", _configuration(_lucid),
    _OLAH + ", with lucid's standard transformations",
))
register_preset(Preset(
    "maco", "MACO (phase only)", _configuration(_maco),
    "Fel et al. 2023, Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained Optimization",
))
register_preset(Preset(
    "accentuation", "Feature accentuation (Fourier, decorrelated, scaled transformations)", _configuration(_accentuation),
    "Hamblin, Fel, Saha, Konkle, Alvarez 2024, Feature Accentuation: Revealing 'What' Features Respond to in "
    "Natural Images; use it with revelio.featureviz.accentuate",
))
register_preset(Preset(
    "readable", "Readable (Fourier 1/f^1.5, decorrelated, lucid's transformations)", _configuration(_readable),
    _OLAH + ", with a steeper spectrum (decay 1.5, as Hamblin et al. 2024); chosen by transfer to a second model",
))
