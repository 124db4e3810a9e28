"""``flow``, ``task`` and ``instrument``: Prefect's decorators with threadline's hooks.

The decorated object is Prefect's own ``Flow``/``Task`` (or ``MaterializingTask``) with
its class swapped for a subclass that differs in one way: ``with_options`` keeps the
threadline hooks even when it is given new hook lists (Prefect's replaces the lists).
Hook lists are rebuilt, never appended to in place, so a list the user shares between
tasks is left alone. Instrumenting twice adds nothing.
"""

from collections.abc import Callable
from types import ModuleType
from typing import Any, ParamSpec, TypeVar, overload

import prefect
from prefect.flows import Flow
from prefect.tasks import MaterializingTask, Task

from . import _outcomes
from ._hooks import Hook, hooks_for
from ._options import TrackOptions, split_options

P = ParamSpec("P")
R = TypeVar("R")

HOOK_LISTS = {
    "running": "on_running_hooks",
    "completion": "on_completion_hooks",
    "failure": "on_failure_hooks",
    "crashed": "on_crashed_hooks",
    "cancellation": "on_cancellation_hooks",
}


def _call(self: Any, *args: Any, return_state: bool = False, **kwargs: Any) -> Any:
    """A tracked task's direct call. When an upstream did not complete, Prefect will not
    start the task (its call returns None): ask for the state then, to record it."""
    wait_for = kwargs.get("wait_for")
    if self.isasync:  # checked when awaited, as Prefect resolves them then
        if return_state or _outcomes.has_upstreams(args, kwargs, wait_for):
            return _awaited(self, args, kwargs, return_state)
        return Task.__call__(self, *args, **kwargs)
    if not (return_state or _outcomes.upstream_failed(args, kwargs, wait_for)):
        return Task.__call__(self, *args, **kwargs)
    state = Task.__call__(self, *args, return_state=True, **kwargs)
    return _answer(self, state, args, kwargs, return_state)


async def _awaited(self: Any, args: Any, kwargs: dict[str, Any], return_state: bool) -> Any:
    if not (return_state or _outcomes.upstream_failed(args, kwargs, kwargs.get("wait_for"))):
        return await Task.__call__(self, *args, **kwargs)
    state = await Task.__call__(self, *args, return_state=True, **kwargs)
    return _answer(self, state, args, kwargs, return_state)


def _answer(self: Any, state: Any, args: Any, kwargs: dict[str, Any], return_state: bool) -> Any:
    """Record a run Prefect never started; answer as the call asked (Prefect's None)."""
    plain = {k: v for k, v in kwargs.items() if k != "wait_for"}
    _outcomes.check(self, state, args, plain, kwargs.get("wait_for"))
    if return_state:
        return state
    return None if state.is_pending() else state.result()


def _submit(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``Task.submit``, its future watched for a task run Prefect never starts."""
    result = Task.submit(self, *args, **kwargs)
    _outcomes.watch(self, result, args, kwargs)
    return result


def _map(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``Task.map``, its futures watched (each item's arguments are its own)."""
    result = Task.map(self, *args, **kwargs)
    _outcomes.watch(self, list(result), args, kwargs)
    return result


class TrackedFlow(Flow[Any, Any]):
    """A Prefect ``Flow`` whose runs threadline records; copies stay tracked."""

    _threadline_options: TrackOptions

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _attach(super().with_options(*args, **kwargs), self._threadline_options)


class TrackedTask(Task[Any, Any]):
    """A Prefect ``Task`` whose runs threadline records; copies stay tracked."""

    _threadline_options: TrackOptions
    __call__, submit, map = _call, _submit, _map  # see _outcomes: never-started runs

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _attach(super().with_options(*args, **kwargs), self._threadline_options)


class TrackedMaterializingTask(MaterializingTask[Any, Any]):
    """A Prefect ``MaterializingTask`` (``@materialize``) whose runs threadline records."""

    _threadline_options: TrackOptions
    __call__, submit, map = _call, _submit, _map  # see _outcomes: never-started runs

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _attach(super().with_options(*args, **kwargs), self._threadline_options)


TRACKED = {Flow: TrackedFlow, Task: TrackedTask, MaterializingTask: TrackedMaterializingTask}


def _attach(obj: Any, options: TrackOptions) -> Any:
    """Add threadline's hooks to ``obj`` (after the user's) and mark it tracked."""
    kind = "flow" if isinstance(obj, Flow) else "task"
    for event, hook in hooks_for(kind, options).items():
        name = HOOK_LISTS[event]
        kept = [h for h in getattr(obj, name) if not isinstance(h, Hook)]
        setattr(obj, name, [*kept, hook])
    if kind == "task":  # a completed run its transaction rolls back (see _outcomes)
        kept = [h for h in obj.on_rollback_hooks if not isinstance(h, _outcomes.RollbackHook)]
        obj.on_rollback_hooks = [*kept, _outcomes.RollbackHook()]
    tracked = TRACKED.get(type(obj))
    if tracked is not None:
        obj.__class__ = tracked
    obj._threadline_options = options
    return obj


def instrument(target: Any, **options: Any) -> Any:
    """Record the runs of a flow or task decorated elsewhere (changed in place, and
    returned); given a module, every flow and task defined in it."""
    track, rest = split_options(options)
    if rest:
        raise TypeError(f"instrument() got unexpected arguments: {sorted(rest)}")
    if isinstance(target, ModuleType):
        for value in list(vars(target).values()):
            if isinstance(value, Flow | Task) and not hasattr(value, "_threadline_options"):
                _attach(value, track)
        return target
    if not isinstance(target, Flow | Task):
        raise TypeError(f"instrument() takes a Prefect flow, task or module, not {target!r}")
    return _attach(target, track)


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...
@overload
def flow(fn: None = None, /, **kwargs: Any) -> Callable[[Callable[P, R]], Flow[P, R]]: ...
def flow(fn: Callable[..., Any] | None = None, /, **kwargs: Any) -> Any:
    """``prefect.flow`` whose runs threadline records; bare or with arguments."""
    options, prefect_kwargs = split_options(kwargs)
    if fn is None:
        return lambda inner: _attach(prefect.flow(inner, **prefect_kwargs), options)
    return _attach(prefect.flow(fn, **prefect_kwargs), options)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(fn: None = None, /, **kwargs: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...
def task(fn: Callable[..., Any] | None = None, /, **kwargs: Any) -> Any:
    """``prefect.task`` whose runs threadline records; bare or with arguments."""
    options, prefect_kwargs = split_options(kwargs)
    if fn is None:
        return lambda inner: _attach(prefect.task(inner, **prefect_kwargs), options)
    return _attach(prefect.task(fn, **prefect_kwargs), options)
