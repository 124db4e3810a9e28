"""Task runs Prefect's state hooks never see: never started, or rolled back.

**Never started.** A task whose upstream (an argument's future or state, or ``wait_for=``)
did not complete is given ``Pending("NotReady")`` and its body never runs; Prefect calls
no state hook for it. Its future (``.submit``/``.map``) or returned state (``return_state=True``)
still tells: ``TrackedTask`` watches them and records one ``skipped`` run per such task
run, under the flow run, linked after the upstream runs it waited for, with Prefect's
state name and message as its error, its arguments (a ``.map`` call's split per item as
Prefect splits them) and the name Prefect gave it (only its engine's last log line for it
carries that: see ``_NotReadyNames``). A direct call (``task(x, wait_for=[f])``) returns
None in that case; ``TrackedTask.__call__`` checks the upstreams first (Prefect has
already waited for them) and asks for the state only when one did not complete.

**Rolled back.** A completed task inside ``with transaction():`` whose transaction rolls
back gets Prefect's ``Completed("RolledBack")`` state, again without a state hook. Its
transaction calls the task's ``on_rollback`` hooks with the transaction, whose logger
carries the task run id: ``RollbackHook`` marks that run ``rolled_back``.
"""

import concurrent.futures
import datetime as dt
import functools
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import threadline as tl
from threadline import adapters

from . import _registry, _values, _writer
from ._registry import ENGINE, GUARD, MACHINE

Params = Callable[[], dict[str, Any] | None]  # a task run's arguments, asked when needed
ROLLBACK_HOOK_NAME = "threadline_task_on_rollback"
ROLLED_BACK = "RolledBack: Task rolled back as part of transaction"  # Prefect's state


@functools.cache
def _prefect_types() -> tuple[type, type, type]:
    from prefect.client.schemas.objects import State
    from prefect.futures import PrefectFuture
    from prefect.utilities.annotations import BaseAnnotation

    return PrefectFuture, State, BaseAnnotation


def upstream_types() -> tuple[type, type]:
    """Prefect's future and state classes: what an upstream task run's result is."""
    future, state, _ = _prefect_types()
    return future, state


SCALARS = (str, bytes, int, float, type(None))
CONTAINERS = (list, tuple, set, frozenset, dict)


def _upstreams(args: Iterable[Any], kwargs: dict[str, Any], wait_for: Any) -> list[Any]:
    """The futures and states among a call's arguments and ``wait_for`` (a loop, not a
    recursion: it runs on every direct call of a task given containers)."""
    if wait_for is None and all(type(v) in _values.SCALARS for v in (*args, *kwargs.values())):
        return []  # plain values only (a task called in a loop): nothing to look into
    future, state, annotation = _prefect_types()
    upstream = (future, state)
    found: list[Any] = []
    stack: list[tuple[Any, int]] = [(list(args), 0), (kwargs, 0), (wait_for, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, upstream):
            found.append(value)
        elif isinstance(value, annotation):
            continue  # allow_failure(...), quote(...): these never keep Prefect from starting it
        elif isinstance(value, CONTAINERS) and depth < _values.MAX_DEPTH:
            items = value.values() if isinstance(value, dict) else value
            for item in itertools.islice(items, _values.MAX_ITEMS):
                if not isinstance(item, SCALARS):
                    stack.append((item, depth + 1))
    return found


def has_upstreams(args: Iterable[Any], kwargs: dict[str, Any], wait_for: Any) -> bool:
    return bool(_upstreams(args, kwargs, wait_for))


def upstream_failed(args: Iterable[Any], kwargs: dict[str, Any], wait_for: Any) -> bool:
    """Whether an upstream of a direct call ended in a state other than completed, so
    that Prefect will not start the task (it waits for these futures itself too)."""
    for item in _upstreams(args, kwargs, wait_for):
        state = item if not hasattr(item, "wait") else (item.wait(), item.state)[1]
        if not state.is_completed():
            return True
    return False


def watch(task: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Record a ``skipped`` run for a submitted task run if Prefect never starts it:
    ``result`` is what ``submit`` returned (a future or state) or ``map`` (a list of
    them); ``args`` and ``kwargs`` are the call's, a mapped call's split per item."""
    from prefect.client.schemas.objects import State

    call = {k: v for k, v in kwargs.items() if k not in ("return_state", "wait_for", "deferred")}
    wait_for = kwargs.get("wait_for")
    params: list[Params]
    if isinstance(result, list):
        mapped = _Mapped(task, args, call, len(result))
        params = [functools.partial(mapped.item, i) for i in range(len(result))]
    else:
        result, params = [result], [functools.partial(_call_params, task, args, call)]
    for item, item_params in zip(result, params, strict=True):
        if isinstance(item, State):
            _checked(task, item, item_params, wait_for)
        elif isinstance(getattr(item, "wrapped_future", None), concurrent.futures.Future):
            # a task runner's future, whose result is the final state: watched on it with no
            # reference to Prefect's future, so that the callback adds no reference cycle
            # (a cycle is freed only by the garbage collector: 1,000-2,000 more objects a
            # flow of 200 .submit()s, and more frequent full collections, 0.1-0.3 s each)
            watcher = functools.partial(_finished, task, item_params, wait_for)
            item.wrapped_future.add_done_callback(watcher)
        elif hasattr(item, "add_done_callback"):
            item.add_done_callback(lambda future, p=item_params: _done(task, future, p, wait_for))


class _Mapped:
    """A ``.map`` call's arguments, split per item as Prefect splits them (its
    ``expand_mapping_parameters``, after resolving the futures mapped over, as its task
    runner does), once, when an item is found never started."""

    def __init__(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any], count: int):
        self.task, self.args, self.kwargs, self.count = task, args, kwargs, count

    @functools.cached_property
    def items(self) -> list[dict[str, Any]] | None:
        from prefect.utilities.callables import expand_mapping_parameters, get_call_parameters
        from prefect.utilities.engine import resolve_inputs_sync

        fn = self.task.fn
        try:
            parameters = get_call_parameters(fn, self.args, self.kwargs, apply_defaults=False)
            items = expand_mapping_parameters(fn, resolve_inputs_sync(parameters, max_depth=0))
        except Exception:  # not to be split again: an iterator that Prefect used up
            return None
        return items if len(items) == self.count else None

    def item(self, index: int) -> dict[str, Any] | None:
        return self.items[index] if self.items is not None else None


def _call_params(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    from prefect.utilities.callables import get_call_parameters

    return get_call_parameters(task.fn, args, kwargs)


@GUARD("a Prefect task run that never started")
def _done(task: Any, future: Any, params: Params, wait_for: Any) -> None:
    """A watched future is done: ``wait()`` (at once now) keeps its final state in
    memory; ``state`` alone would ask Prefect's server, which keeps no task runs here."""
    future.wait()
    _checked(task, future.state, params, wait_for)


@GUARD("a Prefect task run that never started")
def _finished(task: Any, params: Params, wait_for: Any, done: Any) -> None:
    """A watched task runner's future is done: its result is the task run's final state
    (what ``wait()`` keeps on Prefect's future)."""
    state = done.result()
    if isinstance(state, _prefect_types()[1]):
        _checked(task, state, params, wait_for)


def check(
    task: Any, state: Any, args: tuple[Any, ...], kwargs: dict[str, Any], wait_for: Any
) -> None:
    """Record ``state``'s task run as ``skipped`` if Prefect left it pending."""
    _checked(task, state, functools.partial(_call_params, task, args, kwargs), wait_for)


@GUARD("a Prefect task run that never started")
def _checked(task: Any, state: Any, params: Params, wait_for: Any) -> None:
    """``check``, with ``params()`` giving the task run's arguments (asked only when it
    never started)."""
    details = state.state_details
    task_run_id = details.task_run_id
    if not state.is_pending() or task_run_id is None or _registry.entry(task_run_id):
        return
    arguments = params()
    flow_run, flow_key = flow_of(details.flow_run_id)
    key = f"{flow_key}/{task.name}" if flow_key else task.name
    upstream = [
        _registry.run_of(_run_id_of(item)) for item in _upstreams((), arguments or {}, wait_for)
    ]
    transform = adapters.get_transform(key, "task", function=task.fn)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with _writer.at_once():
        run = adapters.start_run(
            key,
            "task",
            transform=transform,
            engine=ENGINE,
            reference=str(task_run_id),
            name=NOT_READY_NAMES.names.pop(str(task_run_id), None),
            parent=flow_run or tl.context.run,
            params=_plain(arguments) if arguments is not None else None,
            status="skipped",
            started_at=now,
            finished_at=now,
            error=f"{state.name}: {state.message}" if state.message else state.name,
            **MACHINE.fields(),
        )
        edges = {before.id: before for before in upstream if before is not None}
        if edges:
            adapters.link_runs([(before, run) for before in edges.values()])


class _NotReadyNames(logging.Filter):
    """Prefect's names of the task runs it left ``NotReady``, by task run id, until each is
    recorded. Prefect keeps such a task run in its engine alone (its server learns of it
    from events later, if its task run recorder runs at all); the engine's last line for
    it, "Finished in state NotReady(...)" at ERROR on the task runs' logger, carries the
    name as ``task_run_name`` (what Prefect's log format shows). Records pass unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:  # most records: nothing to look at
            return True
        text = record.msg if isinstance(record.msg, str) else ""
        if text.startswith("Finished in state NotReady"):
            if len(self.names) >= 10_000:  # runs of tasks threadline does not track
                self.names.clear()
            task_run_id, name = (getattr(record, k, None) for k in ("task_run_id", "task_run_name"))
            if task_run_id and name:
                self.names[str(task_run_id)] = str(name)
        return True


def _install_names() -> _NotReadyNames:
    """The filter on Prefect's task runs' logger, once per process (at import: a task run
    may end before its future is watched)."""
    logger = logging.getLogger("prefect.task_runs")
    found = [f for f in logger.filters if isinstance(f, _NotReadyNames)]
    if found:
        return found[0]
    names = _NotReadyNames()
    logger.addFilter(names)
    return names


NOT_READY_NAMES = _install_names()


def flow_of(flow_run_id: Any) -> tuple[Any, str | None]:
    """The threadline run of a Prefect flow run, and its key (None, None outside one)."""
    flow_entry = _registry.entry(flow_run_id)
    if flow_entry is not None:
        return flow_entry.run, flow_entry.key
    flow_run = _registry.run_of(flow_run_id)
    return flow_run, (flow_run.transform.key if flow_run is not None else None)


def _run_id_of(item: Any) -> Any:
    if hasattr(item, "task_run_id"):
        return item.task_run_id
    return item.state_details.task_run_id


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters with each future or state replaced by a note naming its task run."""
    from prefect.client.schemas.objects import State
    from prefect.futures import PrefectFuture
    from prefect.utilities.collections import visit_collection

    def note(value: Any) -> Any:
        if isinstance(value, PrefectFuture | State):
            return f"<result of Prefect task run {_run_id_of(value)}>"
        return value

    return {
        name: visit_collection(value, visit_fn=note, return_data=True)
        for name, value in params.items()
    }


class RollbackHook:
    """A task's ``on_rollback`` hook: its completed run becomes ``rolled_back``.
    ``log_on_run = False`` keeps Prefect from logging two lines around it."""

    __name__ = ROLLBACK_HOOK_NAME
    log_on_run = False

    def __call__(self, txn: Any) -> None:
        extra = getattr(getattr(txn, "logger", None), "extra", None) or {}
        if extra.get("task_run_id"):
            rolled_back(extra["task_run_id"], extra.get("flow_run_id"))

    def __repr__(self) -> str:
        return f"<{self.__name__}>"


@GUARD("a Prefect task run that was rolled back")
def rolled_back(task_run_id: str, flow_run_id: str | None) -> None:
    """Mark the run ``rolled_back`` after its completion is written (in the background
    while its flow runs: the same queue keeps the order)."""

    def write() -> None:
        run = tl.Run.filter(reference=str(task_run_id), engine=ENGINE).first()
        if run is not None and run.status == "completed":  # not a failed one's own rollback
            adapters.finish_run(run, "rolled_back", error=ROLLED_BACK, finished_at=run.finished_at)

    _writer.later(write, _registry.entry(flow_run_id) is None)
