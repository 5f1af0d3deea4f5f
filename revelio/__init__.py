"""revelio: see what PyTorch vision models see and learn.

Attribution methods live in :mod:`revelio.attribution` and are listed in
:mod:`revelio.registry`; feature visualization in :mod:`revelio.featureviz`; the model
plumbing they share (layers, targets, the model-state guard, ReLU backward rules) in
:mod:`revelio.core`. The names below are imported on first use, so that
``import revelio`` (and ``revelio --version``) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

_LAZY = {
    "Attribution": "revelio.attribution",
    "Deconvolution": "revelio.attribution",
    "EigenCAM": "revelio.attribution",
    "Explanation": "revelio.attribution",
    "GradCAM": "revelio.attribution",
    "GradCAMPlusPlus": "revelio.attribution",
    "GradientXInput": "revelio.attribution",
    "GuidedBackprop": "revelio.attribution",
    "GuidedGradCAM": "revelio.attribution",
    "HiResCAM": "revelio.attribution",
    "IntegratedGradients": "revelio.attribution",
    "LayerAttribution": "revelio.attribution",
    "LayerCAM": "revelio.attribution",
    "Occlusion": "revelio.attribution",
    "RISE": "revelio.attribution",
    "Saliency": "revelio.attribution",
    "ScoreCAM": "revelio.attribution",
    "SmoothGrad": "revelio.attribution",
    "SmoothGradSquared": "revelio.attribution",
    "VarGrad": "revelio.attribution",
    "XGradCAM": "revelio.attribution",
    "vit_reshape": "revelio.attribution",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'revelio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
