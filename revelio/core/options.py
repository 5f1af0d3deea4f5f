"""Check a method's option values against the types its ``attribute`` signature declares."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

from revelio.errors import OptionError


def check_option_types(implementation: Callable[..., Any], options: dict[str, Any], owner: str) -> None:
    """Refuse option values that do not fit their annotation, before any work.

    Only simple annotations are read: ``bool``, ``int``, ``float``, ``str``, ``None``,
    ``Literal[...]`` and unions of those (``int | None``); an option annotated otherwise
    is left to the method. ``True`` is not an int here, and ``"no"`` is not a bool.

    Raises:
        OptionError: names the option, what it takes and the value given.
    """
    hints = _hints(implementation)
    for name, value in options.items():
        hint = hints.get(name)
        if hint is not None and _fits(value, hint) is False:
            raise OptionError(f"{owner}.attribute: option {name!r} takes {_describe(hint)}, got {value!r}")


@functools.lru_cache(maxsize=None)
def _hints(implementation: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(implementation, include_extras=False)
    except Exception:  # noqa: BLE001  # an annotation that cannot be evaluated: nothing to check against
        return {}


def _fits(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` fits ``hint``; ``None`` when the annotation is not a simple one."""
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is Literal:
        return any(value == choice and type(value) is type(choice) for choice in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        results = [_fits(value, arg) for arg in typing.get_args(hint)]
        if any(result is True for result in results):
            return True
        return False if all(result is False for result in results) else None
    return None


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(hint))
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    name = getattr(hint, "__name__", str(hint))
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
