"""``attribute_dataset``: an attribution method over a whole data set, in shards, resumable, on many processes."""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch

from revelio import registry
from revelio.attribution import Attribution, LayerAttribution
from revelio.batch.completion import merge_outputs, verify_shard
from revelio.batch.config import ERRORS_FILE, MANIFEST_FILE, config_digest, prepare_output, run_config
from revelio.batch.distributed import DEFAULT_TIMEOUT, World, process_world
from revelio.batch.journal import JournalWriter, ShardEntry, read_entries
from revelio.batch.loader import Batch, PreparedImages, ShardBatches, default_workers, make_loader
from revelio.batch.shards import ShardPlan, encode_maps, sha256_bytes, shard_bytes
from revelio.batch.sources import ImageSource, as_source, folder_of
from revelio.errors import DistributedError, InputError, RevelioError, TargetError
from revelio.io import check_writable, write_atomic
from revelio.zoo import ZooModel

DEFAULT_SHARD_SIZE = 256


@dataclass
class BatchSummary:
    """What a batch run did, the same on every process.

    Attributes:
        out: the output folder.
        total: items in the data set.
        attributed: good items, each with a map (lines of ``manifest.jsonl``).
        failed: bad items (lines of ``errors.jsonl``).
        computed: items read and processed by this run, over all processes.
        shards: number of shards.
        reused_shards: shards found done and verified, not computed again.
        redone_shards: shards found started or damaged and computed again.
        seconds: wall time from the first batch to the merged manifest.
        world_size: number of processes.
        per_process: what each process did, by rank: ``rank``, ``computed``, ``reused``,
            ``redone`` and ``seconds``.
    """

    out: Path
    total: int
    attributed: int
    failed: int
    computed: int
    shards: int
    reused_shards: int
    redone_shards: int
    seconds: float
    world_size: int
    per_process: list[dict[str, Any]] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Items this run processed per second of wall time, all processes together."""
        return self.computed / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        processes = f"{self.world_size} processes" if self.world_size > 1 else "1 process"
        work = (
            f"this run: {self.computed} images in {self.seconds:.1f} s, {self.images_per_second:.1f} images/s on "
            f"{processes}" if self.computed else "this run: nothing left to compute"
        )
        if self.reused_shards:
            work += f"; {self.reused_shards} of {self.shards} shards were already done and verified"
        if self.redone_shards:
            work += f"; {self.redone_shards} incomplete or damaged shards computed again"
        lines = [
            f"{self.total} images: {self.attributed} attributed, {self.failed} unreadable"
            + (f" (reasons in {self.out / ERRORS_FILE})" if self.failed else ""),
            work,
            f"wrote {self.out / MANIFEST_FILE}",
        ]
        return "\n".join(lines)


def attribute_dataset(
    model: ZooModel,
    dataset: Any,
    method: str | Attribution,
    out_dir: str | os.PathLike,
    batch_size: int = 32,
    *,
    layer: str | None = None,
    target: int | None = None,
    options: dict[str, Any] | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int | None = None,
    resume: bool | None = None,
    progress: bool = False,
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> BatchSummary:
    """Run an attribution method over a data set, batch by batch, into resumable shards.

    Writes to ``out_dir``: ``config.json`` (first), ``shards/shard-NNNNNN.npz`` (float16
    maps, see :mod:`revelio.batch.shards`), ``parts/`` (each process's journal), and at
    the end ``manifest.jsonl`` (one line per good image: index, path, target, predicted
    class, score, shard, row) and ``errors.jsonl`` (one line per bad image, with the
    reason), both ascending by index.

    Under ``torchrun`` each process takes every ``world_size``-th shard and process 0
    merges the manifest; the result equals a run in one process. Call it the same way
    in every process, with the model on ``cuda:LOCAL_RANK`` (or the CPU).

    Args:
        model: the zoo model (its preprocessing resizes every image to its input size).
        dataset: a folder, a glob, ``"shapes:N[:SEED]"``, a list of image paths, a
            :class:`~revelio.zoo.ShapesDataset` or an :class:`~revelio.batch.ImageSource`
            (see :func:`~revelio.batch.as_source`). Folders and globs are sorted.
        method: a registered method's name (:mod:`revelio.registry`), or an
            ``Attribution`` instance for ``model.model`` (its class and layer are part of
            the configuration).
        out_dir: the output folder; a folder of a run with the same configuration is resumed.
        batch_size: images per forward and backward pass.
        layer: the layer of CAM methods (default: the model's usual Grad-CAM layer).
        target: the class to explain for every image; ``None`` explains each image's top class.
        options: the method's options (``{"upsample": False}`` keeps Grad-CAM's grid);
            default: the registry entry's defaults.
        shard_size: images per shard file; part of the configuration.
        workers: DataLoader worker processes per process (default: the CPUs per process
            less one, at most 4; 0 reads in the main process).
        resume: ``None`` (default) continues a folder of the same configuration, ``True``
            the same, ``False`` computes every shard again. A folder of another
            configuration is always refused.
        progress: show a progress bar with images/s and the time left (process 0).
        timeout: how long processes wait for each other at meeting points.

    Returns:
        a :class:`BatchSummary`, the same on every process.

    Raises:
        InputError: bad arguments, an empty data set, an unwritable ``out_dir``, or an
            ``out_dir`` inside the data set's folder.
        ConfigMismatchError: ``out_dir`` holds results of another configuration (nothing is written).
        DistributedError: the processes of a distributed run disagree (image list, weights, options).
        TargetError: a target outside the model's classes.
    """
    attribution, name, layer_name, options = _check_arguments(
        model, method, layer, target, options, batch_size, shard_size
    )
    workers = default_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"workers must be an int >= 0, got {workers!r}")
    source = as_source(dataset)
    if len(source) == 0:
        raise InputError("the data set is empty; give at least one image")
    out = _check_out(out_dir, dataset)
    plan = ShardPlan(len(source), shard_size)
    config = run_config(
        model, method=name, layer=layer_name, options=options, target=target,
        images=source.fingerprint(), shard_size=shard_size,
    )
    with process_world(model.device, timeout) as world:
        keep = _agree_and_prepare(world, out, config, resume, _describe(dataset))
        start = time.perf_counter()
        stats = _run_shards(world, out, plan, source, model, attribution, options, target, batch_size, workers,
                            keep, progress)
        all_stats = world.gather(stats)
        merged: tuple[Any, ...] | None = None
        if world.rank == 0:
            try:
                merged = ("ok", *merge_outputs(out, plan))
            except (RevelioError, OSError) as error:
                merged = ("error", error)
        merged = world.broadcast(merged)
        seconds = time.perf_counter() - start
    if merged[0] == "error":
        if world.rank == 0:
            raise merged[1]
        raise DistributedError(f"process 0 could not merge the manifest: {merged[1]}")
    return BatchSummary(
        out=out,
        total=len(source),
        attributed=merged[1],
        failed=merged[2],
        computed=sum(item["computed"] for item in all_stats),
        shards=plan.count,
        reused_shards=sum(item["reused"] for item in all_stats),
        redone_shards=sum(item["redone"] for item in all_stats),
        seconds=seconds,
        world_size=world.size,
        per_process=all_stats,
    )


# -- checks before work ------------------------------------------------------------


def _check_arguments(
    model: ZooModel,
    method: str | Attribution,
    layer: str | None,
    target: int | None,
    options: dict[str, Any] | None,
    batch_size: int,
    shard_size: int,
) -> tuple[Attribution, str, str | None, dict[str, Any]]:
    """The method to run, its name for the configuration, its layer and its options, all checked."""
    if not isinstance(model, ZooModel):
        raise InputError(
            f"model must be a revelio.zoo.ZooModel (it carries the preprocessing), got {type(model).__name__}; "
            "wrap a network with ZooModel(model, name=..., input_size=(H, W), mean=..., std=...)"
        )
    for key, value in (("batch_size", batch_size), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{key} must be a positive int, got {value!r}")
    if isinstance(method, Attribution):
        if method.model is not model.model:
            raise InputError("the Attribution instance explains another model than model.model; build it for model.model")
        spec = registry.spec_of(method)
        attribution = method
        registered = registry.methods(controls=True).get(spec.name) is spec
        name = spec.name if registered else f"{type(method).__module__}.{type(method).__qualname__}"
    elif isinstance(method, str):
        spec = registry.get(method)
        attribution = spec.create(model.model, layer or model.gradcam_layer, model.gradcam_reshape)
        name = spec.name
    else:
        raise InputError(f"method must be a registered name or an Attribution instance, got {type(method).__name__}")
    if isinstance(attribution, LayerAttribution) and attribution.layer is None:
        # pick the default layer now, and say which, so that the configuration names it
        attribution.prepare(torch.zeros(1, len(model.mean), *model.input_size, device=model.device))
    layer_name = attribution.layer_name if isinstance(attribution, LayerAttribution) else None
    options = dict(spec.defaults if options is None else options)
    try:
        json.dumps(options)
        inspect.signature(attribution.attribute).bind(None, None, **options)
    except TypeError as error:
        raise InputError(f"options for {name}: {error}; give its keyword options as plain values") from None
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise TargetError(f"target must be None (top class) or a class index >= 0, got {target!r}")
        if model.class_names is not None and target >= len(model.class_names):
            raise TargetError(f"target {target} is out of range for {model.name}; use 0..{len(model.class_names) - 1}")
    return attribution, name, layer_name, options


def _check_out(out_dir: str | os.PathLike, dataset: Any) -> Path:
    out = check_writable(out_dir)
    folder = folder_of(dataset)
    absolute = Path(os.path.abspath(out))
    if folder is not None and (absolute == folder or folder in absolute.parents):
        raise InputError(
            f"the output folder {os.fspath(out_dir)!r} is inside the data set's folder {str(folder)!r}, so results "
            "would become inputs; choose an --out outside it"
        )
    return out


def _describe(dataset: Any) -> str:
    return os.fspath(dataset) if isinstance(dataset, (str, os.PathLike)) else type(dataset).__name__


def _agree_and_prepare(world: World, out: Path, config: dict[str, Any], resume: bool | None, dataset: str) -> bool:
    """Check that every process has the same configuration; process 0 prepares ``out``. Returns: resume or not."""
    digests = world.gather(config_digest(config))
    differing = [rank for rank, digest in enumerate(digests) if digest != digests[0]]
    if differing:
        raise DistributedError(
            f"processes {differing} have another configuration than process 0; every machine must see the same "
            "images at the same paths, the same model weights (seed random weights with --seed) and the same options"
        )
    outcome: tuple[Any, ...] | None = None
    if world.rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
            outcome = ("ok", prepare_output(out, config, resume, dataset))
        except (RevelioError, OSError) as error:
            outcome = ("error", error)
    outcome = world.broadcast(outcome if world.rank == 0 else None)
    if outcome[0] == "error":
        error = outcome[1]
        if world.rank == 0:
            raise error
        raise DistributedError(f"process 0 stopped the run: {error}")
    return bool(outcome[1])


# -- the work ------------------------------------------------------------------------


def _run_shards(
    world: World,
    out: Path,
    plan: ShardPlan,
    source: ImageSource,
    model: ZooModel,
    attribution: Attribution,
    options: dict[str, Any],
    target: int | None,
    batch_size: int,
    workers: int,
    keep: bool,
    progress: bool,
) -> dict[str, Any]:
    """Compute this process's shards that are not done; return what it did."""
    from tqdm.auto import tqdm

    pending, reused, redone = _pending_shards(world, out, plan, keep, progress)
    device = model.device
    loader = make_loader(PreparedImages(source, model), ShardBatches(plan, pending, batch_size), workers,
                         pin_memory=device.type == "cuda")
    total = sum(len(plan.items(shard)) for shard in pending)
    where = f" [process {world.rank} of {world.size}]" if world.distributed else ""
    bar = tqdm(total=total, unit="img", desc=f"{attribution.__class__.__name__}{where}", file=sys.stderr,
               disable=not progress or world.rank != 0, smoothing=0.1)
    started = time.perf_counter()
    computed = 0
    with JournalWriter(out, world.rank) as journal, bar:
        shard = _ShardBuffer(plan, -1)
        for batch in loader:
            current = (batch.indices or [index for index, _ in batch.bad])[0] // plan.shard_size
            if current != shard.shard:
                shard = _ShardBuffer(plan, current)
            if batch.inputs is not None:
                _attribute_batch(batch, source, model, attribution, options, target, device, shard)
            shard.add_errors(source, batch.bad)
            computed += len(batch)
            bar.update(len(batch))
            if shard.complete:
                journal.append(shard.write(out))
    return {"rank": world.rank, "computed": computed, "reused": reused, "redone": len(redone),
            "seconds": time.perf_counter() - started}


def _pending_shards(
    world: World, out: Path, plan: ShardPlan, keep: bool, progress: bool
) -> tuple[list[int], int, list[tuple[int, str]]]:
    """This process's shards that are not done and verified, the number done, and those redone with why."""
    owned = plan.owned(world.rank, world.size)
    for shard in owned:  # temporary files a crash left behind
        path = out / plan.file(shard)
        for leftover in path.parent.glob(f".{path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
    if not keep:
        return owned, 0, []
    entries = read_entries(out)
    pending, reused, redone = [], 0, []
    for shard in owned:
        entry, reason = verify_shard(out, plan, shard, entries.get(shard, []))
        if entry is not None:
            reused += 1
            continue
        pending.append(shard)
        if (out / plan.file(shard)).exists() or shard in entries:
            redone.append((shard, reason))
            if progress:
                print(f"revelio: shard {shard} is computed again: {reason}", file=sys.stderr)
    if progress and reused and world.rank == 0:
        print(f"revelio: resuming in {out}: {reused} shard(s) of this process already done and verified",
              file=sys.stderr)
    return pending, reused, redone


def _attribute_batch(
    batch: Batch,
    source: ImageSource,
    model: ZooModel,
    attribution: Attribution,
    options: dict[str, Any],
    target: int | None,
    device: torch.device,
    shard: _ShardBuffer,
) -> None:
    inputs = batch.inputs.to(device, non_blocking=True)
    explanation = attribution.explain(inputs, target, **options)  # a class target refuses other outputs
    probabilities = model.probabilities(explanation.output.float())
    predicted = probabilities.argmax(dim=1)
    scores = probabilities.gather(1, predicted[:, None]).squeeze(1).tolist()
    target_scores = probabilities.gather(1, explanation.classes[:, None]).squeeze(1).tolist()
    scaled, scales = encode_maps(explanation.maps.detach().float().cpu().numpy())
    records = [
        {
            "index": index,
            "path": source.name(index),
            "target": int(explained),
            "predicted": int(top),
            "score": round(score, 6),
            "target_score": round(target_score, 6),
        }
        for index, explained, top, score, target_score in zip(
            batch.indices, explanation.classes.tolist(), predicted.tolist(), scores, target_scores
        )
    ]
    shard.add_maps(records, scaled, scales)


class _ShardBuffer:
    """The results of one shard, collected batch by batch until every item is in."""

    def __init__(self, plan: ShardPlan, shard: int) -> None:
        self.plan, self.shard = plan, shard
        self.records: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.maps: list[np.ndarray] = []
        self.scales: list[np.ndarray] = []

    @property
    def complete(self) -> bool:
        return len(self.records) + len(self.errors) == len(self.plan.items(self.shard))

    def add_maps(self, records: list[dict[str, Any]], maps: np.ndarray, scales: np.ndarray) -> None:
        for record in records:
            record.update(shard=self.shard, row=len(self.records))
            self.records.append(record)
        self.maps.append(maps)
        self.scales.append(scales)

    def add_errors(self, source: ImageSource, bad: list[tuple[int, str]]) -> None:
        self.errors.extend({"index": index, "path": source.name(index), "error": reason} for index, reason in bad)

    def write(self, out: Path) -> ShardEntry:
        """Write the shard file durably; return the journal entry to append."""
        # batches come in index order (ShardBatches), so rows are ascending by index
        maps = np.concatenate(self.maps) if self.maps else np.zeros((0,), np.float16)
        scales = np.concatenate(self.scales) if self.scales else np.zeros((0,), np.float32)
        index = np.array([record["index"] for record in self.records], dtype=np.int64)
        data = shard_bytes(index, maps, scales)
        write_atomic(out / self.plan.file(self.shard), data)
        errors = sorted(self.errors, key=lambda error: error["index"])
        return ShardEntry(self.shard, sha256_bytes(data), self.records, errors)
