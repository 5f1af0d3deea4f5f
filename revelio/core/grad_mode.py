"""The one guard for calls that need gradients: refuse ``torch.inference_mode()`` with a message.

Inside ``torch.no_grad()`` a method can still enable gradients for its own block
(``torch.enable_grad()``); inside ``torch.inference_mode()`` it cannot: tensors made
there can never require grad. Every gradient-based method calls
:func:`require_grad_mode` before any work.
"""

from __future__ import annotations

import torch


def require_grad_mode(name: str) -> None:
    """Raise when gradients cannot be enabled, i.e. inside ``torch.inference_mode()``.

    Args:
        name: the method, as the message should name it (``"GradCAM"``, ``"ActivationMaximization"``).

    Raises:
        RuntimeError: inference mode is on; the message says to call outside that block.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            f"{name} needs gradients, which torch.inference_mode() disables; call it outside that block "
            "(inside torch.no_grad() is fine: gradients are enabled for the call)"
        )
