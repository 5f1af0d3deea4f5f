"""Images to PNG and JPEG bytes and files; every file is written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from revelio.errors import InputError
from revelio.io import write_atomic


def _to_uint8(image: Tensor) -> np.ndarray:
    """``(3, H, W)``, ``(1, H, W)``, ``(H, W)`` (or ``(1, 3, H, W)``) in [0, 1] -> OpenCV ``uint8`` array."""
    if not isinstance(image, Tensor):
        raise InputError(f"image must be a torch.Tensor, got {type(image).__name__}")
    values = image.detach()
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if not (values.ndim == 2 or (values.ndim == 3 and values.shape[0] == 3)) or values.numel() == 0:
        raise InputError(
            f"image must be (3, H, W), (1, H, W) or (H, W), got shape {tuple(image.shape)}; "
            "combine a batch into one image with revelio.render.grid"
        )
    if values.is_floating_point():
        values = values.float()
        if not bool(values.isfinite().all()):
            raise InputError("image contains NaN or infinity; replace them (torch.nan_to_num) before saving")
        values = (values.clamp(0.0, 1.0) * 255.0).round()
    array = values.to("cpu").clamp(0, 255).to(torch.uint8).numpy()
    if array.ndim == 3:
        array = np.ascontiguousarray(array.transpose(1, 2, 0)[:, :, ::-1])  # RGB -> OpenCV's BGR
    return array


_PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
"""zlib level 3 with the default strategy: half the size of OpenCV's default (run-length) at the same speed."""


def png_bytes(image: Tensor) -> bytes:
    """Encode an image as an 8-bit PNG.

    Args:
        image: ``(3, H, W)`` RGB or ``(1, H, W)`` / ``(H, W)`` grey, floats in [0, 1]
            (clipped; rounded to the nearest of 256 levels) or ``uint8``; any device.

    Returns:
        The PNG file's bytes (RGB, or greyscale for 1-channel images).
    """
    ok, encoded = cv2.imencode(".png", _to_uint8(image), _PNG_OPTIONS)
    if not ok:  # pragma: no cover - OpenCV fails only on unsupported arrays, excluded above
        raise RuntimeError("OpenCV could not encode the image as PNG")
    return encoded.tobytes()


def save_png(image: Tensor, path: str | os.PathLike[str]) -> Path:
    """Save an image as an 8-bit PNG file, atomically.

    Args:
        image: as for :func:`png_bytes`.
        path: the file to write; missing parent folders are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder cannot be created or written (its message names the path).
    """
    return write_atomic(path, png_bytes(image), "PNG")


JPEG_QUALITY = 92
"""JPEG quality of :func:`jpeg_bytes` (0-100): no visible loss on maps and photos."""


def jpeg_bytes(image: Tensor, quality: int = JPEG_QUALITY) -> bytes:
    """Encode an image as a JPEG (lossy: smaller than PNG for photos).

    Args:
        image: as for :func:`png_bytes`.
        quality: 0 to 100.

    Returns:
        The JPEG file's bytes.
    """
    if not 0 <= int(quality) <= 100:
        raise InputError(f"JPEG quality must be 0 to 100, got {quality}")
    ok, encoded = cv2.imencode(".jpg", _to_uint8(image), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - as for PNG
        raise RuntimeError("OpenCV could not encode the image as JPEG")
    return encoded.tobytes()


IMAGE_FORMATS = {".png": png_bytes, ".jpg": jpeg_bytes, ".jpeg": jpeg_bytes}
"""File suffixes :func:`save_image` writes, and their encoders."""


def save_image(image: Tensor, path: str | os.PathLike[str]) -> Path:
    """Save an image as PNG or JPEG, by the suffix of ``path`` (``.png``, ``.jpg``, ``.jpeg``), atomically.

    Raises:
        InputError: another suffix.
        OSError: the folder cannot be created or written (its message names the path).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise InputError(f"cannot save {str(path)!r}: give it a suffix of {', '.join(IMAGE_FORMATS)}")
    return write_atomic(path, IMAGE_FORMATS[suffix](image), suffix[1:].upper())
