"""The one guard of gradient-based calls: inference mode is refused with a message, no_grad is fine."""

import pytest
import torch

from revelio.core.grad_mode import require_grad_mode


def test_inference_mode_is_refused_naming_the_method():
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"GradCAM needs gradients.*outside that block"):
        require_grad_mode("GradCAM")


def test_plain_and_no_grad_blocks_pass():
    require_grad_mode("Saliency")
    with torch.no_grad():
        require_grad_mode("Saliency")
    with torch.inference_mode(False):
        require_grad_mode("Saliency")
