"""Torchvision models with random weights, built once per session (nothing downloads)."""

from __future__ import annotations

import pytest
import torch
import torchvision


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run these tests on one intra-op thread, restored after each module.

    Their tensors are tiny; on a shared, busy machine, OpenMP threads that spin-wait for
    each other made the run several times slower (about 10 s against 60 s).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build(name: str, **kwargs) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return getattr(torchvision.models, name)(weights=None, **kwargs).eval()


@pytest.fixture(scope="session")
def vgg11() -> torch.nn.Module:
    """VGG11: nn.ReLU(inplace=True) after every conv; the last conv is features.18."""
    return _build("vgg11")


@pytest.fixture(scope="session")
def resnet18() -> torch.nn.Module:
    """ResNet18: one nn.ReLU module called twice per block."""
    return _build("resnet18")


@pytest.fixture(scope="session")
def mobilenet_v3_small() -> torch.nn.Module:
    """MobileNetV3-small: Hardswish, squeeze-and-excitation blocks, in-place activations."""
    return _build("mobilenet_v3_small")


@pytest.fixture(scope="session")
def densenet121() -> torch.nn.Module:
    """DenseNet121: nn.ReLU modules plus a functional F.relu before the classifier."""
    return _build("densenet121")


@pytest.fixture(scope="session")
def vit_b_16() -> torch.nn.Module:
    """ViT-B/16 on 64x64 images: a 4x4 grid of patch tokens plus the class token.

    torchvision initialises the head to zeros (every gradient would be zero), so the head
    gets random weights here.
    """
    model = _build("vit_b_16", image_size=64)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(1)
        model.heads.head.weight.normal_(std=0.5)
        model.heads.head.bias.normal_(std=0.5)
    return model
