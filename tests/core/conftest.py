"""Torchvision models with random weights, built once per test session (nothing downloads)."""

import pytest
import torch
import torchvision

_BUILT: dict[str, torch.nn.Module] = {}


@pytest.fixture(scope="session")
def torchvision_model():
    """Return ``build(name)``: the torchvision model ``name`` in eval mode, seeded, built once.

    Tests must leave the model as they found it (they may run in any order).
    """

    def build(name: str) -> torch.nn.Module:
        if name not in _BUILT:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                _BUILT[name] = getattr(torchvision.models, name)(weights=None).eval()
        return _BUILT[name]

    return build
