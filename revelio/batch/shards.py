"""Shards: which items go together, and how a shard's maps are stored on disk.

Shard ``k`` holds items ``[k*S, (k+1)*S)`` of the sorted item list (``S`` the shard
size), whatever the number of processes; process ``r`` of ``W`` takes the shards
with ``k % W == r``. So results do not depend on the number of processes, and a run
can be resumed with another number.

A shard file (``shards/shard-000007.npz``) holds the maps of the shard's good items
as float16, each divided by its largest absolute value (so no map overflows or
underflows float16), with those values as float32 and the items' indices:

- ``maps``: ``float16[n, C, H, W]``, each map scaled into [-1, 1];
- ``scales``: ``float32[n]``, ``map = maps[i] * scales[i]``;
- ``index``: ``int64[n]``, the items' indices, ascending.

A file is written with :func:`revelio.io.write_atomic` (a temporary name, ``fsync``, rename), so
a shard file is either complete or absent.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass

import numpy as np

SHARD_FOLDER = "shards"


@dataclass(frozen=True)
class ShardPlan:
    """How ``total`` items split into shards of ``shard_size``.

    Attributes:
        total: number of items.
        shard_size: items per shard (the last shard may hold fewer).
    """

    total: int
    shard_size: int

    @property
    def count(self) -> int:
        """Number of shards."""
        return -(-self.total // self.shard_size)

    def items(self, shard: int) -> range:
        """Indices of the items of ``shard``."""
        return range(shard * self.shard_size, min((shard + 1) * self.shard_size, self.total))

    def owned(self, rank: int, world_size: int) -> list[int]:
        """Shards that process ``rank`` of ``world_size`` processes computes."""
        return list(range(rank, self.count, world_size))

    @staticmethod
    def file(shard: int) -> str:
        """Path of ``shard``'s file, relative to the output folder."""
        return f"{SHARD_FOLDER}/shard-{shard:06d}.npz"


@dataclass(frozen=True)
class ShardData:
    """A shard file's content, maps back in float32.

    Attributes:
        index: ``int64[n]`` item indices.
        maps: ``float32[n, C, H, W]`` (``float32[0]`` for a shard without good items).
    """

    index: np.ndarray
    maps: np.ndarray


def encode_maps(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 maps ``[n, ...]`` -> (float16 maps scaled into [-1, 1], float32 scales)."""
    maps = np.asarray(maps, dtype=np.float32)
    flat = np.abs(maps.reshape(maps.shape[0], -1))
    scales = flat.max(axis=1) if flat.size else np.zeros(maps.shape[0], dtype=np.float32)
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, 1).astype(np.float32)
    scaled = maps / scales.reshape((-1,) + (1,) * (maps.ndim - 1))
    return scaled.astype(np.float16), scales


def shard_bytes(index: np.ndarray, maps: np.ndarray, scales: np.ndarray) -> bytes:
    """The bytes of a shard file (an uncompressed ``.npz``)."""
    buffer = io.BytesIO()
    np.savez(buffer, maps=maps, scales=scales, index=np.asarray(index, dtype=np.int64))
    return buffer.getvalue()


def read_shard(path: str | os.PathLike) -> ShardData:
    """Read a shard file; maps come back as float32 (``maps * scales``).

    Raises:
        ValueError: the file is not a shard file (arrays missing or of the wrong form).
        OSError: it cannot be read.
    """
    with np.load(path, allow_pickle=False) as data:
        missing = {"maps", "scales", "index"} - set(data.files)
        if missing:
            raise ValueError(f"{os.fspath(path)!r} is not a shard file: no {', '.join(sorted(missing))}")
        maps, scales, index = data["maps"], data["scales"], data["index"]
    if maps.dtype != np.float16 or index.dtype != np.int64 or len(scales) != len(index) or len(maps) != len(index):
        raise ValueError(f"{os.fspath(path)!r} is not a shard file: its arrays do not fit together")
    restored = maps.astype(np.float32) * scales.reshape((-1,) + (1,) * (maps.ndim - 1)) if len(index) else maps
    return ShardData(index=index, maps=restored.astype(np.float32))


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
