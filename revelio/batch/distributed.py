"""The processes of a run: one, or many under ``torchrun`` (PyTorch's launcher, no scheduler of ours).

``torchrun`` starts one process per GPU (or per share of the CPU) on each machine and
tells each its place through environment variables: ``RANK`` and ``WORLD_SIZE``
(global), ``LOCAL_RANK`` (on its machine), ``MASTER_ADDR`` and ``MASTER_PORT`` (where
to meet). :func:`process_world` joins the process group those describe, with the
``nccl`` backend for a model on CUDA (device ``cuda:LOCAL_RANK``) and ``gloo`` on the
CPU, and leaves it at the end, also on error. Without those variables it is a world
of one process and needs no group.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from revelio.errors import DistributedError

DEFAULT_TIMEOUT = timedelta(hours=1)
"""How long a process waits for the others at a meeting point (the end of a run waits for the slowest)."""


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run.

    Attributes:
        rank: global rank, ``0 .. size - 1``.
        size: number of processes.
        local_rank: rank on this machine (the GPU index under ``torchrun``).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether there is a process group to talk to."""
        return self.size > 1

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.distributed:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value``, on every process (a meeting point)."""
        if not self.distributed:
            return value
        box = [value if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, by rank, on every process (a meeting point)."""
        if not self.distributed:
            return [value]
        values: list[Any] = [None] * self.size
        dist.all_gather_object(values, value)
        return values


def launched_world() -> World:
    """This process's place as ``torchrun`` describes it in the environment; a world of one without it.

    Raises:
        DistributedError: the variables are incomplete or inconsistent.
    """
    env = os.environ
    if "WORLD_SIZE" not in env and "RANK" not in env:
        return World()
    try:
        size, rank = int(env["WORLD_SIZE"]), int(env["RANK"])
        local_rank = int(env.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError):
        raise DistributedError(
            "RANK and WORLD_SIZE must both be set to integers; launch distributed runs with torchrun "
            "(torchrun --nproc-per-node K -m revelio explain ...)"
        ) from None
    if not 0 <= rank < size:
        raise DistributedError(f"RANK={rank} is outside WORLD_SIZE={size}; launch distributed runs with torchrun")
    if size > 1 and not (env.get("MASTER_ADDR") and env.get("MASTER_PORT")):
        raise DistributedError(
            "MASTER_ADDR and MASTER_PORT are not set; launch distributed runs with torchrun, which sets them"
        )
    return World(rank=rank, size=size, local_rank=local_rank)


def process_device(device: torch.device | str) -> torch.device:
    """The device this process should use: a bare ``cuda`` becomes ``cuda:LOCAL_RANK`` under ``torchrun``."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        world = launched_world()
        if world.distributed:
            return torch.device("cuda", world.local_rank)
    return device


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def process_world(device: torch.device | str, timeout: timedelta = DEFAULT_TIMEOUT) -> Iterator[World]:
    """Join the run's process group for the duration of the block; leave it at the end, also on error.

    A group that the caller already initialised is used as it is and left open.

    Args:
        device: the device of this process's model; a CUDA device must be
            ``cuda:LOCAL_RANK``, one GPU per process.
        timeout: how long to wait for the other processes at a meeting point.

    Raises:
        DistributedError: an incomplete launch environment, or a CUDA device that is
            not this process's GPU.
    """
    device = torch.device(device)
    if dist.is_available() and dist.is_initialized():
        yield World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
        return
    world = launched_world()
    if not world.distributed:
        yield world
        return
    if not dist.is_available():
        raise DistributedError("this PyTorch build has no torch.distributed; run one process, or install one with it")
    if device.type == "cuda":
        if device.index != world.local_rank:
            raise DistributedError(
                f"process {world.rank} has its model on {device}, but under torchrun each process uses its own GPU, "
                f"cuda:{world.local_rank} (LOCAL_RANK); put the model on cuda:LOCAL_RANK"
            )
        torch.cuda.set_device(device)  # object collectives of nccl use the current device
    dist.init_process_group(
        backend_for(device), rank=world.rank, world_size=world.size, timeout=timeout,
        device_id=device if device.type == "cuda" else None,
    )
    try:
        yield world
    finally:
        dist.destroy_process_group()
