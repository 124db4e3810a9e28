"""Task runs written in batches: new runs in one INSERT per batch, their features, their
files, links between task runs, and CACHED tasks linked to their earlier runs.

Each task attempt becomes a child run of the workflow run whose ``reference`` is its task
hash (the trace's short hash and the task id, ``ab/cdef12#7``, when no work dir gives the
full hash). Tasks already recorded are skipped, so a second ingest adds nothing.
"""

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import threadline as tl
from threadline import adapters

from ._files import own_records, published, task_inputs, task_outputs
from ._lineage import LineageStore
from ._pipeline import Identity
from ._tasks import Task, short_hash

ENGINE = "nextflow"
BATCH = 5000  # task runs annotated per transaction


def record_tasks(
    workflow: tl.Run,
    ident: Identity,
    tasks: list[Task],
    store: LineageStore | None,
    progress: Callable[[int, int], None] | None,
    launch: Path,
) -> dict[str, Any]:
    """Create the task runs not yet recorded; add files to those the receiver recorded.
    Inputs from outside the work dirs are keyed by their path under ``launch``."""
    runs = list(tl.Run.filter(parent=workflow))
    known = _KnownRuns(runs)
    # the receiver marks the runs it creates files_recorded=False; ingest records their files
    waiting = (
        {r.id for r in tl.Run.filter(parent=workflow, files_recorded=False)}
        if runs and tl.Feature.filter(name="files_recorded").exists()
        else set()
    )
    complete = {r.id for r in runs} - waiting
    done: dict[str, Any] = {"tasks": 0, "skipped": 0, "cached": 0, "artifacts": 0, "missing": []}
    transforms: dict[str, tl.Transform] = {}
    recorded: list[tuple[Task, tl.Run]] = []
    for start in range(0, len(tasks), BATCH):
        batch = _record_batch(
            workflow, tasks[start : start + BATCH], known, complete, transforms, done
        )
        outputs = own_records(
            [out for task, run in batch for out in task_outputs(run, task, store, done["missing"])]
        )
        if outputs:  # the batch's files in one call: hashed in parallel, one transaction
            done["artifacts"] += len(adapters.register_outputs(None, outputs))
        if progress is not None:
            for number in range(start + 1, start + len(batch) + 1):
                progress(number, len(tasks))
        recorded += batch
    done.update(recorded=len(recorded), by_hash=known.by_reference)
    _link_cached(workflow, ident, [(t, r) for t, r in recorded if t.cached])
    links = [
        pair
        for task, run in recorded
        for pair in task_inputs(run, task, known.by_reference, store, launch)
    ]
    adapters.link_runs(links)
    if recorded and store is not None and ident.workflow is not None:
        done["artifacts"] += published(store, ident.workflow, known.by_reference, done["missing"])
    return done


class _KnownRuns:
    """Task runs by reference, and by the trace's short hash to match tasks whose full
    hash is unknown (no work dir) against runs the receiver recorded with it."""

    def __init__(self, runs: list[tl.Run]) -> None:
        self.by_reference: dict[str, tl.Run] = {}
        self.by_short: dict[str, list[tl.Run]] = {}
        for run in runs:
            self.add(run)

    def add(self, run: tl.Run) -> None:
        reference = run.reference or ""  # task runs always have one
        self.by_reference[reference] = run
        self.by_short.setdefault(short_hash(reference), []).append(run)

    def find(self, task: Task) -> tl.Run | None:
        """By reference, else the one run with the same short hash and task name (a run
        recorded from a trace without its full hash, or with it by the receiver)."""
        run = self.by_reference.get(task.reference)
        if run is not None:
            return run
        same = [r for r in self.by_short.get(short_hash(task.hash), []) if r.name == task.name]
        return same[0] if len(same) == 1 else None


def _record_batch(
    workflow: tl.Run,
    batch: list[Task],
    known: _KnownRuns,
    complete: set[int],
    transforms: dict[str, tl.Transform],
    done: dict[str, Any],
) -> list[tuple[Task, tl.Run]]:
    """One transaction: the batch's new task runs (one INSERT for all) and their features.
    Tasks already complete are skipped; runs the receiver recorded get their files now."""
    slots: list[tuple[Task, tl.Run | None]] = []
    new: set[str] = set()
    for task in batch:
        run = known.find(task)
        if (run is not None and run.id in complete) or (run is None and task.reference in new):
            done["skipped"] += 1  # recorded before, or a repeated row of the trace
            continue
        if run is None:
            new.add(task.reference)
        slots.append((task, run))
    recorded, features = [], []
    with adapters.transaction():
        created = iter(
            adapters.start_runs(
                [_task_run(workflow, task, transforms) for task, run in slots if run is None]
            )
        )
        for task, run in slots:
            if run is None:
                run = next(created)
                known.add(run)
                done["tasks"] += 1
                done["cached"] += task.cached
                features.append((run, task.features()))
            else:  # recorded live by the receiver: now its files
                done["skipped"] += 1
                features.append((run, {"files_recorded": True}))
            complete.add(run.id)
            recorded.append((task, run))
        adapters.annotate_records(features, create_features=True)
    return recorded


def _task_run(workflow: tl.Run, task: Task, transforms: dict[str, tl.Transform]) -> dict[str, Any]:
    """The fields of a new task run, for ``adapters.start_runs``."""
    key = f"{workflow.transform.key}/{task.process}"
    transform = transforms.get(key)
    if transform is None:
        code = (task.lineage.spec.get("codeChecksum") or {}) if task.lineage else {}
        transform = adapters.get_transform(key, "process", hash=code.get("value"))
        transforms[key] = transform
    error = f"exit status {task.exit_status}" if task.status == "errored" else None
    return {
        "transform": transform,
        "engine": ENGINE,
        "reference": task.reference,
        "parent": workflow,
        "name": task.name,
        "status": task.status,
        "started_at": task.started_at,
        "finished_at": task.finished_at or task.started_at or _now(),
        "error": error,
    }


def _link_cached(workflow: tl.Run, ident: Identity, cached: list[tuple[Task, tl.Run]]) -> None:
    """Link each CACHED task run to the first run of the same task in an earlier run of
    this session (``-resume`` keeps the session id and the task hashes; a task hash
    includes the session id, so without a session, a trace file alone, the same
    reference in any other Nextflow run is the same task)."""
    if not cached:
        return
    before = _KnownRuns([])
    for run in _earlier_tasks(workflow, ident, [task for task, _ in cached]):
        if run.reference not in before.by_reference:
            before.add(run)
    pairs = [(source, run) for task, run in cached if (source := before.find(task)) is not None]
    adapters.link_runs(pairs)


def _earlier_tasks(workflow: tl.Run, ident: Identity, tasks: list[Task]) -> list[tl.Run]:
    """Task runs of other runs that a cached task may repeat, oldest first."""
    if not ident.session_id:
        references = sorted({task.reference for task in tasks})
        return [
            run
            for start in range(0, len(references), 500)
            for run in tl.Run.filter(
                reference__in=references[start : start + 500],
                engine=ENGINE,
                parent__ne=workflow,
            ).order_by("id")
        ]
    earlier = [
        r.id
        for r in tl.Run.filter(
            reference__startswith=f"{ident.session_id}/", engine=ENGINE, parent=None
        )
        if r.id != workflow.id
    ]
    return [
        run
        for start in range(0, len(earlier), BATCH)
        for run in tl.Run.filter(parent__in=earlier[start : start + BATCH]).order_by("id")
    ]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
