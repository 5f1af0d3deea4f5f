"""Feature visualization on compiled, scripted and shared models: the same rules as attribution."""

import threading

import pytest
import torch
from torch import nn

from revelio.errors import UnsupportedModelError
from revelio.featureviz import ActivationMaximization, DeepDream, channel


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1), nn.ReLU()).eval()


def _run(model: nn.Module) -> torch.Tensor:
    am = ActivationMaximization(model, image_size=12, mean=None, std=None, steps=3)
    return am.visualize(channel("2", [0, 1]), seed=0).display


def test_a_compiled_model_is_visualised_through_its_original():
    model = _net()
    compiled = torch.compile(model)
    am = ActivationMaximization(compiled, image_size=12, mean=None, std=None, steps=3)
    assert am.model is model
    assert torch.equal(am.visualize(channel("2", [0, 1]), seed=0).display, _run(model))


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_is_refused_when_the_visualizer_is_built(kind):
    model = _net()
    scripted = torch.jit.script(model) if kind == "script" else torch.jit.trace(model, torch.rand(1, 3, 12, 12))
    with pytest.raises(UnsupportedModelError, match="TorchScript"):
        ActivationMaximization(scripted, image_size=12)
    with pytest.raises(UnsupportedModelError, match="TorchScript"):
        DeepDream(scripted)


def test_two_threads_on_one_model_give_each_its_own_result_and_leave_the_model_as_it_was():
    model = _net().train()
    expected = _run(model)
    results, errors = [None] * 4, []

    def work(index: int) -> None:
        try:
            results[index] = _run(model)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(torch.equal(result, expected) for result in results)
    assert model.training and all(p.requires_grad for p in model.parameters())
