"""Which revelio call is running, and one call at a time per model.

A call's hooks and ReLU rules must act on that call's own forward pass only, not on a
forward pass another thread runs on the same model meanwhile, nor on one that a nested
revelio call runs inside it (a model whose forward explains a submodule). Each public
call runs inside :func:`revelio_call`, which gives it a token in a
:class:`contextvars.ContextVar`: per thread, and per nesting level. Hooks and
:class:`~revelio.core.overrides.ReLUOverride` remember the token of the call that made
them and stand aside for any other.

Calls on one model also change its state for their length (eval mode, frozen
parameters), so they take the model's lock: concurrent calls on one model run one
after the other, calls on different models run in parallel, and a nested call on the
same model in the same thread goes ahead (the lock is reentrant).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from torch import nn

_current: ContextVar[object | None] = ContextVar("revelio_call", default=None)
_locks: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def current_call() -> object | None:
    """The token of the revelio call running in this thread (the innermost, when nested), or ``None``."""
    return _current.get()


@contextmanager
def revelio_call() -> Iterator[object]:
    """Run a block as one revelio call: a fresh token, visible to this thread's code until the block ends."""
    token = object()
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)


def model_lock(model: nn.Module) -> threading.RLock:
    """The reentrant lock of ``model``, made on first use and dropped with the model."""
    with _locks_lock:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.RLock()
        return lock
