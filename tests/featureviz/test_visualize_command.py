"""``revelio visualize``: presets, parameterizations, transformations, objectives, deep dream, accentuation,
any channel count; user errors exit with status 2 and leave nothing behind."""

from __future__ import annotations

import pytest

from revelio import render
from revelio.cli import USER_ERROR, main
from revelio.io import read_image
from revelio.zoo import make_batch


def _visualize(*args: str) -> int:
    return main(["visualize", "--no-progress", "--device", "cpu", *args])


@pytest.fixture
def start_images(tmp_path):
    paths = []
    for index, image in enumerate(make_batch(2, seed=3).images):
        paths.append(str(render.save_png(image, tmp_path / f"photo{index}.png")))
    return paths


def _names(folder):
    return sorted(path.name for path in folder.iterdir())


def test_the_default_preset_writes_a_grid_and_one_image_per_unit(tmp_path, capsys):
    out = tmp_path / "viz"
    assert _visualize("--layer", "block3", "--units", "0,5", "--steps", "2", "--out", str(out)) == 0
    assert _names(out) == ["block3-readable-unit0.png", "block3-readable-unit5.png", "block3-readable.png"]
    assert "wrote" in capsys.readouterr().out


def test_a_parameterization_and_transformations_replace_the_presets(tmp_path):
    out = tmp_path / "viz"
    assert _visualize("--layer", "block3", "--units", "1", "--method", "plain", "--param", "maco", "--transforms",
                      "lucid-scaled", "--steps", "2", "--out", str(out)) == 0
    assert "block3-plain-transparency.png" in _names(out)  # MACO's transparency map


def test_class_logits_with_several_images_and_diversity(tmp_path):
    out = tmp_path / "viz"
    assert _visualize("--objective", "class", "--units", "0,2", "--images", "2", "--steps", "2", "--out",
                      str(out)) == 0
    assert _names(out) == ["output-class-readable-circle-0.png", "output-class-readable-circle-1.png",
                           "output-class-readable-triangle-0.png", "output-class-readable-triangle-1.png",
                           "output-class-readable.png"]
    out = tmp_path / "diverse"
    assert _visualize("--layer", "block3", "--units", "4", "--images", "3", "--diversity", "0.5", "--steps", "2",
                      "--out", str(out)) == 0
    assert len(_names(out)) == 4


def test_deep_dream_and_accentuation_of_image_files(tmp_path, start_images):
    out = tmp_path / "dream"
    assert _visualize("--method", "deepdream", "--layer", "block2", "--start", *start_images, "--octaves", "2",
                      "--steps", "2", "--out", str(out)) == 0
    assert _names(out) == ["block2-deepdream-photo0.png", "block2-deepdream-photo1.png", "block2-deepdream.png"]
    out = tmp_path / "accent"
    assert _visualize("--method", "accentuation", "--layer", "block3", "--units", "3,4", "--start", *start_images,
                      "--accentuate", "block1", "--weight", "2", "--steps", "2", "--out", str(out)) == 0
    assert _names(out) == ["block3-accentuation-unit3.png", "block3-accentuation-unit4.png",
                           "block3-accentuation.png"]


def test_a_grayscale_model_of_your_own(tmp_path):
    out = tmp_path / "grey"
    assert _visualize("--model", "featureviz_nets:grey_cnn", "--channels", "1", "--size", "32", "--layer", "2",
                      "--units", "0-1", "--steps", "2", "--out", str(out)) == 0
    assert _names(out) == ["2-readable-unit0.png", "2-readable-unit1.png", "2-readable.png"]
    assert read_image(out / "2-readable-unit0.png").shape == (3, 32, 32)  # a grey PNG, read back as RGB


def test_list_shows_every_choice(capsys):
    assert _visualize("--list") == 0
    text = capsys.readouterr().out
    assert "(default)" in text and "deepdream" in text and "fourier-decorrelated" in text and "lucid-scaled" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--method", "deepdream", "--layer", "block2"], ["--start"]),
        (["--objective", "deepdream", "--layer", "block2"], ["--method deepdream"]),
        (["--layer", "block3", "--accentuate", "block1"], ["--start"]),
        (["--units", "0"], ["needs --layer"]),
        (["--layer", "block3", "--method", "lucd"], ["did you mean 'lucid'"]),
        (["--layer", "block3", "--param", "wavelet"], ["choose from pixels"]),
        (["--layer", "block3", "--transforms", "kornia"], ["choose from none"]),
        (["--layer", "block3", "--units", "64"], ["64"]),
        (["--layer", "block9"], ["block9"]),
        (["--layer", "block3", "--diversity", "-1"], ["--diversity"]),
        (["--layer", "block3", "--method", "gaussian", "--size", "4"], ["kernel", "4x4"]),
    ],
)
def test_user_errors_exit_2_and_write_nothing(tmp_path, capsys, args, words):
    out = tmp_path / "viz"
    assert _visualize(*args, "--steps", "2", "--out", str(out)) == USER_ERROR
    error = capsys.readouterr().err
    assert all(word in error for word in words), error
    assert not out.exists()


def test_out_is_required(capsys):
    assert _visualize("--layer", "block3") == USER_ERROR
    assert "--out" in capsys.readouterr().err
