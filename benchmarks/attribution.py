"""Attribution workloads: the floors, revelio's methods, the peers and a PytorchRevelio-style loop.

Every workload of a group gets the same model, the same inputs and the same targets
(the model's top class per example), and produces the same output as revelio's method:
Captum's Grad-CAM maps are upsampled as revelio's are, torch-cam's likewise, and
pytorch-grad-cam's maps (min-max normalised in NumPy) are compared with revelio's map
normalised the same way. Before any timing, each peer's result is compared with
revelio's (relative max error, float32); a peer that disagrees is still timed, and
flagged.

Peers run on the model as a user holds it: parameters that require grad. revelio
freezes them for the length of its call and restores them.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks import peers
from benchmarks.measure import autocast
from benchmarks.models import CAM_LAYERS, TOKEN_MODELS, build_model, check_size, make_inputs, top_classes
from benchmarks.workload import NOT_APPLICABLE, NOT_INSTALLED, SKIPPED, Group, Workload
from revelio import (
    RISE,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    GuidedBackprop,
    GuidedGradCAM,
    HiResCAM,
    LayerCAM,
    Occlusion,
    Saliency,
    ScoreCAM,
    XGradCAM,
    registry,
    vit_reshape,
)
from revelio.attribution import (
    Attribution,
    CAMAttribution,
    GradientXInput,
    IntegratedGradients,
    LayerAttribution,
    SmoothGrad,
    SmoothGradSquared,
    VarGrad,
)
from revelio.attribution.occlusion import sliding_windows, window_count
from revelio.core.copies import copies_batch_size
from revelio.registry import MethodSpec

FORWARD = "forward (no_grad)"
FLOOR = "forward + input backward"
NOISE_AGREEMENT_SAMPLES = 4
"""Noisy copies per image in the NoiseTunnel agreement check (the timed runs use the full count)."""


def method_title(spec: MethodSpec) -> str:
    """A method's row name: ``"revelio "`` and its class name (``"revelio GradCAM"``)."""
    return f"revelio {spec.load().__name__}"


def floor_of(spec: MethodSpec) -> str:
    """The floor a method is measured against: the bare forward for CAMs, else forward + input backward."""
    return FORWARD if spec.map_kind == "cam" else FLOOR


def passes_floor_name(spec: MethodSpec) -> str:
    """The row of the floor of a many-pass method: the model passes it needs, batched as it batches them."""
    return f"floor of {method_title(spec)}"


def _keyword_defaults(cls: type, options: Mapping[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(cls.attribute).parameters.values()
    return {**{p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}, **options}


def _layer_channels(model: nn.Module, inputs: Tensor, layer: str | None, reshape: Callable | None) -> int:
    recorded = []
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: recorded.append(o))
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        handle.remove()
    output = recorded[0] if reshape is None else reshape(recorded[0])
    return output.shape[1]


MANY_PASSES: dict[type, Callable[..., tuple[int, bool]]] = {
    IntegratedGradients: lambda o, shape, channels: (o["steps"], True),
    SmoothGrad: lambda o, shape, channels: (o["samples"], True),  # over Saliency, its default method
    Occlusion: lambda o, shape, channels: (window_count(shape, o["window"], o["strides"]), False),
    RISE: lambda o, shape, channels: (o["masks"] if isinstance(o["masks"], int) else len(o["masks"]), False),
    ScoreCAM: lambda o, shape, channels: (channels(), False),
}
"""Per many-pass method: ``(model inputs per example, whether each pass also runs an input backward)``
from its options, the input shape (without the batch) and a function that gives the layer's channels."""


def many_passes(cls: type) -> Callable[..., tuple[int, bool]] | None:
    """How to count ``cls``'s model passes (:data:`MANY_PASSES`, through its base classes), or ``None``."""
    return next((MANY_PASSES[base] for base in cls.__mro__ if base in MANY_PASSES), None)


def attribution_group(
    model_name: str,
    batch: int,
    size: int,
    device: torch.device,
    dtype: str = "float32",
    memory_format: str = "contiguous",
    methods: Sequence[str | Attribution] | None = None,
    use_peers: bool = True,
    baseline: bool = True,
    classes: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Group:
    """The workloads of one configuration (model, batch, size, device, dtype, memory format).

    ``methods`` are registered names (:mod:`revelio.registry`) or ``Attribution``
    instances (rebound to the suite's model, layer methods at its CAM layer); default:
    every registered method. ``classes`` > 0 adds, for Saliency and Grad-CAM, that many
    classes per image in one call against one call per class. ``options`` override a
    method's registry defaults, by name (fewer masks or windows for a quick run); its
    peers get the same.
    """
    check_size(model_name, size)
    autocast(device, dtype)  # checks the dtype before any work
    methods = registry.names() if methods is None else list(methods)
    instances = {id(m): m for m in methods if isinstance(m, Attribution)}
    specs = [registry.spec_of(m) for m in methods]
    given = {spec.name: instances.get(id(m)) for spec, m in zip(specs, methods)}
    model = build_model(model_name, device, memory_format)
    inputs = make_inputs(batch, size, device, memory_format)
    targets = top_classes(model, inputs)
    layer = CAM_LAYERS.get(model_name)
    tokens = model_name in TOKEN_MODELS
    if tokens:  # ViT has no ReLU and tokens, not feature maps: the CAMs, reading the tokens through vit_reshape
        specs = [spec for spec in specs if spec.map_kind == "cam"]
    reshape = vit_reshape if tokens else None
    builder = _Builder(model, inputs, targets, layer, reshape, options or {})

    workloads = [builder.forward(), builder.floor()]
    for spec in specs:
        workloads.append(builder.revelio(spec, given[spec.name]))
        if many_passes(spec.load()) is not None:
            workloads.append(builder.passes_floor(spec))
    if baseline and any(spec.cls is Saliency or spec.load() is Saliency for spec in specs):
        workloads.append(builder.pytorchrevelio_saliency())
    for spec in specs:
        workloads.extend(builder.peers(spec, use_peers))
    if classes:
        for spec in specs:
            if spec.load() in (Saliency, GradCAM):
                workloads.extend(builder.several_classes(spec, classes))

    settings = {
        "model": model_name,
        "layer": layer,
        "batch": batch,
        "size": size,
        "device": str(device),
        "dtype": dtype,
        "autocast": dtype != "float32",
        "memory_format": memory_format,
        "methods": [spec.name for spec in specs],
        "targets": "the model's top class per example",
        **({"classes": classes} if classes else {}),
        "options": {spec.name: builder.options(spec) for spec in specs if spec.name in (options or {})},
    }
    title = f"{model_name} batch {batch} {size}x{size} {device.type} {dtype} {memory_format}"
    return Group(title, settings, workloads, device, context=lambda: autocast(device, dtype))


class _Builder:
    """Makes the workloads of one configuration; each closes over the same model and inputs."""

    def __init__(
        self, model: nn.Module, inputs: Tensor, targets: list[int], layer: str | None, reshape: Callable | None,
        overrides: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.overrides = overrides
        self.model = model
        self.inputs = inputs
        self.targets = targets
        self.layer = layer
        self.reshape = reshape
        self.batch = inputs.shape[0]
        self.target_index = torch.tensor(targets, device=inputs.device).view(-1, 1)
        self._copy: nn.Module | None = None

    def options(self, spec: MethodSpec) -> dict[str, Any]:
        """The options a method runs with: its registry defaults, then this run's overrides."""
        return {**spec.defaults, **self.overrides.get(spec.name, {})}

    # -- floors ------------------------------------------------------------------

    def forward(self) -> Workload:
        model, inputs = self.model, self.inputs

        def run() -> Tensor:
            with torch.no_grad():
                return model(inputs)

        return Workload(FORWARD, "floor", "forward", run, self.batch, note="bare forward pass under no_grad")

    def floor(self) -> Workload:
        model, inputs, index = self.model, self.inputs, self.target_index

        def run() -> Tensor:
            return _input_gradient(model, inputs, index)

        return Workload(
            FLOOR,
            "floor",
            "forward+backward",
            run,
            self.batch,
            comparable=lambda g: g,
            reference=lambda: Saliency(model).attribute(inputs, target=self.targets, abs=False),
            compared_with="revelio Saliency (signed)",
            tolerance=1e-5,
            note="parameters frozen: gradients for the input only",
        )

    def passes_floor(self, spec: MethodSpec) -> Workload:
        """The model passes a many-pass method needs (steps, samples, windows, masks, channels), and nothing else:
        ``count`` copies per example, in internal batches of the size the method takes, each a bare forward pass
        (or a forward and an input backward pass, parameters frozen, for the gradient methods)."""
        model, inputs, index = self.model, self.inputs, self.target_index
        cls = spec.load()
        options = _keyword_defaults(cls, self.options(spec))
        shape = tuple(inputs.shape[1:])
        count, backward = many_passes(cls)(
            options, shape, lambda: _layer_channels(model, inputs, self.layer, self.reshape))
        size = copies_batch_size(model, inputs, options.get("internal_batch_size"), backward=backward)
        total = count * self.batch
        sizes = [min(size, total - start) for start in range(0, total, size)]
        chunk = inputs.repeat((size + self.batch - 1) // self.batch, *[1] * len(shape))[:size].detach()
        chunk_index = index.repeat((size + self.batch - 1) // self.batch, 1)[:size]

        def run() -> None:
            for n in sizes:
                if backward:
                    _input_gradient(model, chunk[:n], chunk_index[:n])
                else:
                    with torch.no_grad():
                        model(chunk[:n])

        kind = "forward + input backward" if backward else "forward (no_grad)"
        return Workload(
            passes_floor_name(spec), "floor", "forward+backward" if backward else "forward", run, self.batch,
            note=f"{count} copies per example, {len(sizes)} passes of {kind} of at most {size} copies "
                 f"(the method's internal batch)")

    # -- revelio -----------------------------------------------------------------

    def revelio(self, spec: MethodSpec, instance: Attribution | None = None) -> Workload:
        """The method with its options (:meth:`options`), built in each call as a user would (or ``instance``, rebound)."""
        model, inputs, targets, layer, reshape = self.model, self.inputs, self.targets, self.layer, self.reshape
        options = self.options(spec)

        def build() -> Attribution:
            if instance is None:
                return spec.create(model, layer, reshape)
            return instance.rebind(model, layer) if isinstance(instance, LayerAttribution) else instance.rebind(model)

        def run() -> Tensor:
            return build().attribute(inputs, target=targets, **options)

        return Workload(method_title(spec), "revelio", spec.name, run, self.batch)

    def several_classes(self, spec: MethodSpec, count: int) -> list[Workload]:
        """``count`` classes per image (the model's top ``count``): in one call, and in one call per class."""
        model, inputs, layer, reshape = self.model, self.inputs, self.layer, self.reshape
        options = self.options(spec)
        with torch.no_grad():
            top = model(inputs).topk(count, dim=1).indices

        def one_call() -> Tensor:
            return spec.create(model, layer, reshape).attribute(inputs, target=top, **options)

        def call_per_class() -> Tensor:
            method = spec.create(model, layer, reshape)
            return torch.stack([method.attribute(inputs, target=top[:, k], **options) for k in range(count)], 1)

        title = method_title(spec)
        return [
            Workload(f"{title}, {count} classes in one call", "revelio", spec.name, one_call, self.batch,
                     reference=call_per_class, compared_with=f"{title}, one call per class", tolerance=1e-5,
                     note="one forward pass, one backward pass batched over the classes"),
            Workload(f"{title}, {count} classes, one call per class", "revelio", spec.name, call_per_class,
                     self.batch),
        ]

    def pytorchrevelio_saliency(self) -> Workload:
        """Saliency as PytorchRevelio computes it: one image per call, ``loss.backward()`` (parameter gradients)."""
        model, inputs, targets = self.model, self.inputs, self.targets

        def run() -> Tensor:
            gradients = []
            for i, target in enumerate(targets):
                model.zero_grad(set_to_none=True)
                x = inputs[i : i + 1].detach().clone().requires_grad_(True)
                model(x)[0, target].backward()
                gradients.append(x.grad)
            model.zero_grad(set_to_none=True)
            return torch.cat(gradients)

        return Workload(
            "PytorchRevelio-style Saliency (batch-1 loop)",
            "PytorchRevelio-style",
            registry.spec_of(Saliency).name,
            run,
            self.batch,
            reference=lambda: Saliency(model).attribute(inputs, target=targets, abs=False),
            compared_with="revelio Saliency (signed)",
            note="one image per call, loss.backward() also computes every parameter's gradient",
        )

    # -- peers -------------------------------------------------------------------

    def peers(self, spec: MethodSpec, use_peers: bool) -> list[Workload]:
        """The peer libraries' implementations of the method's class, if any."""
        makers: dict[type, list[tuple[str, str, Callable[[Any], Workload | str]]]] = {
            Saliency: [("Captum", "Saliency", self._captum_saliency)],
            GuidedBackprop: [
                ("Captum", "GuidedBackprop", self._captum_guided),
                ("pytorch-grad-cam", "GuidedBackpropReLUModel", self._gradcam_lib_guided),
            ],
            GradCAM: [
                ("Captum", "LayerGradCam", self._captum_gradcam),
                ("pytorch-grad-cam", "GradCAM",
                 partial(self._gradcam_lib_cam, name="GradCAM", ours=self._cam(GradCAM))),
                ("torch-cam", "GradCAM", partial(self._torchcam_cam, name="GradCAM", ours=self._cam(GradCAM))),
            ],
            GuidedGradCAM: [("Captum", "GuidedGradCam", self._captum_guided_gradcam)],
            GradientXInput: [("Captum", "InputXGradient", self._captum_input_x_gradient)],
            IntegratedGradients: [("Captum", "IntegratedGradients", self._captum_integrated_gradients)],
            **{
                wrapper: [("Captum", f"NoiseTunnel(Saliency, {nt_type!r})",
                           lambda captum, wrapper=wrapper, nt_type=nt_type: self._captum_noise_tunnel(
                               captum, wrapper, nt_type))]
                for wrapper, nt_type in ((SmoothGrad, "smoothgrad"), (SmoothGradSquared, "smoothgrad_sq"),
                                         (VarGrad, "vargrad"))
            },
            GradCAMPlusPlus: [
                ("pytorch-grad-cam", "GradCAMPlusPlus", partial(
                    self._gradcam_lib_cam, name="GradCAMPlusPlus", ours=self._cam(GradCAMPlusPlus, epsilon=1e-6),
                    aligned="its 1e-6 in alpha's denominator (revelio's epsilon)")),
                ("torch-cam", "GradCAMpp", lambda torchcam: (
                    "computes sum g^2 ReLU(g), not Grad-CAM++: torch-cam 0.5 divides a copy of alpha, the division is "
                    "lost")),
            ],
            XGradCAM: [
                ("pytorch-grad-cam", "XGradCAM", partial(
                    self._gradcam_lib_cam, name="XGradCAM", ours=self._cam(XGradCAM, epsilon=1e-7),
                    aligned="its 1e-7 added to each channel's sum (revelio's epsilon)")),
                ("torch-cam", "XGradCAM", partial(
                    self._torchcam_cam, name="XGradCAM", ours=self._cam(XGradCAM, epsilon=1e-8),
                    aligned="its 1e-8 added to each channel's sum (revelio's epsilon)")),
            ],
            LayerCAM: [
                ("pytorch-grad-cam", "LayerCAM",
                 partial(self._gradcam_lib_cam, name="LayerCAM", ours=self._cam(LayerCAM))),
                ("torch-cam", "LayerCAM", partial(self._torchcam_cam, name="LayerCAM", ours=self._cam(LayerCAM))),
            ],
            HiResCAM: [
                ("pytorch-grad-cam", "HiResCAM",
                 partial(self._gradcam_lib_cam, name="HiResCAM", ours=self._cam(HiResCAM))),
            ],
            ScoreCAM: [
                ("pytorch-grad-cam", "ScoreCAM", partial(
                    self._gradcam_lib_cam, name="ScoreCAM", ours=self._cam(ScoreCAM), half_pixel_masks=True,
                    aligned="its masks upsampled with align_corners=False as revelio's (nn.UpsamplingBilinear2d "
                            "patched for the call); its default batch of 16 masked copies")),
                ("torch-cam", "ScoreCAM", partial(
                    self._torchcam_cam, name="ScoreCAM", ours=self._cam(ScoreCAM), gradient=False, tolerance=1e-2,
                    aligned="its default batch of 32; it min-max normalises each channel on the layer's grid, before "
                            "upsampling (the paper: after), which moves the masks by up to about 1/64 of their range "
                            "at an even upsampling factor")),
            ],
            EigenCAM: [("pytorch-grad-cam", "EigenCAM", self._gradcam_lib_eigencam)],
            Occlusion: [("Captum", "Occlusion", lambda captum: self._captum_occlusion(captum, spec))],
        }
        method = spec.name
        workloads = []
        for peer, title, make in makers.get(spec.load(), []):
            name = f"{peer} {title}"
            if not use_peers:
                workloads.append(Workload(name, peer, method, None, self.batch, status=SKIPPED, note="--no-peers"))
                continue
            module = peers.load(peer)
            if module is None:
                workloads.append(Workload(name, peer, method, None, self.batch, status=NOT_INSTALLED))
                continue
            made = make(module)
            if not isinstance(made, str):
                made.method = method
            if isinstance(made, str):
                workloads.append(Workload(name, peer, method, None, self.batch, status=NOT_APPLICABLE, note=made))
            else:
                made.name = name
                workloads.append(made)
        return workloads

    def _peer(self, library: str, run: Callable[[], Any], **options: Any) -> Workload:
        return Workload("", library, "", run, self.batch, **options)  # peers() sets the name and the method

    def _captum_saliency(self, captum: Any) -> Workload:
        model, inputs, targets = self.model, self.inputs, self.targets
        return self._peer(
            "Captum",
            lambda: captum.Saliency(model).attribute(inputs.detach().clone(), target=targets, abs=True),
            reference=lambda: Saliency(model).attribute(inputs, target=targets),
            compared_with="revelio Saliency",
        )

    def _captum_guided(self, captum: Any) -> Workload:
        model, inputs, targets = self.model, self.inputs, self.targets
        return self._peer(
            "Captum",
            lambda: captum.GuidedBackprop(model).attribute(inputs.detach().clone(), target=targets),
            reference=lambda: GuidedBackprop(model).attribute(inputs, target=targets),
            compared_with="revelio GuidedBackprop",
            note="hooks nn.ReLU modules only",
        )

    def _captum_gradcam(self, captum: Any) -> Workload | str:
        if self.reshape is not None:
            return "LayerGradCam averages over every dimension after the second: no reshape for ViT tokens"
        model, inputs, targets, size = self.model, self.inputs, self.targets, self.inputs.shape[-2:]
        module = dict(model.named_modules())[self.layer]

        def run() -> Tensor:
            coarse = captum.LayerGradCam(model, module).attribute(
                inputs.detach().clone(), target=targets, relu_attributions=True
            )
            return F.interpolate(coarse, size=tuple(size), mode="bilinear", align_corners=False)

        return self._peer(
            "Captum",
            run,
            reference=lambda: GradCAM(model, self.layer).attribute(inputs, target=targets),
            compared_with="revelio GradCAM",
            note="relu_attributions=True, upsampled bilinearly as revelio's",
        )

    def _captum_guided_gradcam(self, captum: Any) -> Workload:
        model, inputs, targets = self.model, self.inputs, self.targets
        module = dict(model.named_modules())[self.layer]
        return self._peer(
            "Captum",
            lambda: captum.GuidedGradCam(model, module).attribute(
                inputs.detach().clone(), target=targets, interpolate_mode="bilinear"
            ),
            reference=lambda: GuidedGradCAM(model, self.layer).attribute(inputs, target=targets),
            compared_with="revelio GuidedGradCAM",
            note="interpolate_mode='bilinear'",
        )

    def _captum_input_x_gradient(self, captum: Any) -> Workload:
        model, inputs, targets = self.model, self.inputs, self.targets
        return self._peer(
            "Captum",
            lambda: captum.InputXGradient(model).attribute(inputs.detach().clone(), target=targets),
            reference=lambda: GradientXInput(model).attribute(inputs, target=targets),
            compared_with="revelio GradientXInput",
        )

    def _captum_integrated_gradients(self, captum: Any) -> Workload:
        model, inputs, targets = self.model, self.inputs, self.targets
        defaults = self.options(registry.spec_of(IntegratedGradients))  # what the revelio row runs with
        options = {**IntegratedGradients(model).options(), **defaults}  # steps, rule, baseline, internal batch
        items = copies_batch_size(model, inputs, options["internal_batch_size"])  # the batch revelio chooses
        # Captum's batches hold whole steps (at least one) of every image: items // batch steps at a time
        internal = max(items, self.batch)

        def run() -> Tensor:
            return captum.IntegratedGradients(model).attribute(
                inputs.detach().clone(), baselines=options["baseline"], target=targets, n_steps=options["steps"],
                method=options["method"], internal_batch_size=internal,
            )

        return self._peer(
            "Captum",
            run,
            reference=lambda: IntegratedGradients(model).attribute(inputs, target=targets, **defaults),
            compared_with="revelio IntegratedGradients",
            note=f"n_steps={options['steps']}, method={options['method']!r}, baselines={options['baseline']}, "
            f"internal_batch_size={internal} (revelio's automatic batch; Captum rounds it down to whole steps)",
        )

    def _captum_noise_tunnel(self, captum: Any, wrapper_class: type[SmoothGrad], nt_type: str) -> Workload:
        model, inputs, targets = self.model, self.inputs, self.targets
        wrapper = wrapper_class(model)  # a plain model: the signed gradient, Saliency(abs=False) in Captum
        defaults = self.options(registry.spec_of(wrapper_class))  # what the revelio row runs with
        options = {**wrapper.options(), **defaults}  # as the revelio row runs
        samples, level = options["samples"], options["noise_level"]
        flat = inputs.detach().flatten(1)
        # revelio's sigma is per image (a fraction of its range); Captum's stdevs is one number per input tensor
        stdev = float(level * (flat.amax(1) - flat.amin(1)).mean())
        per_call = max(1, copies_batch_size(model, inputs, options["internal_batch_size"]) // self.batch)

        def tunnel(count: int) -> Tensor:
            return captum.NoiseTunnel(captum.Saliency(model)).attribute(
                inputs.detach().clone(), nt_type=nt_type, nt_samples=count, nt_samples_batch_size=per_call,
                stdevs=stdev, target=targets, abs=False,
            )

        def agreement_run() -> Tensor:
            copies = inputs.detach() + wrapper.noise(inputs, samples=NOISE_AGREEMENT_SAMPLES, noise_level=level)
            with _captum_noise_replaced(captum, copies):
                return tunnel(NOISE_AGREEMENT_SAMPLES)

        return self._peer(
            "Captum",
            lambda: tunnel(samples),
            agreement_run=agreement_run,
            reference=lambda: wrapper.attribute(inputs, targets, **{**defaults, "samples": NOISE_AGREEMENT_SAMPLES}),
            compared_with=f"revelio {wrapper_class.__name__} on the same {NOISE_AGREEMENT_SAMPLES} noisy copies per "
            "image (Captum's noise draw replaced by revelio's for the check)",
            note=f"nt_samples={samples}, stdevs={stdev:.4g} ({level:g} x the images' mean range; revelio scales "
            f"each image's noise by its own range), nt_samples_batch_size={per_call}; timed with Captum's own draws",
        )

    def _captum_occlusion(self, captum: Any, spec: MethodSpec) -> Workload | str:
        options = self.options(spec)
        if options.get("score", "logit") != "logit":
            return "Captum's Occlusion reads the model's raw output: it has no probability score"
        model, inputs, targets = self.model, self.inputs, self.targets
        window, strides = sliding_windows(tuple(inputs.shape[1:]), options.get("window"), options.get("strides"))
        size = copies_batch_size(model, inputs, options.get("internal_batch_size"), backward=False)
        per_eval = max(1, size // self.batch)  # windows per forward pass, every example in each: revelio's items

        def run() -> Tensor:
            return captum.Occlusion(model).attribute(
                inputs.detach().clone(), target=targets, sliding_window_shapes=window, strides=strides,
                baselines=options.get("baseline", 0.0), perturbations_per_eval=per_eval, show_progress=False,
            )

        return self._peer(
            "Captum",
            run,
            reference=lambda: Occlusion(model).attribute(inputs, target=targets, **options),
            compared_with="revelio Occlusion",
            tolerance=1e-4,
            note=f"sliding_window_shapes={window}, strides={strides}, the same baseline; perturbations_per_eval="
                 f"{per_eval}, so that each forward pass holds as many copies as revelio's",
        )

    def _cam(self, cls: type[CAMAttribution], **attributes: float) -> Callable[[], CAMAttribution]:
        """A builder of revelio's ``cls`` at the suite's layer, with ``attributes`` set (a peer's epsilon)."""

        def build() -> CAMAttribution:
            method = cls(self.model, self.layer, self.reshape)
            for key, value in attributes.items():
                setattr(method, key, value)
            return method

        return build

    def _gradcam_lib_cam(
        self,
        library: Any,
        name: str,
        ours: Callable[[], CAMAttribution],
        aligned: str = "",
        half_pixel_masks: bool = False,
    ) -> Workload:
        """pytorch-grad-cam's ``name``, against revelio's map normalised and resized as it presents its maps."""
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        model, inputs, targets = self.model, self.inputs, self.targets
        module = dict(model.named_modules())[self.layer]
        peer = getattr(library, name)

        def run() -> np.ndarray:
            patch = mock.patch.object(nn, "UpsamplingBilinear2d", _HalfPixelUpsample) if half_pixel_masks else None
            with patch or contextlib.nullcontext(), peer(
                model=model, target_layers=[module], reshape_transform=self.reshape
            ) as cam:
                maps = cam(input_tensor=inputs.detach().clone(), targets=[ClassifierOutputTarget(t) for t in targets])
            model.zero_grad(set_to_none=True)  # it writes every parameter's .grad; drop them between calls
            return maps

        return self._peer(
            "pytorch-grad-cam",
            run,
            comparable=lambda maps: torch.from_numpy(np.asarray(maps)),
            reference=lambda: self._as_gradcam_lib_shows_it(ours().attribute(inputs, target=targets, upsample=False)),
            compared_with=f"revelio {type(ours()).__name__}, min-max normalised per image as pytorch-grad-cam does",
            note="maps in NumPy, resized with OpenCV" + (f"; aligned: {aligned}" if aligned else "")
            + ("" if name in ("ScoreCAM", "EigenCAM") else "; loss.backward(): computes every parameter's gradient"),
        )

    def _gradcam_lib_eigencam(self, library: Any) -> Workload:
        """pytorch-grad-cam's EigenCAM: it keeps the SVD's sign of the component, so the sign is matched per image."""
        workload = self._gradcam_lib_cam(library, "EigenCAM", self._cam(EigenCAM))
        model, inputs, layer, reshape = self.model, self.inputs, self.layer, self.reshape
        seen: dict[str, Tensor] = {}

        def comparable(maps: Any) -> Tensor:
            seen["maps"] = torch.from_numpy(np.asarray(maps))
            return seen["maps"]

        def reference() -> Tensor:
            projection = EigenCAM(model, layer, reshape).attribute(inputs, upsample=False, relu=False)
            signs = [self._as_gradcam_lib_shows_it((sign * projection).clamp(min=0)) for sign in (1, -1)]
            closer = [(candidate - seen["maps"]).flatten(1).abs().amax(1) for candidate in signs]
            return torch.where((closer[0] <= closer[1])[:, None, None], signs[0], signs[1])

        workload.comparable, workload.reference = comparable, reference
        workload.compared_with = ("revelio EigenCAM, min-max normalised per image as pytorch-grad-cam does, with the "
                                  "principal component's sign of each image as pytorch-grad-cam's SVD returns it")
        workload.note += "; both centre the activations; its sign is LAPACK's (revelio's: positive correlation " \
                         "with the activation sum)"
        return workload

    def _as_gradcam_lib_shows_it(self, coarse: Tensor) -> Tensor:
        """A rectified map on the layer's grid as pytorch-grad-cam presents it: normalised, resized, normalised."""
        size = tuple(self.inputs.shape[-2:])
        return _minmax(F.interpolate(_minmax(coarse, eps=1e-7), size=size, mode="bilinear"), eps=1e-7)[:, 0]

    def _gradcam_lib_guided(self, library: Any) -> Workload:
        # It swaps the model's nn.ReLU modules and puts back plain ones (inplace lost): give it a copy.
        if self._copy is None:
            self._copy = copy.deepcopy(self.model)
        model_copy, inputs, targets = self._copy, self.inputs, self.targets

        def run() -> np.ndarray:
            guided = library.GuidedBackpropReLUModel(model_copy, device=inputs.device)
            maps = [guided(inputs[i : i + 1].detach().clone(), target_category=t) for i, t in enumerate(targets)]
            model_copy.zero_grad(set_to_none=True)
            return np.stack(maps)

        return self._peer(
            "pytorch-grad-cam",
            run,
            comparable=lambda maps: torch.from_numpy(maps).permute(0, 3, 1, 2),
            reference=lambda: GuidedBackprop(self.model).attribute(inputs, target=targets),
            compared_with="revelio GuidedBackprop",
            note="one image per call (it takes batch 1 only), on a copy of the model (it replaces nn.ReLU modules)",
        )

    def _torchcam_cam(
        self,
        torchcam: Any,
        name: str,
        ours: Callable[[], CAMAttribution],
        aligned: str = "",
        gradient: bool = True,
        tolerance: float = 1e-3,
    ) -> Workload:
        """torch-cam's ``name``, unnormalised and upsampled bilinearly as revelio's maps are."""
        model, inputs, targets, layer, reshape = self.model, self.inputs, self.targets, self.layer, self.reshape
        size = tuple(inputs.shape[-2:])
        peer = getattr(torchcam, name)

        def run() -> Tensor:
            with peer(model, layer, reshape_transform=reshape) as extractor:
                with torch.set_grad_enabled(gradient):
                    scores = model(inputs.detach().clone())
                (cam,) = extractor(class_idx=targets, scores=scores, normalized=False)
            return F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)

        return self._peer(
            "torch-cam",
            run,
            reference=lambda: ours().attribute(inputs, target=targets),
            compared_with=f"revelio {type(ours()).__name__}",
            tolerance=tolerance,
            note="normalized=False, upsampled bilinearly as revelio's" + (f"; aligned: {aligned}" if aligned else ""),
        )


def _input_gradient(model: nn.Module, inputs: Tensor, index: Tensor) -> Tensor:
    """The gradient of the scores at ``index`` w.r.t. ``inputs`` alone: parameters frozen for the pass, then
    restored as they were."""
    parameters = list(model.parameters())
    flags = [parameter.requires_grad for parameter in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        x = inputs.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(model(x).gather(1, index).sum(), x)
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)
    return gradient


@contextlib.contextmanager
def _captum_noise_replaced(captum: Any, copies: Tensor) -> Iterator[None]:
    """Captum's ``NoiseTunnel`` adding no noise of its own: it takes ``copies`` (``Tensor[S, N, ...]``) in order.

    NoiseTunnel draws its noise in ``_add_noise_to_input(input, stdev, samples)``, once per
    batch of samples, and lays the copies out image by image; the replacement hands out
    the next ``samples`` of ``copies`` in that layout.
    """
    tunnel = captum.NoiseTunnel
    original = tunnel.__dict__["_add_noise_to_input"]
    taken = 0

    def next_copies(input: Tensor, stdev: float, samples: int) -> Tensor:
        nonlocal taken
        batch = copies[taken : taken + samples]
        taken += samples
        return batch.transpose(0, 1).flatten(0, 1).clone()

    tunnel._add_noise_to_input = staticmethod(next_copies)
    try:
        yield
    finally:
        tunnel._add_noise_to_input = original

class _HalfPixelUpsample(nn.Module):
    """``nn.UpsamplingBilinear2d(size)`` (``align_corners=True``) as revelio upsamples: ``align_corners=False``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__()
        self.size, self.scale_factor = size, scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, size=self.size, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)


def _minmax(maps: Tensor, eps: float) -> Tensor:
    """Per image: ``(m - min) / (max(m - min) + eps)``, as pytorch-grad-cam's ``scale_cam_image``."""
    flat = maps.flatten(1)
    shifted = maps - flat.amin(1).view(-1, *([1] * (maps.ndim - 1)))
    return shifted / (shifted.flatten(1).amax(1).view(-1, *([1] * (maps.ndim - 1))) + eps)
