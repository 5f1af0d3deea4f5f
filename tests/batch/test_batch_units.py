"""The pieces of revelio.batch on their own: shards, storage, journal, sources, checks, processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from revelio import zoo
from revelio.attribution import GradCAM, Saliency
from revelio.batch import (
    ImageFiles,
    ShapesImages,
    ShardPlan,
    as_source,
    attribute_dataset,
    iter_maps,
    process_device,
    process_world,
    read_errors,
    read_manifest,
)
from revelio.batch.distributed import backend_for, launched_world
from revelio.batch.journal import JournalWriter, ShardEntry, part_path, read_entries
from revelio.batch.shards import encode_maps
from revelio.errors import DistributedError, IncompleteOutputError, InputError, LayerNotFoundError, TargetError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE")


@pytest.mark.parametrize("total", [1, 7, 40, 41])
def test_shards_split_the_items_the_same_way_for_any_number_of_processes(total):
    plan = ShardPlan(total, 6)
    assert [index for shard in range(plan.count) for index in plan.items(shard)] == list(range(total))
    for world_size in range(1, 6):
        owned = [plan.owned(rank, world_size) for rank in range(world_size)]
        assert sorted(shard for shards in owned for shard in shards) == list(range(plan.count))


def test_maps_keep_their_relative_precision_at_any_scale():
    maps = np.stack([np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 8, 8) * scale
                     for scale in (1e-9, 1.0, 1e6, 0.0)])
    stored, scales = encode_maps(maps)
    assert stored.dtype == np.float16 and scales.dtype == np.float32
    restored = stored.astype(np.float32) * scales[:, None, None, None]
    assert np.isfinite(restored).all()
    for original, back in zip(maps, restored):
        np.testing.assert_allclose(back, original, rtol=1e-3, atol=1e-3 * np.abs(original).max())


def test_journal_ignores_and_cuts_a_line_cut_short(tmp_path):
    entry = ShardEntry(3, "ab" * 32, [{"index": 18}], [{"index": 19, "path": "x", "error": "empty file (0 bytes)"}])
    with JournalWriter(tmp_path, 0) as journal:
        journal.append(entry)
    with open(part_path(tmp_path, 0), "a") as file:
        file.write(entry.to_line()[:20])
    assert read_entries(tmp_path) == {3: [entry]}
    with JournalWriter(tmp_path, 0) as journal:
        journal.append(ShardEntry(4, "cd" * 32))
    assert part_path(tmp_path, 0).read_text().count("\n") == 2
    assert sorted(read_entries(tmp_path)) == [3, 4]


def test_sources_from_folders_globs_lists_and_the_shapes_task(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.png", "a.png", "c.jpg", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "d.png").write_bytes(b"x")
    folder = as_source(tmp_path)
    assert [folder.name(i) for i in range(len(folder))] == [str(tmp_path / n) for n in ("a.png", "b/2.png", "c.jpg")]
    pattern = as_source(str(tmp_path / "**" / "*.png"))
    assert [pattern.name(i) for i in range(len(pattern))] == [str(tmp_path / n) for n in ("a.png", "b/2.png")]
    listed = as_source([tmp_path / "c.jpg", tmp_path / "a.png"])
    assert isinstance(listed, ImageFiles) and listed.name(0) == str(tmp_path / "c.jpg")
    before = folder.fingerprint()
    assert as_source(str(tmp_path)).fingerprint() == before
    (tmp_path / "a.png").write_bytes(b"xy")  # same names, another size: another list
    assert as_source(str(tmp_path)).fingerprint() != before
    shapes = as_source("shapes:10:4")
    assert isinstance(shapes, ShapesImages) and len(shapes) == 10 and shapes.name(3) == "shapes:4:3"
    assert torch.equal(shapes.load(3), zoo.make_batch(1, seed=4, start=3).images[0])
    assert as_source(zoo.ShapesDataset(10, seed=4)).fingerprint() == shapes.fingerprint()


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ("{tmp}/nothing-here", "not a folder, a glob or shapes:N"),
        ("{tmp}/*.nothing", "no files match"),
        ("{tmp}/empty", "holds no files"),
        ("shapes-512", "shapes:N or shapes:N:SEED"),
        ("{tmp}/file.txt", "is a file"),
    ],
)
def test_bad_data_set_specs_say_what_to_do(dataset, message, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match=message):
        as_source(dataset.format(tmp=tmp_path))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"method": "gradcan"}, ValueError, "did you mean 'gradcam'"),
        ({"layer": "block9"}, LayerNotFoundError, "block9"),
        ({"batch_size": 0}, InputError, "batch_size must be a positive int"),
        ({"shard_size": 2.5}, InputError, "shard_size must be a positive int"),
        ({"workers": -1}, InputError, "workers must be an int >= 0"),
        ({"target": 6}, TargetError, "out of range"),
        ({"options": {"upsampel": False}}, InputError, "options for gradcam"),
        ({"dataset": "{tmp}/images", "out_dir": "{tmp}/images/out"}, InputError, "inside the data set's folder"),
    ],
)
def test_bad_arguments_fail_before_anything_is_written(arguments, error, message, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"x")
    call = {"dataset": "shapes:4", "method": "gradcam", "out_dir": "{tmp}/out", **arguments}
    call = {key: value.format(tmp=tmp_path) if isinstance(value, str) else value for key, value in call.items()}
    with pytest.raises(error, match=message):
        attribute_dataset(zoo.load("shapes"), **call)
    assert not (tmp_path / "out").exists() and not (tmp_path / "images" / "out").exists()


@pytest.mark.parametrize("method", [GradCAM, Saliency])
def test_maps_and_records_are_those_of_the_method_on_each_image(method, tmp_path):
    shapes = zoo.load("shapes")
    summary = attribute_dataset(shapes, "shapes:20:9", method.__name__.lower(), tmp_path, 8, shard_size=12,
                                workers=0, target=2)
    assert (summary.total, summary.attributed, summary.failed, summary.computed) == (20, 20, 0, 20)
    assert "20 images: 20 attributed, 0 unreadable" in str(summary)
    images = zoo.make_batch(20, seed=9).images
    inputs = shapes.normalize(images)
    attribution = method(shapes.model, "block3") if method is GradCAM else method(shapes.model)
    expected = attribution.attribute(inputs, 2).numpy()
    with torch.no_grad():
        probabilities = shapes.probabilities(shapes.model(inputs))
    for record, saliency in iter_maps(tmp_path):
        index = record["index"]
        assert record["path"] == f"shapes:9:{index}" and record["target"] == 2
        assert (record["shard"], record["row"]) == (index // 12, index % 12)
        assert record["predicted"] == int(probabilities[index].argmax())
        assert record["target_score"] == pytest.approx(float(probabilities[index, 2]), abs=1e-5)
        reference = expected[index]
        np.testing.assert_allclose(saliency, reference, rtol=0, atol=1e-3 * np.abs(reference).max())
    assert read_errors(tmp_path) == []


def test_reading_an_unfinished_run_says_to_resume(tmp_path):
    with pytest.raises(IncompleteOutputError, match="resume"):
        read_manifest(tmp_path)


@pytest.fixture
def torchrun_env(monkeypatch):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_torchrun_a_world_of_one_process(torchrun_env):
    assert launched_world().size == 1
    with process_world("cpu") as world:
        assert (world.rank, world.size, world.distributed) == (0, 1, False)
        assert world.broadcast("x") == "x" and world.gather(3) == [3]
    assert process_device("cuda") == torch.device("cuda")


def test_torchrun_variables_are_checked(torchrun_env):
    torchrun_env.setenv("WORLD_SIZE", "2")
    with pytest.raises(DistributedError, match="RANK and WORLD_SIZE"):
        launched_world()
    torchrun_env.setenv("RANK", "1")
    with pytest.raises(DistributedError, match="MASTER_ADDR"):
        launched_world()
    torchrun_env.setenv("MASTER_ADDR", "127.0.0.1")
    torchrun_env.setenv("MASTER_PORT", "29999")
    torchrun_env.setenv("LOCAL_RANK", "1")
    assert launched_world().local_rank == 1
    assert process_device("cuda") == torch.device("cuda", 1)
    with pytest.raises(DistributedError, match="cuda:1"), process_world(torch.device("cuda", 0)):
        pass


def test_backends_are_nccl_on_cuda_and_gloo_elsewhere():
    assert backend_for(torch.device("cuda", 1)) == "nccl"
    assert backend_for(torch.device("cpu")) == "gloo"


def test_a_folder_with_a_link_loop_lists_each_real_file_once(tmp_path):
    import os

    from revelio.batch import as_source

    folder = tmp_path / "data"
    (folder / "a" / "b").mkdir(parents=True)
    for name in ("a/one.png", "a/b/two.png"):
        (folder / name).write_bytes(b"\x89PNG")
    os.symlink(folder, folder / "a" / "b" / "back")  # a loop: data/a/b/back -> data
    os.symlink(folder / "a" / "one.png", folder / "alias.png")  # one file under two names
    names = [os.path.relpath(as_source(str(folder)).name(i), folder) for i in range(len(as_source(str(folder))))]
    assert sorted(names) == ["a/b/two.png", "alias.png"]  # the walk meets data/alias.png before data/a/one.png
