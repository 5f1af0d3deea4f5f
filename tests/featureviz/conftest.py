"""Fixtures for the feature visualization tests: one intra-op thread, small models."""

from __future__ import annotations

import pytest
import torch
from featureviz_nets import small_cnn


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run on one intra-op thread: the tensors are small, and on a busy shared machine
    OpenMP threads that wait for each other make small ops hundreds of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cnn() -> torch.nn.Module:
    """A fresh random-weight small CNN (see :func:`featureviz_nets.small_cnn`)."""
    return small_cnn()
