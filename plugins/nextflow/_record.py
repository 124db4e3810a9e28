"""Task runs written in batches: new runs in one INSERT per batch, their features, their
files, links between task runs, and CACHED tasks linked to their earlier runs.

Each task attempt becomes a child run of the workflow run whose ``reference`` is its task
hash (the trace's short hash and the task id, ``ab/cdef12#7``, when no work dir gives the
full hash). Tasks already recorded are skipped, so a second ingest adds nothing.

Each batch is one transaction. On PostgreSQL batches overlap: each batch's transaction
runs on a thread of its own (its own connection), up to three at a time, so that one
batch inserts its runs while the ones before it write their feature values and commit;
the database driver lets go of the interpreter while the server works, so the server's
share of the work runs beside this process's. Batches still commit one by one in trace
order (each waits for the one before it to commit first), so a kill leaves whole batches
from the start of the trace; a failing batch fails the ingest with its own error and the
batches after it roll back. A batch that needs a transform or feature no earlier batch
made runs alone, and batches with categorical features (label links, which two
transactions could both make) write their values one after another.
"""

import datetime as dt
import threading
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
AHEAD = 2  # PostgreSQL: batches still writing while the next one starts


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
    done: dict[str, Any] = {"tasks": 0, "skipped": 0, "cached": 0, "artifacts": 0, "missing": []}
    shared = _Shared(workflow, known, {r.id for r in runs} - waiting)
    overlap = tl.instance().settings.db.startswith("postgres")
    recorded = _write_batches(shared, tasks, overlap, store, done, progress)
    done.update(recorded=len(recorded), by_hash=known.by_reference)
    _link_cached(workflow, ident, [(t, r) for t, r in recorded if t.cached])
    links = [
        pair
        for task, run in recorded
        if task.workdir is not None or task.lineage is not None  # else it names no input
        for pair in task_inputs(run, task, known.by_reference, store, launch)
    ]
    adapters.link_runs(links)
    if recorded and store is not None and ident.workflow is not None:
        done["artifacts"] += published(store, ident.workflow, known.by_reference, done["missing"])
    return done


def _write_batches(
    shared: "_Shared",
    tasks: list[Task],
    overlap: bool,
    store: LineageStore | None,
    done: dict[str, Any],
    progress: Callable[[int, int], None] | None,
) -> list[tuple[Task, tl.Run]]:
    """Every batch; with ``overlap`` up to ``AHEAD + 1`` at a time (see the docstring
    of this module)."""
    recorded: list[tuple[Task, tl.Run]] = []
    flight: list[_Batch] = []  # batches started and not finished, oldest first
    try:
        for start in range(0, len(tasks), BATCH):
            if flight:  # its new runs are known now: the same task is not made twice
                flight[-1].runs_known.wait()
            batch = _Batch(shared, tasks, start, done)
            if overlap and batch.makes_new(shared):
                _prepare(shared, batch)  # then it need not run alone
            alone = not overlap or batch.makes_new(shared)
            while alone and flight:
                recorded += _finish(flight.pop(0), shared, store, done, progress, len(tasks))
            batch.before = flight[-1] if flight else None
            flight.append(batch)
            if alone:
                batch.write()
            else:
                threading.Thread(target=batch.write, kwargs={"close": True}).start()
            last = start + BATCH >= len(tasks)
            while len(flight) > AHEAD or (flight and (alone or last)):
                recorded += _finish(flight.pop(0), shared, store, done, progress, len(tasks))
    finally:
        shared.stop.set()  # batches still running roll back (one failed, or this thread)
        for batch in flight:
            batch.done.wait()
    return recorded


def _finish(
    batch: "_Batch",
    shared: "_Shared",
    store: LineageStore | None,
    done: dict[str, Any],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> list[tuple[Task, tl.Run]]:
    """Wait for a batch's commit (raise its error), then record its files."""
    batch.done.wait()
    if batch.error is not None:
        raise batch.error
    for name, count in batch.counts.items():
        done[name] += count
    made = list(batch.names - shared.features)
    if made:  # values of a categorical feature link labels, which batches may share
        shared.features.update(made)
        features = tl.Feature.filter(name__in=made)
        shared.labelled.update(f.name for f in features if "cat" in f.dtype)
    outputs = own_records(
        [
            out
            for task, run in batch.recorded
            for out in task_outputs(run, task, store, done["missing"])
        ]
    )
    if outputs:  # the batch's files in one call: hashed in parallel, one transaction
        done["artifacts"] += len(adapters.register_outputs(None, outputs))
    if progress is not None:
        for number in range(batch.start + 1, batch.start + len(batch.recorded) + 1):
            progress(number, total)
    return batch.recorded


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

    def find(self, task: Task, reference: str | None = None) -> tl.Run | None:
        """By reference (``task.reference`` unless given), else the one run with the same
        short hash and task name (a run recorded from a trace without its full hash, or
        with it by the receiver)."""
        run = self.by_reference.get(task.reference if reference is None else reference)
        if run is not None:
            return run
        runs = self.by_short.get(short_hash(task.hash))
        if runs is None:
            return None
        same = [r for r in runs if r.name == task.name]
        return same[0] if len(same) == 1 else None


class _Shared:
    """What the batches of one ingest share: the runs known so far (written by a batch's
    thread before it sets ``runs_known``, read by the next batch only after), the runs
    complete, the transforms and feature names made, and the stop flag."""

    def __init__(self, workflow: tl.Run, known: "_KnownRuns", complete: set[int]) -> None:
        self.workflow, self.known, self.complete = workflow, known, complete
        self.prefix = workflow.transform.key  # loaded here, not on a batch's thread
        self.transforms: dict[str, tl.Transform] = {}
        self.features: set[str] = set()  # names some committed batch gave values
        self.labelled: set[str] = set()  # those of them that are categorical
        self.stop = threading.Event()


class _Batch:
    """One transaction: the batch's new task runs (one INSERT for all) and their features.
    Tasks already complete are skipped; runs the receiver recorded get their files now."""

    def __init__(self, shared: _Shared, tasks: list[Task], start: int, done: dict[str, Any]):
        self.shared, self.start = shared, start
        self.slots: list[tuple[Task, tl.Run | None, dict[str, Any]]] = []
        new: set[str] = set()
        for task in tasks[start : start + BATCH]:
            reference = task.reference
            run = shared.known.find(task, reference)
            if (run is not None and run.id in shared.complete) or (
                run is None and reference in new
            ):
                done["skipped"] += 1  # recorded before, or a repeated row of the trace
                continue
            if run is None:
                new.add(reference)
            values = task.features() if run is None else {"files_recorded": True}
            self.slots.append((task, run, values))
        self.names: set[str] = set().union(*[values for _, _, values in self.slots])
        self.before: _Batch | None = None  # the batch that commits just before this one
        self.runs_known, self.done = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.counts = {"tasks": 0, "skipped": 0, "cached": 0}
        self.recorded: list[tuple[Task, tl.Run]] = []

    def makes_new(self, shared: _Shared) -> bool:
        """Whether this batch makes a transform or a feature (two transactions making the
        same one at once would collide): such a batch runs alone."""
        keys = {f"{shared.prefix}/{task.process}" for task, run, _ in self.slots if run is None}
        return bool(keys - shared.transforms.keys() or self.names - shared.features)

    def write(self, close: bool = False) -> None:
        """The transaction; on a thread of its own, ``close`` closes its connection."""
        try:
            with adapters.transaction():
                features = self._start_runs()
                self.runs_known.set()
                if self.names & self.shared.labelled:  # labels: one batch at a time
                    self._wait_before()
                adapters.annotate_records(features, create_features=True)
                self._wait_before()  # commits in trace order
        except BaseException as exc:  # the ingest raises it when it reaches this batch
            self.error = exc
        finally:
            self.runs_known.set()
            self.done.set()
            if close:
                tl.instance().db.close()

    def _start_runs(self) -> list[tuple[tl.Run, dict[str, Any]]]:
        shared = self.shared
        fields = [_task_run(shared, task) for task, run, _ in self.slots if run is None]
        created = iter(adapters.start_runs(fields))
        features = []
        for task, run, values in self.slots:
            if run is None:
                run = next(created)
                shared.known.add(run)
                self.counts["tasks"] += 1
                self.counts["cached"] += task.cached
            else:  # recorded live by the receiver: now its files
                self.counts["skipped"] += 1
            features.append((run, values))
            shared.complete.add(run.id)
            self.recorded.append((task, run))
        return features

    def _wait_before(self) -> None:
        before = self.before
        if before is not None:
            before.done.wait()
            if before.error is not None:
                raise RuntimeError("the batch before failed") from before.error
        if self.shared.stop.is_set():
            raise RuntimeError("the ingest failed")


_PLAIN = (str, int, float, bool, dict)  # value types whose dtype is their type's


def _prepare(shared: _Shared, batch: "_Batch") -> None:
    """PostgreSQL: the transforms and features a batch would make, made first in a short
    transaction of their own (a feature's dtype is its first value's type, as
    ``create_features`` infers it), so the batch can overlap the others instead of
    running alone. A batch that fails later leaves them: transforms and features
    without runs or values, which the next ingest uses. Features whose first value is of
    another type (lists, dates) are left to the batch, which then runs alone."""
    firsts: dict[str, Any] = {}
    for _, _, values in batch.slots:
        for name, value in values.items():
            firsts.setdefault(name, value)
    names = sorted(firsts.keys() - shared.features)
    with adapters.transaction():
        for task, run, _ in batch.slots:
            if run is None:
                _transform(shared, task)
        features = {f.name: f for f in tl.Feature.filter(name__in=names)} if names else {}
        for name in names:
            if name not in features and type(firsts[name]) in _PLAIN:
                features[name] = tl.Feature(name=name, dtype=type(firsts[name])).save()
    shared.features.update(features)
    shared.labelled.update(name for name, f in features.items() if "cat" in f.dtype)


def _transform(shared: _Shared, task: Task) -> tl.Transform:
    """The transform of a task's process (made once per ingest)."""
    key = f"{shared.prefix}/{task.process}"
    transform = shared.transforms.get(key)
    if transform is None:
        code = (task.lineage.spec.get("codeChecksum") or {}) if task.lineage else {}
        transform = adapters.get_transform(key, "process", hash=code.get("value"))
        shared.transforms[key] = transform
    return transform


def _task_run(shared: _Shared, task: Task) -> dict[str, Any]:
    """The fields of a new task run, for ``adapters.start_runs``."""
    transform = _transform(shared, task)
    error = f"exit status {task.exit_status}" if task.status == "errored" else None
    return {
        "transform": transform,
        "engine": ENGINE,
        "reference": task.reference,
        "parent": shared.workflow,
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
