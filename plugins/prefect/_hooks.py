"""The state hooks threadline adds to a Prefect flow or task.

One ``Hook`` object per event (``running``, ``completion``, ``failure``, ``crashed``,
``cancellation``) sits in the matching hook list, after the user's own hooks. A hook
object pickles with the instance the flow writes into, so a task that Dask sends to a
worker process writes into the same instance (see ``_registry.use_instance``).
"""

import datetime as dt
import functools
import logging
import os
import traceback
from typing import Any

import threadline as tl
from threadline import adapters

from prefect.context import FlowRunContext, TaskRunContext

from . import _outputs, _registry, _report, _taskstart, _writer
from ._options import TrackOptions
from ._registry import ENGINE, GUARD, MACHINE, Entry

FLOW_EVENTS = ("running", "completion", "failure", "crashed", "cancellation")
TASK_EVENTS = ("running", "completion", "failure")


class Hook:
    """A picklable Prefect state hook: ``hook(flow_or_task, run, state)``."""

    def __init__(self, kind: str, event: str, options: TrackOptions) -> None:
        self.kind, self.event, self.options = kind, event, options
        self.__name__ = f"threadline_{kind}_on_{event}"
        self._instance: tuple[str, str] | None = None
        self._origin: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "_instance": _registry.settings_for_workers(),
            "_origin": os.getpid(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        quiet_own_hooks()  # in a worker process too

    def __call__(self, owner: Any, prefect_run: Any, state: Any) -> None:
        if self.kind == "flow":
            _flow_event(self, owner, prefect_run, state)
        else:
            _task_event(self, owner, prefect_run, state)

    def __repr__(self) -> str:
        return f"<{self.__name__}>"


def hooks_for(kind: str, options: TrackOptions) -> dict[str, Hook]:
    events = FLOW_EVENTS if kind == "flow" else TASK_EVENTS
    quiet_own_hooks()
    return {event: Hook(kind, event, options) for event in events}


class _OwnHookChatter(logging.Filter):
    """Prefect logs two INFO lines around every hook call ("Running hook ...", "Hook ...
    finished running successfully"), and ships each to its API. For threadline's own
    hooks that would be four lines per task run, more than the rest of a task's log and
    a measurable share of its cost, so they are dropped; failures (ERROR) still show, and
    so do the lines of every other hook (a user's hook is never named like ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        text = record.msg if isinstance(record.msg, str) else ""
        if not text.startswith(("Running hook 'threadline_", "Hook 'threadline_")):
            return True
        return text.split("'", 2)[1] not in OWN_HOOK_NAMES


OWN_HOOK_NAMES = frozenset(
    f"threadline_{kind}_on_{event}"
    for kind, events in (("flow", FLOW_EVENTS), ("task", TASK_EVENTS))
    for event in events
)
# "prefect.engine": a top-level flow's on_running hooks run before its run logger exists
CHATTY_LOGGERS = ("prefect.engine", "prefect.flow_runs", "prefect.task_runs")


def quiet_own_hooks() -> None:
    """Install the filter on the Prefect loggers that report hook calls, once per process."""
    for name in CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OwnHookChatter) for f in logger.filters):
            logger.addFilter(_OwnHookChatter())


# -- flows --------------------------------------------------------------------------------


@GUARD("a Prefect flow run")
def _flow_event(hook: Hook, flow: Any, flow_run: Any, state: Any) -> None:
    if hook.event == "running":
        if _registry.entry(flow_run.id) is None:  # else a retry of the same flow run
            _start_flow(hook.options, flow, flow_run)
        return
    entry = _registry.forget(flow_run.id)
    if entry is None:
        return
    problem = None
    try:
        _writer.flush()  # the task runs of this flow, closed in the background
        if hook.event == "completion":
            naming = _outputs.Naming(entry.key, flow.name, "", entry.params, entry.workdir)
            problem = _save_outputs(entry, state, hook.options, naming)
        elif hook.event in ("crashed", "cancellation"):
            _abort_open_children(entry.run, flow_run.id)
    finally:
        _finish(entry, hook.event, state, flow_run.run_count, now=True, problem=problem)
    _report.publish(entry.run, flow, flow_run)
    if problem is not None:
        raise problem  # for the guard to report (the run is closed as errored)


def _abort_open_children(run: Any, flow_id: Any) -> None:
    """Task runs still open when their flow crashed or was cancelled will never be
    closed by a hook (Prefect has none for a crashed task): they are aborted too."""
    for task_entry in _registry.forget_tasks_of(flow_id):
        if task_entry.activation is not None:
            task_entry.activation.__exit__(None, None, None)
    adapters.abort_children(run)


def _start_flow(options: TrackOptions, flow: Any, flow_run: Any) -> None:
    if flow_run.parent_task_run_id is None:
        GUARD.reset()
    _registry.note_instance()
    params = flow_run.parameters or {}
    parent = _flow_parent(flow_run)
    transform = adapters.get_transform(flow.name, "flow", function=flow.fn, reference=flow.version)
    run = adapters.start_run(
        flow.name,
        "flow",
        transform=transform,
        engine=ENGINE,
        reference=str(flow_run.id),
        name=flow_run.name,
        parent=parent,
        params=params,
        **MACHINE.fields(),
    )
    entry = Entry(run, flow.name, params=params)
    _outputs.link_inputs(run, params, options, entry.workdir)
    _activate(entry)
    _registry.remember(flow_run.id, entry)


def _flow_parent(flow_run: Any) -> Any:
    """A subflow's parent: the task it runs in, else the flow that called it; a flow
    called from tracked code: the current threadline run."""
    if flow_run.parent_task_run_id is not None:
        task_ctx, flow_ctx = TaskRunContext.get(), FlowRunContext.get()
        for ctx in (task_ctx, flow_ctx):
            run = getattr(ctx, "task_run", None) or getattr(ctx, "flow_run", None)
            found = _registry.run_of(run.id) if run is not None else None
            if found is not None:
                return found
    return tl.context.run


# -- tasks --------------------------------------------------------------------------------


@GUARD("a Prefect task run")
def _task_event(hook: Hook, task: Any, task_run: Any, state: Any) -> None:
    _registry.use_instance(hook._instance, hook._origin)  # in a worker: the flow's instance
    prefect_id = str(task_run.id)
    if hook.event == "running":
        if _registry.entry(prefect_id) is None:  # else a retry of the same task run
            _start_task(hook.options, task, task_run, prefect_id)
        return
    entry = _registry.forget(prefect_id)
    if entry is None:
        return
    problem = None
    try:
        if hook.event == "completion":
            flow_name = entry.key.rpartition("/")[0]
            naming = _outputs.Naming(entry.key, flow_name, task.name, entry.params, entry.workdir)
            problem = _save_outputs(entry, state, hook.options, naming)
    finally:
        _finish(entry, hook.event, state, task_run.run_count, now=entry.write_now, problem=problem)
    if problem is not None:
        raise problem  # for the guard to report (the run is closed as errored)


def _start_task(options: TrackOptions, task: Any, task_run: Any, prefect_id: str) -> None:
    flow_id = str(task_run.flow_run_id)  # "None": a task called outside a flow
    flow_entry = _registry.entry(flow_id)
    upstream = _taskstart.upstream_runs(task_run.task_inputs or {})
    caller = upstream.pop("__parents__", None)  # a task called in a task's body
    params = _taskstart.task_params()
    own = {"reference": prefect_id, "name": task_run.name, "params": params}
    if flow_entry is None:  # no flow end waits for the writer: at once
        key, template = _taskstart.template_alone(task, task_run.flow_run_id, caller)
        with _writer.at_once():
            run = template.start(**own)
    else:  # the writer's next batch (the id comes on demand: a save in the body waits)
        key, template = _taskstart.template_in_flow(flow_entry, task)
        run = template.start(later=True, guard=GUARD, **own)
    entry = Entry(
        run,
        key,
        workdir=flow_entry.workdir if flow_entry else os.getcwd(),
        write_now=flow_entry is None,
        params=params,
        flow_id=flow_id,
    )
    parent = template.parent
    edges = list({r.uid: r for r in upstream.values() if r is not run}.values())
    if edges or (caller is not None and parent is not caller):

        def link() -> None:
            if edges:
                adapters.link_runs([(before, run) for before in edges])
            if caller is not None and parent is not caller:  # the calling task, kept
                adapters.annotate(run, {"called_by": caller.uid}, create_features=True)

        _writer.later(link, entry.write_now)
    producers: dict[str, list[Any]] = {}
    for name, before in upstream.items():  # "param:task run id" -> the run it came from
        producers.setdefault(name.partition(":")[0], []).append(before)
    _outputs.link_inputs(run, params, options, entry.workdir, producers)
    _activate(entry)
    _registry.remember(prefect_id, entry)


# -- both ---------------------------------------------------------------------------------


def _activate(entry: Entry) -> None:
    """Make the run current in the flow or task body: artifacts saved there are its."""
    entry.activation = adapters.activate(entry.run)
    entry.activation.__enter__()


STATUS = {
    "completion": "completed",
    "failure": "errored",
    "crashed": "aborted",
    "cancellation": "aborted",
}


def _save_outputs(
    entry: Entry, state: Any, options: TrackOptions, naming: _outputs.Naming
) -> Exception | None:
    """Save a completed run's outputs; the failure, if they could not be saved (nothing
    of them is then stored), for the run to be closed as errored."""
    try:
        _outputs.save_outputs(entry.run, _state_value(state), options, naming)
    except Exception as error:
        return error
    return None


def _finish(
    entry: Entry,
    event: str,
    state: Any,
    attempts: int | None,
    now: bool,
    problem: Exception | None = None,
) -> None:
    """Close the run: at once (flows, tasks outside flows or in workers), else in the
    background, flushed when the flow ends. A run whose outputs could not be saved
    (``problem``) is errored, although Prefect's run completed."""
    if entry.activation is not None:
        entry.activation.__exit__(None, None, None)
    status, error, trace = STATUS[event], None, None
    if problem is not None:
        status, error = "errored", _outputs_failed(problem)
        trace = "".join(traceback.format_exception(problem)) or None
    elif event != "completion":
        error, trace = _error_of(state)
    finished_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    run = entry.run
    if now:
        with _writer.at_once():
            adapters.finish_run(run, status, error=error, traceback=trace, finished_at=finished_at)
    else:  # with its row, where that is still queued (see adapters.finish_run)
        adapters.finish_run(
            run,
            status,
            error=error,
            traceback=trace,
            finished_at=finished_at,
            later=True,
            guard=GUARD,
        )
    if attempts and attempts > 1:
        # a partial, not a closure: fewer objects for the collector to track while queued
        _writer.later(functools.partial(_note_attempts, run, attempts), now)


def _note_attempts(run: Any, attempts: int) -> None:
    adapters.annotate(run, {"attempt": attempts}, create_features=True)


def _outputs_failed(problem: Exception) -> str:
    """One line for the run's error: what kept its outputs from being saved."""
    lines = str(problem).strip().splitlines() or [""]
    return f"threadline could not save the outputs: {type(problem).__name__}: {lines[0]}"


def _error_of(state: Any) -> tuple[str | None, str | None]:
    value = _state_value(state)
    if isinstance(value, BaseException):
        return (
            f"{type(value).__name__}: {value}",
            "".join(traceback.format_exception(value)) or None,
        )
    return (state.message or state.name), None


def _state_value(state: Any) -> Any:
    """The value a state holds: the return value, or the exception of a failure."""
    from prefect.results import ResultRecord  # type: ignore[attr-defined]  # re-exported

    data = state.data
    if isinstance(data, ResultRecord):
        return data.result
    return data
