"""Gradient CAMs that weight a layer's channels differently from Grad-CAM: Grad-CAM++, XGrad-CAM, LayerCAM, HiResCAM.

Each is :class:`~revelio.attribution.GradCAM` with another
:meth:`~revelio.attribution.GradCAM.channel_weights`, so each takes one forward pass
and one backward pass from the output down to the layer (batched over several classes
per example), and has Grad-CAM's options: ``upsample`` (bilinear, to the input's size)
and ``relu`` (clamp the map's negative evidence). Notation: ``A^k`` is the layer's
k-th channel, ``g^k_ij = d f_c / d A^k_ij`` the gradient of the class score w.r.t. it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from revelio.attribution.gradcam import GradCAM


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++: positive gradients weighted per position by ``alpha``.

    ``a_k = sum_ij alpha^k_ij ReLU(g^k_ij)`` with
    ``alpha^k_ij = g_ij^2 / (2 g_ij^2 + sum_ab A^k_ab g_ij^3)`` (0 where the denominator
    is 0); ``L = ReLU(sum_k a_k A^k)``. The higher derivatives are those of the paper's
    exponential score ``exp(f_c)``, whose n-th derivative is ``exp(f_c) g^n``, so they are
    powers of the first derivative; the common factor ``exp(f_c)`` is left out, as in
    pytorch-grad-cam and torch-cam (it scales each map, it does not change its shape).

    pytorch-grad-cam adds ``1e-6`` to the denominator (set :attr:`epsilon` to match it; on
    models whose gradients at the layer are small that changes ``alpha`` by percents);
    torch-cam's ``GradCAMpp`` (0.5) divides a copy (boolean indexing), so its ``alpha``
    stays ``g^2``: it computes ``sum_ij g^2 ReLU(g)``, not Grad-CAM++.

    Args: as :class:`~revelio.attribution.GradCAM`.

    Attributes:
        epsilon: added to the denominator of ``alpha``; 0 (default) is the paper's.

    Chattopadhay, Sarkar, Howlader, Balasubramanian 2018, "Grad-CAM++: Generalized
    Gradient-Based Visual Explanations for Deep Convolutional Networks", Eq. 19.
    """

    epsilon: float = 0.0

    def channel_weights(self, activation: Tensor, gradient: Tensor) -> Tensor:
        """``a_k = sum_ij alpha^k_ij ReLU(g^k_ij)``, ``Tensor[N, K]``."""
        squared = gradient.square()
        denominator = 2 * squared + activation.sum(dim=(2, 3), keepdim=True) * squared * gradient + self.epsilon
        defined = denominator != 0
        alpha = torch.where(defined, squared / torch.where(defined, denominator, 1), 0)
        return (alpha * gradient.clamp(min=0)).sum(dim=(2, 3))


class XGradCAM(GradCAM):
    """XGrad-CAM: the gradient averaged with the activation's own spatial distribution as weights.

    ``a_k = sum_ij (A^k_ij / sum_ab A^k_ab) g^k_ij`` (0 for a channel whose activations sum
    to 0); ``L = ReLU(sum_k a_k A^k)``. pytorch-grad-cam and torch-cam add ``1e-7`` and
    ``1e-8`` to the sum instead (set :attr:`epsilon` to match), which matters only for
    channels whose sum is near 0 (the weight then changes sign with the sum: mind layers
    before a ReLU).

    Args: as :class:`~revelio.attribution.GradCAM`.

    Attributes:
        epsilon: added to each channel's sum; 0 (default) is the paper's.

    Fu, Hu, Dong, Guo, Gao, Li 2020, "Axiom-based Grad-CAM: Towards Accurate
    Visualization and Explanation of CNNs".
    """

    epsilon: float = 0.0

    def channel_weights(self, activation: Tensor, gradient: Tensor) -> Tensor:
        """``a_k = sum_ij A^k_ij g^k_ij / sum_ab A^k_ab``, ``Tensor[N, K]``."""
        total = activation.sum(dim=(2, 3)) + self.epsilon
        weighted = (activation * gradient).sum(dim=(2, 3))
        defined = total != 0
        return torch.where(defined, weighted / torch.where(defined, total, 1), 0)


class LayerCAM(GradCAM):
    """LayerCAM: each position of each channel weighted by its own positive gradient.

    ``L = ReLU(sum_k ReLU(g^k) * A^k)``, element-wise, with no pooling of the gradient,
    so the map keeps detail that a per-channel weight averages away; it also works at
    shallow layers, where Grad-CAM's averaged weights are noisy. The paper's fusion of
    several layers (with ``tanh`` scaling) is left to the caller.

    Args: as :class:`~revelio.attribution.GradCAM`.

    Jiang, Zhang, Hou, Cheng, Wei 2021, "LayerCAM: Exploring Hierarchical Class
    Activation Maps for Localization".
    """

    def channel_weights(self, activation: Tensor, gradient: Tensor) -> Tensor:
        """``ReLU(g^k_ij)``, a weight per channel and position: ``Tensor[N, K, h, w]``."""
        return gradient.clamp(min=0)


class HiResCAM(GradCAM):
    """HiResCAM: the gradient times the activation, element-wise, summed over channels.

    ``L = sum_k g^k * A^k`` (then clamped at 0 unless ``relu=False``). With a head of
    global average pooling and one linear layer it equals CAM exactly, up to the factor
    ``1 / (h w)``: each position's value is its contribution to the score. Grad-CAM
    averages the gradient over positions first, which can move evidence to places the
    model did not use when the head is not a plain pooling.

    Args: as :class:`~revelio.attribution.GradCAM`.

    Draelos and Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations
    of convolutional neural networks".
    """

    def channel_weights(self, activation: Tensor, gradient: Tensor) -> Tensor:
        """``g^k_ij``, a weight per channel and position: ``Tensor[N, K, h, w]``."""
        return gradient
