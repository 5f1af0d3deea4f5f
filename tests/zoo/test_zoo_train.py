"""The training entry point: the smoke run works from the command line and is bit-for-bit repeatable."""

import subprocess
import sys

import pytest
import torch

from revelio.errors import ModelNotFoundError
from revelio.zoo import ShapesCNN, ShapesResNet, clutter
from revelio.zoo.train import (
    ARCHITECTURES,
    SMOKE,
    TRAIN_SEED,
    TrainConfig,
    default_weights_path,
    evaluate,
    fresh_images,
    main,
    train,
)


def test_smoke_runs_twice_from_the_command_line_with_identical_weights(tmp_path):
    outs = [tmp_path / "first.pt", tmp_path / "second.pt"]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "revelio.zoo.train", "--smoke", "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for out in outs
    ]
    logs = [run.communicate(timeout=240)[0] for run in runs]
    for run, log in zip(runs, logs):
        assert run.returncode == 0, log
        assert "epoch  2/2" in log and "held-out accuracy" in log, log
    first, second = (torch.load(out, map_location="cpu", weights_only=True) for out in outs)
    ShapesCNN().load_state_dict(first)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_train_restores_global_torch_settings():
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    state = torch.get_rng_state()
    lines = []
    model = train(
        TrainConfig(epochs=1, images_per_epoch=32, batch_size=16, validation_images=16, threads=1), log=lines.append
    )
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), state)
    assert not model.training
    assert any("epoch  1/1" in line for line in lines)


def test_command_line_refuses_bad_settings(capsys):
    with pytest.raises(SystemExit):
        main(["--epochs", "0"])
    assert "--epochs" in capsys.readouterr().err


def test_smoke_config_is_small():
    assert SMOKE.epochs * SMOKE.images_per_epoch <= 1024


def test_the_second_model_trains_reproducibly_from_its_own_seed():
    config = TrainConfig(epochs=1, images_per_epoch=32, batch_size=16, validation_images=16, threads=1, seed=1)
    first = train(config, log=lambda line: None, model="shapes-resnet")
    second = train(config, log=lambda line: None, model="shapes-resnet")
    assert isinstance(first, ShapesResNet)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    other_seed = train(TrainConfig(**{**config.__dict__, "seed": 2}), log=lambda line: None, model="shapes-resnet")
    assert not torch.equal(first.head.weight, other_seed.head.weight)


def test_each_model_has_its_own_weights_file_and_unknown_names_are_refused(capsys):
    assert default_weights_path().name == "shapes_cnn.pt"
    assert default_weights_path("shapes-resnet").name == "shapes_resnet.pt"
    assert ARCHITECTURES["shapes"].config == TrainConfig()  # the shipped model's configuration is unchanged
    with pytest.raises(ModelNotFoundError, match="shapes, shapes-resnet"):
        train(SMOKE, model="vgg")
    with pytest.raises(SystemExit):
        main(["--model", "vgg"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["shapes", "shapes-resnet", "clutter"])
def test_the_full_training_remakes_the_shipped_weights_bit_for_bit(name, tmp_path):
    out = tmp_path / "weights.pt"
    run = subprocess.run(
        [sys.executable, "-m", "revelio.zoo.train", "--model", name, "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    made = torch.load(out, map_location="cpu", weights_only=True)
    shipped = torch.load(default_weights_path(name), map_location="cpu", weights_only=True)
    assert made.keys() == shipped.keys()
    assert all(torch.equal(made[key], shipped[key]) for key in made)


class _AllNegative(torch.nn.Module):
    """Predicts no class at all: its per-label accuracy is the share of absent labels of the task."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.full((x.shape[0], 6), -1.0) + self.weight


def test_the_model_chooses_the_task_it_trains_and_is_evaluated_on():
    assert ARCHITECTURES["clutter"].task == "clutter" and ARCHITECTURES["shapes"].task == "shapes"
    assert default_weights_path("clutter").name == "clutter_cnn.pt"
    # Two of six labels per shapes image, three of six per clutter image.
    assert evaluate(_AllNegative(), 64, 5)[0] == pytest.approx(4 / 6)
    assert evaluate(_AllNegative(), 64, 5, task_of="clutter")[0] == pytest.approx(3 / 6)
    config = TrainConfig(epochs=1, images_per_epoch=32, batch_size=16, validation_images=16, threads=1)
    inputs, labels = fresh_images(config, "clutter")(0)
    expected = clutter.make_batch(32, TRAIN_SEED)
    assert torch.equal(inputs, clutter.normalize(expected.images)) and torch.equal(labels, expected.labels)
    lines = []
    model = train(config, log=lines.append, model="clutter")
    assert isinstance(model, ShapesCNN) and any("epoch  1/1" in line for line in lines)
