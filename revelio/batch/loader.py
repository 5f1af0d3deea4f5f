"""Reading and preprocessing images in DataLoader workers, batch by batch within shards.

Each item comes back as ``(index, inputs or None, error)``: a file that cannot be read
or preprocessed is caught in the worker and becomes a bad item with its reason, so it
neither stops the worker nor shifts any other item. Preprocessing (resize, crop,
normalise) happens per image in the worker, on the CPU, so images of any size make
one batch. Batches never cross a shard boundary, and are the same whatever the number
of processes, so results are too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from revelio.batch.shards import ShardPlan
from revelio.batch.sources import ImageSource
from revelio.zoo import ZooModel

Item = tuple[int, Tensor | None, str | None]


def default_workers() -> int:
    """DataLoader workers per process: the CPUs this process has, less one for it, at most 4."""
    per_process = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(4, per_process - 1))


class PreparedImages(Dataset[Item]):
    """Items of a source, preprocessed for a model on the CPU; bad items carry their reason.

    Args:
        source: the images.
        zoo_model: whose :meth:`~revelio.zoo.ZooModel.preprocess` makes the inputs (the
            network itself stays out of the workers).
    """

    def __init__(self, source: ImageSource, zoo_model: ZooModel) -> None:
        self.source = source
        # the same preprocessing on the CPU: a ZooModel whose network has no parameters
        self.preprocessing = replace(zoo_model, model=nn.Identity(), gradcam_reshape=None)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Item:
        try:
            image = self.source.load(index)
            if not isinstance(image, Tensor) or image.ndim != 3:
                got = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
                raise ValueError(f"the source gave {got}, not an image tensor (C, H, W)")
            channels = len(self.preprocessing.mean)
            if image.shape[0] != channels:
                raise ValueError(f"{image.shape[0]} channels where the model takes {channels}")
            return index, self.preprocessing.preprocess(image)[0], None
        except Exception as error:  # noqa: BLE001 - any failure of one item is that item's reason
            reason = " ".join(str(error).split()) or type(error).__name__
            return index, None, reason


@dataclass
class Batch:
    """A collated batch: the good items' inputs and indices, and the bad items with their reasons.

    Attributes:
        indices: item indices of the rows of ``inputs``, ascending.
        inputs: ``Tensor[n, C, H, W]`` model inputs, or ``None`` when every item is bad.
        bad: ``(index, reason)`` of each bad item.
    """

    indices: list[int]
    inputs: Tensor | None
    bad: list[tuple[int, str]]

    def __len__(self) -> int:
        return len(self.indices) + len(self.bad)

    def pin_memory(self) -> Batch:
        """The batch with its inputs in pinned memory (the DataLoader calls it when asked to pin)."""
        return Batch(self.indices, None if self.inputs is None else self.inputs.pin_memory(), self.bad)


def collate_items(items: Sequence[Item]) -> Batch:
    """Stack the good items, set the bad ones aside."""
    good = [(index, inputs) for index, inputs, _ in items if inputs is not None]
    bad = [(index, error or "unknown error") for index, inputs, error in items if inputs is None]
    inputs = torch.stack([inputs for _, inputs in good]) if good else None
    return Batch([index for index, _ in good], inputs, bad)


class ShardBatches(Sampler[list[int]]):
    """Batches of item indices, shard after shard, never crossing a shard boundary.

    Args:
        plan: the shard layout.
        shards: the shards to read, in order.
        batch_size: items per batch (the last batch of a shard may hold fewer).
    """

    def __init__(self, plan: ShardPlan, shards: Sequence[int], batch_size: int) -> None:
        self.plan, self.shards, self.batch_size = plan, list(shards), batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for shard in self.shards:
            items = self.plan.items(shard)
            for start in range(0, len(items), self.batch_size):
                yield list(items[start : start + self.batch_size])

    def __len__(self) -> int:
        return sum(-(-len(self.plan.items(shard)) // self.batch_size) for shard in self.shards)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers resize images; the main process computes


def make_loader(dataset: PreparedImages, batches: ShardBatches, workers: int, pin_memory: bool) -> DataLoader:
    """A DataLoader over ``batches`` of ``dataset`` with ``workers`` worker processes (0: in this process)."""
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=collate_items,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers else None,
    )
