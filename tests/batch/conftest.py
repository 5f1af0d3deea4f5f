"""Shared pieces of the batch tests: generated image folders and the command line in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from revelio.zoo import make_batch

ENV = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def write_shapes_pngs(folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` shapes images as PNGs; every fifth at another size, every seventh in grayscale."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(make_batch(count, seed=seed).images):
        pixels = cv2.cvtColor((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
        if index % 5 == 4:
            pixels = cv2.resize(pixels, (96, 80), interpolation=cv2.INTER_LINEAR)
        if index % 7 == 6:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        path = folder / f"img-{index:03d}.png"
        cv2.imwrite(str(path), pixels)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """40 shapes PNGs of two sizes, some grayscale, and one file that is not an image."""
    folder = tmp_path_factory.mktemp("dataset")
    write_shapes_pngs(folder, 40, seed=11)
    (folder / "img-017b.png").write_text("not a picture")
    return folder


@pytest.fixture(scope="session")
def env() -> dict[str, str]:
    """Environment of the subprocesses: one thread per process, no warnings."""
    return dict(ENV)


@pytest.fixture(scope="session")
def revelio() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m revelio ARGS`` (or under ``torchrun --nproc-per-node K``) with one thread per process."""

    def run(*args: str, nproc: int = 0, timeout: int = 240) -> subprocess.CompletedProcess:
        launcher = [sys.executable, "-m", "revelio"]
        if nproc:
            launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                        "-m", "revelio"]
        return subprocess.run([*launcher, *args], check=False, capture_output=True, text=True, timeout=timeout, env=ENV)

    return run
