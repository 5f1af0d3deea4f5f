"""The journal: one JSON line per finished shard, appended only once the shard file is durable.

Each process appends to its own part, ``parts/rank-00003.jsonl``, so no two processes
write one file. A line records the shard, its file's SHA-256, the manifest records of
its good items and the errors of its bad ones. A line is written with one ``write``
and flushed to disk (``fsync``); a line cut short by a crash does not parse and is
ignored, and the process that owns the part cuts it off before appending again.

A shard is done when its file exists, its SHA-256 matches a journal line, it loads,
and its indices match that line's records; anything else is redone. The merged
``manifest.jsonl`` and ``errors.jsonl`` are made from the journal at the end.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PART_FOLDER = "parts"


@dataclass(frozen=True)
class ShardEntry:
    """A journal line: one finished shard.

    Attributes:
        shard: the shard number.
        sha256: SHA-256 of the shard file as written.
        records: manifest records of the good items, ascending by ``index``.
        errors: ``{"index", "path", "error"}`` of the bad items, ascending by ``index``.
    """

    shard: int
    sha256: str
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_line(self) -> str:
        """The entry as one JSON line, newline included."""
        entry = {"shard": self.shard, "sha256": self.sha256, "records": self.records, "errors": self.errors}
        return json.dumps(entry, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str) -> ShardEntry | None:
        """Parse a line; ``None`` for a line cut short or otherwise not an entry."""
        try:
            entry = json.loads(line)
            return cls(int(entry["shard"]), str(entry["sha256"]), list(entry["records"]), list(entry["errors"]))
        except (ValueError, KeyError, TypeError):
            return None


def part_path(out: Path, rank: int) -> Path:
    """The journal part of process ``rank``."""
    return out / PART_FOLDER / f"rank-{rank:05d}.jsonl"


def read_entries(out: Path) -> dict[int, list[ShardEntry]]:
    """Every parseable entry of every part in ``out``, by shard (several when a shard was redone)."""
    entries: dict[int, list[ShardEntry]] = {}
    folder = out / PART_FOLDER
    if not folder.is_dir():
        return entries
    for part in sorted(folder.glob("rank-*.jsonl")):
        with open(part, encoding="utf-8", errors="replace") as file:
            for line in file:
                entry = ShardEntry.from_line(line) if line.endswith("\n") else None
                if entry is not None:
                    entries.setdefault(entry.shard, []).append(entry)
    return entries


class JournalWriter:
    """Appends entries to one process's part, each flushed to disk before :meth:`append` returns.

    Opening it cuts off a line left unfinished by a crash.
    """

    def __init__(self, out: Path, rank: int) -> None:
        self.path = part_path(out, rank)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_unfinished_line(self.path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open, closed by close()

    def append(self, entry: ShardEntry) -> None:
        """Append ``entry`` durably."""
        self._file.write(entry.to_line())
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the part."""
        self._file.close()

    def __enter__(self) -> JournalWriter:  # noqa: PYI034
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _cut_unfinished_line(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)
            file.flush()
            os.fsync(file.fileno())
