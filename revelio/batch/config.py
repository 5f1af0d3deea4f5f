"""The configuration of a batch run, written first as ``config.json`` and compared on resume.

Everything that changes the results is in it: the model (name, weights source and a
SHA-256 of its parameters and buffers), the preprocessing, the method, its layer and
options, the target, the image list (a fingerprint), the shard size, how maps are
stored, and the revelio version. An output folder is only ever continued by a run of
the same configuration; any difference is refused with the keys that differ.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from revelio.batch.journal import PART_FOLDER
from revelio.batch.shards import SHARD_FOLDER
from revelio.io import write_atomic
from revelio.errors import ConfigMismatchError
from revelio.zoo import ZooModel

CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.jsonl"
ERRORS_FILE = "errors.jsonl"
FORMAT = 1


def model_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers: names, dtypes, shapes and values."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def run_config(
    zoo_model: ZooModel,
    *,
    method: str,
    layer: str | None,
    options: dict[str, Any],
    target: int | None,
    images: dict[str, Any],
    shard_size: int,
) -> dict[str, Any]:
    """The configuration of a run, JSON-ready (tuples become lists, as after a round trip)."""
    from revelio import __version__

    config = {
        "format": FORMAT,
        "revelio": __version__,
        "model": {"name": zoo_model.name, "weights": zoo_model.weights, "sha256": model_sha256(zoo_model.model)},
        "preprocessing": {
            "input_size": list(zoo_model.input_size),
            "resize_size": zoo_model.resize_size,
            "mean": list(zoo_model.mean),
            "std": list(zoo_model.std),
        },
        "method": {"name": method, "layer": layer, "options": options},
        "target": target,
        "images": images,
        "shard_size": shard_size,
        "maps": {"dtype": "float16", "scaled_by": "max_abs"},
    }
    return json.loads(json.dumps(config))


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 of a configuration, to check that every process of a run has the same one."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def prepare_output(out: Path, config: dict[str, Any], resume: bool | None, dataset: str) -> bool:
    """Make ``out`` ready for a run of ``config``; return whether earlier results are kept.

    A new or empty folder gets ``config.json``. A folder with the same configuration is
    resumed (``resume`` ``None`` or ``True``) or started over (``resume=False``: the
    journal and the merged files are removed; shard files are rewritten as the run
    goes). Nothing is written or removed when the configuration differs.

    Raises:
        ConfigMismatchError: ``out`` holds results of another configuration, or results
            without a ``config.json``.
    """
    path = out / CONFIG_FILE
    if not path.exists():
        leftovers = [name for name in (SHARD_FOLDER, PART_FOLDER, MANIFEST_FILE) if (out / name).exists()]
        if leftovers:
            raise ConfigMismatchError(
                f"{out} holds batch results ({', '.join(leftovers)}) but no {CONFIG_FILE}, so they cannot be "
                "checked; choose another --out, or delete them to start over"
            )
        info = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "torch": torch.__version__, "dataset": dataset}
        write_atomic(path, (json.dumps({**config, "info": info}, indent=2) + "\n").encode())
        return False
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigMismatchError(
            f"cannot read {path} ({error}); choose another --out, or delete {out} to start over"
        ) from None
    stored.pop("info", None)
    differences = describe_differences(stored, config)
    if differences:
        raise ConfigMismatchError(
            f"{out} holds results of another configuration ({'; '.join(differences)}); refusing to mix them: "
            "choose another --out, or delete that folder to start over"
        )
    if resume is False:
        shutil.rmtree(out / PART_FOLDER, ignore_errors=True)
        for name in (MANIFEST_FILE, ERRORS_FILE):
            (out / name).unlink(missing_ok=True)
        return False
    return True


def describe_differences(stored: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """``["method.name: 'gradcam' there, 'saliency' now", ...]`` for every key whose value differs."""
    differences = []
    for key in sorted(set(stored) | set(wanted)):
        name = f"{prefix}{key}"
        there, now = stored.get(key), wanted.get(key)
        if isinstance(there, dict) and isinstance(now, dict):
            differences.extend(describe_differences(there, now, f"{name}."))
        elif there != now:
            differences.append(f"{name}: {_short(there)} there, {_short(now)} now")
    return differences


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
