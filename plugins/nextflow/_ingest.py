"""``ingest``: record a finished (or running) Nextflow run from what it left on disk.

The workflow run is found by ``(sessionId, runName)`` (its ``reference`` is
``<sessionId>/<runName>``); each task attempt becomes a child run whose ``reference`` is
its task hash (the trace's short hash and the task id, ``ab/cdef12#7``, when no work dir
gives the full hash). Ingesting again records only what is new, so a second ingest of the same
run is a no-op.
"""

import contextlib
import datetime as dt
import gc
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput, NotFound

from . import _lineage, _publish, _trace
from ._history import HistoryRun, find_run, logged_tasks, read_history
from ._lineage import LineageStore, Record
from ._pipeline import Identity, pipeline_transform, resolve_identity, workflow_features
from ._tasks import Task, attach, from_lineage, from_log, from_trace, short_hash

log = logging.getLogger(__name__)
ENGINE = "nextflow"
BATCH = 5000  # task runs annotated per transaction


@dataclass(frozen=True)
class IngestResult:
    """What one ``ingest`` call recorded."""

    workflow: str  # the workflow run's uid
    run_name: str
    session_id: str
    created: bool  # False: the workflow run was already recorded
    tasks: int  # task runs recorded now
    skipped: int  # task runs that were already recorded
    cached: int  # CACHED tasks among those recorded now
    artifacts: int  # output artifacts registered now
    missing: tuple[str, ...]  # output paths the sources list but that are not on disk

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest(
    launch_dir: str | os.PathLike[str],
    trace: str | os.PathLike[str] | None = None,
    lineage: str | os.PathLike[str] | None = None,
    run_name: str | None = None,
    *,
    published: Sequence[str | os.PathLike[str]] = (),
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Record the run ``run_name`` (default: the latest) of the launch dir ``launch_dir``.

    ``trace`` is the trace file (default: the newest ``trace*.txt`` in the launch dir),
    ``lineage`` the lineage store (default: ``<launch_dir>/.lineage`` when present).
    ``published``: output dirs to scan for published files (runs without a lineage
    store). ``progress(done, total)`` is called after each task.
    """
    launch = Path(launch_dir).absolute()
    if not launch.is_dir():
        raise InvalidInput(f"not a Nextflow launch directory: {launch} (no such folder)")
    outdirs = [Path(p).absolute() for p in published]
    for folder in outdirs:
        if not folder.is_dir():
            raise InvalidInput(f"published output dir not found: {folder}")
    store = _store(launch, lineage)
    history_file = launch / ".nextflow" / "history"
    history = read_history(history_file) if history_file.is_file() else []
    ident = resolve_identity(run_name, find_run(history, run_name), store)
    if ident is None:
        if run_name is not None:
            raise NotFound(f"no Nextflow run named {run_name!r} in {launch}")
        raise InvalidInput(
            f"no Nextflow run found in {launch}: it has neither "
            ".nextflow/history nor a lineage store"
        )
    with _collector_paused():
        tasks = _collect_tasks(launch, trace, store, ident)
        workflow, created = _workflow_run(ident, find_run(history, ident.run_name))
        if not tasks:  # only the receiver saw the tasks: find their work dirs
            tasks = [
                Task(name=r.name or r.reference, hash=r.reference)
                for r in tl.Run.filter(parent=workflow).order_by("id")
            ]
        attach(tasks, _work_dir(launch, ident.workflow), store)
        done = _record_tasks(workflow, ident, tasks, store, progress)
    if outdirs and done["recorded"]:
        done["artifacts"] += _publish.scan(outdirs, launch, workflow, done["by_hash"])
    return IngestResult(
        workflow.uid,
        ident.run_name,
        ident.session_id,
        created,
        done["tasks"],
        done["skipped"],
        done["cached"],
        done["artifacts"],
        tuple(done["missing"]),
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while records are built: a large trace makes
    millions of objects, none of them in cycles, and the collector would walk them over
    and over (a third of the time of a 100,000-task ingest). Restored on the way out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _store(launch: Path, lineage: str | os.PathLike[str] | None) -> LineageStore | None:
    path = Path(lineage) if lineage is not None else launch / ".lineage"
    if lineage is not None and not path.is_dir():
        raise InvalidInput(f"lineage store not found: {path}")
    return _lineage.read_store(path) if path.is_dir() else None


def find_trace(launch: Path) -> Path | None:
    """The newest trace file Nextflow writes by default in a launch dir, if any."""
    found = [
        p
        for p in (
            *launch.glob("trace*.txt"),
            *launch.glob("threadline-trace.txt"),
            *launch.glob("*/pipeline_info/execution_trace*.txt"),
        )
        if p.is_file()
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _collect_tasks(
    launch: Path, trace: str | os.PathLike[str] | None, store: LineageStore | None, ident: Identity
) -> list[Task]:
    if trace is not None and not Path(trace).is_file():
        raise InvalidInput(f"trace file not found: {trace}")
    trace_path = Path(trace) if trace is not None else find_trace(launch)
    if trace_path is not None:
        try:
            return [from_trace(row) for row in _trace.iter_trace(trace_path)]
        except _trace.TraceError as exc:
            raise InvalidInput(str(exc)) from None
    if store is not None and ident.workflow is not None:
        return [from_lineage(r) for r in store.tasks_of(ident.workflow)]
    for log_file in sorted(launch.glob(".nextflow.log*")):
        found = logged_tasks(log_file, ident.run_name)
        if found:
            return [from_log(line) for line in found]
    return []


def _work_dir(launch: Path, workflow: Record | None) -> Path:
    meta = (workflow.spec.get("metadata") or {}) if workflow else {}
    recorded = Path(str(meta.get("workDir") or ""))
    return recorded if meta.get("workDir") and recorded.is_dir() else launch / "work"


def _workflow_run(ident: Identity, history: HistoryRun | None) -> tuple[tl.Run, bool]:
    existing = tl.Run.filter(reference=ident.reference, engine=ENGINE).first()
    if existing is not None:
        return existing, False
    transform = pipeline_transform(ident, history)
    run = adapters.start_run(
        transform.key,
        "pipeline",
        transform=transform,
        engine=ENGINE,
        reference=ident.reference,
        name=ident.run_name,
        params=ident.params or None,
        started_at=ident.started_at or (history.started_at if history else None),
        user=ident.user,
    )
    adapters.annotate(run, workflow_features(ident, history), create_features=True)
    status = history.status if history else None
    if status is None and ident.completed:
        status = "completed"
    if status is not None:
        adapters.finish_run(run, status, finished_at=ident.finished_at)
    return run, True


def _record_tasks(
    workflow: tl.Run,
    ident: Identity,
    tasks: list[Task],
    store: LineageStore | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Create the task runs not yet recorded; add files to those the receiver recorded."""
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
        outputs = [
            out for task, run in batch for out in _outputs(run, task, store, done["missing"])
        ]
        if outputs:  # the batch's files in one call: hashed in parallel, one transaction
            done["artifacts"] += len(adapters.register_outputs(None, outputs))
        if progress is not None:
            for number in range(start + 1, start + len(batch) + 1):
                progress(number, len(tasks))
        recorded += batch
    done.update(recorded=len(recorded), by_hash=known.by_reference)
    _link_cached(workflow, ident, [(t, r) for t, r in recorded if t.cached])
    links = [
        pair for task, run in recorded for pair in _inputs(run, task, known.by_reference, store)
    ]
    adapters.link_runs_many(links)
    if recorded and store is not None and ident.workflow is not None:
        done["artifacts"] += _published(store, ident.workflow, known.by_reference, done["missing"])
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
        self.by_reference[run.reference] = run
        self.by_short.setdefault(short_hash(run.reference), []).append(run)

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
        adapters.annotate_many(features, create_features=True)
    return recorded


def _published(
    store: LineageStore, workflow: Record, by_hash: dict[str, tl.Run], missing: list[str]
) -> int:
    """Published files (lineage FileOutputs of the run): artifacts keyed by their path
    under the output dir, outputs of the task run whose file they were copied from.
    Files under the storage root (an S3 output dir included) are registered in place."""
    count = 0
    for record in store.published_of(workflow):
        path = str(record.spec.get("path") or "").removeprefix("file://")
        source = by_hash.get(_lineage.task_hash_of_lid(str(record.spec.get("source") or "")))
        if "://" not in path and not os.path.exists(path):
            missing.append(path)
            continue
        key = record.key.split("/", 1)[1]  # <runHash>/<path under the output dir>
        labels = record.spec.get("labels")
        try:
            adapters.register_outputs(
                source,
                [adapters.Output(path, key=key)],
                features={"published": True, **({"labels": labels} if labels else {})},
            )
        except InvalidInput as exc:  # a remote file gone, or outside the storage root
            log.warning("nextflow: published file not recorded: %s", exc)
            missing.append(path)
            continue
        count += 1
    return count


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
    this session (``-resume`` keeps the session id and the task hashes)."""
    if not cached:
        return
    earlier = [
        r.id
        for r in tl.Run.filter(
            reference__startswith=f"{ident.session_id}/", engine=ENGINE, parent=None
        )
        if r.id != workflow.id
    ]
    if not earlier:
        return
    before = _KnownRuns([])
    for start in range(0, len(earlier), BATCH):
        for run in tl.Run.filter(parent__in=earlier[start : start + BATCH]).order_by("id"):
            if run.reference not in before.by_reference:
                before.add(run)
    pairs = [(source, run) for task, run in cached if (source := before.find(task)) is not None]
    adapters.link_runs_many(pairs)


def _outputs(
    run: tl.Run, task: Task, store: LineageStore | None, missing: list[str]
) -> list[adapters.Output]:
    """A task's output files, from its work dir, else its lineage FileOutputs (those not
    on disk go to ``missing``)."""
    if task.cached:
        return []  # the earlier run registered them
    if task.workdir is not None:
        paths = list(task.workdir.outputs)
    elif store is not None and task.lineage is not None:
        paths = [str(r.spec.get("path")) for r in store.file_outputs_of(task.lineage)]
    else:
        return []
    missing.extend(p for p in paths if not os.path.exists(p))
    return [
        adapters.Output(p, run=run, features={"process": task.process})
        for p in paths
        if os.path.exists(p)
    ]


def _inputs(
    run: tl.Run, task: Task, by_hash: dict[str, tl.Run], store: LineageStore | None
) -> list[tuple[tl.Run, tl.Run]]:
    """Link a task to the files it read; returns its links to the task runs that wrote
    them, as (upstream, task) pairs."""
    paths = list(task.workdir.inputs) if task.workdir else []
    upstream = set()
    if task.lineage is not None:
        lids, external = _lineage.input_refs(task.lineage)
        upstream |= {_lineage.task_hash_of_lid(lid) for lid in lids}
        paths += [p.removeprefix("file://") for p in external]
    for path in paths:
        parts = Path(path).parts
        if len(parts) >= 3 and "".join(parts[-3:-1]) in by_hash:  # in another work dir
            upstream.add("".join(parts[-3:-1]))
    local = [p for p in dict.fromkeys(paths) if os.path.isfile(p) or os.path.isdir(p)]
    if local:
        adapters.link_inputs(run, paths=local)
    sources = [by_hash.get(digest) for digest in sorted(upstream)]
    return [(source, run) for source in sources if source is not None and source.id != run.id]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
