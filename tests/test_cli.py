"""The command line end to end, through a subprocess, including every user error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from revelio.cli import parse_units
from revelio.zoo import CLASS_NAMES, make_batch
from revelio.zoo.train import TEST_SEED

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
"""A fixed environment; PYTHONPATH makes the subprocess import this checkout's revelio."""


def revelio(*args: str, timeout: int = 300, env: dict | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "revelio", *args], check=False, capture_output=True, text=True, timeout=timeout,
        env=env or ENV, cwd=cwd,
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


@pytest.fixture
def cli(capsys, monkeypatch):
    """The command line run in this process (no interpreter to start): ``cli(*args)`` -> a CompletedProcess.

    ``main`` seeds the generators and sets the warnings' format: both are put back after the test.
    """
    import random
    import warnings

    from revelio.cli import main

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    states = torch.random.get_rng_state(), np.random.get_state(), random.getstate()

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's errors and --help
            code = exit.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["revelio", *args], code, captured.out, captured.err)

    yield run
    torch.random.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])


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


def test_visualize_help_states_the_defaults_the_code_uses():
    from revelio.cli import build_parser
    from revelio.featureviz import DEFAULT_PRESET, PRESETS, DeepDream

    options = {action.dest: action.help for action in _subparser(build_parser(), "visualize")._actions}
    assert f"default: {DEFAULT_PRESET}," in options["method"]
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    visualizers = {name: preset.create(network, image_size=16) for name, preset in PRESETS.items()}
    assert {v.steps for v in visualizers.values()} == {128} and "(default: 128)" in options["steps"]
    dream = DeepDream(network)
    assert f"(default: {dream.steps})" in options["steps"] and f"deep dream: {dream.lr}" in options["lr"]
    for name, visualizer in visualizers.items():
        lr = f"{visualizer.lr}"
        assert lr == "0.05" or f"{lr} for {name}" in options["lr"], (name, lr)


def _subparser(parser, name):
    import argparse

    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_layers_lists_the_bundled_model_in_call_order():
    result = revelio("layers", "--seed", "1", "--no-progress", "--device", "cpu")
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
        assert (out / record["picture"]).is_file() and record["files"] == [record["picture"]]
        index = paths.index(record["image"])
        assert labels[index, record["predicted"]] == 1  # the bundled model's top class is one of the two objects
        assert record["size"] == [64, 64] and record["input"] == "as it is"
    image = cv2.imread(str(out / records[0]["picture"]))
    assert image is not None and image.shape[:2] == tuple(reversed(records[0]["picture_size"]))
    assert sorted(p.name for p in out.iterdir()) == sorted([r["picture"] for r in records] + ["explanations.json",
                                                                                              "index.html"])
    assert not [p for p in out.parent.iterdir() if "revelio" in p.name]  # no staging folder left


@pytest.mark.parametrize("flags", [["--method", "saliency,gradcam"], ["--method", "saliency", "--method", "gradcam"]])
def test_explain_takes_several_methods(flags, shapes_images, tmp_path, cli):
    paths, _ = shapes_images
    result = cli("explain", paths[0], *flags, "--out", str(tmp_path / "o"), "--no-progress")
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "o" / "explanations.json").read_text())
    assert [r["method"] for r in records] == ["saliency", "gradcam"]


def test_explain_by_class_name(shapes_images, tmp_path, cli):
    paths, _ = shapes_images
    result = cli("explain", paths[0], "--target", CLASS_NAMES[2], "--out", str(tmp_path / "o"))
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
def test_explain_user_errors_print_one_line_and_leave_nothing(args, words, shapes_images, bad_files, tmp_path, cli):
    paths, _ = shapes_images
    files = {"image": paths[0], **bad_files}
    out = tmp_path / "out"
    result = cli("explain", *[arg.format(**files) for arg in args], "--out", str(out))
    assert_user_error(result, *words)
    assert not out.exists()


def test_an_unwritable_output_folder_is_refused(shapes_images, bad_files, cli):
    result = cli("explain", shapes_images[0][0], "--out", bad_files["file"] + "/sub")
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

    assert images_in_browser(out / "index.html", tmp_path / "profile") == "IMAGES-OK 5"  # grid, legends, 3 presets


# -- issue: the command line and the pictures a user expects ---------------------------------------


def _wide_image(path: Path) -> str:
    """A 400x200 picture: a red disc at x 60 and a green square at x 300 (both outside a centre crop)."""
    pixels = np.full((200, 400, 3), 40, np.uint8)
    cv2.circle(pixels, (60, 100), 40, (0, 0, 255), -1)
    cv2.rectangle(pixels, (300, 60), (380, 140), (0, 255, 0), -1)
    cv2.imwrite(str(path), pixels)
    return str(path)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_take_under_a_second_and_import_no_torch(flag):
    import time

    code = (f"import sys\nfrom revelio.cli import main\ntry:\n    main([{flag!r}])\nexcept SystemExit:\n    pass\n"
            "print('torch imported:', 'torch' in sys.modules)")  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, env=ENV)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("torch imported: False")
    assert elapsed < 1.0, f"revelio {flag} took {elapsed:.2f} s"


def test_docs_and_parser_agree():
    """docs/cli.md's synopsis names every option of every command, and every option it names exists."""
    import re

    from revelio.cli import build_parser

    page = (ROOT / "docs" / "cli.md").read_text()
    synopsis = page.split("```")[1]
    commands = {name: parser for name, parser in build_parser()._subparsers._group_actions[0].choices.items()}
    documented: dict[str, set[str]] = {}
    for line in synopsis.strip().splitlines():
        words = line.split()
        if words[0] == "revelio":
            current = words[1]
        documented.setdefault(current, set()).update(set(re.findall(r"--[a-z][a-z-]*", line)) - {"--no-resume"})
    assert set(documented) == set(commands)
    common = re.search(r"Every command takes (.*?)\.", page.replace("\n", " ")).group(1)
    every = set(re.findall(r"--[a-z][a-z-]*", common))
    assert every == {"--device", "--seed", "--no-progress"}
    for name, parser in commands.items():
        options = {flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")}
        options -= {"--help", "--methods", "--no-resume"}  # an alias; the negative of --resume
        assert every <= options, f"revelio {name} lacks {every - options}"
        assert options - every == documented[name], f"revelio {name}: parser and docs/cli.md differ"


def test_seed_makes_random_weights_repeat_and_the_warning_is_one_line(tmp_path, cli):
    image = _wide_image(tmp_path / "wide.png")
    env = {key: value for key, value in ENV.items() if key != "PYTHONWARNINGS"}
    args = ["explain", image, "--model", "resnet18", "--method", "saliency", "--format", "npy,png", "--no-progress"]
    lines, maps = [], []
    for out in ("a", "b"):
        result = revelio(*args, "--seed", "0", "--out", str(tmp_path / out), env=env)
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines() == [(
            "revelio: UserWarning: building resnet18 with random weights; pass weights=PATH (a state_dict file) or a "
            "torchvision weights name such as 'DEFAULT' for a trained model"
        )]
        lines.append(result.stdout.splitlines()[0])
        maps.append(np.nan_to_num(np.load(tmp_path / out / "00-wide-saliency.npy"), nan=-1.0))
    assert lines[0] == lines[1] and np.array_equal(maps[0], maps[1])  # the same seed: the same weights, the same map
    assert cli(*args, "--seed", "1", "--out", str(tmp_path / "c")).returncode == 0
    assert not np.allclose(maps[0], np.nan_to_num(np.load(tmp_path / "c" / "00-wide-saliency.npy"), nan=-1.0))


def test_maps_and_pictures_come_back_at_the_image_size(tmp_path, cli):
    image = _wide_image(tmp_path / "wide.png")
    out = tmp_path / "crop"
    result = cli("explain", image, "--method", "gradcam,saliency", "--fit", "crop", "--format", "png,jpg,npy,pt",
                     "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    # the bundled model takes 64x64: 400x200 -> 128x64 (scale 0.32), the centre 64 columns are x 100..300
    assert "resized 400x200 to 128x64, centre-cropped to 64x64: the model saw x 100-300, y 0-200" in result.stdout
    for method, channels in (("gradcam", 1), ("saliency", 3)):
        numbers = np.load(out / f"00-wide-{method}.npy")
        assert numbers.shape == (channels, 200, 400) and numbers.dtype == np.float32
        assert np.isnan(numbers[:, :, :99]).all() and np.isnan(numbers[:, :, 301:]).all()
        assert np.isfinite(numbers[:, :, 101:299]).all()
        assert np.array_equal(torch.load(out / f"00-wide-{method}.pt").numpy(), numbers, equal_nan=True)
        png = cv2.imread(str(out / f"00-wide-{method}.png"))
        assert png.shape[0] > 200 and png.shape[1] > 2 * 400  # the input and the map, each at 400x200
        assert cv2.imread(str(out / f"00-wide-{method}.jpg")).shape == png.shape
    stretched = cli("explain", image, "--format", "npy,png", "--out", str(tmp_path / "stretch"), "--no-progress")
    assert "stretched 400x200 to 64x64 (aspect ratio changed)" in stretched.stdout
    assert np.isfinite(np.load(tmp_path / "stretch" / "00-wide-gradcam.npy")).all()  # the model saw everything
    assert stretched.stdout.strip().endswith(f"wrote 1 picture (npy, png), explanations.json and index.html to "
                                             f"{tmp_path / 'stretch'}")  # fmt: skip


def test_an_existing_out_is_refused_or_replaced_whole_never_mixed(shapes_images, tmp_path, cli):
    paths, _ = shapes_images
    out = tmp_path / "out"
    assert cli("explain", *paths[:2], "--method", "saliency,gradcam", "--out", str(out), "--no-progress").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused = cli("explain", paths[0], "--method", "deconvolution", "--out", str(out))
    assert_user_error(refused, "already holds 6 files", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    replaced = cli("explain", paths[0], "--method", "deconvolution", "--out", str(out), "--overwrite",
                       "--no-progress")  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    records = json.loads((out / "explanations.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["00-shape0-deconvolution.png", "explanations.json", "index.html"]) and len(records) == 1
    (out / "notes.txt").write_text("mine")
    assert_user_error(cli("explain", paths[0], "--out", str(out), "--overwrite"), "notes.txt")
    assert (out / "notes.txt").read_text() == "mine" and (out / "00-shape0-deconvolution.png").is_file()
    assert not [p for p in tmp_path.iterdir() if "revelio" in p.name]


MY_MODELS = '''
import torch
from torch import nn


def build():
    """A model revelio does not know: no usual CAM layer."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def flat():
    """No layer with a spatial output at all."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 3))
'''


def test_a_model_of_yours_from_the_working_directory_with_its_options(shapes_images, tmp_path, cli, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "mymodels.py").write_text(MY_MODELS)
    (project / "classes.txt").write_text("cat\ndog\nbird\n")
    script = tmp_path / "bin" / "revelio"  # as pip installs it: the working directory is not on its path
    script.parent.mkdir()
    script.write_text("import sys\nfrom revelio.cli import main\nsys.exit(main())\n")

    def run(*args):
        return subprocess.run([sys.executable, str(script), *args], check=False, capture_output=True, text=True,
                              timeout=300, env=ENV, cwd=project)  # fmt: skip

    options = ["--classes", "classes.txt", "--input-size", "32", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25",
               "--fit", "pad", "--no-progress"]  # fmt: skip
    result = run("explain", shapes_images[0][0], "--model", "mymodels:build", "--method", "all", "--target", "dog",
                 "--out", "all", *options)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "explained layer '3', the model's last layer with a spatial output" in result.stdout
    records = json.loads((project / "all" / "explanations.json").read_text())
    from revelio import registry

    assert [r["method"] for r in records] == registry.names()
    assert {(r["target"], r["target_name"]) for r in records} == {(1, "dog")}
    monkeypatch.chdir(project)  # the rest in this process, from the project's folder
    flat = cli("explain", shapes_images[0][0], "--model", "mymodels:flat", "--method", "all", "--input-size", "16",
               "--out", "flat", "--no-progress")  # fmt: skip
    assert flat.returncode == 0, flat.stderr
    layer_methods = ", ".join(spec.name for spec in registry.methods().values() if spec.needs_layer)
    assert f"left out {layer_methods}: the model has no layer with a spatial output" in flat.stdout
    assert_user_error(cli("explain", shapes_images[0][0], "--model", "mymodels:build", "--classes", "a,b",
                          "--out", "x"), "2 class names for a model with 3 outputs")  # fmt: skip
    assert_user_error(cli("layers", "--model", "mymodels:build", "--mean", "0.5"), "mean needs 3 values")
    assert_user_error(cli("layers", "--model", "mymodels:build", "--input-size", "big"), "--input-size")
    assert_user_error(cli("layers", "--model", "mymodels:build", "--fit", "squash"), "crop, pad, stretch")
    assert not (project / "x").exists()


@pytest.mark.parametrize(
    "args, words, absent",
    [
        (["--out", "/proc/revelio-out"], ["cannot create", "/proc/revelio-out", "--out"], ["[Errno"]),
        (["--method", "lime"], ["unknown method 'lime'", "choose from"], ["did you mean"]),
        (["--format", "gif"], ["unknown --format 'gif'", "png, jpg, npy, pt"], []),
        (["--format", "npy"], ["--format needs png or jpg"], []),
        (["--dataset", "shapes:4", "--format", "jpg"], ["--format applies to IMAGE files"], []),
        (["--steps", "3"], ["unrecognized arguments: --steps 3"], []),
    ],
)
def test_more_user_errors_print_one_clear_line(args, words, absent, shapes_images, tmp_path, cli):
    images = [] if "--dataset" in args else [shapes_images[0][0]]
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []
    result = cli("explain", *images, *args, *out)
    assert_user_error(result, *words)
    assert not any(word in result.stderr for word in absent), result.stderr
    assert not (tmp_path / "out").exists()


def test_explain_page_shows_every_image_and_method_in_a_browser(shapes_images, tmp_path):
    paths, _ = shapes_images
    out = tmp_path / "page"
    result = revelio("explain", *paths[:2], "--method", "gradcam,guided-backprop", "--format", "jpg", "--out", str(out),
                     "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (out / "index.html").read_text()
    for record in json.loads((out / "explanations.json").read_text()):
        assert f'src="{record["picture"]}"' in page and record["picture"].endswith(".jpg")
    assert "Predicted:" in page and "Guided backprop" in page
    from browser import images_in_browser

    assert images_in_browser(out / "index.html", tmp_path / "profile") == "IMAGES-OK 4"
