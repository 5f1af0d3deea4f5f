"""The method registry: one spec per attribution method, read by every tool.

The command line, the demo, the sanity checks, the benchmark suite and dataset runs
find methods here and nowhere else, so a method registered once reaches all of them:

- :func:`register` adds a spec, or decorates an :class:`~revelio.attribution.Attribution`
  subclass;
- an installed package registers its methods through the ``revelio.methods`` entry
  point group: each entry point names a :class:`MethodSpec`, a list of them, or an
  ``Attribution`` subclass (then its spec is built from the class), and
  ``pip install`` of the package is enough for ``revelio explain --method NAME``;
- :func:`methods` lists every spec, built-ins first, then plugins in the order found;
- :func:`get` finds one by name, with a suggestion when the name is close to one.

A spec says what the tools need to know of a method without running it: its class,
display title, whether it explains an inner layer, what kind of map it returns (how
to show it) and the options the tools pass, and what the literature expects of it
in each sanity check, with the paper each expectation comes from. A method with no
expectation for a check is reported there, never judged.

This module imports no torch: the command line reads it to build its help.

Example:
    >>> from revelio.registry import register
    >>> @register(name="gradient-x-input", title="Gradient x input", map_kind="signed")
    ... class GradientXInput(Attribution):
    ...     def attribute(self, inputs, target=None):
    ...         return inputs * self.input_gradient(inputs, target)
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from revelio.errors import MethodNotFoundError, RegistryError

if TYPE_CHECKING:
    from torch import nn

    from revelio.attribution.base import Attribution

ENTRY_POINT_GROUP = "revelio.methods"
"""The entry point group through which installed packages register methods."""

DEFAULT_METHOD = "gradcam"
"""The method the command line runs when given none."""

MapKind = Literal["signed", "heat", "cam"]
MAP_KINDS: tuple[str, ...] = ("signed", "heat", "cam")
"""What a method's map is (with the spec's defaults), which says how to show it:

- ``"signed"``: input-shaped ``(N, C, H, W)``, the sign carries meaning (evidence for
  and against); shown around grey;
- ``"heat"``: input-shaped ``(N, C, H, W)`` magnitude, non-negative; shown as a heat map;
- ``"cam"``: one map per example, ``(N, 1, H, W)``, of where the evidence lies; shown
  over the image.
"""

Outcome = Literal["pass", "fail", "report", "n/a"]
OUTCOMES: tuple[str, ...] = ("pass", "fail", "report", "n/a")


@dataclass(frozen=True)
class Expectation:
    """What the literature expects of a method in one sanity check.

    Attributes:
        outcome: ``"pass"``, ``"fail"`` (a known limitation: the check runs, and a pass
            is reported as unexpected), ``"report"`` (no claim: only the numbers are
            shown) or ``"n/a"`` (the check does not apply).
        source: where the expectation comes from: author, year, and the figure,
            table or section (or why it holds by construction, for the controls).
    """

    outcome: Outcome
    source: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise RegistryError(f"an expectation's outcome must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}")
        if self.outcome in ("pass", "fail") and not self.source:
            raise RegistryError(
                f"an expected {self.outcome!r} needs its source (author, year, figure or table); "
                "without one, expect 'report'"
            )


@dataclass(frozen=True)
class PaperNumber:
    """A paper's own figure for a method in one sanity check, set beside revelio's in the report.

    Attributes:
        value: the figure as the paper gives it (``"deletion 0.123, insertion 0.677"``).
        setup: where it comes from and on what (author, year, table; data set and model).
    """

    value: str
    setup: str


NO_EXPECTATION = Expectation("report")
"""The expectation of every check a spec says nothing about: report the numbers, judge nothing."""


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or name != name.strip().lower() or "," in name or " " in name:
        raise RegistryError(
            f"a method's name must be a non-empty lower-case string without spaces or commas "
            f"(the command line's --method NAME), got {name!r}"
        )
    return name


@dataclass(frozen=True)
class MethodSpec:
    """Everything the tools need to know of one attribution method.

    Attributes:
        name: the command-line name (``"guided-backprop"``); lower case, no spaces.
        cls: the :class:`~revelio.attribution.Attribution` subclass, or its
            ``"module:Class"`` path, imported on first use.
        title: the display name (``"Guided backprop"``).
        needs_layer: it explains an inner layer (a
            :class:`~revelio.attribution.LayerAttribution`); built with a layer.
        map_kind: what its map is, one of :data:`MAP_KINDS`.
        defaults: options every tool passes to ``attribute``.
        expectations: what the literature expects in each sanity check, by check id
            (``"A3"``); checks not listed are :data:`NO_EXPECTATION`.
        paper: the paper it implements.
        control: a control for the sanity checks (an edge detector, a random map):
            checked like the methods, never offered as an explanation.
        preview: options a quick look passes over ``defaults`` (``revelio demo``): fewer
            steps or samples for a method whose cost grows with them; empty for the rest.
        paper_numbers: the papers' own figures for it, by check id (:class:`PaperNumber`),
            which the sanity report shows beside revelio's.
    """

    name: str
    cls: type[Attribution] | str
    title: str
    needs_layer: bool
    map_kind: MapKind
    defaults: Mapping[str, Any] = field(default_factory=dict)
    expectations: Mapping[str, Expectation] = field(default_factory=dict)
    paper: str = ""
    control: bool = False
    preview: Mapping[str, Any] = field(default_factory=dict)
    paper_numbers: Mapping[str, PaperNumber] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.map_kind not in MAP_KINDS:
            raise RegistryError(f"{self.name}: map_kind must be one of {', '.join(MAP_KINDS)}, got {self.map_kind!r}")
        if not isinstance(self.cls, (str, type)):
            raise RegistryError(f"{self.name}: cls must be an Attribution subclass or 'module:Class', got {self.cls!r}")
        for check, expectation in self.expectations.items():
            if not isinstance(expectation, Expectation):
                raise RegistryError(f"{self.name}: the expectation for {check} must be an Expectation, got {expectation!r}")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "preview", MappingProxyType(dict(self.preview)))
        object.__setattr__(self, "expectations", MappingProxyType(dict(self.expectations)))
        object.__setattr__(self, "paper_numbers", MappingProxyType(dict(self.paper_numbers)))

    def __hash__(self) -> int:
        return hash(self.name)

    def load(self) -> type[Attribution]:
        """The method's class (imported now if the spec holds its path)."""
        if isinstance(self.cls, type):
            return self.cls
        module, _, qualname = self.cls.partition(":")
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
        return target

    def create(
        self,
        model: nn.Module,
        layer: Any = None,
        reshape: Callable[[Any], Any] | None = None,
        **options: Any,
    ) -> Attribution:
        """The method for ``model``: ``cls(model, layer, reshape, **options)`` for layer methods, else ``cls(model, **options)``.

        Args:
            model: the network.
            layer: the layer of a layer method (a module or dotted name); ``None`` lets
                the method pick the model's last spatial layer. Ignored by input methods.
            reshape: for layer methods, turns the layer's output into ``(N, K, h, w)``
                (``vit_reshape`` for ViT tokens).
            **options: further constructor arguments.
        """
        cls = self.load()
        if self.needs_layer:
            return cls(model, layer, reshape=reshape, **options)
        return cls(model, **options)

    def expected(self, check: str) -> Expectation:
        """The expectation for ``check`` (:data:`NO_EXPECTATION` when the spec names none)."""
        return self.expectations.get(check, NO_EXPECTATION)


_registry: dict[str, MethodSpec] = {}
_plugins_loaded = False


def register(
    spec_or_cls: MethodSpec | type[Attribution] | None = None,
    /,
    *,
    name: str | None = None,
    title: str | None = None,
    map_kind: MapKind | None = None,
    defaults: Mapping[str, Any] | None = None,
    expectations: Mapping[str, Expectation] | None = None,
    paper: str = "",
    control: bool = False,
    replace_existing: bool = False,
) -> Any:
    """Add a method to the registry; usable as a function or as a class decorator.

    Args:
        spec_or_cls: a :class:`MethodSpec`, or an ``Attribution`` subclass (its spec is
            built from the keyword arguments and the class). Omitted: returns a
            decorator for a class.
        name: the command-line name (default: the class name in lower case, words
            joined by ``-``).
        title: the display name (default: the class name).
        map_kind: one of :data:`MAP_KINDS` (default: ``"cam"`` for layer methods,
            ``"signed"`` otherwise).
        defaults: options every tool passes to ``attribute``.
        expectations: sanity-check expectations by check id, each with its source.
        paper: the paper the method implements.
        control: a control explainer for the sanity checks.
        replace_existing: replace a method of the same name instead of refusing it.

    Returns:
        the spec registered, or (as a decorator) the class itself.

    Raises:
        RegistryError: a name that is taken (and ``replace_existing`` is false), or a
            spec that is not well formed.
    """
    if spec_or_cls is None:
        def decorate(cls: type[Attribution]) -> type[Attribution]:
            register(cls, name=name, title=title, map_kind=map_kind, defaults=defaults, expectations=expectations,
                     paper=paper, control=control, replace_existing=replace_existing)
            return cls

        return decorate
    if isinstance(spec_or_cls, MethodSpec):
        spec = spec_or_cls
    elif isinstance(spec_or_cls, type):
        spec = spec_from_class(spec_or_cls, name=name, title=title, map_kind=map_kind, defaults=defaults,
                               expectations=expectations, paper=paper, control=control)
    else:
        raise RegistryError(f"register() takes a MethodSpec or an Attribution subclass, got {spec_or_cls!r}")
    _add(spec, replace_existing)
    return spec


def unregister(name: str) -> MethodSpec:
    """Remove the method ``name`` from the registry and return its spec.

    Raises:
        MethodNotFoundError: no method has that name.
    """
    spec = get(name)
    del _registry[spec.name]
    return spec


def spec_from_class(
    cls: type[Attribution],
    *,
    name: str | None = None,
    title: str | None = None,
    map_kind: MapKind | None = None,
    defaults: Mapping[str, Any] | None = None,
    expectations: Mapping[str, Expectation] | None = None,
    paper: str = "",
    control: bool = False,
) -> MethodSpec:
    """A spec for an ``Attribution`` subclass; what is not given is derived from the class.

    Raises:
        RegistryError: ``cls`` is not an ``Attribution`` subclass.
    """
    from revelio.attribution.base import Attribution, LayerAttribution

    if not (isinstance(cls, type) and issubclass(cls, Attribution)):
        raise RegistryError(f"a method must be a subclass of revelio.attribution.Attribution, got {cls!r}")
    needs_layer = issubclass(cls, LayerAttribution)
    return MethodSpec(
        name=name or _dashed(cls.__name__),
        cls=cls,
        title=title or cls.__name__,
        needs_layer=needs_layer,
        map_kind=map_kind or ("cam" if needs_layer else "signed"),
        defaults=defaults or {},
        expectations=expectations or {},
        paper=paper,
        control=control,
    )


def methods(*, controls: bool = False) -> dict[str, MethodSpec]:
    """Every registered method by name: built-ins first, then plugins.

    Args:
        controls: include the sanity checks' control explainers.
    """
    _load_plugins()
    return {name: spec for name, spec in _registry.items() if controls or not spec.control}


def names(*, controls: bool = False) -> list[str]:
    """The names of :func:`methods`."""
    return list(methods(controls=controls))


def get(name: str) -> MethodSpec:
    """The spec of the method ``name`` (controls included).

    Raises:
        MethodNotFoundError: no such method; the message suggests the closest name
            and lists the others.
    """
    known = methods(controls=True)
    if isinstance(name, str) and name in known:
        return known[name]
    choices = [n for n, spec in known.items() if not spec.control]
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise MethodNotFoundError(
        f"unknown method {name!r}; {hint}choose from {', '.join(choices)} "
        f"(a package adds its own through the {ENTRY_POINT_GROUP!r} entry point group)"
    )


def spec_of(method: str | MethodSpec | Attribution | type[Attribution]) -> MethodSpec:
    """The spec of a method given by name, by spec, by class, or as an ``Attribution`` instance.

    A registered class (or an instance of one) gets its spec (the first registered
    with exactly that class); any other class gets a spec derived from it, with no
    expectations.
    """
    if isinstance(method, MethodSpec):
        return method
    if isinstance(method, str):
        return get(method)
    from revelio.attribution.base import Attribution

    cls = method if isinstance(method, type) else type(method)
    if not issubclass(cls, Attribution):
        raise MethodNotFoundError(
            f"a method is a registered name or a revelio Attribution class or instance, got {cls.__name__}"
        )
    path = f"{cls.__module__}:{cls.__qualname__}"
    for spec in methods(controls=True).values():
        if spec.cls is cls or spec.cls == path:
            return spec
    return spec_from_class(cls)


def plugin_names() -> list[str]:
    """Names of the ``revelio.methods`` entry points installed, without importing them."""
    return [entry_point.name for entry_point in _entry_points()]


def known_names() -> list[str]:
    """The methods' names without importing any plugin: for help texts that must be cheap to build.

    The names registered so far (controls left out) and the names of the installed
    ``revelio.methods`` entry points (a plugin may register more names than its entry point's).
    """
    registered = [name for name, spec in _registry.items() if not spec.control]
    return list(dict.fromkeys(registered + plugin_names()))


# -- internals -----------------------------------------------------------------------


def _add(spec: MethodSpec, replace_existing: bool) -> None:
    existing = _registry.get(spec.name)
    if existing is not None and not replace_existing and existing != spec:
        raise RegistryError(
            f"a method named {spec.name!r} is already registered ({existing.cls!r}); choose another name, "
            "or pass replace_existing=True"
        )
    _registry[spec.name] = spec


def _dashed(class_name: str) -> str:
    words: list[str] = []
    for index, char in enumerate(class_name):
        if char.isupper() and index and (not class_name[index - 1].isupper() or (
                index + 1 < len(class_name) and class_name[index + 1].islower())):
            words.append("-")
        words.append(char.lower())
    return "".join(words)


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _load_plugins() -> None:
    """Register the specs of every installed ``revelio.methods`` entry point, once.

    A plugin that fails to load is skipped with a warning, so one broken package does
    not take the command line down with it.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry_point in _entry_points():
        try:
            loaded = entry_point.load()
            for spec in _as_specs(loaded, entry_point.name):
                _add(spec, replace_existing=False)
        except Exception as error:  # noqa: BLE001  # a broken plugin must not break revelio
            warnings.warn(
                f"revelio: the method plugin {entry_point.name!r} ({entry_point.value}) could not be registered: "
                f"{type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=3,
            )


def _as_specs(loaded: Any, entry_name: str) -> list[MethodSpec]:
    if isinstance(loaded, MethodSpec):
        return [loaded]
    if isinstance(loaded, type):
        return [spec_from_class(loaded, name=entry_name)]
    if isinstance(loaded, Iterable) and not isinstance(loaded, (str, bytes)):
        specs = list(loaded)
        if all(isinstance(spec, MethodSpec) for spec in specs):
            return specs
    raise RegistryError(
        "an entry point of 'revelio.methods' must name a MethodSpec, a list of MethodSpecs or an Attribution "
        f"subclass, got {loaded!r}"
    )


def _builtin(name: str, cls: str, title: str, needs_layer: bool, map_kind: MapKind, paper: str,
             expectations: Mapping[str, Expectation], defaults: Mapping[str, Any] | None = None,
             control: bool = False, preview: Mapping[str, Any] | None = None,
             paper_numbers: Mapping[str, PaperNumber] | None = None) -> None:
    _add(MethodSpec(name, f"revelio.attribution.{cls}", title, needs_layer, map_kind, defaults or {}, expectations,
                    paper, control, preview or {}, paper_numbers or {}), replace_existing=False)


_TORCHRAY_POINTING = (
    "TorchRay docs/pointing.csv, pointing game, 'all' subset: VOC07 VGG16 / ResNet-50; COCO VGG16 / ResNet-50"
)


def _pointing(value: str) -> dict[str, PaperNumber]:
    """TorchRay's pointing-game percentages for a method (A6), with the centre baseline's."""
    return {"A6": PaperNumber(f"{value} (centre 69.6; 27.8)", _TORCHRAY_POINTING)}


def _expect(**cells: tuple[Outcome, str] | Outcome) -> dict[str, Expectation]:
    return {check: Expectation(*cell) if isinstance(cell, tuple) else Expectation(cell) for check, cell in cells.items()}


# -- the built-in methods ------------------------------------------------------------------
# Check ids are revelio.eval's: A1 known answers, A2 input invariance, A3 cascading model
# randomization, A4 random logit, A5 data randomization, A6 localization, A7 class
# discrimination, A8 deletion / insertion. Every expected "pass" or "fail" names its source (author, year,
# and the figure, table or section where one exists); a cell without a paper behind it is "report"
# (reported, not judged). The controls' cells follow from their construction and say so.

_ADEBAYO_CASCADE = "Adebayo et al. 2018, Fig. 2 (cascading randomization)"
_ADEBAYO_DATA = "Adebayo et al. 2018, Fig. 5 (data randomization)"
_KINDERMANS = "Kindermans et al. 2019, Sec. 3 (the gradient is invariant to a mean shift the first layer absorbs)"
_NIE = "Nie, Zhang, Patel 2018, Fig. 1 (class-insensitive: the image is recovered whatever the class)"
_POINTING = "Zhang et al. 2016, Table 1 (pointing game on VOC07: above the centre baseline)"
_SELVARAJU_CLASS = "Selvaraju et al. 2017, Fig. 1 (class-discriminative: cat vs dog)"

_builtin(
    "saliency", "saliency:Saliency", "Saliency (gradient)", False, "heat",
    "Simonyan, Vedaldi, Zisserman 2013, Deep Inside Convolutional Networks",
    _expect(
        A1=("pass", "Simonyan et al. 2013, Sec. 3.1 (a linear score's gradient is its weight vector)"),
        A2=("pass", _KINDERMANS),
        A3=("pass", _ADEBAYO_CASCADE),
        A4=("pass", "Sixt, Granz, Landgraf 2020, Sec. 6 (the gradient passes the random-logit test)"),
        A5=("pass", _ADEBAYO_DATA),
        A6=("pass", _POINTING),
    ),
    paper_numbers=_pointing("76.3 / 72.3; 37.7 / 35.0"),
)
_builtin(
    "guided-backprop", "guided:GuidedBackprop", "Guided backprop", False, "signed",
    "Springenberg et al. 2014, Striving for Simplicity: The All Convolutional Net",
    _expect(
        A1=("pass", "Springenberg et al. 2014, Sec. 3.4 (the guided rule; without ReLU it is the gradient)"),
        A3=("fail", _ADEBAYO_CASCADE),
        A4=("fail", _NIE),
        A5=("fail", _ADEBAYO_DATA),
        A6=("pass", _POINTING),
        A7=("fail", "Selvaraju et al. 2017, Fig. 1 (guided backprop highlights both cat and dog)"),
    ),
    paper_numbers=_pointing("75.9 / 77.2; 39.1 / 42.1"),
)
_builtin(
    "deconvolution", "guided:Deconvolution", "Deconvolution", False, "signed",
    "Zeiler and Fergus 2014, Visualizing and Understanding Convolutional Networks",
    _expect(
        A1=("pass", "Zeiler and Fergus 2014, Sec. 2.1 (the deconvnet rule; without ReLU it is the gradient)"),
        A4=("fail", _NIE),
        A7=("fail", _NIE),
    ),
    paper_numbers=_pointing("67.5 / 68.6; 30.7 / 30.0"),
)
_builtin(
    "gradcam", "gradcam:GradCAM", "Grad-CAM", True, "cam",
    "Selvaraju et al. 2017, Grad-CAM",
    _expect(
        A1=("pass", "Selvaraju et al. 2017, Sec. 3.1 (on conv + GAP + linear nets Grad-CAM is CAM)"),
        A3=("pass", _ADEBAYO_CASCADE),
        A4=("pass", _SELVARAJU_CLASS),
        A5=("pass", _ADEBAYO_DATA),
        A6=("pass", _POINTING),
        A7=("pass", _SELVARAJU_CLASS),
        A8=("pass", "Petsiuk et al. 2018, Table 2 (Grad-CAM on ResNet-50: deletion 0.123, insertion 0.677)"),
    ),
    paper_numbers={**_pointing("86.6 / 90.4; 54.2 / 57.3"), "A8": PaperNumber("deletion 0.123, insertion 0.677", "Petsiuk et al. 2018, Table 2: ResNet-50 on ImageNet")},
)
_builtin(
    "guided-gradcam", "gradcam:GuidedGradCAM", "Guided Grad-CAM", True, "signed",
    "Selvaraju et al. 2017, Grad-CAM",
    _expect(
        A1=("pass", "Selvaraju et al. 2017, Sec. 3 (guided backprop times the upsampled Grad-CAM)"),
        A3=("fail", _ADEBAYO_CASCADE),
        A4=("pass", _SELVARAJU_CLASS),
        A5=("fail", _ADEBAYO_DATA),
        A7=("pass", _SELVARAJU_CLASS),
    ),
)
_GAP_NET = "on a GAP + linear net the gradient at the last feature map is w_ck / (h w) everywhere"
_EIGEN_CLASS = (
    "Muhammad and Yeasin 2020 (the map is computed from the activations alone, without the class score or its "
    "gradient, so it cannot depend on the class)"
)

_builtin(
    "gradcam-plus-plus", "gradcam_variants:GradCAMPlusPlus", "Grad-CAM++", True, "cam",
    "Chattopadhay et al. 2018, Grad-CAM++",
    _expect(A1=("pass", f"Chattopadhay et al. 2018, Eq. 19 ({_GAP_NET}, so the weights follow by hand)")),
)
_builtin(
    "xgradcam", "gradcam_variants:XGradCAM", "XGrad-CAM", True, "cam",
    "Fu et al. 2020, Axiom-based Grad-CAM",
    _expect(A1=("pass", f"Fu et al. 2020, the XGrad-CAM weights ({_GAP_NET}, so the map is CAM)")),
)
_builtin(
    "layercam", "gradcam_variants:LayerCAM", "LayerCAM", True, "cam",
    "Jiang et al. 2021, LayerCAM",
    _expect(A1=("pass", f"Jiang et al. 2021, the LayerCAM weights ({_GAP_NET}, so the map is sum_k ReLU(w_ck) A^k)")),
)
_builtin(
    "hirescam", "gradcam_variants:HiResCAM", "HiResCAM", True, "cam",
    "Draelos and Carin 2020, Use HiResCAM instead of Grad-CAM",
    _expect(A1=("pass", "Draelos and Carin 2020 (HiResCAM generalises CAM: on a GAP + linear net it is CAM / (h w))")),
)
_builtin(
    "scorecam", "score_cam:ScoreCAM", "Score-CAM", True, "cam",
    "Wang et al. 2020, Score-CAM",
    _expect(
        A2=("fail", ("by construction: the masks multiply the input, so the masked-out part is zero in each "
                     "network's own input space, which the shift moves (the reference-point argument of "
                     "Kindermans et al. 2019)")),
        A3=("pass", "Wang et al. 2020, its sanity check (the maps change as the model's parameters are randomised)"),
        A8=("pass", ("Wang et al. 2020, deletion and insertion on ImageNet (VGG16): on a par with or better than "
                     "Grad-CAM")),
    ),
)
_builtin(
    "eigencam", "eigen_cam:EigenCAM", "Eigen-CAM", True, "cam",
    "Muhammad and Yeasin 2020, Eigen-CAM",
    _expect(
        A1=("pass", ("Muhammad and Yeasin 2020 (the map is the projection of the activations on their first "
                     "principal component; for rank-one activations plus a per-channel offset that is their one "
                     "spatial pattern)")),
        A4=("fail", _EIGEN_CLASS),
        A7=("fail", _EIGEN_CLASS),
    ),
)

_KINDERMANS_TIMES_INPUT = (
    "Kindermans et al. 2019, input invariance (gradient x input and integrated gradients from a zero baseline "
    "change with a mean shift the first layer absorbs)"
)

_builtin(
    "gradient-x-input", "gradient_x_input:GradientXInput", "Gradient x input", False, "signed",
    "Shrikumar et al. 2016, Not Just a Black Box",
    _expect(
        A1=("pass", "Shrikumar et al. 2016, gradient x input (on a linear model it is x * w)"),
        A2=("fail", _KINDERMANS_TIMES_INPUT),
    ),
)
_builtin(
    "integrated-gradients", "integrated_gradients:IntegratedGradients", "Integrated gradients", False, "signed",
    "Sundararajan, Taly, Yan 2017, Axiomatic Attribution for Deep Networks",
    _expect(
        A1=("pass", "Sundararajan et al. 2017, Sec. 3 (completeness; on a linear model the map is (x - x') * w)"),
        A2=("fail", _KINDERMANS_TIMES_INPUT),
    ),
    preview={"steps": 8},
)
_builtin(
    "smoothgrad", "noise:SmoothGrad", "SmoothGrad", False, "signed",
    "Smilkov et al. 2017, SmoothGrad: removing noise by adding noise",
    _expect(
        A1=("pass", "Smilkov et al. 2017, Sec. 3 (a mean over noisy copies; a linear model's gradient is w at each)"),
        A3=("pass", "Adebayo et al. 2018, Fig. 2 (Gradient-SG changes under cascading randomization)"),
    ),
    preview={"samples": 8},
)
_builtin(
    "smoothgrad-squared", "noise:SmoothGradSquared", "SmoothGrad-squared", False, "heat",
    "Hooker et al. 2019, A Benchmark for Interpretability Methods in Deep Neural Networks",
    _expect(A1=("pass", "Hooker et al. 2019, SmoothGrad-Squared (the mean of squared noisy gradients: w^2, linear)")),
    preview={"samples": 8},
)
_builtin(
    "vargrad", "noise:VarGrad", "VarGrad", False, "heat",
    "Adebayo et al. 2018, Local Explanation Methods for Deep Neural Networks Lack Sensitivity to Parameter Values",
    _expect(A1=("pass", "Adebayo et al. 2018, VarGrad (the variance of noisy gradients: 0 for a linear model)")),
    preview={"samples": 8},
)

_builtin(
    "occlusion", "occlusion:Occlusion", "Occlusion", False, "signed",
    "Zeiler and Fergus 2014, Visualizing and Understanding Convolutional Networks (Sec. 4.2)",
    _expect(
        A1=("pass", "Zeiler and Fergus 2014, Sec. 4.2 (the score's drop when a window is occluded; on a linear "
                    "score with a zero baseline a one-pixel window gives sum_c w x at that pixel)"),
        A2=("fail", "by construction: a fixed baseline replaces the window in each network's own input space, "
                    "which the shift moves (the reference-point argument of Kindermans et al. 2019)"),
        A8=("report", "Petsiuk et al. 2018, Table 2 ranks sliding-window occlusion last of four methods on "
                      "ResNet-50 and has no random map, so it says nothing about beating one"),
    ),
    preview={"window": (16, 16), "strides": (8, 8)},  # 49 windows at 64 x 64, not 225
)
_builtin(
    "rise", "rise:RISE", "RISE", False, "cam",
    "Petsiuk, Das, Saenko 2018, RISE: Randomized Input Sampling for Explanation of Black-box Models",
    _expect(
        A1=("pass", "Petsiuk et al. 2018, Sec. 3 (the map estimates E[f(x M) | M(λ) = 1]; exact when every "
                    "mask is enumerated)"),
        A2=("fail", "by construction: the masks multiply the input, so the masked-out part is zero in each "
                    "network's own input space, which the shift moves (the reference-point argument of "
                    "Kindermans et al. 2019)"),
        A8=("pass", "Petsiuk et al. 2018, Table 2 (ResNet-50: RISE has the lowest deletion and the highest "
                    "insertion AUC of the four methods, below and above Grad-CAM's 0.123 / 0.677; the table has "
                    "no random map)"),
    ),
    defaults={"masks": 500},  # the tools' default (the class's is 1000): a ResNet-50 map in about a minute on a CPU
    preview={"masks": 100},
    paper_numbers=_pointing("86.9 / 86.4; 50.8 / 54.7"),
)

_BY_CONSTRUCTION_CLASS = "by construction: it ignores the class"
_BY_CONSTRUCTION_MODEL = "Adebayo et al. 2018, Fig. 2 (an edge detector does not depend on the model)"
_MODEL_FREE = "by construction: the map does not depend on the model (the argument of Adebayo et al. 2018, Fig. 2)"
_NOISE = "by construction: noise never resembles noise (so a pass shows the check is necessary, not sufficient)"
_CHANCE = "by construction: a random map scores at chance"
_NO_REPEAT = "by construction: fresh noise does not repeat, and the random-logit criterion asks that a map repeat"

_builtin(
    "edge-detector", "controls:EdgeDetector", "Edge detector (control)", False, "cam",
    "Adebayo et al. 2018, Sanity Checks for Saliency Maps (the edge detector as a model-independent map)",
    _expect(A1="n/a", A3=("fail", _BY_CONSTRUCTION_MODEL), A4=("fail", _BY_CONSTRUCTION_CLASS),
            A5=("fail", _BY_CONSTRUCTION_MODEL), A7=("fail", _BY_CONSTRUCTION_CLASS),
            A6=("report", "edges lie on objects: localization alone cannot tell an explainer from an edge detector")),
    control=True,
)
_builtin(
    "spectral-residual", "controls:SpectralResidual", "Spectral residual (control)", False, "cam",
    "Hou and Zhang 2007, Saliency Detection: A Spectral Residual Approach (a model-free objectness map)",
    _expect(A1="n/a", A3=("fail", _MODEL_FREE), A4=("fail", _BY_CONSTRUCTION_CLASS),
            A5=("fail", _MODEL_FREE), A7=("fail", _BY_CONSTRUCTION_CLASS)),
    control=True,
)
_builtin(
    "random-map", "controls:RandomMap", "Random map (control)", False, "cam",
    "a map of uniform noise, fresh at every call",
    _expect(A1="n/a", A3=("pass", _NOISE), A4=("fail", _NO_REPEAT), A5=("pass", _NOISE), A6=("fail", _CHANCE),
            A7=("fail", _CHANCE), A8=("fail", _CHANCE)),
    control=True,
)

__all__ = [
    "DEFAULT_METHOD",
    "ENTRY_POINT_GROUP",
    "MAP_KINDS",
    "NO_EXPECTATION",
    "Expectation",
    "MethodSpec",
    "get",
    "known_names",
    "methods",
    "names",
    "plugin_names",
    "register",
    "spec_from_class",
    "spec_of",
    "unregister",
]
