"""Leave a model exactly as it was found, also when a call raises.

Every public revelio call runs inside :func:`preserved_model_state`. It undoes exactly
what the call changed, and nothing else: the ``training`` flags (put back through the
model's own ``train()``, so that an override that sets more than the flags is undone
too), the ``requires_grad`` flags it cleared, and the ``.grad`` tensors (set aside for
the call, put back after it; a gradient written during the call is dropped). Hooks
that revelio registers are removed by the code that registers them; hooks anyone else
adds meanwhile (the model's own hooks, another thread) stay. Parameters are never
written by revelio: a call that finds them changed raises
:class:`~revelio.errors.ModelStateError` rather than hide it.

Calls on one model take its lock (:func:`~revelio.core.calls.model_lock`), so that two
threads explaining one model do not undo each other's changes.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from revelio.core.calls import model_lock
from revelio.errors import ModelStateError, UnsupportedModelError

SAMPLES_PER_PARAMETER = 64
"""Values of each parameter compared before and after a call, to see writes that bypass autograd (``.data``)."""


@contextmanager
def preserved_model_state(model: nn.Module, *, eval_mode: bool = False, freeze: bool = False) -> Iterator[nn.Module]:
    """Run a block with ``model`` and restore its state afterwards.

    Args:
        model: the network.
        eval_mode: put every module in eval mode for the block.
        freeze: set ``requires_grad=False`` on every parameter for the block, so that
            the forward pass records no graph for parameter gradients.

    Raises:
        UnsupportedModelError: the model has lazy parameters not yet initialised (run
            one forward pass first); nothing is changed.
        ModelStateError: a parameter was modified in place during the block (through
            autograd, or through ``.data`` in a way that changes it broadly).
    """
    params = list(model.parameters())
    _refuse_uninitialized(model, params)
    with model_lock(model):
        modules = list(model.modules())
        training = [module.training for module in modules]
        full_backward = [module.__dict__.get("_is_full_backward_hook") for module in modules]
        versions = [param._version for param in params]
        samples = _samples(model, params)
        before = samples.take()
        grads = [param.grad for param in params]
        frozen: list[nn.Parameter] = []
        try:
            # A backward pass inside the block accumulates into an existing ``.grad`` in
            # place; set the user's gradients aside for the block so that theirs stay untouched.
            for param, grad in zip(params, grads):
                if grad is not None:
                    param.grad = None
            if eval_mode and any(training):
                _train(model, modules, False)
            if freeze:
                frozen = [param for param in params if param.requires_grad]
                for param in frozen:
                    param.requires_grad_(False)
            yield model
        finally:
            if any(module.training is not flag for module, flag in zip(modules, training)):
                _restore_training(model, modules, training)
            for module, full in zip(modules, full_backward):
                if module.__dict__.get("_is_full_backward_hook") is not full:
                    # Registering a full backward hook sets this flag, and removing the hook
                    # does not clear it: it would then refuse a later register_backward_hook.
                    module._is_full_backward_hook = full
            for param in frozen:
                if not param.requires_grad:
                    param.requires_grad_(True)
            for param, grad in zip(params, grads):  # a gradient the block wrote is not the user's: dropped
                if param.grad is not grad:
                    param.grad = grad
        changed = [i for i, (param, version) in enumerate(zip(params, versions)) if param._version != version]
        after = samples.take()
        if changed or not all(torch.equal(first, second) for first, second in zip(before, after)):
            raise ModelStateError(
                "parameters of the model were modified in place during the call; revelio never writes "
                "parameters, so look for a forward pass that updates its own weights"
            )


def _train(model: nn.Module, modules: list[nn.Module], mode: bool) -> None:
    """``model.train(mode)`` where a module overrides ``train()``; else (and where it refuses) the flags, set directly."""
    if any(type(module).train is not nn.Module.train for module in modules):
        try:
            model.train(mode)
            return
        except NotImplementedError:  # torch.export's modules
            pass
    for module in modules:
        module.training = mode


def _restore_training(model: nn.Module, modules: list[nn.Module], training: list[bool]) -> None:
    """Put the training flags back: the model's own ``train()`` with the root's flag, then each module's flag."""
    _train(model, modules, training[0])
    for module, flag in zip(modules, training):
        if module.training is not flag:
            module.training = flag


class _Samples:
    """A few values of every parameter, spread over it, read as bytes (so that NaN equals NaN).

    The views are made once per model (:func:`_samples` keeps them while the parameters
    and their storage stay the same); :meth:`take` copies the values, one tensor per
    device and dtype, to compare before and after a call.
    """

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.params = params
        self.pointers = [param.data_ptr() for param in params]
        groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
        for param in params:
            if param.layout is not torch.strided or param.is_meta or param.numel() == 0:
                continue
            flat = param.detach().reshape(-1)
            groups.setdefault((param.device, param.dtype), []).append(flat[:: max(1, flat.numel() // SAMPLES_PER_PARAMETER)])
        self.groups = list(groups.values())

    def take(self) -> list[Tensor]:
        return [torch.cat(views).view(torch.uint8) for views in self.groups]

    def still_valid(self, params: list[nn.Parameter]) -> bool:
        return len(params) == len(self.params) and all(
            a is b and a.data_ptr() == pointer for a, b, pointer in zip(params, self.params, self.pointers)
        )


_cached_samples: weakref.WeakKeyDictionary[nn.Module, _Samples] = weakref.WeakKeyDictionary()


def _samples(model: nn.Module, params: list[nn.Parameter]) -> _Samples:
    samples = _cached_samples.get(model)
    if samples is None or not samples.still_valid(params):
        samples = _cached_samples[model] = _Samples(params)
    return samples


def _refuse_uninitialized(model: nn.Module, params: list[nn.Parameter]) -> None:
    if not any(isinstance(param, nn.parameter.UninitializedParameter) for param in params):
        return
    lazy = [name for name, param in model.named_parameters() if isinstance(param, nn.parameter.UninitializedParameter)]
    if lazy:
        raise UnsupportedModelError(
            f"{type(model).__name__} has lazy parameters that are not initialised yet ({', '.join(lazy[:3])}); "
            "run one forward pass on an example batch first (model(example)), then explain it"
        )
