"""Leave a model exactly as it was found, also when a call raises.

Every public revelio call runs inside :func:`preserved_model_state`. On exit, normal or
by exception, the model has the hooks, ``training`` flags, ``requires_grad`` flags and
``.grad`` tensors it had on entry; parameters are never written by revelio, and a call
that finds them changed raises :class:`~revelio.errors.ModelStateError` rather than
hide it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.utils.hooks import RemovableHandle

from revelio.errors import ModelStateError

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


@contextmanager
def preserved_model_state(model: nn.Module, *, eval_mode: bool = False, freeze: bool = False) -> Iterator[nn.Module]:
    """Run a block with ``model`` and restore its state afterwards.

    Args:
        model: the network.
        eval_mode: put every module in eval mode for the block.
        freeze: set ``requires_grad=False`` on every parameter for the block, so that
            the forward pass records no graph for parameter gradients.

    Raises:
        ModelStateError: a parameter was modified in place during the block.

    Hooks added to the model's modules during the block are found by their handle ids:
    torch numbers every hook handle from one counter, so those added in the block have
    ids from the counter's value at entry on. Nothing is copied per module on entry,
    which keeps the guard at a few microseconds per module.
    """
    modules = list(model.modules())
    params = list(model.parameters())
    training = [module.training for module in modules]
    full_backward = [module.__dict__.get("_is_full_backward_hook") for module in modules]
    requires_grad = [param.requires_grad for param in params]
    grads = [param.grad for param in params]
    versions = [param._version for param in params]
    first_new_hook = RemovableHandle.next_id
    try:
        # A backward pass inside the block accumulates into an existing ``.grad`` in
        # place; detach the user's gradients for the block so that theirs stay untouched.
        for param, grad in zip(params, grads):
            if grad is not None:
                param.grad = None
        if eval_mode and any(training):
            model.eval()
        if freeze:
            for param, flag in zip(params, requires_grad):
                if flag:
                    param.requires_grad_(False)
        yield model
    finally:
        for module, flag, full in zip(modules, training, full_backward):
            attributes = module.__dict__
            if attributes.get("training") is not flag:
                module.training = flag
            if attributes.get("_is_full_backward_hook") is not full:
                # Registering a full backward hook sets this flag, and removing the hook
                # does not clear it: it would then refuse a later register_backward_hook.
                module._is_full_backward_hook = full
            for name in _HOOK_DICTS:
                hooks = attributes.get(name)
                if hooks:
                    for key in [key for key in hooks if key >= first_new_hook]:
                        del hooks[key]
        for param, flag, grad in zip(params, requires_grad, grads):
            if param.requires_grad is not flag:
                param.requires_grad_(flag)
            if param.grad is not grad:
                param.grad = grad
    changed = [i for i, (param, version) in enumerate(zip(params, versions)) if param._version != version]
    if changed:
        raise ModelStateError(
            f"{len(changed)} parameter(s) of the model were modified in place during the call; "
            "revelio never writes parameters, so look for a forward pass that updates its own weights"
        )
