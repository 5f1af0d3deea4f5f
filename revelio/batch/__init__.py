"""Attribution over whole data sets: batches, resumable shards, many processes under ``torchrun``.

:func:`attribute_dataset` reads images with a DataLoader (workers decode and resize),
runs any attribution method batch by batch and writes float16 maps in shard files
plus a JSON Lines manifest; a crashed run resumes where it stopped, bad images are
listed with their reasons, and ``torchrun`` spreads the shards over processes and
machines with the same result as one process. See docs/scale.md.

Example:
    >>> summary = attribute_dataset(zoo.load("shapes"), "images/", "gradcam", "out/", batch_size=32)
    >>> for record, saliency in iter_maps("out/"):
    ...     print(record["path"], record["predicted"], saliency.shape)
"""

from revelio.batch.distributed import World, process_device, process_world
from revelio.batch.results import iter_maps, read_errors, read_manifest
from revelio.batch.run import DEFAULT_SHARD_SIZE, BatchSummary, attribute_dataset
from revelio.batch.shards import ShardData, ShardPlan, read_shard
from revelio.batch.sources import ImageFiles, ImageSource, ShapesImages, as_source, load_image_file

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "BatchSummary",
    "ImageFiles",
    "ImageSource",
    "ShapesImages",
    "ShardData",
    "ShardPlan",
    "World",
    "as_source",
    "attribute_dataset",
    "iter_maps",
    "load_image_file",
    "process_device",
    "process_world",
    "read_errors",
    "read_manifest",
    "read_shard",
]
