"""preserved_model_state: the model leaves the block as it entered, also on error."""

import pytest
import torch
from torch import nn

from revelio.core import preserved_model_state
from revelio.errors import ModelStateError


class Boom(Exception):
    pass


def _model() -> nn.Module:
    """A small model in a mixed state: some modules train, some params frozen, some grads set."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 4, 1), nn.Dropout(0.5)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    model.train()
    model[1].eval()
    model[3][1].eval()
    model[0].weight.requires_grad_(False)
    model[6].bias.requires_grad_(False)
    model[3][0].weight.grad = torch.full_like(model[3][0].weight, 0.5)
    model[6].weight.grad = torch.arange(12.0).reshape(3, 4)
    return model


def _snapshot(model):
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "grad_values": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "params": [p.detach().clone() for p in model.parameters()],
        "hooks": [
            {
                name: list(getattr(m, name).values())
                for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
            }
            for m in model.modules()
        ],
    }


def _assert_same(model, before):
    after = _snapshot(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    for grad_after, grad_before, values in zip(after["grads"], before["grads"], before["grad_values"]):
        assert grad_after is grad_before
        if values is not None:
            assert torch.equal(grad_after, values)
    for p_after, p_before in zip(after["params"], before["params"]):
        assert torch.equal(p_after, p_before)
    assert after["hooks"] == before["hooks"]


@pytest.mark.parametrize("raises", [False, True], ids=["normal", "exception"])
def test_hooks_added_inside_by_others_stay_and_earlier_ones_run(raises):
    """The guard removes no hook: revelio removes its own, and the model's or another thread's are theirs."""
    model = _model()
    surviving = []
    model[6].register_forward_hook(lambda *a: surviving.append("kept_fwd"))
    model[3][0].register_full_backward_hook(lambda *a: surviving.append("kept_bwd"))
    added = []
    try:
        with preserved_model_state(model, eval_mode=True, freeze=True):
            added.append(model[0].register_forward_hook(lambda *a: surviving.append("added")))
            model.register_state_dict_post_hook(lambda *a: None)
            if raises:
                raise Boom
    except Boom:
        assert raises
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert sorted(surviving) == ["added", "kept_bwd", "kept_fwd"]
    assert len(model._state_dict_hooks) == 1
    added[0].remove()


def test_only_what_the_guard_changed_is_undone():
    """Flags the block itself changes on parameters the guard did not touch are the block's business."""
    model = _model()
    frozen_before = model[0].weight  # frozen by the user: the guard does not touch it
    with preserved_model_state(model, eval_mode=True, freeze=True):
        frozen_before.requires_grad_(True)  # another party unfreezes it during the call
    assert frozen_before.requires_grad
    assert model[6].weight.requires_grad and not model[6].bias.requires_grad  # restored: the guard froze them


class _Remembers(nn.Module):
    """A model whose train() override keeps more state than the training flags."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.mode_name = "training"

    def train(self, mode: bool = True):
        self.mode_name = "training" if mode else "evaluating"
        return super().train(mode)

    def forward(self, x):
        return self.linear(x)


def test_a_train_override_is_called_back_with_the_original_mode():
    model = _Remembers()
    with preserved_model_state(model, eval_mode=True):
        assert model.mode_name == "evaluating" and not model.training
    assert model.mode_name == "training" and model.training and model.linear.training


def test_a_model_that_refuses_eval_is_run_with_its_flags_set():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    exported = torch.export.export(model.eval(), (torch.randn(1, 2),)).module()
    with pytest.raises(NotImplementedError):
        exported.eval()
    exported.training = True
    with preserved_model_state(exported, eval_mode=True, freeze=True):
        assert not exported.training
    assert exported.training


def test_lazy_parameters_are_refused_before_anything_changes():
    from revelio.errors import UnsupportedModelError

    model = nn.Sequential(nn.LazyLinear(3))
    model.train()
    with pytest.raises(UnsupportedModelError, match="run one forward pass on an example batch first"):
        with preserved_model_state(model, eval_mode=True, freeze=True):
            pass
    assert model.training


def test_a_write_through_data_is_detected():
    model = nn.Linear(4, 4)

    class Sneaky(nn.Module):
        def forward(self, x):
            model.weight.data.mul_(2.0)  # bypasses autograd's version counter
            return model(x)

    with pytest.raises(ModelStateError, match="modified in place"):
        with preserved_model_state(model):
            Sneaky()(torch.randn(1, 4))


def test_nan_parameters_are_not_a_change():
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    with preserved_model_state(model, eval_mode=True, freeze=True):
        model(torch.randn(1, 2))


def test_old_style_backward_hook_still_allowed_after_a_full_one_inside():
    """torch refuses a mix of full and old backward hooks on one module; the block must not leave that mark."""
    model = nn.Linear(3, 2)
    with preserved_model_state(model):
        model.register_full_backward_hook(lambda *a: None)
    handle = model.register_backward_hook(lambda *a: None)
    handle.remove()


def test_existing_grad_values_untouched_by_a_backward_inside():
    model = nn.Linear(3, 2)
    grad = torch.ones(2, 3)
    model.weight.grad = grad
    with preserved_model_state(model):
        model(torch.randn(4, 3)).sum().backward()
    assert model.weight.grad is grad
    assert torch.equal(grad, torch.ones(2, 3))
    assert model.bias.grad is None


def test_yields_the_model():
    model = _model()
    with preserved_model_state(model) as inside:
        assert inside is model


@pytest.mark.parametrize("raises", [False, True], ids=["normal", "exception"])
def test_eval_mode_and_freeze(raises):
    model = _model()
    before = _snapshot(model)
    seen = {}

    def block():
        seen["training"] = [m.training for m in model.modules()]
        seen["requires_grad"] = [p.requires_grad for p in model.parameters()]
        out = model(torch.randn(2, 3, 8, 8))
        seen["graph"] = out.requires_grad
        if raises:
            raise Boom

    try:
        with preserved_model_state(model, eval_mode=True, freeze=True):
            block()
    except Boom:
        assert raises
    assert not any(seen["training"])
    assert not any(seen["requires_grad"])
    assert seen["graph"] is False
    _assert_same(model, before)


def test_defaults_change_nothing_inside():
    model = _model()
    with preserved_model_state(model):
        assert [m.training for m in model.modules()] == _snapshot(_model())["training"]
        assert [p.requires_grad for p in model.parameters()] == _snapshot(_model())["requires_grad"]


def test_in_place_parameter_change_raises():
    model = _model()
    with pytest.raises(ModelStateError, match="parameters of the model were modified in place"):
        with preserved_model_state(model):
            with torch.no_grad():
                model[6].weight.add_(1.0)


def test_in_place_change_raises_even_if_values_restored():
    model = nn.Linear(2, 2)
    with pytest.raises(ModelStateError, match="updates its own weights"):
        with preserved_model_state(model):
            with torch.no_grad():
                model.weight.mul_(2.0).div_(2.0)


def test_state_still_restored_when_parameters_changed():
    model = _model()
    before = _snapshot(model)
    with pytest.raises(ModelStateError):
        with preserved_model_state(model, eval_mode=True, freeze=True):
            with torch.no_grad():
                model[3][0].bias.zero_()
    after = _snapshot(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]


def test_error_is_a_runtime_error():
    assert issubclass(ModelStateError, RuntimeError)


def test_buffers_updated_by_a_forward_are_not_parameters():
    """Running BatchNorm statistics are buffers: eval_mode keeps them unchanged."""
    model = _model()
    model[1].train()
    mean = model[1].running_mean.clone()
    with preserved_model_state(model, eval_mode=True):
        model(torch.randn(2, 3, 8, 8))
    assert torch.equal(model[1].running_mean, mean)
    assert model[1].training
