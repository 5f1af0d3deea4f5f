"""What each sanity check keeps for its figures: one dataclass per check.

:func:`~revelio.eval.run_sanity` fills an :class:`Evidence`; the figure code
(:mod:`revelio.eval.figures`) reads its typed fields. Nothing here is serialised into
``report.json`` (the numbers are in each result's ``values``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from revelio.eval.randomization import RandomizationResult


@dataclass
class Images:
    """The images a run checks, and the few shown in the figures.

    Attributes:
        task: the task's name (``None`` for a model without a task).
        dataset_seed: the dataset seed of the images (the task's held-out ``test_seed``).
        indices: the items of that dataset the run uses.
        shown: ``Tensor[E, 3, H, W]`` in [0, 1], the first ``E`` of them, for figures.
        class_names: one name per class, or ``None``.
        asked: the class explained for each shown image (A3, A4, A8).
        absent: a class not in each shown image (A4).
        objects: the labelled objects' classes of each shown image (A6, A7).
        masks: ``Tensor[E, K, H, W]``, the shown images' object masks, or ``None``.
    """

    task: str | None
    dataset_seed: int | None
    indices: list[int]
    shown: Tensor
    class_names: list[str] | None
    asked: list[int]
    absent: list[int]
    objects: list[list[int]] = field(default_factory=list)
    masks: Tensor | None = None

    def name(self, index: int) -> str:
        """The name of class ``index``."""
        names = self.class_names
        return names[index] if names and 0 <= index < len(names) else f"class {index}"

    def describe(self) -> str:
        """Which images, in words, for the report."""
        span = f"items {self.indices[0]}..{self.indices[-1]}" if self.indices else "no items"
        source = f"task {self.task!r}, dataset seed {self.dataset_seed}" if self.task else "the model's own inputs"
        return f"{source}, {span} ({len(self.indices)} images)"


@dataclass
class PairedMaps:
    """Normalised heat of two maps per shown image, ``Tensor[E, H, W]`` each."""

    first: Tensor
    second: Tensor


@dataclass
class CascadeEvidence:
    """A3: each method's maps and similarities under cascading (and independent) randomization."""

    cascading: dict[str, RandomizationResult]
    independent: dict[str, RandomizationResult] | None = None


@dataclass
class PairedMapsEvidence:
    """A4, A5, A7: two maps per shown image and method, and what the two columns are."""

    maps: dict[str, PairedMaps]
    headings: list[tuple[str, str]]


@dataclass
class LocalizationEvidence:
    """A6: each method's figures (the result ``values``) and the baselines' names."""

    scores: dict[str, dict]
    baselines: list[str]


@dataclass
class Curves:
    """A8: mean deletion and insertion curves over the images."""

    fractions: list[float]
    deletion: list[float]
    insertion: list[float]


@dataclass
class FaithfulnessEvidence:
    """A8: the curves of each method and of the random-map reference."""

    curves: dict[str, Curves]
    reference: Curves


@dataclass
class KnownPatternEvidence:
    """F1: the planted pattern and each variant's maximising patch."""

    pattern: Tensor
    patches: dict[str, Tensor]


@dataclass
class VisualizationEvidence:
    """F2-F4: class visualizations of the trained and of the randomized model, per variant."""

    units: list[int]
    trained: dict[str, Tensor]
    randomized: dict[str, Tensor]


@dataclass
class Evidence:
    """What a run keeps for its figures, one field per check (``None`` when the check did not run)."""

    images: Images | None = None
    cascade: CascadeEvidence | None = None
    random_logit: PairedMapsEvidence | None = None
    data_randomization: PairedMapsEvidence | None = None
    localization: LocalizationEvidence | None = None
    discrimination: PairedMapsEvidence | None = None
    faithfulness: FaithfulnessEvidence | None = None
    known_pattern: KnownPatternEvidence | None = None
    visualizations: VisualizationEvidence | None = None
