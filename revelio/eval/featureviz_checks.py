"""F1-F4: sanity checks of feature visualization (activation maximization).

Run for each variant of :class:`~revelio.featureviz.ActivationMaximization`: plain
(Erhan et al. 2009), Gaussian blur (Øygard 2015), bilateral blur (Tyka 2016).

- F1 known answer: a conv unit whose kernel is a planted pattern responds most to that
  pattern; the maximising image must correlate with it (>= 0.9).
- F2 objective attained: the visualizations of the class logits reach at least the
  highest logit over 256 dataset images; with blur, at least half of the plain value
  (median over the classes).
- F3 regularizer effect: Gaussian blur cuts the images' high-frequency power; bilateral
  blur cuts their total variation, and at equal sigma keeps strong edges sharper than
  Gaussian blur does.
- F4 randomization: the visualization of a fully randomized model differs from the
  trained model's (mean SSIM < 0.5), as in the model-randomization test for saliency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from revelio.core.filters import bilateral_blur, gaussian_blur
from revelio.core.state import preserved_model_state
from revelio.eval.outcome import Measurement, not_applicable
from revelio.eval.randomization import randomization_groups, randomized
from revelio.eval.similarity import pearson, ssim
from revelio.featureviz import Visualization, class_logit, get_preset, neuron

VARIANTS: tuple[str, ...] = ("plain", "gaussian", "bilateral")
"""The activation-maximization variants checked, by :data:`revelio.featureviz.PRESETS` name."""

MIN_PATTERN_CORRELATION = 0.9
MIN_BLUR_RATIO = 0.5
MAX_RANDOMIZED_SSIM = 0.5
HIGH_FREQUENCY = 0.25
"""Spatial frequencies above this (cycles per pixel; Nyquist is 0.5) count as high."""

CRITERIA: dict[str, str] = {
    "F1": f"planted-pattern conv unit: maximising image correlates with the pattern (Pearson >= {MIN_PATTERN_CORRELATION})",
    "F2": f"class logits reach >= the highest over 256 dataset images; with blur >= {MIN_BLUR_RATIO} x plain (median)",
    "F3": "Gaussian blur cuts high-frequency power; bilateral cuts total variation and keeps edges sharper than Gaussian",
    "F4": f"visualization of a randomized model differs (mean SSIM < {MAX_RANDOMIZED_SSIM})",
}


def planted_pattern(size: int = 9, wavelength: float = 6.0, angle: float = math.pi / 6) -> Tensor:
    """A colour Gabor patch ``Tensor[3, size, size]`` with zero mean: the kernel F1 plants."""
    coordinates = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    y, x = coordinates[:, None], coordinates[None, :]
    along = x * math.cos(angle) + y * math.sin(angle)
    envelope = torch.exp(-(x**2 + y**2) / (2 * (size / 3) ** 2))
    wave = envelope * torch.cos(2 * math.pi * along / wavelength)
    pattern = torch.stack([wave, -0.5 * wave, 0.8 * wave.roll(1, dims=1)])
    return pattern - pattern.mean()


def planted_net(pattern: Tensor, seed: int = 0) -> nn.Module:
    """One valid convolution with 4 output channels; channel 0's kernel is ``pattern``, the rest random."""
    channels, size, _ = pattern.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        conv = nn.Conv2d(channels, 4, size, bias=False)
    with torch.no_grad():
        conv.weight[0] = pattern
    return nn.Sequential(conv).eval()


def known_pattern(variant: str, *, steps: int = 48, seed: int = 0) -> Measurement:
    """F1 for ``variant``: maximise the centre neuron of the planted channel from noise, without clamping."""
    pattern = planted_pattern()
    size = pattern.shape[-1]
    net = planted_net(pattern, seed)
    image_size = 3 * size
    visualizer = get_preset(variant).create(net, image_size=image_size, mean=None, std=None, clamp=False, lr=0.1)
    result = visualizer.visualize(neuron("0", 0), steps=steps, seed=seed)
    centre = (image_size - size + 1) // 2
    patch = result.images[:, :, centre : centre + size, centre : centre + size]
    correlation = float(pearson(patch, pattern[None])[0])
    return Measurement(
        summary=f"Pearson {correlation:.3f}",
        met=correlation >= MIN_PATTERN_CORRELATION,
        values={"pearson": correlation},
        tensors={"pattern": pattern, "patch": patch[0].detach().cpu()},
    )


@dataclass
class VisualizationRuns:
    """Activation maximization of class logits, per variant, on a model and on its randomized twin.

    Attributes:
        units: the class indices visualised (one image each).
        trained: ``{variant: Visualization}`` of the trained model.
        randomized: ``{variant: Visualization}`` of the fully randomized model (same seeds).
        values: ``{variant: Tensor[U]}``, each image's logit for its class (trained model).
    """

    units: list[int]
    trained: dict[str, Visualization]
    randomized: dict[str, Visualization]
    values: dict[str, Tensor]


def visualize_classes(
    model: nn.Module,
    units: Sequence[int],
    *,
    image_size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    steps: int = 64,
    seed: int = 0,
    variants: Sequence[str] = VARIANTS,
) -> VisualizationRuns:
    """Visualise ``units`` (class logits) with every variant, on ``model`` and on a fully randomized copy of it."""
    objective = class_logit(list(units))
    trained, random, values = {}, {}, {}
    groups = randomization_groups(model)
    for variant in variants:
        visualizer = get_preset(variant).create(model, image_size=image_size, mean=mean, std=std)
        trained[variant] = visualizer.visualize(objective, steps=steps, seed=seed)
        with preserved_model_state(model, eval_mode=True), torch.no_grad():
            logits = model(trained[variant].images)
        values[variant] = logits.gather(1, torch.tensor(list(units), device=logits.device)[:, None])[:, 0].cpu()
        with randomized(model, groups, seed=seed):
            random[variant] = visualizer.visualize(objective, steps=steps, seed=seed)
    return VisualizationRuns(list(units), trained, random, values)


def objective_attained(runs: VisualizationRuns, variant: str, dataset_max: Tensor | None) -> Measurement:
    """F2 for ``variant``: its logits against the dataset's highest, and against plain's when blurred."""
    if dataset_max is None:
        return not_applicable("needs the model's own dataset to find the highest activation (the bundled model only)")
    values = runs.values[variant]
    reference = dataset_max[runs.units].cpu()
    above = bool((values >= reference).all())
    result = {"values": values.tolist(), "dataset_max": reference.tolist()}
    if variant == "plain":
        smallest = float((values / reference).min())
        result["min_ratio_to_dataset_max"] = smallest
        return Measurement(summary=f"min ratio to data max {smallest:.1f}", met=above, values=result)
    ratio = values / runs.values["plain"]
    median = float(ratio.median())  # the lower median for an even count
    result["ratio_to_plain"] = ratio.tolist()
    result["median_ratio_to_plain"] = median
    return Measurement(
        summary=f"median {median:.2f} x plain",
        met=above and median >= MIN_BLUR_RATIO,
        values=result,
        note="" if above else "below the dataset's highest activation for some class",
    )


def high_frequency_share(images: Tensor, cutoff: float = HIGH_FREQUENCY) -> Tensor:
    """Share of each image's spectral power (mean removed) above ``cutoff`` cycles per pixel, ``Tensor[N]``."""
    centred = images - images.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(centred.double()).abs() ** 2
    fy = torch.fft.fftfreq(images.shape[-2], dtype=torch.float64).view(-1, 1)
    fx = torch.fft.fftfreq(images.shape[-1], dtype=torch.float64).view(1, -1)
    high = ((fy**2 + fx**2).sqrt() > cutoff).to(power.device)
    total = power.sum(dim=(1, 2, 3)).clamp_min(1e-30)
    return ((power * high).sum(dim=(1, 2, 3)) / total).float()


def total_variation(images: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring pixels of each image, ``Tensor[N]``."""
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(1).mean(dim=1)
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().flatten(1).mean(dim=1)
    return (dx + dy) / 2


def edge_sharpness(images: Tensor, edges: Tensor) -> Tensor:
    """Mean gradient magnitude of ``images`` on the ``edges`` pixels (``Tensor[N, H, W]`` of bool), ``Tensor[N]``."""
    dy = torch.zeros_like(images)
    dx = torch.zeros_like(images)
    dy[..., 1:-1, :] = (images[..., 2:, :] - images[..., :-2, :]) / 2
    dx[..., :, 1:-1] = (images[..., :, 2:] - images[..., :, :-2]) / 2
    magnitude = (dx**2 + dy**2).sum(dim=1).sqrt()
    return (magnitude * edges).flatten(1).sum(dim=1) / edges.flatten(1).sum(dim=1).clamp_min(1)


def edges_kept(images: Tensor, masks: Tensor, sigma: float = 1.5, sigma_color: float = 0.1) -> tuple[float, float]:
    """Edge sharpness kept by Gaussian and by bilateral blur at equal spatial sigma, as shares of the original's.

    Args:
        images: ``Tensor[N, C, H, W]`` in [0, 1] with strong object edges.
        masks: ``Tensor[N, H, W]`` of bool, objects whose boundaries are the strong edges.
        sigma: the spatial sigma of both filters, in pixels.
        sigma_color: the bilateral filter's colour sigma.
    """
    m = masks.float()[:, None]
    dilated = torch.nn.functional.max_pool2d(m, 3, 1, 1)
    eroded = -torch.nn.functional.max_pool2d(-m, 3, 1, 1)
    boundary = (dilated - eroded)[:, 0] > 0
    original = edge_sharpness(images, boundary)
    kernel = 2 * math.ceil(2 * sigma) + 1
    gaussian = edge_sharpness(gaussian_blur(images, sigma), boundary) / original
    bilateral = edge_sharpness(bilateral_blur(images, kernel, sigma, sigma_color), boundary) / original
    return float(gaussian.mean()), float(bilateral.mean())


def regularizer_effect(
    runs: VisualizationRuns, variant: str, edge_images: Tensor | None = None, edge_masks: Tensor | None = None
) -> Measurement:
    """F3 for ``variant``: what its blur did to the images, against the plain variant's."""
    if variant == "plain":
        return not_applicable("the plain variant has no regularizer")
    images, plain = runs.trained[variant].display, runs.trained["plain"].display
    if variant == "gaussian":
        ours, theirs = float(high_frequency_share(images).mean()), float(high_frequency_share(plain).mean())
        return Measurement(
            summary=f"HF power {ours:.3f} vs plain {theirs:.3f}",
            met=ours < theirs,
            values={"high_frequency_share": ours, "plain_high_frequency_share": theirs, "cutoff": HIGH_FREQUENCY},
        )
    ours, theirs = float(total_variation(images).mean()), float(total_variation(plain).mean())
    values = {"total_variation": ours, "plain_total_variation": theirs}
    met = ours < theirs
    summary = f"TV {ours:.3f} vs plain {theirs:.3f}"
    if edge_images is not None and edge_masks is not None:
        gaussian_kept, bilateral_kept = edges_kept(edge_images, edge_masks)
        values.update(gaussian_edge_kept=gaussian_kept, bilateral_edge_kept=bilateral_kept)
        met = met and bilateral_kept > gaussian_kept
        summary += f"; edges kept {bilateral_kept:.2f} vs Gaussian {gaussian_kept:.2f}"
    return Measurement(summary=summary, met=met, values=values)


def randomization_differs(runs: VisualizationRuns, variant: str) -> Measurement:
    """F4 for ``variant``: SSIM between the trained and the randomized model's visualizations."""
    similarity = ssim(runs.trained[variant].display, runs.randomized[variant].display).cpu()
    mean = float(similarity.mean())
    return Measurement(
        summary=f"SSIM {mean:.2f}", met=mean < MAX_RANDOMIZED_SSIM, values={"ssim": similarity.tolist(), "mean": mean}
    )
