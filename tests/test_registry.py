"""The method registry: specs well formed, lookups, registration from outside, and no torch to read it."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch

from revelio import registry
from revelio.attribution import Attribution, LayerAttribution, Saliency
from revelio.core import TargetSpec
from revelio.errors import MethodNotFoundError, RegistryError
from revelio.registry import Expectation, MethodSpec

BUILT_IN = registry.methods(controls=True)


@pytest.mark.parametrize("name", list(BUILT_IN))
def test_every_spec_agrees_with_its_class(name):
    spec = BUILT_IN[name]
    cls = spec.load()
    assert issubclass(cls, Attribution)
    assert spec.needs_layer == issubclass(cls, LayerAttribution)
    options = inspect.signature(cls.attribute).parameters
    assert set(spec.defaults) <= {key for key, p in options.items() if p.kind is p.KEYWORD_ONLY}
    assert set(spec.preview) <= {key for key, p in options.items() if p.kind is p.KEYWORD_ONLY}
    for check, expectation in spec.expectations.items():
        assert check[0] in "AF" and check[1:].isdigit(), check
        if expectation.outcome in ("pass", "fail"):
            cited = any(char.isdigit() for char in expectation.source) or expectation.source.startswith("by construction")
            assert cited, (name, check, "a source names a paper's year, or says why it holds by construction")


@pytest.mark.parametrize("name", list(BUILT_IN))
def test_the_map_kind_says_the_shape(name):
    spec = BUILT_IN[name]
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3))
    maps = spec.create(model, "1").attribute(torch.rand(2, 3, 6, 6), target=[0, 2], **spec.defaults)
    assert maps.shape == ((2, 1, 6, 6) if spec.map_kind == "cam" else (2, 3, 6, 6))
    if spec.map_kind in ("heat", "cam"):
        assert bool((maps >= 0).all())


def test_names_controls_and_the_default():
    assert registry.DEFAULT_METHOD in registry.names()
    assert "random-map" not in registry.names() and "random-map" in registry.names(controls=True)
    assert registry.get("random-map").control


def test_an_unknown_name_gets_the_closest_one():
    with pytest.raises(MethodNotFoundError, match="did you mean 'gradcam'.*choose from saliency"):
        registry.get("gradcm")
    with pytest.raises(MethodNotFoundError) as error:
        registry.get("lime")
    assert "did you mean" not in str(error.value)


class _Twice(Attribution):
    def attribute(self, inputs, target: TargetSpec = None, *, factor: float = 2.0):
        return factor * self.input_gradient(inputs, target)


def test_register_as_function_and_decorator_and_unregister():
    spec = registry.register(_Twice, name="twice", title="Twice the gradient", map_kind="signed")
    try:
        assert registry.get("twice") is spec and spec.cls is _Twice and not spec.needs_layer
        assert registry.spec_of(_Twice(torch.nn.Linear(2, 2))) is spec and registry.spec_of(_Twice) is spec
        with pytest.raises(RegistryError, match="already registered"):
            registry.register(Saliency, name="twice")
    finally:
        registry.unregister("twice")
    assert "twice" not in registry.names()

    @registry.register(expectations={"A3": Expectation("fail", "Someone et al. 2099, Fig. 9")})
    class GuidedTwice(_Twice):
        pass

    try:
        spec = registry.get("guided-twice")  # the class name, dashed
        assert spec.title == "GuidedTwice" and spec.expected("A3").outcome == "fail"
        assert spec.expected("A4") == registry.NO_EXPECTATION
    finally:
        registry.unregister("guided-twice")


def test_an_unregistered_class_gets_a_spec_without_expectations():
    class Unlisted(_Twice):
        pass

    spec = registry.spec_of(Unlisted(torch.nn.Linear(2, 2)))
    assert spec.name == "unlisted" and spec.expectations == {} and spec.expected("A1").outcome == "report"


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Expectation("pass"), "needs its source"),
        (lambda: Expectation("maybe", "x 2020"), "outcome must be one of"),
        (lambda: MethodSpec("Two Words", Saliency, "t", False, "heat"), "lower-case"),
        (lambda: MethodSpec("x", Saliency, "t", False, "colourful"), "map_kind"),
        (lambda: MethodSpec("x", 42, "t", False, "heat"), "cls must be"),
        (lambda: MethodSpec("x", Saliency, "t", False, "heat", expectations={"A1": "pass"}), "must be an Expectation"),
        (lambda: registry.register(int), "subclass of revelio.attribution.Attribution"),
        (lambda: registry.register("saliency"), "takes a MethodSpec"),
    ],
)
def test_malformed_specs_are_refused(build, match):
    with pytest.raises(RegistryError, match=match):
        build()


def test_reading_the_registry_imports_no_torch():
    code = (
        "import sys, revelio.registry as r; names = r.known_names(); "
        "assert 'gradcam' in names and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
