"""Which shards are done, and the merged ``manifest.jsonl`` and ``errors.jsonl`` made from them."""

from __future__ import annotations

import json
from pathlib import Path

from revelio.batch.config import ERRORS_FILE, MANIFEST_FILE
from revelio.batch.journal import ShardEntry, read_entries
from revelio.batch.shards import ShardPlan, read_shard, sha256_file
from revelio.io import write_atomic
from revelio.errors import IncompleteOutputError


def verify_shard(
    out: Path, plan: ShardPlan, shard: int, entries: list[ShardEntry], *, load: bool = True
) -> tuple[ShardEntry | None, str | None]:
    """Check that ``shard`` is done: ``(its journal entry, None)``, or ``(None, why it is not)``.

    Done means: a journal entry whose SHA-256 is the shard file's, whose records and
    errors cover exactly the shard's items, and (with ``load``) a file that loads
    with the entry's indices.
    """
    path = out / plan.file(shard)
    if not path.exists():
        return None, "no shard file"
    if not entries:
        return None, "no journal entry (the run stopped between writing the file and recording it)"
    try:
        digest = sha256_file(path)
    except OSError as error:
        return None, f"its file cannot be read ({error})"
    matching = [entry for entry in entries if entry.sha256 == digest]
    if not matching:
        return None, "its file does not match its journal entry (changed or corrupt)"
    entry = matching[-1]
    indices = [int(record["index"]) for record in entry.records]
    if sorted(indices + [int(error["index"]) for error in entry.errors]) != list(plan.items(shard)):
        return None, "its journal entry does not cover the shard's items"
    if load:
        try:
            data = read_shard(path)
        except (OSError, ValueError) as error:
            return None, f"its file does not load ({error})"
        if data.index.tolist() != indices:
            return None, "its file's indices differ from its journal entry"
    return entry, None


def merge_outputs(out: Path, plan: ShardPlan) -> tuple[int, int]:
    """Write ``manifest.jsonl`` and ``errors.jsonl`` (ascending by index) from the journal; return their lengths.

    Raises:
        IncompleteOutputError: a shard is not done; the message names it and says to resume.
    """
    entries = read_entries(out)
    manifest: list[str] = []
    errors: list[str] = []
    for shard in range(plan.count):
        entry, reason = verify_shard(out, plan, shard, entries.get(shard, []), load=False)
        if entry is None:
            raise IncompleteOutputError(
                f"shard {shard} ({plan.file(shard)}) is not done: {reason}; run the same command again to resume "
                "(processes on several machines need an --out on a file system they all share)"
            )
        manifest.extend(json.dumps(record) + "\n" for record in entry.records)
        errors.extend(json.dumps(error) + "\n" for error in entry.errors)
    write_atomic(out / MANIFEST_FILE, "".join(manifest).encode())
    write_atomic(out / ERRORS_FILE, "".join(errors).encode())
    return len(manifest), len(errors)
