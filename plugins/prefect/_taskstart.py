"""What a Prefect task run's record starts from: its run template (one per task in a flow
run recorded here), its arguments (futures and states resolved as the engine resolves
them) and the upstream runs whose results it was given."""

from typing import Any

import threadline as tl
from threadline import adapters

from prefect.context import TaskRunContext

from . import _outcomes, _registry, _values
from ._registry import ENGINE, MACHINE, Entry


def template_in_flow(flow_entry: Entry, task: Any) -> tuple[str, adapters.RunTemplate]:
    """The key and run template of a task's runs in a flow run this process records:
    made on the task's first run there, for every run after it (their parent is the
    flow run, their transform and the process they run in are the same)."""
    found = flow_entry.templates.get((task.name, task.fn))
    if found is None:
        found = flow_entry.templates[task.name, task.fn] = template_of(
            f"{flow_entry.key}/{task.name}", task, flow_entry.run
        )
    return found


def template_alone(task: Any, flow_run_id: Any, caller: Any) -> tuple[str, adapters.RunTemplate]:
    """The key and run template of one task run outside a flow run recorded here: in a
    flow run of another process (a worker), or in none."""
    flow_run, flow_key = _outcomes.flow_of(flow_run_id)
    key = f"{flow_key}/{task.name}" if flow_key else task.name
    return template_of(key, task, flow_run or caller or tl.context.run)  # Prefect's parent


def template_of(key: str, task: Any, parent: Any) -> tuple[str, adapters.RunTemplate]:
    transform = adapters.get_transform(key, "task", function=task.fn)
    fields = MACHINE.fields()
    template = adapters.RunTemplate(
        key, "task", transform=transform, parent=parent, engine=ENGINE, **fields
    )
    return key, template


def task_params() -> dict[str, Any]:
    """The task's arguments. In ``on_running`` Prefect's context still holds futures
    and states where results were passed (``.submit``/``.map``); resolve them the way
    the engine does just before the body runs (they are final by then)."""
    ctx = TaskRunContext.get()
    params = dict(ctx.parameters or {}) if ctx is not None else {}
    upstream = _outcomes.upstream_types()
    if all(type(v) in _values.SCALARS for v in params.values()) or not any(
        isinstance(v, upstream) for v in _values.walk(params)
    ):
        return params
    from prefect.utilities.collections import visit_collection
    from prefect.utilities.engine import resolve_to_final_result

    return {
        name: visit_collection(
            value,
            visit_fn=resolve_to_final_result,
            return_data=True,
            max_depth=-1,
            remove_annotations=True,
            context={"parameter_name": name},
        )
        for name, value in params.items()
    }


def upstream_runs(task_inputs: dict[str, Any]) -> dict[str, Any]:
    """Upstream task runs by argument name (``__parents__``: the enclosing task)."""
    found: dict[str, Any] = {}
    for name, inputs in task_inputs.items():
        for item in inputs:
            if getattr(item, "input_type", None) != "task_run":
                continue
            run = _registry.run_of(item.id)
            if run is not None:
                found[name if name == "__parents__" else f"{name}:{item.id}"] = run
    return found
