"""Crash safety: a run killed with SIGKILL resumes to the output of an uninterrupted run; damage is redone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from revelio import zoo
from revelio.batch import attribute_dataset, read_manifest, read_shard
from revelio.batch.journal import part_path

DATASET = "shapes:800:3"
ARGS = ["--dataset", DATASET, "--shard-size", "40", "--batch-size", "20", "--workers", "1", "--no-progress"]


def assert_same_output(first: Path, second: Path) -> None:
    assert (first / "manifest.jsonl").read_bytes() == (second / "manifest.jsonl").read_bytes()
    assert (first / "errors.jsonl").read_bytes() == (second / "errors.jsonl").read_bytes()
    shards = sorted(path.name for path in (first / "shards").iterdir())
    assert shards == sorted(path.name for path in (second / "shards").iterdir())
    for name in shards:
        a, b = read_shard(first / "shards" / name), read_shard(second / "shards" / name)
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.maps, b.maps)


def journal_lines(out: Path) -> int:
    path = part_path(out, 0)
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(revelio, env, tmp_path):
    reference = tmp_path / "reference"
    result = revelio("explain", *ARGS, "--out", str(reference))
    assert result.returncode == 0, result.stderr

    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "revelio", "explain", *ARGS, "--out", str(out)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while journal_lines(out) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.kill()  # SIGKILL: no cleanup of any kind
    process.wait()
    assert process.returncode == -9, "the run finished before it could be killed"
    assert not (out / "manifest.jsonl").exists()
    done = journal_lines(out)
    assert 3 <= done < 20
    # what a kill can also leave: a journal line cut short, a half-written temporary shard file
    with open(part_path(out, 0), "a") as file:
        file.write('{"shard": 19, "sha256": "ab')
    (out / "shards" / ".shard-000019.npz.12345.tmp").write_bytes(b"PK\x03\x04 half")

    result = revelio("explain", *ARGS, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{done} of 20 shards were already done" in result.stdout, result.stdout
    assert_same_output(reference, out)
    indices = [record["index"] for record in read_manifest(out)]
    assert indices == list(range(800))
    assert not list((out / "shards").glob(".*.tmp"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "out"
    attribute_dataset(zoo.load("shapes"), "shapes:60:1", "gradcam", out, 8, shard_size=10, workers=0)
    return out


def test_damaged_and_unrecorded_shards_are_redone(finished, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    corrupt = out / "shards" / "shard-000002.npz"
    data = bytearray(corrupt.read_bytes())
    data[-100] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    (out / "shards" / "shard-000004.npz").unlink()
    journal = part_path(out, 0)  # a shard written but not recorded: the kill came between the two
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(line for line in lines if json.loads(line)["shard"] != 5))

    summary = attribute_dataset(zoo.load("shapes"), "shapes:60:1", "gradcam", out, 8, shard_size=10, workers=0)
    assert (summary.reused_shards, summary.redone_shards, summary.computed) == (3, 3, 30)
    assert_same_output(finished, out)


def test_no_resume_computes_everything_again_with_the_same_result(finished, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    summary = attribute_dataset(zoo.load("shapes"), "shapes:60:1", "gradcam", out, 8, shard_size=10, workers=0,
                                resume=False)
    assert (summary.reused_shards, summary.computed) == (0, 60)
    assert journal_lines(out) == 6  # a fresh journal
    assert_same_output(finished, out)
