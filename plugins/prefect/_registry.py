"""Which threadline run records which Prefect run, and the transforms they run.

Prefect ids are the keys: a hook never relies on a ContextVar set by another hook, since
Prefect runs hooks of nested runs in the same context (see PREFECT_NOTES). Runs started
in this process are kept in memory until they finish; a worker process (Dask) finds a
flow run or an upstream task run started elsewhere in the database, by its reference.
"""

import contextlib
import getpass
import os
import platform
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import threadline as tl
from threadline import adapters

ENGINE = "prefect"
GUARD = adapters.Guard(ENGINE, host="the Prefect run")  # every hook's failures


@dataclass(slots=True)
class Entry:
    """A Prefect run being recorded here: its threadline run and what ends with it."""

    run: Any  # tl.Run
    key: str
    activation: contextlib.AbstractContextManager[Any] | None = None
    workdir: str = field(default_factory=os.getcwd)
    write_now: bool = True  # False: closed by the background writer (see _writer)
    params: dict[str, Any] = field(default_factory=dict)  # what output keys may use
    flow_id: str | None = None  # the Prefect flow run of a task run
    templates: dict[Any, Any] = field(default_factory=dict)  # a flow run's: see _hooks


_entries: dict[str, Entry] = {}
_found: dict[str, Any] = {}  # runs of other processes, by Prefect id (bounded below)
_kept: dict[str, list[str]] = {}  # flow run id -> its ended task runs' ids in _found
_unsettled: list[str] = []  # ended task runs kept in _found as runs (see _settle)
_settled_at = -1  # the writer's batch count when _settle last looked
_lock = threading.Lock()
_worker_settings: tuple[str, str] | None = None
_connected: tuple[str, str] | None = None


def remember(prefect_id: Any, entry: Entry) -> None:
    with _lock:
        _entries[str(prefect_id)] = entry


def entry(prefect_id: Any) -> Entry | None:
    return _entries.get(str(prefect_id))


def forget(prefect_id: Any) -> Entry | None:
    """The entry of a run that ends; its run stays known (``run_of``) to the runs that
    come after it while its flow runs (its row may still be queued on the background
    writer); when a flow run ends, its task runs are let go (a later ``run_of`` reads the
    database, as for a run of another process): nothing keeps them alive for the garbage
    collector to scan. An ended task run whose row is written is kept as its row's values
    only (``_settle``)."""
    key = str(prefect_id)
    with _lock:
        found = _entries.pop(key, None)
        if found is not None:
            _keep(key, found.run)
            if found.flow_id is not None:  # a task run: kept while its flow runs
                _kept.setdefault(found.flow_id, []).append(key)
                _unsettled.append(key)
            for task_key in _kept.pop(key, ()):  # a flow run: its task runs are let go,
                _found.pop(task_key, None)  # looked up in the database if ever needed
            _settle()
        return found


def _settle() -> None:
    """Keep the ended task runs whose rows are written as their values alone: a dict of
    plain values, which the garbage collector does not track, instead of the run object
    and the containers it holds, which a collection during the flow would move to the
    oldest generation, bringing the next full collection (0.1-0.3 s with Prefect
    loaded) closer. ``run_of`` makes a run of the values again when one is asked for.
    It looks again only once the writer has ended a batch: nothing is written meanwhile."""
    global _settled_at
    batches = adapters.writer().batches
    if batches == _settled_at:
        return
    _settled_at = batches
    waiting = []
    for key in _unsettled:
        run = _found.get(key)
        if type(run) is not tl.Run:
            continue
        if run.__data__.get("id") is None or "_pending" in vars(run):
            waiting.append(key)  # its row still queued: the run itself is what points at it
        else:
            _found[key] = run.__data__
    _unsettled[:] = waiting


def _keep(key: str, run: Any) -> None:
    if len(_found) > 10_000:
        _found.clear()
        _kept.clear()
        _unsettled.clear()
    _found[key] = run


def forget_tasks_of(flow_id: Any) -> list[Entry]:
    """Entries of the task runs of a flow run that ended without closing them."""
    with _lock:
        ids = [k for k, e in _entries.items() if e.flow_id == str(flow_id)]
        return [_entries.pop(k) for k in ids]


def run_of(prefect_id: Any) -> Any:
    """The threadline run of a Prefect flow or task run, or None if none was recorded."""
    if prefect_id is None:
        return None
    found = _entries.get(str(prefect_id))
    if found is not None:
        return found.run
    key = str(prefect_id)
    run = _found.get(key)
    if type(run) is dict:  # an ended task run, kept as its row's values (see _settle)
        return tl.Run(**run)
    if run is None:
        run = tl.Run.filter(reference=key, engine=ENGINE).first()
        if run is None:  # its row may be queued still (a run of this process, forgotten)
            adapters.writer().wait()
            run = tl.Run.filter(reference=key, engine=ENGINE).first()
        if run is None:
            return None
        with _lock:
            _keep(key, run)
    return run


@dataclass(frozen=True)
class Machine:
    hostname: str = socket.gethostname()
    user: str | None = None
    python_version: str = platform.python_version()

    def fields(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "user": self.user, "python_version": self.python_version}


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


MACHINE = Machine(user=_user())


# -- worker processes ---------------------------------------------------------------------


def note_instance() -> None:
    """Remember the instance a flow writes into, for tasks pickled to worker processes."""
    global _worker_settings
    settings = tl.instance().settings
    _worker_settings = (settings.db, settings.storage)


def settings_for_workers() -> tuple[str, str] | None:
    return _worker_settings


def use_instance(settings: tuple[str, str] | None, origin_pid: int | None) -> None:
    """In a worker process, write into the instance of the flow that sent the task."""
    global _connected
    if settings is None or origin_pid in (None, os.getpid()) or _connected == settings:
        return
    with _lock:
        if _connected != settings:
            tl.connect(db=settings[0], storage=settings[1])
            _connected = settings
