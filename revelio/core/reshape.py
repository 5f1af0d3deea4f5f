"""Turn a layer's output into a feature map ``(N, K, h, w)`` for the CAM methods."""

from __future__ import annotations

from math import isqrt

from torch import Tensor

from revelio.errors import LayerOutputError


def vit_reshape(tokens: Tensor, class_token: bool = True) -> Tensor:
    """Turn ViT tokens ``(N, 1 + h*w, D)`` into a feature map ``(N, D, h, w)``.

    Args:
        tokens: a transformer block's output, batch first, on a square patch grid.
        class_token: drop the first token (the class token) before reshaping.

    For torchvision's ``vit_b_16`` use the input norm of the last block,
    ``"encoder.layers.encoder_layer_11.ln_1"``: after the last block only the class
    token reaches the head, so the patch tokens there get zero gradient.
    """
    if tokens.ndim != 3:
        raise LayerOutputError(
            f"vit_reshape expects tokens (N, T, D), got shape {tuple(tokens.shape)}; a layer whose output is "
            "already a feature map (N, K, h, w) needs no reshape="
        )
    if class_token:
        tokens = tokens[:, 1:]
    n, count, dim = tokens.shape
    side = isqrt(count)
    if side * side != count:
        hint = "pass class_token=False if the model has no class token, or " if class_token else ""
        raise LayerOutputError(
            f"vit_reshape needs a square grid of patch tokens, got {count}"
            + (" after dropping the class token" if class_token else "")
            + f"; {hint}pass a reshape= of your own that knows the grid's (h, w)"
        )
    return tokens.transpose(1, 2).reshape(n, dim, side, side)
