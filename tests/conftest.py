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
