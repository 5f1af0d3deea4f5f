"""The registry's sanity expectations: every judged cell names its paper; unsourced cells are reported only."""

import re

from revelio import registry
from revelio.eval.outcome import Measurement, decide

AUTHOR_YEAR = re.compile(r"[A-Z][a-z]+.*\b(19|20)\d\d\b")


def test_every_expected_outcome_of_a_method_names_author_and_year():
    for spec in registry.methods(controls=False).values():
        for check, expectation in spec.expectations.items():
            if expectation.outcome in ("pass", "fail"):
                assert AUTHOR_YEAR.search(expectation.source), (spec.name, check, expectation.source)


def test_controls_say_why_they_are_expected_to_land_where_they_do():
    for spec in registry.methods(controls=True).values():
        if spec.control:
            for expectation in spec.expectations.values():
                if expectation.outcome in ("pass", "fail"):
                    assert AUTHOR_YEAR.search(expectation.source) or "by construction" in expectation.source


def test_a_cell_without_an_expectation_is_reported_not_judged():
    spec = registry.get("saliency")
    assert spec.expected("A8").outcome == "report"  # no paper says the gradient beats a random map here
    assert decide(spec.expected("A8").outcome, Measurement("x", True)) == "no expectation"
    assert decide(spec.expected("A8").outcome, Measurement("x", False)) == "no expectation"


def test_kindermans_input_invariance_is_expected_to_fail_for_input_times_gradient_methods():
    for name in ("gradient-x-input", "integrated-gradients"):
        expectation = registry.get(name).expected("A2")
        assert expectation.outcome == "fail" and "Kindermans et al. 2019" in expectation.source
