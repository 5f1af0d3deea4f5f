"""A changed configuration never mixes with earlier results: a clear refusal, nothing overwritten."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from revelio import zoo
from revelio.batch import attribute_dataset
from revelio.batch.config import describe_differences
from revelio.errors import ConfigMismatchError

ARGS = ["--shard-size", "8", "--batch-size", "8", "--workers", "0", "--no-progress"]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def finished(image_folder, revelio, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("config") / "out"
    result = revelio("explain", "--dataset", str(image_folder), "--out", str(out), *ARGS)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (["--method", "saliency"], ["method.name: 'gradcam' there, 'saliency' now", "another --out"]),
        (["--model", "resnet18"], ["model.name: 'shapes' there, 'resnet18' now", "model.sha256", "another --out"]),
    ],
)
def test_reusing_the_output_with_another_configuration_is_refused(change, words, finished, image_folder, revelio,
                                                                  tmp_path):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    before = snapshot(out)
    result = revelio("explain", "--dataset", str(image_folder), "--out", str(out), *ARGS, *change)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to mix" in lines[0], result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert snapshot(out) == before


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"target": 0}, "target: None there, 0 now"),
        ({"shard_size": 5}, "shard_size: 8 there, 5 now"),
        ({"layer": "block2"}, "method.layer: 'block3' there, 'block2' now"),
        ({"options": {"relu": False}}, "method.options.relu: None there, False now"),
    ],
)
def test_other_changes_are_refused_and_a_new_batch_size_is_not(change, words, finished, image_folder, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    before = snapshot(out)
    arguments = {"shard_size": 8, "workers": 0, **change}
    with pytest.raises(ConfigMismatchError, match=re.escape(words)):
        attribute_dataset(zoo.load("shapes"), image_folder, "gradcam", out, 8, **arguments)
    assert snapshot(out) == before
    summary = attribute_dataset(zoo.load("shapes"), image_folder, "gradcam", out, 3, shard_size=8, workers=0)
    assert summary.reused_shards == summary.shards and summary.computed == 0


def test_a_changed_image_list_is_refused_too(image_folder, tmp_path):
    folder = tmp_path / "images"
    shutil.copytree(image_folder, folder)
    out = tmp_path / "out"
    shapes = zoo.load("shapes")
    attribute_dataset(shapes, folder, "gradcam", out, 16, shard_size=16, workers=0)
    before = snapshot(out)
    (folder / "img-000.png").unlink()
    with pytest.raises(ConfigMismatchError, match="images.count: 41 there, 40 now"):
        attribute_dataset(shapes, folder, "gradcam", out, 16, shard_size=16, workers=0)
    with pytest.raises(ConfigMismatchError, match="images.sha256"):
        attribute_dataset(shapes, folder, "gradcam", out, 16, shard_size=16, workers=0, resume=False)
    assert snapshot(out) == before


def test_results_without_a_config_are_refused(tmp_path):
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    with pytest.raises(ConfigMismatchError, match="no config.json"):
        attribute_dataset(zoo.load("shapes"), "shapes:4", "gradcam", out, 4, workers=0)


def test_describe_differences_names_nested_keys():
    stored = {"method": {"name": "gradcam", "layer": "block3"}, "target": None, "gone": 1}
    wanted = {"method": {"name": "saliency", "layer": None}, "target": None}
    assert describe_differences(stored, wanted) == [
        "gone: 1 there, None now",
        "method.layer: 'block3' there, None now",
        "method.name: 'gradcam' there, 'saliency' now",
    ]


def test_an_attribution_instance_runs_and_names_its_class_and_layer(tmp_path):
    from revelio.attribution import GradCAM, Saliency
    from revelio.batch import read_manifest
    from revelio.errors import InputError

    shapes = zoo.load("shapes")
    summary = attribute_dataset(shapes, "shapes:6", GradCAM(shapes.model, "block2"), tmp_path / "out", 4,
                                workers=0)
    config = (tmp_path / "out" / "config.json").read_text()
    assert summary.attributed == 6 and '"name": "gradcam"' in config and '"layer": "block2"' in config
    named = attribute_dataset(shapes, "shapes:6", "gradcam", tmp_path / "named", 4, layer="block2", workers=0)
    assert named.attributed == 6
    assert [r["target"] for r in read_manifest(tmp_path / "out")] == [r["target"] for r in read_manifest(tmp_path / "named")]
    with pytest.raises(InputError, match="another model"):
        attribute_dataset(shapes, "shapes:6", Saliency(zoo.load("shapes").model), tmp_path / "other", 4, workers=0)
