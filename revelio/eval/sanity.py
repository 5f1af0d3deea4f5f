"""Run every sanity check for every method on one model, and collect a :class:`SanityReport`.

:func:`run_sanity` is what ``revelio sanity`` and ``python -m revelio.eval`` call. On
the bundled shapes model it runs A1-A8 (A5 with ``slow=True``) for the five attribution
methods and the two controls, and F1-F4 for the three activation-maximization
variants, in about a minute on two CPU cores. Maps are computed in batches, once per
model state, and shared between checks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from revelio.core.state import preserved_model_state
from revelio.errors import InputError
from revelio.eval import checks as measure
from revelio.attribution import RandomMap
from revelio.eval.data_randomization import train_on_permuted_labels
from revelio.eval.faithfulness import deletion_insertion
from revelio.eval.featureviz_checks import CRITERIA as FEATUREVIZ_CRITERIA
from revelio.eval.featureviz_checks import (
    known_pattern,
    objective_attained,
    randomization_differs,
    regularizer_effect,
    visualize_classes,
)
from revelio.eval.invariance import CRITERION as INVARIANCE_CRITERION
from revelio.eval.invariance import input_invariance
from revelio.eval.known_answers import criterion as known_answer_criterion
from revelio.eval.known_answers import known_answer
from revelio.eval.localization import centre_baseline, random_baseline
from revelio.eval.maps import heat, normalized_heat
from revelio.eval.methods import Explainer, Method, build_explainer, resolve_methods
from revelio.eval.outcome import Measurement, decide, not_applicable
from revelio.eval.randomization import model_randomization
from revelio.eval.report import CheckResult, SanityReport
from revelio.featureviz import PRESETS, Preset, get_preset
from revelio.registry import Expectation
from revelio.zoo import CLASS_NAMES, ZooModel, make_batch
from revelio.zoo import load as load_zoo_model
from revelio.zoo.train import TEST_SEED

DEFAULT_IMAGES = 64
"""Images per check on the bundled model."""

DEFAULT_IMAGES_OTHER = 8
"""Images per check on other models (224-pixel inputs are costly on a CPU)."""

DATASET_IMAGES = 256
"""Dataset images F2 takes the highest class logit over."""

PERTURBATION_STEPS = 20
"""Steps of the deletion and insertion curves."""

FEATUREVIZ_STEPS = 64
"""Activation-maximization steps of F2-F4 on the bundled model (32 on others)."""

EXAMPLES = 4
"""Images whose maps are kept for the figures."""

FIGURES: dict[str, list[str]] = {
    "A3": ["a3_cascade.png", "a3_similarity.png"],
    "A4": ["a4_random_logit.png"],
    "A5": ["a5_data_randomization.png"],
    "A6": ["a6_localization.png"],
    "A7": ["a7_class_discrimination.png"],
    "A8": ["a8_deletion_insertion.png"],
    "F1": ["f1_known_answer.png"],
    "F2": ["f_visualizations.png"],
    "F3": ["f_visualizations.png"],
    "F4": ["f_visualizations.png"],
}
"""The figures that show each check (written by :meth:`SanityReport.write`)."""


def run_sanity(
    model: ZooModel | None = None,
    methods: Sequence[Method | str] | str | Method | None = None,
    *,
    slow: bool = False,
    images: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> SanityReport:
    """Run the sanity checks of every method and return the report.

    Args:
        model: a :class:`~revelio.zoo.ZooModel`; default: the bundled shapes model,
            loaded on ``device``. Other models get A1-A5, A8 and F1, F3, F4; the checks
            that need the shapes task's masks or data (A6, A7, F2) are reported as
            ``n/a`` with the reason.
        methods: what to check: registered method names (:mod:`revelio.registry`,
            controls included), feature-visualization preset names
            (:data:`revelio.featureviz.PRESETS`), specs, or ``Attribution`` instances
            (a comma-separated string works too); default: every registered method
            and control, and every preset.
        slow: also run data randomization (A5), which retrains the shapes model on
            permuted labels (about a minute).
        images: images per check; default 64 on the bundled model, 8 on others.
        seed: seeds the randomization, the random maps and the visualizations.
        device: where to load the default model (a given model stays where it is).
        progress: print what runs, with timings, to stderr.

    Returns:
        a :class:`SanityReport`; its :meth:`~SanityReport.write` makes the files.

    Raises:
        InputError: an unknown method name, or fewer than 2 images.
    """
    started = time.perf_counter()
    log = _logger(progress, started)
    attribution_methods, presets = _split_methods(methods)
    zoo_model = load_zoo_model("shapes", device) if model is None else model
    if not isinstance(zoo_model, ZooModel):
        raise TypeError(
            f"model must be a revelio.zoo.ZooModel (zoo.load, zoo.torchvision.build), got {type(model).__name__}"
        )
    bundled = zoo_model.class_names == CLASS_NAMES and tuple(zoo_model.input_size) == (64, 64)
    count = images if images is not None else (DEFAULT_IMAGES if bundled else DEFAULT_IMAGES_OTHER)
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise InputError(f"images must be an integer >= 2, got {images!r}")
    run = _Run(zoo_model, bundled, count, seed, log)
    results: list[CheckResult] = []
    titles: dict[str, str] = {}
    if attribution_methods:
        explainers = [
            build_explainer(m, zoo_model.model, zoo_model.gradcam_layer, zoo_model.gradcam_reshape, seed=seed)
            for m in attribution_methods
        ]
        titles.update({e.name: e.title for e in explainers})
        results += run.attribution_checks(explainers, slow)
    if presets:
        titles.update({p.name: p.title for p in presets})
        results += run.featureviz_checks(presets)
    seconds = time.perf_counter() - started
    log(f"done in {seconds:.0f} s")
    settings: dict[str, Any] = {
        "images": count,
        "seed": seed,
        "device": str(zoo_model.device),
        "methods": list(titles),
        "slow": bool(slow),
        "seconds": round(seconds, 1),
        "timings": {key: round(value, 1) for key, value in run.timings.items()},
        "data": f"shapes dataset seed {TEST_SEED}, items 0..{count - 1}",
        "torch": torch.__version__,
    }
    return SanityReport(
        model=zoo_model.name, settings=settings, results=results, artifacts=run.artifacts, titles=titles
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
    """One sanity run: the data, the maps shared between checks, the artifacts for figures."""

    def __init__(self, zoo_model: ZooModel, bundled: bool, count: int, seed: int, log: Callable[[str], None]) -> None:
        self.zoo_model = zoo_model
        self.model = zoo_model.model
        self.bundled = bundled
        self.seed = seed
        self.log = log
        self.timings: dict[str, float] = {}
        self.artifacts: dict[str, Any] = {"model": zoo_model.name}
        device = zoo_model.device
        batch = make_batch(count, TEST_SEED)
        self.batch = batch
        if bundled:
            self.inputs = zoo_model.normalize(batch.images.to(device))
            self.display = batch.images
        else:
            self.inputs = zoo_model.preprocess(batch.images)
            self.display = zoo_model.denormalize(self.inputs).clamp(0, 1).cpu()
        logits = _logits(self.model, self.inputs)
        if not isinstance(logits, Tensor) or logits.ndim != 2:
            raise InputError("sanity checks need a classifier returning logits (N, classes)")
        generator = torch.Generator().manual_seed(seed)
        classes = logits.shape[1]
        if bundled:
            self.objects = batch.classes.to(device)
            # the object the model is surest of: the class explained by A3, A4, A5, A8
            self.first_is_primary = (logits.gather(1, self.objects).argmax(dim=1) == 0).cpu()
            self.primary = torch.where(self.first_is_primary.to(device), self.objects[:, 0], self.objects[:, 1])
            present = batch.labels.bool()
            draws = torch.rand(count, classes, generator=generator).masked_fill(present, -1.0)
            self.other = draws.argmax(dim=1).to(device)  # a class not in the image
        else:
            self.objects = None
            self.primary = logits.argmax(dim=1)
            offset = torch.randint(1, classes, (count,), generator=generator).to(device)
            self.other = (self.primary + offset) % classes
        self.artifacts.update(
            images=self.display[:EXAMPLES].cpu(),
            class_names=list(zoo_model.class_names) if zoo_model.class_names else None,
            primary=self.primary[:EXAMPLES].tolist(),
            other=self.other[:EXAMPLES].tolist(),
        )

    # -- attribution ------------------------------------------------------------------

    def attribution_checks(self, explainers: Sequence[Explainer], slow: bool) -> list[CheckResult]:
        found: dict[str, dict[str, Measurement]] = {e.name: {} for e in explainers}
        with self._timed("A1 A2"):
            for explainer in explainers:
                found[explainer.name]["A1"] = known_answer(explainer, seed=self.seed)
                found[explainer.name]["A2"] = input_invariance(explainer, seed=self.seed)
        with self._timed("maps"):
            maps = self._maps(explainers)
        with self._timed("A3"):
            self._a3(explainers, maps, found)
        with self._timed("A4"):
            self.artifacts["a4"] = {}
            for explainer in explainers:
                name = explainer.name
                found[name]["A4"] = measure.random_logit(maps[name]["primary"], maps[name]["other"])
                self.artifacts["a4"][name] = _examples(maps[name]["primary"], maps[name]["other"])
        with self._timed("A5"):
            self._a5(explainers, maps, found, slow)
        with self._timed("A6 A7"):
            self._a6_a7(explainers, maps, found)
        with self._timed("A8"):
            self._a8(explainers, maps, found)
        criteria = {"A1": known_answer_criterion, "A2": lambda explainer: INVARIANCE_CRITERION}
        results = []
        for explainer in explainers:
            for check in measure_ids():
                text = criteria[check](explainer) if check in criteria else measure.CRITERIA[check]
                results.append(self._result(check, explainer.name, explainer.expected(check), text,
                                            found[explainer.name][check]))
        return results

    def _maps(self, explainers: Sequence[Explainer]) -> dict[str, dict[str, Tensor]]:
        maps: dict[str, dict[str, Tensor]] = {}
        for explain in explainers:
            method = explain.name
            self.log(f"maps: {method}")
            entry: dict[str, Tensor] = {"other": explain(self.inputs, self.other)}
            if self.objects is not None:
                entry["first"] = explain(self.inputs, self.objects[:, 0])
                entry["second"] = explain(self.inputs, self.objects[:, 1])
                pick = self.first_is_primary.to(entry["first"].device).view(-1, *([1] * (entry["first"].ndim - 1)))
                entry["primary"] = torch.where(pick, entry["first"], entry["second"])
            else:
                entry["primary"] = explain(self.inputs, self.primary)
            maps[method] = entry
        return maps

    def _a3(self, explainers: Sequence[Explainer], maps: dict[str, dict[str, Tensor]], found) -> None:
        trained = {e.name: maps[e.name]["primary"] for e in explainers}
        by_name = {e.name: e for e in explainers}
        self.log("A3: cascading randomization")
        cascading = model_randomization(
            self.model, by_name, self.inputs, self.primary, mode="cascading", seed=self.seed,
            examples=EXAMPLES, trained_maps=trained,
        )
        self.log("A3: independent randomization")
        independent = model_randomization(
            self.model, by_name, self.inputs, self.primary, mode="independent", seed=self.seed,
            examples=EXAMPLES, trained_maps=trained,
        )
        self.artifacts["a3"] = cascading
        self.artifacts["a3_independent"] = independent
        for method in by_name:
            found[method]["A3"] = measure.cascading_randomization(cascading[method], independent[method])

    def _a5(self, explainers: Sequence[Explainer], maps: dict[str, dict[str, Tensor]], found, slow: bool) -> None:
        if not slow or not self.bundled:
            reason = (
                "slow check: run with slow=True (--slow) to retrain on permuted labels"
                if self.bundled
                else "retraining on permuted labels is implemented for the bundled shapes task only"
            )
            for explainer in explainers:
                found[explainer.name]["A5"] = not_applicable(reason)
            return
        self.log("A5: training on permuted labels")
        retrained = train_on_permuted_labels(seed=self.seed, log=self.log)
        permuted_model = retrained.model.to(self.zoo_model.device).eval()
        self.artifacts["a5"] = {"train_accuracy": retrained.train_accuracy, "heldout_accuracy": retrained.heldout_accuracy}
        for explainer in explainers:
            method = explainer.name
            permuted = explainer.rebind(permuted_model)(self.inputs, self.primary)
            found[method]["A5"] = measure.data_randomization(
                maps[method]["primary"], permuted, retrained.train_accuracy, retrained.heldout_accuracy
            )
            self.artifacts["a5"][method] = _examples(maps[method]["primary"], permuted)

    def _a6_a7(self, explainers: Sequence[Explainer], maps: dict[str, dict[str, Tensor]], found) -> None:
        if self.objects is None:
            reason = "needs ground-truth object masks of the model's classes (the bundled shapes task)"
            for explainer in explainers:
                found[explainer.name]["A6"] = not_applicable(reason)
                found[explainer.name]["A7"] = not_applicable(reason)
            return
        masks = self.batch.masks.to(self.inputs.device)
        both = torch.cat([masks[:, 0], masks[:, 1]])
        n, h, w = both.shape
        tolerance = round(15 * h / 224)  # Zhang et al.'s 15 pixels at 224
        centre = centre_baseline(n, h, w, device=both.device)
        random = random_baseline(n, h, w, seed=self.seed + 1, device=both.device)
        self.artifacts["a6"] = {}
        self.artifacts["a7"] = {"masks": self.batch.masks[:EXAMPLES].cpu(), "objects": self.objects[:EXAMPLES].tolist()}
        for method in (e.name for e in explainers):
            first, second = maps[method]["first"], maps[method]["second"]
            found[method]["A6"] = measure.localization(torch.cat([first, second]), both, centre, random, tolerance)
            found[method]["A7"] = measure.discrimination(first, second, masks)
            self.artifacts["a6"][method] = found[method]["A6"].values
            self.artifacts["a7"][method] = _examples(first, second)

    def _a8(self, explainers: Sequence[Explainer], maps: dict[str, dict[str, Tensor]], found) -> None:
        probability = self.zoo_model.probabilities
        reference_maps = RandomMap(self.model, seed=self.seed + 1000).attribute(self.inputs, self.primary)

        def curves(values: Tensor):
            return deletion_insertion(
                self.model, self.inputs, values, self.primary, probability=probability, steps=PERTURBATION_STEPS,
                batch_size=128, seed=self.seed,
            )

        self.log("A8: random-map reference")
        reference = curves(reference_maps)
        self.artifacts["a8"] = {"random map (reference)": _mean_curves(reference)}
        for method in (e.name for e in explainers):
            self.log(f"A8: {method}")
            result = curves(maps[method]["primary"])
            found[method]["A8"] = measure.faithfulness(result, reference)
            self.artifacts["a8"][method] = _mean_curves(result)

    # -- feature visualization ----------------------------------------------------------

    def featureviz_checks(self, presets: Sequence[Preset]) -> list[CheckResult]:
        variants = [p.name for p in presets]
        needed = ["plain"] + [v for v in variants if v != "plain"]  # F2 and F3 compare with the plain variant
        found: dict[str, dict[str, Measurement]] = {v: {} for v in variants}
        with self._timed("F1"), _small_batch_threads(torch.device("cpu"), small=True):  # tiny built-in nets
            self.artifacts["f1"] = {}
            for variant in variants:
                found[variant]["F1"] = known_pattern(variant, seed=self.seed)
                self.artifacts["f1"][variant] = found[variant]["F1"].tensors
        with self._timed("F2-F4"):
            classes = len(self.zoo_model.class_names or ()) or 4
            units = list(range(min(classes, 6))) if self.bundled else [0, 1, 2, 3]
            self.log(f"F2-F4: feature visualization of {len(units)} classes, {', '.join(needed)}")
            with _small_batch_threads(self.inputs.device, small=self.bundled):
                runs = visualize_classes(
                    self.model, units, image_size=tuple(self.zoo_model.input_size), mean=self.zoo_model.mean,
                    std=self.zoo_model.std, steps=FEATUREVIZ_STEPS if self.bundled else 32, seed=self.seed,
                    variants=needed,
                )
            dataset_max = None
            if self.bundled:
                data = make_batch(DATASET_IMAGES, TEST_SEED)
                images = self.zoo_model.normalize(data.images.to(self.inputs.device))
                dataset_max = _logits(self.model, images).amax(dim=0)
            edge_batch = make_batch(32, TEST_SEED)
            for variant in variants:
                found[variant]["F2"] = objective_attained(runs, variant, dataset_max)
                found[variant]["F3"] = regularizer_effect(runs, variant, edge_batch.images, edge_batch.masks.any(dim=1))
                found[variant]["F4"] = randomization_differs(runs, variant)
        self.artifacts["fv"] = {
            "units": units,
            "trained": {v: runs.trained[v].display.cpu() for v in needed},
            "randomized": {v: runs.randomized[v].display.cpu() for v in needed},
        }
        return [
            self._result(check, preset.name, preset.expected(check), FEATUREVIZ_CRITERIA[check], found[preset.name][check])
            for preset in presets
            for check in ("F1", "F2", "F3", "F4")
        ]

    # -- shared -----------------------------------------------------------------------

    def _result(
        self, check: str, method: str, expectation: Expectation, criterion: str, measurement: Measurement
    ) -> CheckResult:
        note = measurement.note
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
            note=note,
            figures=list(FIGURES.get(check, [])) if measurement.applicable else [],
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
    return ("A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8")


def _examples(first: Tensor, second: Tensor) -> tuple[Tensor, Tensor]:
    """Normalised heat of the first :data:`EXAMPLES` maps of two batches, on the CPU."""
    return normalized_heat(heat(first[:EXAMPLES])).cpu(), normalized_heat(heat(second[:EXAMPLES])).cpu()


def _mean_curves(curves) -> dict[str, list[float]]:
    return {
        "fractions": curves.fractions.tolist(),
        "deletion": curves.deletion.mean(dim=0).tolist(),
        "insertion": curves.insertion.mean(dim=0).tolist(),
    }


__all__ = ["run_sanity"]
