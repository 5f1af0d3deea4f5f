"""Bad files are listed with their reasons and skipped; they stop nothing and shift nothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from revelio import zoo
from revelio.attribution import GradCAM
from revelio.batch import iter_maps, load_image_file, read_errors, read_manifest
from revelio.errors import InputError
from revelio.io import read_image


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory):
    """Valid PNGs (colour, grayscale, another size), a JPEG, and corrupt, truncated, empty and non-image files."""
    folder = tmp_path_factory.mktemp("messy")
    images = zoo.make_batch(8, seed=21).images
    valid = {}
    for index, image in enumerate(images[:6]):
        pixels = cv2.cvtColor((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
        name = f"good-{index}.png"
        if index == 1:
            pixels, name = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), "good-1-gray.png"
        if index == 2:
            pixels = cv2.resize(pixels, (150, 90))
        if index == 3:
            name = "good-3.jpg"
        cv2.imwrite(str(folder / name), pixels)
        valid[name] = folder / name
    png = (folder / "good-0.png").read_bytes()
    jpeg = (folder / "good-3.jpg").read_bytes()
    corrupt = bytearray(png)
    corrupt[60:200] = bytes(range(140))
    bad = {
        "corrupt.png": (bytes(corrupt), "corrupt or truncated PNG"),
        "truncated.png": (png[: len(png) // 2], "corrupt or truncated PNG"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated JPEG"),
        "empty.png": (b"", "empty file"),
        "notes.txt": (b"labels: circle, square\n", "not an image file"),
        "fake.jpg": (b"<html>not a picture</html>", "not an image file"),
    }
    for name, (data, _) in bad.items():
        (folder / name).write_bytes(data)
    return folder, valid, {name: reason for name, (_, reason) in bad.items()}


def test_valid_files_are_all_done_and_bad_ones_listed_with_reasons(messy_folder, revelio, tmp_path):
    folder, valid, bad = messy_folder
    out = tmp_path / "out"
    args = ["--dataset", str(folder), "--out", str(out), "--batch-size", "3", "--shard-size", "4", "--workers", "2"]
    result = revelio("explain", *args, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert f"{len(valid) + len(bad)} images: {len(valid)} attributed, {len(bad)} unreadable" in result.stdout

    records = read_manifest(out)
    assert sorted(record["path"] for record in records) == sorted(str(path) for path in valid.values())
    errors = {record["path"]: record["error"] for record in read_errors(out)}
    assert sorted(errors) == sorted(str(folder / name) for name in bad)
    for name, reason in bad.items():
        assert reason in errors[str(folder / name)], (name, errors[str(folder / name)])

    # every item keeps its place in the sorted list: indices of good and bad items together are 0..n-1
    files = sorted(str(path) for path in folder.iterdir())
    indices = {record["path"]: record["index"] for record in [*records, *read_errors(out)]}
    assert indices == {path: files.index(path) for path in files}

    # and the maps of the good ones are the maps of those images on their own
    shapes = zoo.load("shapes")
    method = GradCAM(shapes.model, shapes.gradcam_layer)
    for record, saliency in iter_maps(out):
        inputs = shapes.preprocess(read_image(record["path"]))
        expected = method.attribute(inputs, record["target"])[0].numpy()
        np.testing.assert_allclose(saliency, expected, rtol=0, atol=2e-3 * np.abs(expected).max())
        with torch.no_grad():
            probability = shapes.probabilities(shapes.model(inputs))[0]
        assert record["predicted"] == int(probability.argmax())
        assert record["score"] == pytest.approx(float(probability.max()), abs=1e-5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"GIF89a" + b"\x00" * 20, "corrupt or truncated GIF"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "not an image file"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 16 + b"\xff\xda" + b"\x12" * 40, "truncated JPEG"),
    ],
)
def test_load_image_file_says_why(data, reason, tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    with pytest.raises(InputError, match=reason):
        load_image_file(path)


def test_load_image_file_reads_like_read_image(messy_folder):
    _, valid, _ = messy_folder
    for path in valid.values():
        assert torch.equal(load_image_file(path), read_image(path))
    with pytest.raises(InputError, match="cannot read"):
        load_image_file(path.parent / "missing.png")
