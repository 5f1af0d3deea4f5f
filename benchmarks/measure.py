"""Timers, interleaved rounds, peak memory and statistics.

Timing: on CUDA each call is bracketed by CUDA events recorded on the current stream,
after a ``synchronize`` so that no earlier work is counted, and read after the end
event has completed; on the CPU ``time.perf_counter``. Workloads run in rounds, every
workload once per round, and the order rotates from round to round, so that load from
other processes and any warm-state effect fall on every workload alike.

Peak memory is the growth above what was allocated when the call started:

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, less
  ``memory_allocated`` before the call;
- CPU: the running sum of the allocation and free events that torch's profiler
  records (``profile_memory=True``) during one call, at its highest. This counts
  every tensor torch allocates on the CPU, from Python or from the autograd engine,
  the CPU analogue of ``max_memory_allocated``. Buffers that NumPy or OpenCV allocate
  (pytorch-grad-cam computes its maps in NumPy) are not counted. Peak RSS growth was
  not used: the process's high-water mark never goes down, so within one process it
  only shows the largest workload, and the allocator keeps freed pages.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


class BenchmarkError(RuntimeError):
    """A benchmark that cannot run as asked (no GPU, an unknown model ...); the message says why."""


def resolve_device(name: str) -> torch.device:
    """The device to benchmark on; a clear error for CUDA without a GPU.

    Raises:
        BenchmarkError: ``cuda`` asked where torch sees no CUDA GPU.
    """
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise BenchmarkError(
            f"--device {name}: torch sees no CUDA GPU (torch {torch.__version__}, {build}; "
            "torch.cuda.is_available() is False). Run on a machine with a GPU (benchmarks/gpu.sh), "
            "or use --device cpu."
        )
    if device.type not in ("cpu", "cuda"):
        raise BenchmarkError(f"--device must be cpu or cuda[:index], got {name!r}")
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)  # events record on the current device's stream: make it this one
    return device


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for half precision on CUDA; nothing for float32.

    Raises:
        BenchmarkError: a half-precision dtype on the CPU (the suite measures autocast on CUDA only).
    """
    if dtype == "float32":
        return contextlib.nullcontext()
    if dtype not in DTYPES:
        raise BenchmarkError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if device.type != "cuda":
        raise BenchmarkError(f"--dtype {dtype} is autocast on CUDA; on the CPU the suite measures float32 only")
    return torch.autocast(device_type="cuda", dtype=DTYPES[dtype])


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes on ``device``; its result is dropped."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        result = fn()
        end.record()
        end.synchronize()
        del result
        return start.elapsed_time(end) / 1e3
    begin = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - begin
    del result
    return seconds


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` starting at ``shift`` (mod its length): the running order of one round."""
    if not items:
        return []
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])


@contextlib.contextmanager
def quiet_fds() -> Iterator[None]:
    """Silence file descriptors 1 and 2 for the block (the profiler's C++ log lines)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def peak_memory(fn: Callable[[], Any], device: torch.device) -> int:
    """Peak bytes allocated during one call of ``fn``, above what was allocated at its start.

    CUDA: ``max_memory_allocated``; CPU: torch's profiler memory events (see the module
    docstring for what is and is not counted).
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del result
        return int(peak)
    from torch.profiler import ProfilerActivity, profile

    with quiet_fds(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            result = fn()
        del result
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        if event.device_type() != torch._C._autograd.DeviceType.CPU:
            continue
        live += event.nbytes()
        peak = max(peak, live)
    return int(peak)


def summary(times: Sequence[float]) -> dict[str, float]:
    """Median, quartiles, extremes and relative spread ((q3 - q1) / median) of ``times``."""
    if not times:
        return {}
    ordered = sorted(times)
    median = statistics.median(ordered)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median_s": median,
        "q1_s": q1,
        "q3_s": q3,
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "spread": (q3 - q1) / median if median > 0 else math.nan,
    }


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``max |actual - expected| / max |expected|``, in float64 on the CPU; ``inf`` for a shape mismatch."""
    actual = torch.as_tensor(actual).detach().to("cpu", torch.float64)
    expected = torch.as_tensor(expected).detach().to("cpu", torch.float64)
    if actual.shape != expected.shape:
        return math.inf
    scale = expected.abs().max().item()
    difference = (actual - expected).abs().max().item()
    if scale == 0:
        return 0.0 if difference == 0 else math.inf
    return difference / scale
