"""The peer libraries, imported lazily: a peer that is not installed is skipped and reported so.

Install them with the ``peers`` extra: ``pip install -e ".[peers]"``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

PEERS = {
    # name in reports: (import name, distribution name)
    "Captum": ("captum.attr", "captum"),
    "pytorch-grad-cam": ("pytorch_grad_cam", "grad-cam"),
    "torch-cam": ("torchcam.methods", "torchcam"),
}
NOT_INSTALLED = "not installed"


def load(name: str) -> ModuleType | None:
    """The peer's module, or ``None`` when it is not installed (or fails to import)."""
    module, _ = PEERS[name]
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001  # a broken install counts as absent; versions() says which
        return None


def version(distribution: str) -> str:
    """The installed version of a distribution, or ``"not installed"``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def versions() -> dict[str, str]:
    """``{peer: version or "not installed"}`` (a peer that is installed but fails to import says so)."""
    found = {}
    for name, (_, distribution) in PEERS.items():
        installed = version(distribution)
        if installed != NOT_INSTALLED and load(name) is None:
            installed = f"{installed} (fails to import)"
        found[name] = installed
    return found
