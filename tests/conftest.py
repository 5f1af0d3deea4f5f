"""Shared test settings: deterministic, nothing downloaded."""

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Every available device: the CPU always, CUDA when present."""
    return request.param


def pytest_terminal_summary(terminalreporter) -> None:
    """The adversarial module's tally: every registered method against every hazard, cases tried and held."""
    outcomes = {"passed": 0, "failed": 0, "error": 0}
    for outcome in outcomes:
        for report in terminalreporter.stats.get(outcome, []):
            if "test_adversarial.py" in getattr(report, "nodeid", "") and report.when in ("call", "setup"):
                outcomes[outcome] += 1 if outcome != "passed" or report.when == "call" else 0
    tried = sum(outcomes.values())
    if tried:
        terminalreporter.write_line(
            f"adversarial: {tried} cases tried (registered methods x hazards), {outcomes['passed']} held"
        )
