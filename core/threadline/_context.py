"""Process state shared by every layer: the active instance and the current run.

The current run is a ``ContextVar`` (right for asyncio tasks and nested calls). Threads
started without a copied context fall back to the most recent run that is still open in
this process, so that work in a thread pool lands under the flow that started it.

The tables sit below the layers that open instances, save, validate and draw lineage,
and never import them: they reach them through ``layers()`` (``threadline._wiring``)
and open the instance through the connector, both registered by the package root
(``threadline/__init__.py``), which sits above every layer.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any, Protocol

    from ._instance import Instance
    from .lineage import LineageView
    from .models import Artifact
    from .validation import ValidationReport
else:
    Protocol = object  # the protocol classes below are types only


class Layers(Protocol):
    """What the tables use of the layers above them (``threadline._wiring``)."""

    def save_artifacts(self, artifacts: Sequence[Artifact]) -> list[Artifact]: ...

    def validate(self, data: Any, schema: Any) -> ValidationReport: ...

    def view_lineage(self, record: Artifact, direction: str) -> LineageView: ...

    def delete_now(self, artifact: Artifact, forget: bool) -> str: ...


_current_run: contextvars.ContextVar[Any] = contextvars.ContextVar("threadline_run", default=None)
_open_runs: list[Any] = []
_held_runs: list[Any] = []  # open, never current (``hold_run``)
_lock = threading.Lock()
_connector: Callable[[], Any] | None = None
_active_instance: Instance | None = None
_layers: Callable[[], Layers] | None = None
_loaded: Layers | None = None
_leaving: list[Callable[[], None]] = []  # see on_leaving_instance


def register_connector(connect: Callable[[], Any]) -> None:
    global _connector
    _connector = connect


def on_leaving_instance(hook: Callable[[], None]) -> None:
    """Call ``hook`` whenever ``connect`` is about to make another instance current,
    while the old one still is (the background writer writes what it holds for it)."""
    _leaving.append(hook)


def leaving_instance() -> None:
    for hook in list(_leaving):
        hook()


def register_layers(loader: Callable[[], Layers]) -> None:
    """Called once by the package root: ``loader`` imports and returns the upper layers."""
    global _layers
    _layers = loader


def layers() -> Layers:
    global _loaded
    if _loaded is None:
        if _layers is None:
            raise RuntimeError("threadline's layers are not registered: import threadline")
        _loaded = _layers()
    return _loaded


def set_instance(instance: Instance | None) -> None:
    global _active_instance
    _active_instance = instance


def instance() -> Instance:
    """The active instance, opening the resolved one on first use."""
    if _active_instance is None and _connector is not None:
        _connector()
    if _active_instance is None:
        raise RuntimeError("no threadline instance could be opened")
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
    _drop(_open_runs, run)
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


def hold_run(run: Any) -> None:
    """Count ``run`` as open in this process without making it current anywhere: an
    engine's run that its threads write under explicitly (a Snakemake pipeline)."""
    with _lock:
        _held_runs.append(run)


def release_run(run: Any) -> None:
    """``run`` is no longer held (nothing if it is not)."""
    if _held_runs:  # every run's close passes here: mostly nothing to take
        _drop(_held_runs, run)


def _drop(runs: list[Any], run: Any) -> None:
    """Remove the latest entry of ``run`` from ``runs``, by identity: ``==`` compares
    ids, which a run started later has not yet."""
    with _lock:
        for index in range(len(runs) - 1, -1, -1):
            if runs[index] is run:
                del runs[index]
                break


def open_runs() -> list[Any]:
    """The runs entered in this process and not yet left (every thread), then the runs
    held (``hold_run``), oldest first."""
    with _lock:
        return [*_open_runs, *_held_runs]


def clear() -> None:
    """Forget every open run (used when the instance changes)."""
    with _lock:
        _open_runs.clear()
        _held_runs.clear()
    _current_run.set(None)
