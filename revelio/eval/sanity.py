"""Run every sanity check for every method on one model, and collect a :class:`SanityReport`.

:func:`run_sanity` is what ``revelio sanity`` and ``python -m revelio.eval`` call. On a
task's bundled model (:data:`revelio.zoo.tasks.TASKS`, default ``shapes``) it runs
A1-A8 (A5 and the independent randomization of A3 with ``slow=True``) for every
registered method and control, and F1-F4 for the activation-maximization presets.
Maps are computed in batches, once per model state, and shared between checks; every
figure carries a bootstrap interval over the images (:mod:`revelio.eval.uncertainty`).
The quick run binds each method's registry ``preview`` options (fewer integration
steps, noise samples, masks, windows); ``slow=True`` uses the full defaults.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from revelio.attribution import RandomMap, SpectralResidual
from revelio.core.state import preserved_model_state
from revelio.errors import InputError
from revelio.eval import checks as measure
from revelio.eval.data_randomization import train_on_labels
from revelio.eval.evidence import (
    CascadeEvidence,
    Curves,
    Evidence,
    FaithfulnessEvidence,
    Images,
    KnownPatternEvidence,
    LocalizationEvidence,
    PairedMaps,
    PairedMapsEvidence,
    VisualizationEvidence,
)
from revelio.eval.faithfulness import PerturbationCurves, deletion_insertion
from revelio.eval.featureviz_checks import CRITERIA as FEATUREVIZ_CRITERIA
from revelio.eval.featureviz_checks import (
    known_pattern,
    objective_attained,
    randomization_differs,
    regularizer_effect,
    visualize_classes,
)
from revelio.eval.figures import figures_of
from revelio.eval.invariance import CRITERION as INVARIANCE_CRITERION
from revelio.eval.invariance import input_invariance
from revelio.eval.known_answers import criterion as known_answer_criterion
from revelio.eval.known_answers import known_answer
from revelio.eval.localization import centre_baseline, scaled_tolerance
from revelio.eval.maps import heat, normalized_heat
from revelio.eval.methods import Explainer, Method, build_explainer, resolve_methods
from revelio.eval.outcome import Measurement, decide, not_applicable
from revelio.eval.quality import quality_metrics
from revelio.eval.randomization import BatchNormStatistics, model_randomization
from revelio.eval.report import CheckResult, SanityReport
from revelio.eval.uncertainty import RESAMPLES, resample_weights
from revelio.featureviz import PRESETS, Preset, get_preset
from revelio.registry import Expectation
from revelio.zoo import ZooModel
from revelio.zoo import load as load_zoo_model
from revelio.zoo.tasks import DEFAULT_TASK, Task, get_task
from revelio.zoo.train import ARCHITECTURES

DEFAULT_IMAGES = 32
"""Images per check on a task's bundled model."""

DEFAULT_IMAGES_OTHER = 8
"""Images per check on other models (224-pixel inputs are costly on a CPU)."""

DATASET_IMAGES = 256
"""Dataset images F2 takes the highest class logit over."""

PERTURBATION_STEPS = 20
"""Steps of the deletion and insertion curves (``slow``; half as many in the quick run)."""

FEATUREVIZ_STEPS = 64
"""Activation-maximization steps of F2-F4 on a task's model (32 on others)."""

EXAMPLES = 4
"""Images whose maps are kept for the figures."""

A3_IMAGES = 16
"""Images A3 randomizes over in the quick run (every image with ``slow``)."""

FRESH_DRAWS = 7919
"""Offset of the seed that methods drawing random numbers use for the second model of a comparison (A3, A5)."""

SEEDS = 3
"""Randomization seeds of A3 with ``slow`` (``seed``, ``seed + 1``, ...): the spread over seeds is reported."""

ATTRIBUTION_CHECK_IDS = ("A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8")
FEATUREVIZ_CHECK_IDS = ("F1", "F2", "F3", "F4")


def run_sanity(
    model: ZooModel | None = None,
    methods: Sequence[Method | str] | str | Method | None = None,
    *,
    task: str = DEFAULT_TASK,
    slow: bool = False,
    images: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    retake_class: bool = True,
    batchnorm_statistics: BatchNormStatistics = "keep",
    resamples: int = RESAMPLES,
) -> SanityReport:
    """Run the sanity checks of every method and return the report.

    Args:
        model: a :class:`~revelio.zoo.ZooModel`; default: the bundled model of ``task``,
            loaded on ``device``. A model of other classes gets A1-A5, A8 and F1, F3,
            F4 on the task's images; the checks that need the task's masks or data (A6,
            A7, F2) are reported as ``n/a`` with the reason.
        methods: registered method names (:mod:`revelio.registry`, controls included),
            feature-visualization preset names, specs, or ``Attribution`` instances (a
            comma-separated string works too); default: every registered method and
            control, and every preset.
        task: the ground-truth task whose held-out images are checked
            (:func:`revelio.zoo.tasks.get_task`).
        slow: also run data randomization (A5: trains a permuted-label model and its
            true-label control) and A3's independent randomization, with every method's
            full default options instead of its ``preview`` ones.
        images: images per check; default 32 on a task's model, 8 on others.
        seed: seeds the randomization, the random maps, the visualizations and the bootstrap.
        device: where to load the default model (a given model stays where it is).
        progress: print what runs, with timings, to stderr.
        retake_class: A3 explains each randomized model's own top class, as Adebayo et
            al.'s code does (default); ``False`` keeps the trained model's class.
        batchnorm_statistics: A3 keeps BatchNorm running statistics (``"keep"``, as
            Adebayo et al.'s code) or resets them with the parameters (``"reset"``).
        resamples: bootstrap resamples per interval.

    Returns:
        a :class:`SanityReport`; its :meth:`~SanityReport.write` makes the files.

    Raises:
        InputError: an unknown method name, or fewer than 2 images.
        ModelNotFoundError: an unknown task.
    """
    started = time.perf_counter()
    log = _logger(progress, started)
    the_task = get_task(task)
    attribution_methods, presets = _split_methods(methods)
    zoo_model = load_zoo_model(the_task.model, device) if model is None else model
    if not isinstance(zoo_model, ZooModel):
        raise TypeError(
            f"model must be a revelio.zoo.ZooModel (zoo.load, zoo.torchvision.build), got {type(model).__name__}"
        )
    on_task = tuple(zoo_model.class_names or ()) == tuple(the_task.class_names)
    count = images if images is not None else (DEFAULT_IMAGES if on_task else DEFAULT_IMAGES_OTHER)
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise InputError(f"images must be an integer >= 2, got {images!r}")
    run = _Run(zoo_model, the_task, on_task, count, seed, log, resamples)
    options = {"retake_class": retake_class, "batchnorm_statistics": batchnorm_statistics}
    results: list[CheckResult] = []
    titles: dict[str, str] = {}
    if attribution_methods:
        explainers = [
            build_explainer(
                m, zoo_model.model, zoo_model.gradcam_layer, zoo_model.gradcam_reshape, seed=seed, preview=not slow
            )
            for m in attribution_methods
        ]
        titles.update({e.name: e.title for e in explainers})
        results += run.attribution_checks(explainers, slow, **options)
    if presets:
        titles.update({p.name: p.title for p in presets})
        results += run.featureviz_checks(presets)
    seconds = time.perf_counter() - started
    log(f"done in {seconds:.0f} s")
    settings: dict[str, Any] = {
        "task": the_task.name,
        "images": count,
        "seed": seed,
        "device": str(zoo_model.device),
        "methods": list(titles),
        "slow": bool(slow),
        "options": "full defaults" if slow else "registry preview options for the costly methods",
        "retake_class": retake_class,
        "batchnorm_statistics": batchnorm_statistics,
        "resamples": resamples,
        "metrics": run.metric_settings,
        "seconds": round(seconds, 1),
        "timings": {key: round(value, 1) for key, value in run.timings.items()},
        "data": run.evidence.images.describe() if run.evidence.images else "",
        "torch": torch.__version__,
    }
    return SanityReport(
        model=zoo_model.name, settings=settings, results=results, evidence=run.evidence, titles=titles,
        metrics=run.metrics,
    )


def _split_methods(methods: Any) -> tuple[list[Method], list[Preset]]:
    """Attribution methods (names, specs, instances) and feature-visualization presets, checked."""
    if methods is None:
        return resolve_methods(None), list(PRESETS.values())
    if isinstance(methods, str) or not isinstance(methods, (list, tuple)):
        methods = [methods]
    methods = [part.strip() for m in methods for part in (m.split(",") if isinstance(m, str) else [m])]
    methods = [m for m in methods if not isinstance(m, str) or m]
    names = [m for m in methods if isinstance(m, str)]
    presets = [get_preset(name) for name in names if name in PRESETS]
    attribution = [m for m in methods if not (isinstance(m, str) and m in PRESETS)]
    if not presets and not attribution:
        raise InputError("no methods given; give registered method names, preset names or Attribution instances")
    return (resolve_methods(attribution) if attribution else []), list(dict.fromkeys(presets))


def _logger(progress: bool, started: float) -> Callable[[str], None]:
    def log(message: str) -> None:
        if progress:
            print(f"[sanity {time.perf_counter() - started:5.1f} s] {message}", file=sys.stderr, flush=True)

    return log


class _Run:
    """One sanity run: the images, the maps shared between checks, the evidence for figures."""

    def __init__(
        self, zoo_model: ZooModel, task: Task, on_task: bool, count: int, seed: int,
        log: Callable[[str], None], resamples: int,
    ) -> None:
        self.zoo_model = zoo_model
        self.model = zoo_model.model
        self.task = task
        self.on_task = on_task
        self.seed = seed
        self.log = log
        self.timings: dict[str, float] = {}
        self.evidence = Evidence()
        self.metrics: dict[str, dict[str, dict[str, float]]] = {}
        self.metric_settings: dict[str, int] = {}
        self.weights = resample_weights(count, resamples=resamples, seed=seed)
        device = zoo_model.device
        batch = task.make_batch(count, task.test_seed)
        self.batch = batch
        if on_task:
            self.inputs = zoo_model.normalize(batch.images.to(device))
            display = batch.images
        else:
            self.inputs = zoo_model.preprocess(batch.images)
            display = zoo_model.denormalize(self.inputs).clamp(0, 1).cpu()
        logits = _logits(self.model, self.inputs)
        if not isinstance(logits, Tensor) or logits.ndim != 2:
            raise InputError("sanity checks need a classifier returning logits (N, classes)")
        generator = torch.Generator().manual_seed(seed)
        classes = logits.shape[1]
        if on_task:
            self.objects = batch.classes.to(device)  # [N, K]
            self.masks = batch.masks.to(device)  # [N, K, H, W]
            # the labelled object the model is surest of: the class explained by A3, A4, A8
            self.primary_index = logits.gather(1, self.objects).argmax(dim=1)
            self.primary = self.objects.gather(1, self.primary_index[:, None])[:, 0]
            present = batch.labels.bool()
            draws = torch.rand(count, classes, generator=generator).masked_fill(present, -1.0)
            self.absent = draws.argmax(dim=1).to(device)
        else:
            self.objects = None
            self.masks = None
            self.primary_index = None
            self.primary = logits.argmax(dim=1)
            offset = torch.randint(1, classes, (count,), generator=generator).to(device)
            self.absent = (self.primary + offset) % classes
        self.evidence.images = Images(
            task=task.name,
            dataset_seed=task.test_seed,
            indices=list(range(count)),
            shown=display[:EXAMPLES].cpu(),
            class_names=list(zoo_model.class_names) if zoo_model.class_names else None,
            asked=self.primary[:EXAMPLES].tolist(),
            absent=self.absent[:EXAMPLES].tolist(),
            objects=self.objects[:EXAMPLES].tolist() if self.objects is not None else [],
            masks=self.masks[:EXAMPLES].cpu() if self.masks is not None else None,
        )

    # -- attribution ------------------------------------------------------------------

    def attribution_checks(
        self, explainers: Sequence[Explainer], slow: bool, *, retake_class: bool, batchnorm_statistics: str
    ) -> list[CheckResult]:
        found: dict[str, dict[str, Measurement]] = {e.name: {} for e in explainers}
        with self._timed("A1 A2 known answers, input invariance"):
            self.known_answers_and_invariance(explainers, found)
        with self._timed("maps"):
            maps = self.maps(explainers)
        with self._timed("A3 cascading randomization"):
            self.cascading_randomization(explainers, maps, found, slow, retake_class, batchnorm_statistics)
        with self._timed("A4 random logit"):
            self.random_logit(explainers, maps, found)
        with self._timed("A5 data randomization"):
            self.data_randomization(explainers, maps, found, slow)
        with self._timed("A6 A7 localization, class discrimination"):
            self.localization_and_discrimination(explainers, maps, found)
        with self._timed("A8 deletion / insertion"):
            self.deletion_insertion(explainers, maps, found, PERTURBATION_STEPS if slow else PERTURBATION_STEPS // 2)
        with self._timed("quality metrics"):
            self.quality_metrics(explainers, maps, slow)
        criteria = {"A1": known_answer_criterion, "A2": lambda explainer: INVARIANCE_CRITERION}
        return [
            self._result(
                check, explainer.name, explainer.expected(check),
                criteria[check](explainer) if check in criteria else measure.CRITERIA[check],
                found[explainer.name][check],
            )
            for explainer in explainers
            for check in ATTRIBUTION_CHECK_IDS
        ]

    def known_answers_and_invariance(self, explainers: Sequence[Explainer], found) -> None:
        """A1 and A2, on small built-in nets (they do not read the model under test), with each method's defaults."""
        for explainer in explainers:
            plain = replace(explainer, options=dict(explainer.spec.defaults))
            found[explainer.name]["A1"] = known_answer(plain, seed=self.seed)
            found[explainer.name]["A2"] = input_invariance(plain, seed=self.seed)

    def maps(self, explainers: Sequence[Explainer]) -> dict[str, dict[str, Any]]:
        """Each method's maps: per labelled object, for the absent class, the primary class, and a recomputation.

        One call per method asks for every class at once (``target`` of shape ``(N, K)``), so
        that perturbation methods score all of them from the same forward passes.
        """
        if self.objects is not None:
            targets = torch.cat([self.objects, self.absent[:, None]], dim=1)  # [N, K + 1]
            primary_column = self.primary_index
        else:
            targets = torch.stack([self.primary, self.absent], dim=1)
            primary_column = torch.zeros_like(self.primary)
        maps: dict[str, dict[str, Any]] = {}
        for explain in explainers:
            self.log(f"maps: {explain.name}")
            every = explain(self.inputs, targets)  # [N, K + 1, ...]
            again = self._recomputed(explain, targets, every)
            entry: dict[str, Any] = {
                "absent": every[:, -1],
                "primary": _column(every, primary_column),
                "again": _column(again, primary_column),
            }
            if self.objects is not None:
                entry["objects"] = [every[:, k] for k in range(self.objects.shape[1])]
            maps[explain.name] = entry
        return maps

    def _recomputed(self, explain: Explainer, targets: Tensor, every: Tensor) -> Tensor:
        """The maps computed again: the same tensor when a probe on a few images repeats them bit for bit."""
        probe = explain(self.inputs[:EXAMPLES], targets[:EXAMPLES])
        if torch.equal(probe, every[:EXAMPLES]):
            return every
        if len(self.inputs) <= EXAMPLES:
            return probe
        return torch.cat([probe, explain(self.inputs[EXAMPLES:], targets[EXAMPLES:])])

    def cascading_randomization(
        self, explainers: Sequence[Explainer], maps, found, slow: bool, retake_class: bool, batchnorm_statistics
    ) -> None:
        """A3 (Adebayo et al. 2018): cascading randomization; the independent one too with ``slow``."""
        trained = {e.name: maps[e.name]["primary"] for e in explainers}
        # the trained maps are given; the randomised models' maps use fresh random draws
        by_name = {e.name: e.reseeded(self.seed + FRESH_DRAWS) for e in explainers}
        options = {
            "seed": self.seed, "examples": EXAMPLES, "trained_maps": trained, "retake_class": retake_class,
            "batchnorm_statistics": batchnorm_statistics,
        }
        # the quick run compares the maps at the two stages the criterion reads, on the first A3_IMAGES images;
        # --slow at every stage, on every image
        cascade_stages = None if slow else (1, -1)
        count = len(self.inputs) if slow else min(A3_IMAGES, len(self.inputs))
        weights = self.weights if slow else resample_weights(count, resamples=self.weights.shape[0], seed=self.seed)
        options["trained_maps"] = {name: values[:count] for name, values in trained.items()}
        inputs, classes = self.inputs[:count], self.primary[:count]
        self.log("A3: cascading randomization")
        cascading = model_randomization(
            self.model, by_name, inputs, classes, mode="cascading", explain_at=cascade_stages, **options
        )
        independent = None
        if slow:
            self.log("A3: independent randomization")
            independent = model_randomization(self.model, by_name, inputs, classes, mode="independent", **options)
        other_seeds = {}
        if slow:
            for extra in range(1, SEEDS):
                self.log(f"A3: cascading randomization, seed {self.seed + extra}")
                other_seeds[self.seed + extra] = model_randomization(
                    self.model, by_name, inputs, classes, mode="cascading", explain_at=(1, -1),
                    **{**options, "seed": self.seed + extra},
                )
        self.evidence.cascade = CascadeEvidence(cascading, independent)
        for method in by_name:
            found[method]["A3"] = measure.cascading_randomization(cascading[method], weights)
            if other_seeds:
                spread = {
                    seed: [float(value) for value in results[method].mean("spearman_abs")]
                    for seed, results in other_seeds.items()
                }
                found[method]["A3"].values["other_seeds"] = spread
                found[method]["A3"].summary += "; seeds " + ", ".join(
                    f"{seed}: {values[0]:.2f} / {values[-1]:.2f}" for seed, values in spread.items()
                )

    def random_logit(self, explainers: Sequence[Explainer], maps, found) -> None:
        """A4 (Sixt et al. 2020): the map for a class in the image against one for a class not in it."""
        examples = {}
        for explainer in explainers:
            entry = maps[explainer.name]
            found[explainer.name]["A4"] = measure.random_logit(
                entry["primary"], entry["absent"], entry["again"], self.weights
            )
            examples[explainer.name] = _examples(entry["primary"], entry["absent"])
        names = self.evidence.images.name
        headings = [(f"asked: {names(a)}", f"absent: {names(o)}") for a, o in zip(self.primary.tolist(), self.absent.tolist())]
        self.evidence.random_logit = PairedMapsEvidence(examples, headings[:EXAMPLES])

    def data_randomization(self, explainers: Sequence[Explainer], maps, found, slow: bool) -> None:
        """A5 (Adebayo et al. 2018): a permuted-label model against a true-label one trained identically."""
        bundled = self.zoo_model.name in ARCHITECTURES
        if not slow or not bundled:
            reason = (
                "slow check: run with slow=True (--slow) to train the permuted-label model and its control"
                if slow is False
                else "retraining on permuted labels needs a bundled model's recipe (revelio.zoo.train)"
            )
            for explainer in explainers:
                found[explainer.name]["A5"] = not_applicable(reason)
            return
        trained = {}
        for permuted in (False, True):
            self.log(f"A5: training on {'permuted' if permuted else 'true'} labels")
            trained[permuted] = train_on_labels(
                permuted=permuted, seed=self.seed, model=self.zoo_model.name, log=self.log
            )
        control = trained[False].model.to(self.zoo_model.device).eval()
        permuted_model = trained[True].model.to(self.zoo_model.device).eval()
        training = {
            "permuted_model_train_accuracy": trained[True].train_accuracy,
            "permuted_model_heldout_accuracy": trained[True].heldout_accuracy,
            "control_model_train_accuracy": trained[False].train_accuracy,
            "control_model_heldout_accuracy": trained[False].heldout_accuracy,
            "epochs": trained[True].epochs,
            "training_images": trained[True].images,
        }
        examples = {}
        for explainer in explainers:
            control_maps = explainer.rebind(control)(self.inputs, self.primary)
            permuted_maps = explainer.reseeded(self.seed + FRESH_DRAWS).rebind(permuted_model)(self.inputs, self.primary)
            found[explainer.name]["A5"] = measure.data_randomization(
                control_maps, permuted_maps, maps[explainer.name]["primary"], self.weights, training
            )
            examples[explainer.name] = _examples(control_maps, permuted_maps)
        self.evidence.data_randomization = PairedMapsEvidence(
            examples, [("true labels", "permuted labels")] * EXAMPLES
        )

    def localization_and_discrimination(self, explainers: Sequence[Explainer], maps, found) -> None:
        """A6 (pointing game, TorchRay) and A7 (class discrimination) on the task's object masks."""
        if self.objects is None:
            reason = "needs ground-truth object masks of the model's classes (a task's bundled model)"
            for explainer in explainers:
                found[explainer.name]["A6"] = not_applicable(reason)
                found[explainer.name]["A7"] = not_applicable(reason)
            return
        n, k, h, w = self.masks.shape
        # rows: (object k, image i), object-major; "other" is the next labelled object of the same image
        masks = self.masks.transpose(0, 1).reshape(k * n, h, w)
        other = self.masks.roll(-1, dims=1).transpose(0, 1).reshape(k * n, h, w)
        classes = self.objects.T.reshape(-1).cpu()
        weights = self.weights.repeat(1, k)
        tolerance = scaled_tolerance(h, w)
        baselines = {
            "centre": centre_baseline(k * n, h, w, device=masks.device),
            "objectness": SpectralResidual(self.model).attribute(self.inputs.repeat(k, 1, 1, 1))[:, 0],
        }
        scores, examples = {}, {}
        for explainer in explainers:
            rows = torch.cat(maps[explainer.name]["objects"])
            found[explainer.name]["A6"] = measure.localization(
                rows, masks, other, classes, baselines, tolerance, weights
            )
            found[explainer.name]["A7"] = measure.discrimination(rows, masks, other, weights)
            scores[explainer.name] = found[explainer.name]["A6"].values
            first, second = maps[explainer.name]["objects"][:2]
            examples[explainer.name] = _examples(first, second)
        self.evidence.localization = LocalizationEvidence(scores, list(baselines))
        names = self.evidence.images.name
        headings = [(names(a), names(b)) for a, b, *_ in self.objects[:EXAMPLES].tolist()]
        self.evidence.discrimination = PairedMapsEvidence(examples, headings)

    def deletion_insertion(self, explainers: Sequence[Explainer], maps, found, steps: int) -> None:
        """A8 (Petsiuk et al. 2018): deletion and insertion AUCs against a random map's."""
        probability = self.zoo_model.probabilities
        reference_maps = RandomMap(self.model, seed=self.seed + 1000).attribute(self.inputs, self.primary)

        def curves(values: Tensor) -> PerturbationCurves:
            return deletion_insertion(
                self.model, self.inputs, values, self.primary, probability=probability, steps=steps,
                batch_size=128, seed=self.seed,
            )

        self.log("A8: random-map reference")
        reference = curves(reference_maps)
        mean_curves = {}
        for explainer in explainers:
            self.log(f"A8: {explainer.name}")
            result = curves(maps[explainer.name]["primary"])
            found[explainer.name]["A8"] = measure.faithfulness(result, reference, self.weights)
            mean_curves[explainer.name] = _mean_curves(result)
        self.evidence.faithfulness = FaithfulnessEvidence(mean_curves, _mean_curves(reference))

    def quality_metrics(self, explainers: Sequence[Explainer], maps, slow: bool) -> None:
        """Faithfulness correlation, max-sensitivity, sparseness and complexity of each method's maps (reported).

        The quick run takes 20 random subsets per image for faithfulness correlation and
        leaves max-sensitivity (a call of the method per noisy copy) to ``slow``, which
        takes Quantus' 100 subsets and 20 noisy copies of every image.
        """
        runs, samples, count = (100, 20, len(self.inputs)) if slow else (20, 0, 0)
        weights = resample_weights(count, resamples=self.weights.shape[0], seed=self.seed) if count else None
        scores = {}
        for explainer in explainers:
            self.log(f"metrics: {explainer.name}")
            primary = maps[explainer.name]["primary"]
            scores[explainer.name] = quality_metrics(
                self.model, explainer, self.inputs, primary, self.primary, self.weights, runs=runs, samples=samples,
                seed=self.seed, sensitivity_images=count, sensitivity_weights=weights,
            )
        self.metrics = scores
        self.metric_settings = {
            "faithfulness_correlation_runs": runs, "max_sensitivity_samples": samples,
            "max_sensitivity_images": count,
        }

    # -- feature visualization ----------------------------------------------------------

    def featureviz_checks(self, presets: Sequence[Preset]) -> list[CheckResult]:
        variants = [p.name for p in presets]
        needed = ["plain"] + [v for v in variants if v != "plain"]  # F2 and F3 compare with the plain variant
        found: dict[str, dict[str, Measurement]] = {v: {} for v in variants}
        with self._timed("F1 known pattern"), _small_batch_threads(torch.device("cpu"), small=True):
            patches = {}
            for variant in variants:
                found[variant]["F1"] = known_pattern(variant, seed=self.seed)
                patches[variant] = found[variant]["F1"].tensors["patch"]
            pattern = found[variants[0]]["F1"].tensors["pattern"]
            self.evidence.known_pattern = KnownPatternEvidence(pattern, patches)
        with self._timed("F2-F4 class visualizations"):
            classes = len(self.zoo_model.class_names or ()) or 4
            units = list(range(min(classes, 6))) if self.on_task else [0, 1, 2, 3]
            self.log(f"F2-F4: feature visualization of {len(units)} classes, {', '.join(needed)}")
            with _small_batch_threads(self.inputs.device, small=self.on_task):
                runs = visualize_classes(
                    self.model, units, image_size=tuple(self.zoo_model.input_size), mean=self.zoo_model.mean,
                    std=self.zoo_model.std, steps=FEATUREVIZ_STEPS if self.on_task else 32, seed=self.seed,
                    variants=needed,
                )
            dataset_max = None
            if self.on_task:
                data = self.task.make_batch(DATASET_IMAGES, self.task.test_seed)
                images = self.zoo_model.normalize(data.images.to(self.inputs.device))
                dataset_max = _logits(self.model, images).amax(dim=0)
            edge_batch = self.task.make_batch(32, self.task.test_seed)
            for variant in variants:
                found[variant]["F2"] = objective_attained(runs, variant, dataset_max)
                found[variant]["F3"] = regularizer_effect(runs, variant, edge_batch.images, edge_batch.masks.any(dim=1))
                found[variant]["F4"] = randomization_differs(runs, variant)
        self.evidence.visualizations = VisualizationEvidence(
            units,
            {v: runs.trained[v].display.cpu() for v in needed},
            {v: runs.randomized[v].display.cpu() for v in needed},
        )
        return [
            self._result(check, preset.name, preset.expected(check), FEATUREVIZ_CRITERIA[check], found[preset.name][check])
            for preset in presets
            for check in FEATUREVIZ_CHECK_IDS
        ]

    # -- shared -----------------------------------------------------------------------

    def _result(
        self, check: str, method: str, expectation: Expectation, criterion: str, measurement: Measurement
    ) -> CheckResult:
        return CheckResult(
            check=check,
            method=method,
            status=decide(expectation.outcome, measurement),
            expected=expectation.outcome,
            source=expectation.source,
            criterion=criterion,
            summary=measurement.summary,
            met=measurement.met,
            values=measurement.values,
            note=measurement.note,
            figures=figures_of(check) if measurement.applicable else [],
            criteria=[c.as_dict() | {"flip": c.flip()} for c in measurement.criteria],
        )

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        """Log ``name`` and add the block's wall time to ``timings[name]``."""
        self.log(f"{name} ...")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


@contextmanager
def _small_batch_threads(device: torch.device, small: bool) -> Iterator[None]:
    """One intra-op CPU thread for a block of many small steps on small images (restored afterwards).

    A few images per step leave too little work per operation for OpenMP: on a busy
    two-core machine, activation maximization of 6 small images ran 30 times slower on
    two threads (threads spin-waiting for each other) than on one.
    """
    if device.type != "cpu" or not small:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _logits(model: torch.nn.Module, inputs: Tensor) -> Tensor:
    """The model's output for ``inputs``, in eval mode, without a graph; the model left as it was."""
    with preserved_model_state(model, eval_mode=True), torch.no_grad():
        return model(inputs)


def measure_ids() -> tuple[str, ...]:
    """The attribution checks' ids, in report order."""
    return ATTRIBUTION_CHECK_IDS


def _column(maps: Tensor, columns: Tensor) -> Tensor:
    """``maps[i, columns[i]]`` for maps ``[N, K, ...]``."""
    index = columns.to(maps.device).view(-1, 1, *([1] * (maps.ndim - 2))).expand(-1, 1, *maps.shape[2:])
    return maps.gather(1, index)[:, 0]


def _examples(first: Tensor, second: Tensor) -> PairedMaps:
    """Normalised heat of the first :data:`EXAMPLES` maps of two batches, on the CPU."""
    return PairedMaps(normalized_heat(heat(first[:EXAMPLES])).cpu(), normalized_heat(heat(second[:EXAMPLES])).cpu())


def _mean_curves(curves: PerturbationCurves) -> Curves:
    return Curves(
        curves.fractions.tolist(), curves.deletion.mean(dim=0).tolist(), curves.insertion.mean(dim=0).tolist()
    )


__all__ = ["run_sanity"]
