"""Model randomization: re-initialise a model's layers and see whether explanations change.

Adebayo et al. 2018, "Sanity Checks for Saliency Maps": a method whose maps depend on
what the model learned must give different maps when the learned weights are replaced
by random ones. Two forms:

- *cascading*: randomise from the head down, one group of layers after another,
  keeping the groups already randomised; the maps are compared with the trained
  model's after every stage;
- *independent*: randomise one group at a time, the rest trained.

Parameters are re-initialised with the layer's own ``reset_parameters`` (the
initialisation the model was built with), seeded per group, so that a run is
reproducible and the cascade's stage ``k`` extends stage ``k - 1``. As in Adebayo et
al.'s code (``src/utils.py``, ``Inceptionv3_Wrapper.reinitlayerlist``, which
re-initialises ``tf.trainable_variables()`` only), BatchNorm running statistics are
kept by default (``batchnorm_statistics="reset"`` resets them too), and the class
explained is re-taken as the randomised model's top class at every stage
(``src/randomize_inceptionv3.py``: ``prediction_class = imglogits.argmax()`` after each
re-initialisation; ``retake_class=False`` keeps the trained model's class). Parameters of a
module without ``reset_parameters`` are drawn from a normal distribution with the
trained tensor's standard deviation. The trained weights and buffers come back bit for
bit afterwards, also on error, and the model goes through
:func:`~revelio.core.state.preserved_model_state` (hooks, flags and ``.grad`` restored).
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from revelio.core.state import preserved_model_state
from revelio.errors import InputError, ModelStateError
from revelio.eval.maps import heat as heat_of
from revelio.eval.maps import minmax_heat, normalized_heat, signed_heat
from revelio.eval.similarity import constant, hog_similarity, spearman, ssim

Explainer = Callable[[Tensor, Tensor], Tensor]
"""``explain(inputs, classes) -> maps``: an attribution method with its options bound."""

Granularity = Literal["blocks", "layers"]
BatchNormStatistics = Literal["keep", "reset"]
Mode = Literal["cascading", "independent"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass(frozen=True)
class LayerGroup:
    """Modules randomised together: a named block (``"block3"``, ``"layer4.1"``) or one layer.

    Attributes:
        name: the dotted name of the block or layer.
        modules: the modules inside it that own parameters, ``(dotted_name, module)``.
    """

    name: str
    modules: tuple[tuple[str, nn.Module], ...]


def randomization_groups(
    model: nn.Module, granularity: Granularity = "blocks", example: Tensor | None = None
) -> list[LayerGroup]:
    """The model's parametrised blocks (or layers), from the output down: the cascade's order.

    Args:
        model: the network.
        granularity: ``"blocks"``: the model's children, descending into plain
            containers (``nn.Sequential``, ``nn.ModuleList``, ``nn.ModuleDict``), so that
            ResNet gives ``fc``, ``layer4.1``, ``layer4.0``, ... and the shapes CNN
            ``head``, ``block3``, ``block2``, ``block1``; ``"layers"``: every module that
            owns parameters, one by one.
        example: an input batch; when given, groups are ordered by when the forward
            pass first calls them (and groups it never calls are dropped), otherwise by
            registration order.

    Returns:
        a list of :class:`LayerGroup`, head first.

    Raises:
        InputError: the model has no parameters.
    """
    if granularity not in ("blocks", "layers"):
        raise ValueError(f"granularity must be 'blocks' or 'layers', got {granularity!r}")
    owners = {id(module): name for name, module in model.named_modules() if _owns_parameters(module)}
    if not owners:
        raise InputError(f"{type(model).__name__} has no parameters to randomise")
    if granularity == "layers":
        groups = [
            LayerGroup(name, ((name, module),)) for name, module in model.named_modules() if id(module) in owners
        ]
    else:
        groups = [
            LayerGroup(name, ((name, block),))
            if block is model  # parameters the root owns directly: the root alone, not its children
            else LayerGroup(name, tuple((f"{name}.{sub}".strip("."), m) for sub, m in block.named_modules() if id(m) in owners))
            for name, block in _blocks(model, "")
        ]
        groups = [group for group in groups if group.modules]
    if example is not None:
        called = _call_order(model, groups, example)
        groups = sorted((g for g in groups if g.name in called), key=lambda g: called[g.name])
    return groups[::-1]


def _owns_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _blocks(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """The blocks under ``module``: children, descending into plain containers."""
    if prefix and _owns_parameters(module) and isinstance(module, _CONTAINERS):
        yield prefix, module  # a container with parameters of its own is a block
        return
    for name, child in module.named_children():
        dotted = f"{prefix}.{name}" if prefix else name
        if isinstance(child, _CONTAINERS):
            yield from _blocks(child, dotted)
        elif any(True for _ in child.parameters()):
            yield dotted, child
    if not prefix and _owns_parameters(module):
        yield "", module  # parameters the root module owns directly (ViT's class token)


def _call_order(model: nn.Module, groups: Sequence[LayerGroup], example: Tensor) -> dict[str, int]:
    """When each group's first module is first called in a forward pass of ``example``."""
    order: dict[str, int] = {}
    handles = []

    def hook_for(name: str):
        def hook(module: nn.Module, args: object) -> None:
            order.setdefault(name, len(order))

        return hook

    modules = dict(model.named_modules())
    with preserved_model_state(model, eval_mode=True):
        try:
            for group in groups:
                if group.name:
                    handles.append(modules[group.name].register_forward_pre_hook(hook_for(group.name)))
            with torch.no_grad():
                model(example)
        finally:
            for handle in handles:
                handle.remove()
    for group in groups:
        if group.name == "":  # the root's own parameters (a class token) act at the very start
            order[group.name] = -1
    return order


class WeightRandomizer:
    """Context manager: re-initialise groups of layers inside the block; restore every weight on exit.

    Args:
        model: the network. Its parameters and buffers are copied on entry and copied
            back on exit, bit for bit, whatever happens in the block; the parameter
            objects stay the same objects (an optimizer holding them is unaffected).
        seed: seeds every re-initialisation; group ``g`` always gets the same values
            for the same seed.
        batchnorm_statistics: ``"keep"`` (default, as Adebayo et al.'s code: only
            parameters are re-initialised) or ``"reset"`` (buffers such as BatchNorm
            running statistics are re-initialised too).

    Example:
        >>> with WeightRandomizer(model, seed=0) as randomizer:
        ...     for group in randomization_groups(model):
        ...         randomizer.randomize(group)
        ...         maps = explain(inputs, classes)
    """

    def __init__(self, model: nn.Module, seed: int = 0, batchnorm_statistics: BatchNormStatistics = "keep") -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if batchnorm_statistics not in ("keep", "reset"):
            raise ValueError(f"batchnorm_statistics must be 'keep' or 'reset', got {batchnorm_statistics!r}")
        self.model = model
        self.seed = int(seed)
        self.batchnorm_statistics = batchnorm_statistics
        self._saved: list[tuple[Tensor, Tensor]] = []
        self._guard = None
        self._parameters: list[nn.Parameter] = []

    def __enter__(self) -> WeightRandomizer:
        self._guard = preserved_model_state(self.model)
        self._guard.__enter__()
        self._parameters = list(self.model.parameters())
        seen: set[int] = set()
        self._saved = []
        for tensor in (*self._parameters, *self.model.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                self._saved.append((tensor, tensor.detach().clone()))
        return self

    def randomize(self, group: LayerGroup) -> None:
        """Re-initialise every module of ``group`` (seeded by the group's name)."""
        if self._guard is None:
            raise RuntimeError("use WeightRandomizer as a context manager: with WeightRandomizer(model) as r: ...")
        base = (self.seed * 1_000_003 + zlib.crc32(group.name.encode())) % (2**62)
        for index, (_, module) in enumerate(group.modules):
            fresh = fresh_parameters(module, base + index)
            if self.batchnorm_statistics == "keep":
                fresh = {name: value for name, value in fresh.items() if name in module._parameters}
            with torch.no_grad():
                for name, value in fresh.items():
                    current = module._parameters.get(name)
                    if current is None:
                        current = module._buffers[name]
                    # through .data: the autograd version counter stays put, so the state
                    # guard's check for in-place writes keeps watching everything else
                    current.data.copy_(value)

    def restore(self) -> None:
        """Put the trained weights and buffers back (the block may go on randomising)."""
        with torch.no_grad():
            for tensor, saved in self._saved:
                tensor.data.copy_(saved)

    def __exit__(self, *exc_info: object) -> None:
        guard, self._guard = self._guard, None
        try:
            self.restore()
        finally:
            self._saved = []
            guard.__exit__(*exc_info)
        if [id(p) for p in self.model.parameters()] != [id(p) for p in self._parameters]:
            raise ModelStateError(
                "the model's parameters were replaced during weight randomization; restore them from a "
                "state_dict saved before the call"
            )


def fresh_parameters(module: nn.Module, seed: int) -> dict[str, Tensor]:
    """New values for the parameters ``module`` owns (and the buffers its initialiser resets).

    The module is not touched: ``reset_parameters`` runs on a stand-in that holds
    copies of its tensors. Without a usable ``reset_parameters``, parameters are drawn
    from a normal distribution with mean 0 and the trained tensor's standard deviation.
    """
    stand_in = copy.copy(module)
    stand_in.__dict__["_parameters"] = {
        name: None if p is None else nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad)
        for name, p in module._parameters.items()
    }
    stand_in.__dict__["_buffers"] = {
        name: None if b is None else b.detach().clone() for name, b in module._buffers.items()
    }
    stand_in.__dict__["_modules"] = {}
    devices = sorted({t.device.index or 0 for t in module._parameters.values() if t is not None and t.is_cuda})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        reset = getattr(stand_in, "reset_parameters", None)
        tensors = None
        if callable(reset):
            try:
                reset()
                tensors = {**stand_in._parameters, **stand_in._buffers}
            except (AttributeError, KeyError):
                tensors = None  # an initialiser that reaches into submodules: draw the parameters instead
        if tensors is None:
            tensors = {}
            for name, parameter in stand_in._parameters.items():
                if parameter is None:
                    continue
                std = float(parameter.float().std()) if parameter.numel() > 1 else 0.0
                std = std if std > 0 and math.isfinite(std) else 0.02
                tensors[name] = torch.randn_like(parameter) * std
    return {name: value.detach() for name, value in tensors.items() if value is not None}


@dataclass
class RandomizationResult:
    """Maps of one method under model randomization, compared with the trained model's.

    Attributes:
        method: the method's name.
        mode: ``"cascading"`` or ``"independent"``.
        stages: one label per stage compared: the groups randomised so far, joined by
            ``" + "`` (cascading), or the one group randomised (independent).
        spearman_abs: ``Tensor[S, N]``, Spearman rank correlation of ``|map|`` (summed
            over channels) with the trained model's map, per stage and image (``nan``
            where a map is constant).
        spearman: ``Tensor[S, N]``, the same for the signed map (summed over channels).
        ssim: ``Tensor[S, N]``, SSIM of ``|map|`` (summed over channels) scaled to
            [0, 1] by its minimum and maximum (Adebayo et al.'s normalisation), or by its
            99.5th percentile with ``ssim_scale="percentile"``.
        hog: ``Tensor[S, N]``, Pearson correlation of the HOG descriptors of ``|map|``
            (Adebayo et al. 2018, Fig. 4).
        constant: ``Tensor[S, N]`` of bool, the randomized map is constant (all zero).
        examples: ``Tensor[S + 1, K, H, W]``, normalised heat of the first ``K`` images:
            the trained model's maps, then each stage's.
        classes: ``Tensor[S, N]``, the class explained at each stage.
    """

    method: str
    mode: str
    stages: list[str]
    spearman_abs: Tensor
    spearman: Tensor
    ssim: Tensor
    hog: Tensor
    constant: Tensor
    examples: Tensor
    classes: Tensor | None = None

    def mean(self, measure: str = "spearman_abs") -> Tensor:
        """Mean of a measure over the images at each stage, ignoring constant maps, ``Tensor[S]``."""
        values = getattr(self, measure)
        return torch.nanmean(values, dim=1)

    def constant_fraction(self) -> Tensor:
        """Share of constant randomized maps at each stage, ``Tensor[S]``."""
        return self.constant.float().mean(dim=1)


def model_randomization(
    model: nn.Module,
    explainers: Mapping[str, Explainer],
    inputs: Tensor,
    classes: Tensor,
    *,
    mode: Mode = "cascading",
    groups: Sequence[LayerGroup] | None = None,
    granularity: Granularity = "blocks",
    seed: int = 0,
    examples: int = 4,
    trained_maps: Mapping[str, Tensor] | None = None,
    retake_class: bool = True,
    batchnorm_statistics: BatchNormStatistics = "keep",
    ssim_scale: Literal["minmax", "percentile"] = "minmax",
    explain_at: Sequence[int] | None = None,
) -> dict[str, RandomizationResult]:
    """Compare each method's maps of the trained model with those of randomised models.

    Args:
        model: the network the explainers explain (they must hold this very module).
        explainers: ``{name: explain(inputs, classes) -> maps}``.
        inputs: a batch of model inputs.
        classes: ``Tensor[N]``, the class explained for each input (the same for every stage).
        mode: ``"cascading"`` (head down, cumulative) or ``"independent"`` (one group at a time).
        groups: the groups, head first (default: :func:`randomization_groups`).
        granularity: how :func:`randomization_groups` splits the model.
        seed: seeds the re-initialisation.
        examples: how many images' maps to keep for figures.
        trained_maps: the trained model's maps when already computed, by method name.
        retake_class: explain the randomised model's own top class at each stage, as
            Adebayo et al.'s code does (default); ``False`` keeps ``classes``.
        batchnorm_statistics: ``"keep"`` (default, as Adebayo et al.'s code) or
            ``"reset"`` BatchNorm running statistics with the parameters.
        ssim_scale: ``"minmax"`` (default, Adebayo et al.'s normalisation) or
            ``"percentile"`` (the display scale) before SSIM.
        explain_at: the stages (indices into ``groups``) after which the maps are
            computed and compared (default: every stage); the cascade still randomises
            every group in order, so a later stage includes the earlier ones.

    Returns:
        ``{name: RandomizationResult}``. The model is left exactly as it was.

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim 2018, "Sanity Checks for Saliency Maps".
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', got {mode!r}")
    if ssim_scale not in ("minmax", "percentile"):
        raise ValueError(f"ssim_scale must be 'minmax' or 'percentile', got {ssim_scale!r}")
    if groups is None:
        groups = randomization_groups(model, granularity, inputs[:1])
    if not groups:
        raise InputError("no layer groups to randomise; pass groups= or a model with parameters")
    trained = {name: (trained_maps or {}).get(name) for name in explainers}
    for name, explain in explainers.items():
        if trained[name] is None:
            trained[name] = explain(inputs, classes).detach()
    reference = {name: _prepared(maps, ssim_scale) for name, maps in trained.items()}
    per_stage: dict[str, list[tuple[Tensor, ...]]] = {name: [] for name in explainers}
    stages: list[str] = []
    stage_classes: list[Tensor] = []
    wanted = set(range(len(groups))) if explain_at is None else {int(i) % len(groups) for i in explain_at}
    with WeightRandomizer(model, seed, batchnorm_statistics) as randomizer:
        for index, group in enumerate(groups):
            if mode == "independent":
                randomizer.restore()
            randomizer.randomize(group)
            if index not in wanted:
                continue
            names = [g.name or "(root)" for g in groups[: index + 1]]
            stages.append(" + ".join(names) if mode == "cascading" else names[-1])
            asked = _top_classes(model, inputs) if retake_class else classes
            stage_classes.append(asked.detach().cpu())
            for name, explain in explainers.items():
                maps = explain(inputs, asked).detach()
                per_stage[name].append(_compare(reference[name], _prepared(maps, ssim_scale)))
    results = {}
    for name in explainers:
        columns = list(zip(*per_stage[name]))
        keep = reference[name][3][:examples]
        results[name] = RandomizationResult(
            method=name,
            mode=mode,
            stages=stages,
            spearman_abs=torch.stack(columns[0]),
            spearman=torch.stack(columns[1]),
            ssim=torch.stack(columns[2]),
            hog=torch.stack(columns[3]),
            constant=torch.stack(columns[4]),
            examples=torch.stack([keep, *(stage[:examples] for stage in columns[5])]).cpu(),
            classes=torch.stack(stage_classes),
        )
    return results


def _top_classes(model: nn.Module, inputs: Tensor) -> Tensor:
    """The model's top class per input, in eval mode, without a graph."""
    with preserved_model_state(model, eval_mode=True), torch.no_grad():
        return model(inputs).argmax(dim=1)


def _prepared(maps: Tensor, ssim_scale: str = "minmax") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(heat, signed heat, heat scaled for SSIM, display heat) of a batch of maps."""
    heat = heat_of(maps)
    scaled = minmax_heat(heat) if ssim_scale == "minmax" else normalized_heat(heat)
    return heat, signed_heat(maps), scaled, normalized_heat(heat)


def _compare(reference: tuple[Tensor, ...], other: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    heat, signed, scaled, display = other
    return (
        spearman(reference[0], heat).float().cpu(),
        spearman(reference[1], signed).float().cpu(),
        ssim(reference[2], scaled).float().cpu(),
        hog_similarity(reference[0], heat).float().cpu(),
        constant(heat).cpu(),
        display,
    )


@contextmanager
def randomized(
    model: nn.Module, groups: Sequence[LayerGroup], seed: int = 0, batchnorm_statistics: BatchNormStatistics = "keep"
) -> Iterator[nn.Module]:
    """Run a block with ``groups`` re-initialised; the trained weights come back bit for bit afterwards.

    Example:
        >>> with randomized(model, randomization_groups(model)):  # a fully random model
        ...     maps = explain(inputs, classes)
    """
    with WeightRandomizer(model, seed, batchnorm_statistics) as randomizer:
        for group in groups:
            randomizer.randomize(group)
        yield model
