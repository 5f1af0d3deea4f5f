"""Build torchvision classifiers, or your own model, as a :class:`~revelio.zoo.base.ZooModel`.

Weights come from one of three places:

- a local ``state_dict`` file (``torch.save(model.state_dict(), path)``), read with
  ``torch.load(..., weights_only=True)``, so a file cannot run code; weights that do
  not fit the architecture raise one error that names the mismatch;
- torchvision's named weights (``"DEFAULT"``, ``"IMAGENET1K_V1"``, or the full
  ``"ResNet50_Weights.IMAGENET1K_V2"``), downloaded into the torch hub cache where a
  network exists; without one, an error says so and how to pass a file instead;
- none: random initialisation, with a warning.

Preprocessing (resize, crop, mean, std) and class names come from the named weights'
metadata; torchvision ships that metadata, so it is there offline too. For a local
file or random weights, the architecture's default weights' preprocessing is used
(the ImageNet statistics, at 224 pixels for most models), and the ImageNet class
names when the model has as many outputs.

Example:
    >>> zoo_model = build("resnet18", weights="resnet18.pt")
    >>> maps = GradCAM(zoo_model.model, zoo_model.gradcam_layer).attribute(zoo_model.preprocess(images))
"""

from __future__ import annotations

import difflib
import importlib
import os
import pickle
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn
from torchvision import models as tv_models

from revelio.core.reshape import vit_reshape
from revelio.errors import InputError, ModelNotFoundError, WeightsDownloadError, WeightsError
from revelio.zoo.base import IMAGENET_MEAN, IMAGENET_STD, ZooModel, check_class_names

WeightsSpec = str | os.PathLike | None

_WEIGHTS_SUFFIXES = (".pt", ".pth", ".pth.tar", ".ckpt", ".bin", ".tar")
_NESTED_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def list_models() -> list[str]:
    """Names of torchvision's classification models (``resnet50``, ``vit_b_16``, ...)."""
    return sorted(tv_models.list_models(module=tv_models))


def nhwc_to_nchw(features: Tensor) -> Tensor:
    """Turn a channels-last feature map ``(N, H, W, C)`` into ``(N, C, H, W)`` (Swin's stages)."""
    return features.permute(0, 3, 1, 2)


def build(
    name: str,
    weights: WeightsSpec = None,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> ZooModel:
    """Build a torchvision classifier by name, or a model of yours from ``"package.module:factory"``.

    Args:
        name: a torchvision model name (:func:`list_models`), or ``"package.module:factory"``
            naming a callable that takes no arguments and returns an ``nn.Module``.
        weights: a path to a ``state_dict`` file; a torchvision weights name (torchvision
            models only); or ``None`` for random weights.
        num_classes: outputs of the classifier head, for a file of weights fine-tuned to
            other classes than ImageNet's (torchvision models only; not with named weights).
        class_names: one name per output, overriding the ones the weights carry.
        device: where to put the model.
        progress: show a progress bar while downloading named weights.

    Returns:
        a :class:`ZooModel`, the model in eval mode.

    Raises:
        ModelNotFoundError: unknown torchvision model name (the message lists the closest
            names), or a ``"package.module:factory"`` that cannot be imported, is not
            callable or does not return an ``nn.Module``.
        WeightsError: unknown torchvision weights name, or a weights file that is
            missing, unreadable or does not fit the architecture.
        WeightsDownloadError: named weights that could not be downloaded (offline).
        InputError: other bad arguments (``num_classes`` where it does not apply,
            ``class_names`` of the wrong length, ``weights`` of the wrong type).
    """
    if ":" in name and name not in list_models():
        if num_classes is not None:
            raise InputError(f"num_classes applies to torchvision models only; let {name} build the head it needs")
        zoo_model = _from_factory(name, weights, class_names)
    else:
        zoo_model = _from_torchvision(name, weights, num_classes, class_names, progress)
    zoo_model.model.eval().to(device)
    return zoo_model


def default_gradcam_layer(name: str, model: nn.Module) -> tuple[str | None, Callable[[Tensor], Tensor] | None]:
    """The usual Grad-CAM layer of a torchvision classifier, and the reshape its output needs.

    Returns ``(dotted_name, reshape)``; ``(None, None)`` for an architecture not known here.
    """
    family = re.sub(r"[\d_]*$", "", name.split("_")[0])
    if family in ("resnet", "resnext", "wide"):
        return "layer4", None
    if family in ("vgg", "alexnet"):
        convs = [key for key, module in model.features.named_children() if isinstance(module, nn.Conv2d)]
        return f"features.{convs[-1]}", None
    if family in ("densenet", "squeezenet"):
        return "features", None
    if family in ("mobilenet", "efficientnet", "convnext"):
        return f"features.{len(model.features) - 1}", None
    if family == "mnasnet":
        return "layers", None
    if family == "shufflenet":
        return "conv5", None
    if family == "googlenet":
        return "inception5b", None
    if family == "inception":
        return "Mixed_7c", None
    if family == "regnet":
        return "trunk_output", None
    if family == "maxvit":
        return f"blocks.{len(model.blocks) - 1}", None
    if family == "swin":
        return "features", nhwc_to_nchw
    if family == "vit":
        # After the last block only the class token reaches the head: use the input
        # norm of the last block, where the patch tokens still carry gradient.
        return f"encoder.layers.encoder_layer_{len(model.encoder.layers) - 1}.ln_1", vit_reshape
    return None, None


def _from_torchvision(
    name: str, weights: WeightsSpec, num_classes: int | None, class_names: Sequence[str] | None, progress: bool
) -> ZooModel:
    known = list_models()
    if name not in known:
        close = difflib.get_close_matches(name.lower(), known, n=5, cutoff=0.5)
        hint = f"closest names: {', '.join(close)}" if close else f"known names: {', '.join(known[:12])}, ..."
        raise ModelNotFoundError(
            f"no torchvision classification model named {name!r}; {hint}. "
            "For a model of your own pass 'package.module:factory'"
        )
    enum = _weights_enum(name)
    named = _named_weights(name, enum, weights)
    if named is not None:
        if num_classes is not None:
            raise InputError(
                f"num_classes does not apply to torchvision's named weights {named}; "
                "pass a state_dict file of your fine-tuned weights instead"
            )
        _download(name, named, progress)
        model = tv_models.get_model(name, weights=named)
        source, meta_weights = str(named), named
    else:
        kwargs: dict[str, Any] = {"weights": None}
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        with warnings.catch_warnings():  # inception/googlenet warn about their init scheme
            warnings.simplefilter("ignore", FutureWarning)
            model = tv_models.get_model(name, **kwargs)
        meta_weights = enum.DEFAULT if enum is not None else None
        if weights is None:
            warnings.warn(
                f"building {name} with random weights; pass weights=PATH (a state_dict file) or a "
                "torchvision weights name such as 'DEFAULT' for a trained model",
                UserWarning,
                stacklevel=3,
            )
            source = None
        else:
            path = Path(weights)
            _load_state_dict(model, _read_state_dict(path, name, enum), path, name, num_classes)
            source = str(path)
    input_size, resize_size, mean, std = _preprocessing(meta_weights)
    outputs = len(named.meta["categories"]) if named is not None else (num_classes or 1000)
    if class_names is None and meta_weights is not None and (named is not None or weights is not None):
        categories = meta_weights.meta.get("categories")
        if categories is not None and len(categories) == outputs:
            class_names = categories
    layer, reshape = default_gradcam_layer(name, model)
    return ZooModel(
        model=model,
        name=name,
        input_size=input_size,
        mean=mean,
        std=std,
        class_names=check_class_names(class_names, outputs),
        resize_size=resize_size,
        gradcam_layer=layer,
        gradcam_reshape=reshape,
        multi_label=False,
        weights=source,
    )


def _from_factory(spec: str, weights: WeightsSpec, class_names: Sequence[str] | None) -> ZooModel:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelNotFoundError(f"a model of your own is named 'package.module:factory', got {spec!r}")
    with _working_directory_importable():
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ModelNotFoundError(
                f"could not import {module_name!r} for model {spec!r} ({error}); check that the module is "
                "importable (in the working directory, installed, or its folder on PYTHONPATH)"
            ) from error
        model = _call_factory(spec, module, module_name, attribute)
    source = None
    if weights is not None:
        path = Path(weights)
        _load_state_dict(model, _read_state_dict(path, spec, None), path, spec, None)
        source = str(path)
    outputs = _output_count(model)
    return ZooModel(
        model=model,
        name=spec,
        input_size=(224, 224),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        class_names=check_class_names(class_names, outputs),
        resize_size=256,
        weights=source,
    )


@contextmanager
def _working_directory_importable() -> Iterator[None]:
    """Put the working directory first on ``sys.path`` for the duration, as ``python -m`` does.

    The ``revelio`` script, unlike ``python -m revelio``, does not have the working
    directory on its path, yet ``--model mymodels:build`` should find ``./mymodels.py``.
    """
    folder = os.getcwd()
    added = folder not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _call_factory(spec: str, module: Any, module_name: str, attribute: str) -> nn.Module:
    factory: Any = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            public = [key for key in dir(module) if not key.startswith("_") and callable(getattr(module, key))]
            close = difflib.get_close_matches(attribute, public, n=5, cutoff=0.5)
            raise ModelNotFoundError(
                f"module {module_name!r} has no {attribute!r}"
                + (f"; closest names: {', '.join(close)}" if close else "")
            )
        factory = getattr(factory, part)
    if not callable(factory):
        raise ModelNotFoundError(f"{spec!r} is a {type(factory).__name__}, not a callable that returns an nn.Module")
    model = factory()
    if not isinstance(model, nn.Module):
        raise ModelNotFoundError(f"{spec}() returned a {type(model).__name__}; it must return a torch nn.Module")
    return model


def _weights_enum(name: str) -> Any:
    try:
        return tv_models.get_model_weights(name)
    except (ValueError, KeyError):
        return None


def _named_weights(name: str, enum: Any, weights: WeightsSpec) -> Any:
    """The torchvision weights enum member ``weights`` names, or ``None`` when it is a path (or ``None``)."""
    if weights is None or isinstance(weights, os.PathLike):
        return None
    if not isinstance(weights, str):
        raise InputError(f"weights must be a path, a torchvision weights name or None, got {type(weights).__name__}")
    members = [member.name for member in enum] if enum is not None else []
    member = weights.rsplit(".", 1)[-1] if enum is not None and weights.startswith(enum.__name__ + ".") else weights
    if enum is not None and member == "DEFAULT":
        return enum.DEFAULT
    if member in members:
        return enum[member]
    if Path(weights).exists() or os.sep in weights or weights.endswith(_WEIGHTS_SUFFIXES):
        return None
    named = ", ".join(["DEFAULT", *members]) if members else "none"
    raise WeightsError(
        f"{weights!r} is neither a file nor a weights name of {name}; its torchvision weights names are: {named}"
    )


def _download(name: str, weights: Any, progress: bool) -> None:
    """Put the file of torchvision weights ``weights`` into the torch hub cache; one clear error if that fails."""
    url = weights.url
    directory = Path(torch.hub.get_dir()) / "checkpoints"
    cached = directory / os.path.basename(urlparse(url).path)
    if cached.exists():
        return
    match = torch.hub.HASH_REGEX.search(cached.name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(cached), match.group(1) if match else None, progress=progress)
    except Exception as error:  # no network, HTTP errors, a failed hash check
        raise WeightsDownloadError(
            f"could not download the {weights} weights of {name} from {url} ({error}). "
            f"Without network access, download the file elsewhere and pass it with --weights PATH "
            f"(weights=PATH in Python), or copy it to {cached}"
        ) from error


def _read_state_dict(path: Path, name: str, enum: Any) -> dict[str, Tensor]:
    if not path.is_file():
        hint = ""
        if enum is not None:
            names = ", ".join(["DEFAULT", *(member.name for member in enum)])
            hint = f"; or pass a torchvision weights name: {names}"
        raise WeightsError(f"no weights file at {str(path)!r} for {name}{hint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        if found is None:
            raise WeightsError(f"could not read {path} as a torch file (its pickle stream is not one torch.save writes)") from error
        raise WeightsError(
            f"{path} holds more than tensors (a {found.group(1)} object, for instance a whole pickled model), and revelio only loads "
            "weights, which cannot run code: save it with torch.save(model.state_dict(), path) and pass that"
        ) from error
    except Exception as error:
        raise WeightsError(f"could not read {path} as a torch file ({type(error).__name__}: {error})") from error
    return _unwrap_state_dict(state, path)


def _unwrap_state_dict(state: Any, path: Path) -> dict[str, Tensor]:
    """The ``state_dict`` in a loaded file: plain, inside a training checkpoint, or with ``module.`` prefixes."""
    if isinstance(state, Mapping) and not _is_state_dict(state):
        for key in _NESTED_STATE_KEYS:
            if key in state and isinstance(state[key], Mapping) and _is_state_dict(state[key]):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not _is_state_dict(state):
        raise WeightsError(
            f"{path} does not hold a state_dict (a mapping of names to tensors); "
            "save one with torch.save(model.state_dict(), path)"
        )
    state = dict(state)
    if state and all(key.startswith("module.") for key in state):  # saved from DataParallel / DDP
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def _is_state_dict(state: Mapping) -> bool:
    return bool(state) and all(isinstance(key, str) and isinstance(value, Tensor) for key, value in state.items())


def _load_state_dict(model: nn.Module, state: dict[str, Tensor], path: Path, name: str, num_classes: int | None) -> None:
    """Load ``state`` into ``model``; one error naming every mismatch when it does not fit."""
    own = model.state_dict()
    shapes = [key for key in state if key in own and state[key].shape != own[key].shape]
    problems = []
    if shapes:
        problems.append(
            f"{len(shapes)} shape mismatch{'es' if len(shapes) > 1 else ''}: "
            + _listing(f"{key} is {tuple(state[key].shape)} in the file, {tuple(own[key].shape)} in the model" for key in shapes)
        )
    fits = {key: value for key, value in state.items() if key not in shapes}
    missing, unexpected = model.load_state_dict(fits, strict=False)
    missing = [key for key in missing if key not in shapes]
    if missing:
        problems.append(f"{len(missing)} missing from the file: " + _listing(missing))
    if unexpected:
        problems.append(f"{len(unexpected)} not in the model: " + _listing(unexpected))
    if not problems:
        return
    advice = "pass weights saved from the same architecture"
    head = _head_size_hint(model, state, shapes)
    if head is not None and num_classes is None:
        advice = f"the file's classifier has {head} outputs: pass num_classes={head} (--num-classes {head})"
    elif len(missing) > len(own) // 2:
        advice = "the file looks like weights of another architecture; " + advice
    raise WeightsError(f"the weights in {path} do not fit {name}: " + "; ".join(problems) + f". {advice}")


def _head_size_hint(model: nn.Module, state: Mapping[str, Tensor], shapes: Sequence[str]) -> int | None:
    """The number of classes the file was trained for, when only the classifier's size differs."""
    last = _last_linear(model)
    if last is None or not shapes:
        return None
    prefix = last + "."
    if not all(key.startswith(prefix) for key in shapes) or prefix + "weight" not in state:
        return None
    return int(state[prefix + "weight"].shape[0])


def _last_linear(model: nn.Module) -> str | None:
    name = None
    for key, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            name = key
    return name


def _output_count(model: nn.Module) -> int | None:
    """Outputs of a model of yours: those of its last linear layer (registration order), or ``None``."""
    count = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            count = module.out_features
    return count


def _preprocessing(weights: Any) -> tuple[tuple[int, int], int | None, tuple[float, ...], tuple[float, ...]]:
    """``(input_size, resize_size, mean, std)`` from torchvision weights' transforms; ImageNet defaults without."""
    if weights is None:
        return (224, 224), 256, IMAGENET_MEAN, IMAGENET_STD
    transform = weights.transforms()
    crop = int(transform.crop_size[0])
    resize = int(transform.resize_size[0]) if transform.resize_size else None
    return (crop, crop), resize, tuple(float(v) for v in transform.mean), tuple(float(v) for v in transform.std)


def _listing(items, limit: int = 5) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


__all__ = ["build", "default_gradcam_layer", "list_models", "nhwc_to_nchw"]
