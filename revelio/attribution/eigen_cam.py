"""Eigen-CAM (Muhammad and Yeasin 2020): the first principal component of a layer's activations."""

from __future__ import annotations

import torch
from torch import Tensor

from revelio.attribution.cam import CAMAttribution, check_spatial, finish
from revelio.core.targets import TargetSpec, resolve_target


class EigenCAM(CAMAttribution):
    """The layer's activations projected on their first principal component: no gradient, no class.

    Each position of the layer's grid is a sample, each channel a feature: the
    ``(h w, K)`` matrix ``X`` of an example, centred over positions (``center=True``,
    principal component analysis, as pytorch-grad-cam does), has the first right singular
    vector ``v_1``; the map is ``X v_1`` on the grid. The sign of a singular vector is
    arbitrary, so it is fixed to make the map correlate positively with the activation
    summed over channels (pytorch-grad-cam keeps whatever sign the SVD returns, so after
    its ReLU it may show the complement). Then ReLU (an option) and bilinear upsampling.

    The map does not depend on the class: every target gets the same map (K classes per
    example give the map K times), so it cannot tell two objects' classes apart. Cost:
    one forward pass (the output is scored only to check the target and to report what
    the model said) and one SVD per example.

    Args:
        model: the network.
        layer: the layer whose activations are decomposed (see
            :class:`~revelio.attribution.cam.CAMAttribution`).
        reshape: maps the layer's output to ``(N, K, h, w)`` (``vit_reshape`` for ViT tokens).

    Muhammad and Yeasin 2020, "Eigen-CAM: Class Activation Map using Principal Components".

    Example:
        >>> maps = EigenCAM(model, "layer4").attribute(images)  # (N, 1, H, W)
    """

    multiple_targets = True

    def attribute(
        self, inputs: Tensor, target: TargetSpec = None, *, upsample: bool = True, relu: bool = True,
        center: bool = True,
    ) -> Tensor:
        """The Eigen-CAM map of each example: ``Tensor[N, 1, H, W]``, the same for every target.

        Args:
            inputs: ``Tensor[N, C, H, W]`` on the model's device.
            target: checked and scored (for :meth:`explain`), but the map ignores it;
                K classes per example give ``Tensor[N, K, 1, H, W]``, the map repeated.
            upsample: resize bilinearly to the input's ``(H, W)``; ``False`` keeps the
                layer's grid ``(h, w)``.
            relu: clamp the map's negative part to zero.
            center: subtract each channel's mean over positions before the SVD
                (principal components); ``False`` decomposes the raw activations.
        """
        target = resolve_target(target, inputs.shape[0])
        if upsample:
            check_spatial(inputs, "; pass upsample=False to keep the layer's grid")
        with torch.no_grad():
            output, activation = self.record(inputs)
            target.scores(output)  # checks the target, and records what the model said
            projection = principal_projection(self.feature_map(activation.detach()), center=center)
        maps = finish(projection, inputs.shape[-2:] if upsample else None, relu=relu)
        if target.multiple:
            return maps[:, None].expand(-1, target.count, -1, -1, -1).contiguous()
        return maps


def principal_projection(activation: Tensor, *, center: bool = True) -> Tensor:
    """Each example's activations projected on their first principal component: ``Tensor[N, 1, h, w]``.

    Args:
        activation: ``Tensor[N, K, h, w]``; positions are samples, channels features.
        center: subtract each channel's mean over positions first.

    The sign is chosen so that the projection correlates positively (or not negatively)
    with ``sum_k A^k``. The SVD runs in float32 at least.
    """
    n, _, h, w = activation.shape
    dtype = torch.promote_types(activation.dtype, torch.float32)
    samples = activation.flatten(2).transpose(1, 2).to(dtype)  # (N, h w, K)
    if center:
        samples = samples - samples.mean(dim=1, keepdim=True)
    # the right singular vectors of (h w, K) are the left ones of its transpose; the wide SVD is
    # an order of magnitude faster on CPU than the tall one (LAPACK's batched gesdd)
    left, _, _ = torch.linalg.svd(samples.transpose(1, 2), full_matrices=False)
    projection = (samples @ left[:, :, 0, None]).squeeze(2)  # (N, h w)
    total = activation.sum(dim=1).flatten(1).to(dtype)
    agreement = ((projection - projection.mean(1, keepdim=True)) * (total - total.mean(1, keepdim=True))).sum(1)
    projection = torch.where(agreement[:, None] < 0, -projection, projection)
    return projection.view(n, 1, h, w).to(activation.dtype)
