"""Process state shared by every layer: the active instance and the current run.

The current run is a ``ContextVar`` (right for asyncio tasks and nested calls). Threads
started without a copied context fall back to the most recent run that is still open in
this process, so that work in a thread pool lands under the flow that started it.

The instance is opened lazily by the connector that ``_instance.py`` registers here; the
lower layers (models, storage) ask for it without importing the layer above.
"""

import contextlib
import contextvars
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

_current_run: contextvars.ContextVar[Any] = contextvars.ContextVar("threadline_run", default=None)
_open_runs: list[Any] = []
_lock = threading.Lock()
_connector: Callable[[], Any] | None = None
_active_instance: Any = None
# Registers the connector when first needed, like fsspec's registry of dotted paths:
# whichever module is imported first (models, adapters, lineage...), the instance opens.
_CONNECTOR_MODULE = "threadline._instance"


def register_connector(connect: Callable[[], Any]) -> None:
    global _connector
    _connector = connect


def set_instance(instance: Any) -> None:
    global _active_instance
    _active_instance = instance


def instance() -> Any:
    """The active instance, opening the resolved one on first use."""
    if _active_instance is None:
        if _connector is None:
            importlib.import_module(_CONNECTOR_MODULE)
        if _connector is not None:
            _connector()
    return _active_instance


_NO_RUN = object()  # set by no_run(): "no current run here", without the thread fallback


def current_run() -> Any:
    run = _current_run.get()
    if run is _NO_RUN:
        return None
    if run is not None:
        return run
    if threading.current_thread() is threading.main_thread():
        return None
    with _lock:
        return _open_runs[-1] if _open_runs else None


def enter_run(run: Any) -> contextvars.Token[Any]:
    with _lock:
        _open_runs.append(run)
    return _current_run.set(run)


def exit_run(run: Any, token: contextvars.Token[Any] | None) -> None:
    with _lock:
        if run in _open_runs:
            _open_runs.reverse()
            _open_runs.remove(run)
            _open_runs.reverse()
    if token is None:
        return
    try:
        _current_run.reset(token)
    except ValueError:  # token from another context (a different thread or task)
        _current_run.set(None)


@contextlib.contextmanager
def no_run() -> Iterator[None]:
    """Inside the block no run is current, in this thread and context."""
    token = _current_run.set(_NO_RUN)
    try:
        yield
    finally:
        _current_run.reset(token)


def clear() -> None:
    """Forget every open run (used when the instance changes)."""
    with _lock:
        _open_runs.clear()
    _current_run.set(None)
