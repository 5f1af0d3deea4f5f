"""One process and ``torchrun --nproc-per-node 2`` (gloo, CPU) give the same output, also when resuming."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from revelio.batch import read_shard

COMMON = ["--shard-size", "6", "--batch-size", "4", "--workers", "1", "--no-progress"]


def sorted_lines(path: Path) -> list[dict]:
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda record: record["index"])


def assert_same_output(first: Path, second: Path) -> None:
    assert sorted_lines(first / "manifest.jsonl") == sorted_lines(second / "manifest.jsonl")
    assert sorted_lines(first / "errors.jsonl") == sorted_lines(second / "errors.jsonl")
    shards = sorted(path.name for path in (first / "shards").glob("*.npz"))
    assert shards == sorted(path.name for path in (second / "shards").glob("*.npz"))
    for name in shards:
        a, b = read_shard(first / "shards" / name), read_shard(second / "shards" / name)
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.maps, b.maps)


@pytest.fixture(scope="module")
def single_run(image_folder, revelio, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single") / "out"
    result = revelio("explain", "--dataset", str(image_folder), "--out", str(out), *COMMON)
    assert result.returncode == 0, result.stderr
    return out


def test_torchrun_two_processes_equals_one_process(single_run, image_folder, revelio, tmp_path):
    out = tmp_path / "out"
    result = revelio("explain", "--dataset", str(image_folder), "--out", str(out), *COMMON, nproc=2)
    assert result.returncode == 0, result.stderr
    assert "2 processes" in result.stdout and result.stdout.count("wrote") == 1  # process 0 reports
    assert sorted(path.name for path in (out / "parts").iterdir()) == ["rank-00000.jsonl", "rank-00001.jsonl"]
    assert_same_output(single_run, out)
    manifest = sorted_lines(out / "manifest.jsonl")
    errors = sorted_lines(out / "errors.jsonl")
    indices = [record["index"] for record in manifest] + [error["index"] for error in errors]
    assert sorted(indices) == list(range(41)) and len(set(indices)) == 41  # no duplicates, no gaps
    assert [error["path"] for error in errors] == [str(image_folder / "img-017b.png")]


def test_torchrun_resumes_a_one_process_run_with_missing_shards(single_run, image_folder, revelio, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(single_run, out)
    for name in ("shard-000001.npz", "shard-000004.npz"):
        (out / "shards" / name).unlink()
    (out / "manifest.jsonl").unlink()
    result = revelio("explain", "--dataset", str(image_folder), "--out", str(out), *COMMON, nproc=2)
    assert result.returncode == 0, result.stderr
    assert "5 of 7 shards were already done" in result.stdout, result.stdout
    assert "2 incomplete or damaged shards computed again" in result.stdout, result.stdout
    assert_same_output(single_run, out)
