"""The command line end to end, through a subprocess, including every user error."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest
import torch

from revelio.cli import parse_units
from revelio.zoo import CLASS_NAMES, make_batch
from revelio.zoo.train import TEST_SEED


def revelio(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "revelio", *args], capture_output=True, text=True, timeout=timeout,
        env={"PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def shapes_images(tmp_path_factory) -> tuple[list[str], torch.Tensor]:
    folder = tmp_path_factory.mktemp("images")
    batch = make_batch(3, seed=TEST_SEED, start=500)
    paths = []
    for index, image in enumerate(batch.images):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        path = folder / f"shape{index}.png"
        cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        paths.append(str(path))
    return paths, batch.labels


def assert_user_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_help_lists_every_command():
    result = revelio("--help")
    assert result.returncode == 0
    for command in ("demo", "explain", "visualize", "layers", "sanity"):
        assert command in result.stdout


def test_layers_lists_the_bundled_model_in_call_order():
    result = revelio("layers")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert names.index("block1") < names.index("block2") < names.index("block3") < names.index("head")
    assert "default layer of the CAM methods" in next(line for line in result.stdout.splitlines() if line.startswith("block3 "))
    assert "1x64x16x16" in result.stdout


def test_explain_writes_every_method_and_a_manifest(shapes_images, tmp_path):
    paths, labels = shapes_images
    out = tmp_path / "out"
    result = revelio("explain", *paths, "--method", "all", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "explanations.json").read_text())
    from revelio import registry

    assert len(records) == len(registry.names()) * len(paths)
    assert {record["method"] for record in records} == set(registry.names())
    for record in records:
        assert (out / record["map"]).is_file()
        index = paths.index(record["image"])
        assert labels[index, record["predicted"]] == 1  # the bundled model's top class is one of the two objects
    image = cv2.imread(str(out / records[0]["map"]))
    assert image is not None and image.shape[:2] == (64, 64)
    assert not [p for p in out.iterdir() if p.name.startswith(".revelio-")]


@pytest.mark.parametrize("flags", [["--method", "saliency,gradcam"], ["--method", "saliency", "--method", "gradcam"]])
def test_explain_takes_several_methods(flags, shapes_images, tmp_path):
    paths, _ = shapes_images
    result = revelio("explain", paths[0], *flags, "--out", str(tmp_path / "o"), "--no-progress")
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "o" / "explanations.json").read_text())
    assert [r["method"] for r in records] == ["saliency", "gradcam"]


def test_explain_by_class_name(shapes_images, tmp_path):
    paths, _ = shapes_images
    result = revelio("explain", paths[0], "--target", CLASS_NAMES[2], "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert all(r["target"] == 2 for r in json.loads((tmp_path / "o" / "explanations.json").read_text()))


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (folder / "notes.txt").write_text("not an image")
    torch.save({"conv.weight": torch.zeros(3)}, folder / "wrong.pt")
    (folder / "file").write_text("a file where a folder should be")
    return {name.split(".")[0]: str(folder / name) for name in ("corrupt.png", "notes.txt", "wrong.pt", "file")}


@pytest.mark.parametrize(
    "args, words",
    [
        (["{image}", "missing.png"], ["missing.png"]),
        (["{corrupt}"], ["cannot decode"]),
        (["{notes}"], ["cannot decode"]),
        (["{image}", "--model", "resnt18"], ["resnet18"]),
        (["{image}", "--layer", "block5"], ["block3"]),
        (["{image}", "--target", "9"], ["out of range", "0..5"]),
        (["{image}", "--target", "cirle"], ["circle"]),
        (["{image}", "--method", "gradcm"], ["did you mean 'gradcam'"]),
        (["{image}", "--method", "saliency,lime"], ["unknown method 'lime'"]),
        (["{image}", "--model", "resnet18", "--weights", "{wrong}"], ["do not fit"]),
        (["{image}", "--weights", "{wrong}"], ["--weights"]),
        (["{image}", "--device", "tpu"], ["--device"]),
    ],
)
def test_explain_user_errors_print_one_line_and_leave_nothing(args, words, shapes_images, bad_files, tmp_path):
    paths, _ = shapes_images
    files = {"image": paths[0], **bad_files}
    out = tmp_path / "out"
    result = revelio("explain", *[arg.format(**files) for arg in args], "--out", str(out))
    assert_user_error(result, *words)
    assert not out.exists()


def test_an_unwritable_output_folder_is_refused(shapes_images, bad_files):
    result = revelio("explain", shapes_images[0][0], "--out", bad_files["file"] + "/sub")
    assert_user_error(result, "is a file")


def test_visualize_writes_a_grid_and_one_image_per_unit(tmp_path):
    out = tmp_path / "viz"
    result = revelio("visualize", "--layer", "block3", "--units", "0-2,5", "--method", "bilateral",
                     "--steps", "4", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["block3-bilateral-unit0.png", "block3-bilateral-unit1.png",
                     "block3-bilateral-unit2.png", "block3-bilateral-unit5.png", "block3-bilateral.png"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--layer", "block3", "--units", "0-x"], ["--units"]),
        (["--layer", "block3", "--units", "64"], ["64"]),
        (["--layer", "blok3"], ["block3"]),
    ],
)
def test_visualize_user_errors(args, words, tmp_path):
    out = tmp_path / "viz"
    assert_user_error(revelio("visualize", *args, "--steps", "2", "--out", str(out)), *words)
    assert not out.exists()


def test_parse_units():
    assert parse_units("0-3,8") == [0, 1, 2, 3, 8]
    assert parse_units("5") == [5]
    for bad in ("3-1", "-1", "a", "1-"):
        with pytest.raises(ValueError, match="--units"):
            parse_units(bad)


def test_demo_writes_a_report_whose_images_all_load_in_a_browser(tmp_path):
    out = tmp_path / "demo"
    result = revelio("demo", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["index.html"]
    table = result.stdout.splitlines()
    assert table[0].split()[:2] == ["method", "pointing"]
    rows = {" ".join(line.split()[:-3]): [float(v) for v in line.split()[-3:]] for line in table[1:-1]}
    # Grad-CAM points at the asked object and tells the two objects apart; the random baseline does neither
    assert rows["gradcam"][0] > 0.7 and rows["gradcam"][2] > 0.2
    assert rows["gradcam"][0] > rows["baseline: random"][0] + 0.4
    from browser import images_in_browser

    assert images_in_browser(out / "index.html", tmp_path / "profile") == "IMAGES-OK 4"
