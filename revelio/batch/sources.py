"""Where the images of a batch run come from: a folder, a glob, or the shapes task.

An :class:`ImageSource` is a fixed, ordered list of items. Item ``i`` has a name (its
path, for files) written to the manifest, and :meth:`ImageSource.load` reads it as
``Tensor[3, H, W]`` in [0, 1], raising with a one-line reason when it cannot. Its
:meth:`ImageSource.fingerprint` identifies the list for the run configuration, so a
resumed run refuses a changed list.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from revelio.errors import InputError
from revelio.io import read_image
from revelio.zoo.shapes import IMAGE_SIZE, ShapesDataset, render

_SHAPES_SPEC = re.compile(r"^shapes:(\d+)(?::(\d+))?$")
_GLOB_CHARACTERS = re.compile(r"[*?\[]")
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "WebP"),
)


@runtime_checkable
class ImageSource(Protocol):
    """An ordered list of images; implement it to feed a data set of your own."""

    def __len__(self) -> int:
        """Number of items."""

    def name(self, index: int) -> str:
        """What the manifest calls item ``index`` (a file path, ``shapes:SEED:INDEX``)."""

    def load(self, index: int) -> Tensor:
        """Item ``index`` as ``Tensor[3, H, W]`` float in [0, 1]; raise with a one-line reason when unreadable."""

    def fingerprint(self) -> dict[str, Any]:
        """JSON-ready identity of the list: equal fingerprints mean the same items in the same order."""


class ImageFiles:
    """Image files, in the given order; a file that cannot be read is a bad item, not a failure.

    Args:
        paths: the files. Names in the manifest are these paths made absolute.
    """

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        self.paths = [os.path.abspath(os.fspath(path)) for path in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return self.paths[index]

    def load(self, index: int) -> Tensor:
        return load_image_file(self.paths[index])

    def fingerprint(self) -> dict[str, Any]:
        """Count and SHA-256 of every path with its size in bytes (a replaced file of another size counts)."""
        digest = hashlib.sha256()
        for path in self.paths:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = -1
            digest.update(f"{path}\t{size}\n".encode())
        return {"kind": "files", "count": len(self.paths), "sha256": digest.hexdigest()}


class ShapesImages:
    """Items of the procedurally generated shapes task (:mod:`revelio.zoo.shapes`).

    Args:
        size: number of items.
        seed: the data set's seed; item ``i`` depends on ``(seed, i)`` only.
        image_size: height and width in pixels.
    """

    def __init__(self, size: int, seed: int = 0, image_size: int = IMAGE_SIZE) -> None:
        self.dataset = ShapesDataset(size, seed, image_size=image_size)

    def __len__(self) -> int:
        return len(self.dataset)

    def name(self, index: int) -> str:
        return f"shapes:{self.dataset.seed}:{index}"

    def load(self, index: int) -> Tensor:
        return render(self.dataset.seed, [index], image_size=self.dataset.image_size).images[0]

    def fingerprint(self) -> dict[str, Any]:
        dataset = self.dataset
        return {"kind": "shapes", "count": len(dataset), "seed": dataset.seed, "image_size": dataset.image_size}


def as_source(dataset: Any) -> ImageSource:
    """Turn what the user gave into an :class:`ImageSource`.

    Args:
        dataset: a folder (every regular, non-hidden file below it, recursively, sorted);
            a glob such as ``"data/**/*.jpg"`` (sorted); ``"shapes:N"`` or
            ``"shapes:N:SEED"`` for ``N`` items of the shapes task; a list of image
            paths (kept in its order); a :class:`~revelio.zoo.ShapesDataset`; or an
            :class:`ImageSource` of yours.

    Raises:
        InputError: a folder or glob with no files, a path that is neither, or another type.
    """
    if isinstance(dataset, ShapesDataset):
        return ShapesImages(len(dataset), dataset.seed, dataset.image_size)
    if isinstance(dataset, (str, os.PathLike)):
        return _source_from_spec(os.fspath(dataset))
    if isinstance(dataset, ImageSource):
        return dataset
    if isinstance(dataset, Sequence) and all(isinstance(item, (str, os.PathLike)) for item in dataset):
        if not dataset:
            raise InputError("the list of image files is empty; give at least one file")
        return ImageFiles(dataset)
    raise InputError(
        f"dataset must be a folder, a glob, 'shapes:N', a list of image paths, a ShapesDataset or an "
        f"ImageSource, got {type(dataset).__name__}"
    )


def folder_of(dataset: Any) -> Path | None:
    """The folder a folder or glob spec reads from (the part before any wildcard), else ``None``."""
    if not isinstance(dataset, (str, os.PathLike)):
        return None
    text = os.fspath(dataset)
    if _SHAPES_SPEC.match(text):
        return None
    if _GLOB_CHARACTERS.search(text):
        text = text[: _GLOB_CHARACTERS.search(text).start()]
        text = text if text.endswith(os.sep) else os.path.dirname(text)
    return Path(os.path.abspath(text or "."))


def _source_from_spec(text: str) -> ImageSource:
    shapes = _SHAPES_SPEC.match(text)
    if shapes:
        return ShapesImages(int(shapes.group(1)), int(shapes.group(2) or 0))
    if text.startswith("shapes"):
        raise InputError(f"--dataset {text!r}: the shapes task is written shapes:N or shapes:N:SEED, e.g. shapes:512")
    if _GLOB_CHARACTERS.search(text):
        files = sorted(path for path in glob.glob(text, recursive=True) if os.path.isfile(path))
        if not files:
            raise InputError(f"no files match {text!r}; check the pattern (quote it so the shell leaves it alone)")
        return ImageFiles(files)
    folder = Path(text)
    if folder.is_dir():
        files = sorted(str(path) for path in _walk(folder))
        if not files:
            raise InputError(f"the folder {text!r} holds no files; point --dataset at a folder of images")
        return ImageFiles(files)
    if folder.is_file():
        raise InputError(f"--dataset {text!r} is a file; give a folder or a glob (or list image files as IMAGE...)")
    raise InputError(f"--dataset {text!r} is not a folder, a glob or shapes:N; check the path")


def _walk(folder: Path) -> list[str]:
    """Every file below ``folder`` (hidden ones left out), following links but visiting each real file once.

    A link back to a folder above (a loop) is not followed again; a file reached
    through several links is listed once, at the first path the (sorted) walk reaches.
    """
    found, seen_folders, seen_files = [], set(), set()
    for root, directories, files in os.walk(folder, followlinks=True):
        identity = _identity(root)
        if identity in seen_folders:
            directories[:] = []
            continue
        seen_folders.add(identity)
        directories[:] = sorted(name for name in directories if not name.startswith("."))
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            if (identity := _identity(path)) not in seen_files:
                seen_files.add(identity)
                found.append(path)
    return found


def _identity(path: str) -> tuple[int, int]:
    """The device and inode a path leads to, links followed: the same for every name of one file or folder."""
    status = os.stat(path)
    return status.st_dev, status.st_ino


def load_image_file(path: str | os.PathLike) -> Tensor:
    """Read an image file as ``Tensor[3, H, W]`` in [0, 1] (as :func:`revelio.io.read_image`).

    Raises:
        InputError: with the reason in one line: missing, empty, not an image file,
            truncated JPEG, or corrupt data of a known format.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            head = file.read(16)
            size = os.fstat(file.fileno()).st_size
    except OSError as error:
        raise InputError(f"cannot read the file: {error.strerror or error}") from None
    if size == 0:
        raise InputError("empty file (0 bytes)")
    kind = _image_kind(head)
    if kind is None:
        raise InputError(f"not an image file (no PNG, JPEG, GIF, BMP, TIFF or WebP signature; starts with {head[:8]!r})")
    if kind == "JPEG" and _jpeg_truncated(path):
        raise InputError("truncated JPEG: no end-of-image marker after the last scan")
    try:
        return read_image(path)
    except InputError:
        raise InputError(f"corrupt or truncated {kind} data: OpenCV cannot decode it") from None


def _image_kind(head: bytes) -> str | None:
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            if kind == "WebP" and head[8:12] != b"WEBP":
                return None
            return kind
    return None


def _jpeg_truncated(path: str) -> bool:
    """A JPEG whose last start-of-scan marker is not followed by an end-of-image marker."""
    with open(path, "rb") as file:
        data = file.read()
    return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")
