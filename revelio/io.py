"""Files in and out: images from disk, and output folders that never hold half a result."""

from __future__ import annotations

import errno
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from revelio.errors import InputError


def read_image(path: str | Path) -> Tensor:
    """Read an image file as ``Tensor[3, H, W]``, float RGB in [0, 1].

    Grayscale images get three equal channels; an alpha channel is dropped.

    Raises:
        InputError: the file is missing, or it is not an image OpenCV can decode
            (corrupt, truncated, another kind of file).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no image file at {str(path)!r}; check the path")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our error says it in one line
    try:
        pixels = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if pixels is None:
        raise InputError(f"cannot decode {str(path)!r} as an image (corrupt, truncated, or not an image file)")
    rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255)


def check_writable(folder: str | Path) -> Path:
    """Return ``folder`` as a Path if it can be created and written; raise otherwise.

    Raises:
        InputError: a file stands where the folder or one of its parents should be,
            or the nearest existing parent is not writable.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot write to {str(folder)!r}: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to {str(folder)!r}: {str(existing)!r} is not writable; choose another --out")
    return folder


@contextmanager
def staged_output(folder: str | Path) -> Iterator[Path]:
    """Write a result into a temporary folder, then move its files into ``folder``.

    On success every file written under the yielded folder is moved (``os.replace``,
    atomic per file) into ``folder``, replacing files of the same name; on error
    nothing is moved and the temporary folder is removed, so ``folder`` never holds
    part of a result.

    Raises:
        InputError: ``folder`` cannot be written (see :func:`check_writable`).
    """
    folder = check_writable(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".revelio-", dir=folder))
    except OSError as error:
        raise InputError(f"cannot create {str(folder)!r}: {_reason(error)}; choose another --out") from error
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    try:
        for source in sorted(stage.rglob("*")):
            if source.is_file():
                destination = folder / source.relative_to(stage)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, destination)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


OwnedFiles = Callable[[Path], "set[str] | None"]
"""A function of a folder: the relative names of the files of an earlier result in it, or ``None``."""


def check_replaceable(folder: str | Path, *, overwrite: bool, ours: OwnedFiles) -> Path:
    """Check that a new result may go into ``folder``: it is new or empty, or ``overwrite`` and it holds
    only an earlier result (every file in it is one ``ours`` names).

    Returns:
        ``folder`` as a Path.

    Raises:
        InputError: ``folder`` cannot be written, or it holds files and ``overwrite`` is
            false, or it holds files that are not part of an earlier result.
    """
    folder = check_writable(folder)
    if not folder.exists():
        _check_parent(folder)
        return folder
    if not folder.is_dir():
        raise InputError(f"cannot write to {str(folder)!r}: it is a file, not a folder")
    present = {str(path.relative_to(folder)) for path in folder.rglob("*") if not path.is_dir()}
    if not present:
        _check_parent(folder)
        return folder
    if not overwrite:
        raise InputError(
            f"{str(folder)!r} already holds {len(present)} file{'s' if len(present) > 1 else ''}; "
            "pass --overwrite to replace the earlier result, or choose a new --out"
        )
    owned = ours(folder)
    strangers = sorted(present - (owned or set()))
    if strangers:
        what = "is not an earlier result" if owned is None else f"holds files that are not part of its result ({strangers[0]!r})"
        raise InputError(
            f"--overwrite replaces only an earlier result, and {str(folder)!r} {what}; move those files away "
            "or choose a new --out"
        )
    _check_parent(folder)
    return folder


def _check_parent(folder: Path) -> None:
    parent = folder.resolve().parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to {str(folder)!r}: {str(existing)!r} is not writable; choose another --out")


@contextmanager
def fresh_output(folder: str | Path, *, overwrite: bool = False, ours: OwnedFiles) -> Iterator[Path]:
    """Write a whole result into a temporary folder beside ``folder``, then put it in place of ``folder``.

    ``folder`` ends up holding exactly the new result, never a mix with an earlier
    one: on success the temporary folder is renamed to ``folder`` (an earlier result
    there is renamed away first and removed after); on error the temporary folder is
    removed and ``folder`` is as it was.

    Args:
        folder: where the result goes; see :func:`check_replaceable`.
        overwrite: replace an earlier result in ``folder``.
        ours: names the files of an earlier result in a folder.

    Raises:
        InputError: as :func:`check_replaceable`, or the folder cannot be created.
    """
    folder = check_replaceable(folder, overwrite=overwrite, ours=ours).resolve()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".revelio-new", dir=folder.parent))
        mask = os.umask(0)
        os.umask(mask)
        stage.chmod(0o777 & ~mask)  # a folder as mkdir makes it, not mkdtemp's private one
    except OSError as error:
        raise InputError(f"cannot create {str(folder)!r}: {_reason(error)}; choose another --out") from error
    try:
        yield stage
        old = None
        if folder.exists() and any(folder.iterdir()):
            old = folder.with_name(f".{folder.name}.{secrets.token_hex(6)}.revelio-old")
            os.rename(folder, old)
        try:
            os.replace(stage, folder)  # onto a missing or empty folder
        except OSError:
            if old is not None:
                os.rename(old, folder)
            raise
        sync_folder(folder.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _reason(error: OSError) -> str:
    """An ``OSError`` in words, without its ``[Errno N]`` prefix."""
    return error.strerror or str(error)


def write_atomic(path: str | os.PathLike[str], data: bytes, what: str = "file") -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, ``fsync`` and ``os.replace``.

    Readers see the old file or the new one, never a partial one, also after a crash or
    a power cut (the file and then its folder are flushed to disk where the OS allows
    it); the parent folders are created; on failure nothing is left behind and an
    ``OSError`` (of the matching subclass, e.g. ``NotADirectoryError``) says which path
    failed and what to do. The temporary file is ``.NAME.RANDOM.tmp`` beside ``path``.
    """
    target = Path(path)
    folder = target.parent
    temporary: Path | None = None
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder of that name exists")
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        temporary = None
        sync_folder(folder)
    except OSError as error:
        code, reason = error.errno, error.strerror or str(error)
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            code, reason = errno.ENOTDIR, f"{str(blocker)!r} is a file, not a folder"
        message = f"cannot write {what} {str(target)!r}: {reason}; choose a path in a folder you can write to"
        raise (OSError(code, message) if code is not None else OSError(message)) from error
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return target


def sync_folder(folder: Path) -> None:
    """``fsync`` a folder so that a rename inside it survives a power cut (where the OS allows it)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data: dict keys as strings, tuples and arrays as lists,
    NaN and infinities as ``None`` (JSON has no such numbers), anything else as ``str``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    return str(value)
