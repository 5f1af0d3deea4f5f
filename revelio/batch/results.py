"""Reading a finished batch run: the manifest, the errors, and the maps."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from revelio.batch.config import ERRORS_FILE, MANIFEST_FILE
from revelio.batch.shards import ShardPlan, read_shard
from revelio.errors import IncompleteOutputError


def read_manifest(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``out/manifest.jsonl``, ascending by index.

    Each record: ``index`` (position in the sorted item list), ``path``, ``target``
    (the class explained), ``predicted`` (the top class), ``score`` (the predicted
    class's probability), ``target_score``, ``shard`` and ``row`` (where its map is).

    Raises:
        IncompleteOutputError: the run has not finished (no manifest yet).
    """
    return _read_lines(Path(out) / MANIFEST_FILE)


def read_errors(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``out/errors.jsonl``: ``index``, ``path`` and ``error`` (the reason) of each bad item."""
    return _read_lines(Path(out) / ERRORS_FILE)


def iter_maps(out: str | os.PathLike) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
    """``(record, map)`` for every good item, ascending by index, one shard file in memory at a time.

    The map is float32 ``[C, H, W]`` (``C = 1`` for CAM methods).
    """
    out = Path(out)
    current, data = None, None
    for record in read_manifest(out):
        if record["shard"] != current:
            current, data = record["shard"], read_shard(out / ShardPlan.file(record["shard"]))
        yield record, data.maps[record["row"]]


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise IncompleteOutputError(f"no {path}: the run has not finished; run the same command again to resume")
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]
