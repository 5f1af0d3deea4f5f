"""Shared test settings: deterministic, single-process, nothing downloaded."""

import os

import pytest
import torch

os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch-home-unused"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def available_devices() -> list[str]:
    """CPU always, CUDA when present: tests parametrised over devices use this."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
