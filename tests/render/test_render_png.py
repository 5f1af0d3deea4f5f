"""PNG encoding and atomic files: exact round trips in RGB order, clear write errors."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch

from revelio.errors import InputError
from revelio.render import png_bytes, save_png
from revelio.io import write_atomic


def _read_rgb(path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None, f"OpenCV cannot read {path}"
    return bgr[:, :, ::-1] if bgr.ndim == 3 else bgr


def test_round_trip_is_exact_and_rgb(tmp_path):
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (3, 7, 5), generator=generator, dtype=torch.uint8)
    pixels[:, 0, 0] = torch.tensor([255, 0, 0], dtype=torch.uint8)  # pure red stays red
    path = save_png(pixels.float() / 255, tmp_path / "image.png")
    assert path == tmp_path / "image.png"
    back = _read_rgb(path)
    assert back.shape == (7, 5, 3) and back.dtype == np.uint8
    assert back[0, 0].tolist() == [255, 0, 0]
    assert np.array_equal(back, pixels.permute(1, 2, 0).numpy())
    assert np.array_equal(_read_rgb(save_png(pixels, tmp_path / "uint8.png")), back)  # uint8 input as is


def test_values_are_rounded_and_clipped(tmp_path):
    values = torch.tensor([[-0.5, 0.0, 0.5, 1.0, 7.0, 0.1]])
    back = _read_rgb(save_png(values, tmp_path / "grey.png"))
    assert back.tolist() == [[0, 0, 128, 255, 255, 26]]


@pytest.mark.parametrize("shape", [(6, 4), (1, 6, 4), (1, 1, 6, 4)])
def test_grey_images_are_single_channel(tmp_path, shape):
    image = torch.linspace(0, 1, 24).view(shape)
    back = _read_rgb(save_png(image, tmp_path / "grey.png"))
    assert back.shape == (6, 4)
    assert back.flatten().tolist() == (torch.linspace(0, 1, 24) * 255).round().int().tolist()


def test_png_bytes_is_the_file_content(tmp_path, device):
    image = torch.rand(3, 9, 11, device=device)
    data = png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    path = save_png(image, tmp_path / "x.png")
    assert path.read_bytes() == data
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(decoded, (image.cpu() * 255).round().byte().permute(1, 2, 0).numpy())


def test_creates_folders_overwrites_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a" / "b" / "out.png"
    save_png(torch.zeros(3, 2, 2), target)
    save_png(torch.ones(3, 2, 2), str(target))  # str paths too; replaces the old file
    assert _read_rgb(target).min() == 255
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.png"]


def test_parent_that_is_a_file_fails_clearly_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_bytes(b"keep me")
    for target in (blocker / "out.png", blocker / "deeper" / "out.png"):
        with pytest.raises(
            NotADirectoryError, match="cannot write PNG .*not_a_folder.* is a file, not a folder; choose a path"
        ) as info:
            save_png(torch.zeros(3, 2, 2), target)
        assert str(target) in str(info.value)
    assert blocker.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def test_a_folder_in_the_way_fails_clearly(tmp_path):
    (tmp_path / "out.png").mkdir()
    with pytest.raises(IsADirectoryError, match="out.png"):
        save_png(torch.zeros(3, 2, 2), tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_png(torch.zeros(3, 2, 2), target)
    before = target.read_bytes()

    def failing_replace(source, destination):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PermissionError, match="cannot write PNG"):
        save_png(torch.ones(3, 2, 2), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_written_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = write_atomic(tmp_path / "f.bin", b"data")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "image, match",
    [
        (torch.zeros(2, 3, 4, 4), "grid"),
        (torch.zeros(4, 4, 4), r"\(3, H, W\)"),
        (torch.tensor([[0.5, float("nan")]]), "NaN"),
        (np.zeros((4, 4)), "torch.Tensor"),
        (torch.zeros(3, 0, 4), r"\(3, H, W\)"),
    ],
)
def test_bad_images_fail_clearly(tmp_path, image, match):
    with pytest.raises(InputError, match=match):
        save_png(image, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())
