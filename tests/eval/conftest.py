"""Fixtures for the evaluation tests: one intra-op thread, the bundled model, one shared sanity run."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run on one intra-op thread, restored after each module: the tensors are small, and on a
    busy shared machine OpenMP threads that spin-wait for each other make them many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shapes():
    """The bundled shapes model (a ZooModel); tests must leave it as they found it."""
    from revelio import zoo

    return zoo.load("shapes")


@pytest.fixture(scope="session")
def report(shapes):
    """One sanity run on the bundled model: five attribution methods, three controls, two FV variants, 16 images."""
    from revelio.eval import run_sanity

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_sanity(
            shapes,
            ["saliency", "guided-backprop", "deconvolution", "gradcam", "guided-gradcam", "edge-detector",
             "random-map", "spectral-residual", "plain", "gaussian"],
            images=16,
        )
    finally:
        torch.set_num_threads(threads)
