"""The exception types revelio raises for user errors.

Each is a subclass of :class:`ValueError` or :class:`RuntimeError`, so code that
already catches those keeps working, and each message says what to do.
"""

from __future__ import annotations


class RevelioError(Exception):
    """Base class of every error revelio raises on purpose."""


class MethodNotFoundError(RevelioError, ValueError):
    """A method name that is not in the registry (:mod:`revelio.registry`)."""


class RegistryError(RevelioError, ValueError):
    """A method spec that is not well formed, or a name that is already registered."""


class LayerNotFoundError(RevelioError, ValueError):
    """A layer name that is not a submodule of the model."""


class TargetError(RevelioError, ValueError):
    """A target that does not fit the batch or the model's output."""


class InputError(RevelioError, ValueError):
    """Inputs of the wrong type, shape or dtype."""


class LayerNotReachedError(RevelioError, RuntimeError):
    """A hooked layer that the model's forward pass never called."""


class ModelStateError(RevelioError, RuntimeError):
    """A model whose state changed during a call in a way revelio cannot undo."""


class OptionError(RevelioError, ValueError):
    """A method's option with a value of the wrong type or out of its range."""


class UnsupportedModelError(RevelioError, ValueError):
    """A model revelio cannot explain as it is: TorchScript, lazy parameters not yet initialised, compiled submodules."""


class NotDifferentiableError(RevelioError, RuntimeError):
    """Target scores that do not depend on the inputs (or the layer) through a differentiable path."""


class NonFiniteError(RevelioError, ValueError):
    """Inputs, or the model's scores for them, that are NaN or infinite."""


class LayerOutputError(RevelioError, ValueError):
    """A hooked layer whose output is not a single tensor."""


class ModelNotFoundError(RevelioError, ValueError):
    """A model name that is not a zoo, torchvision or importable ``package.module:factory`` model."""


class WeightsError(RevelioError, ValueError):
    """A weights file that is missing, unreadable or does not fit the architecture, or an unknown weights name."""


class WeightsDownloadError(RevelioError, RuntimeError):
    """Named weights that could not be downloaded (no network, an HTTP error, a failed hash check)."""


class UnitIndexError(RevelioError, ValueError, IndexError):
    """A channel, neuron, class or position index outside the layer's output."""


class ConfigMismatchError(RevelioError, ValueError):
    """An output folder that holds results of another configuration (model, method, images, ...)."""


class DistributedError(RevelioError, RuntimeError):
    """A distributed launch that is incomplete, or processes of one run that disagree."""


class IncompleteOutputError(RevelioError, RuntimeError):
    """Results that are missing or fail verification where a finished run must have them."""


class DefaultLayerWarning(UserWarning):
    """A layer method was given no layer and picked one itself; pass ``layer=`` to choose."""


def warn_caller(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """Warn with the location of the first caller outside revelio, wherever in revelio the warning arises."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 2  # level 2: the caller of warn_caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class SettingError(RevelioError, ValueError):
    """A setting outside its valid range: a step count, a learning rate, a blur's sigma, a transform's size."""


class SettingTypeError(RevelioError, TypeError):
    """A setting of the wrong kind: a string where a number or an objective is needed, a bool for a count."""


class NonFiniteError(RevelioError, RuntimeError):
    """A NaN or infinity in an objective's values, a gradient or an image: the run stopped there."""
