"""The training entry point: the smoke run works from the command line and is bit-for-bit repeatable."""

import subprocess
import sys

import pytest
import torch

from revelio.zoo import ShapesCNN
from revelio.zoo.train import SMOKE, TrainConfig, main, train


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
    model = train(TrainConfig(epochs=1, images_per_epoch=32, batch_size=16, validation_images=16, threads=1), log=lines.append)
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
