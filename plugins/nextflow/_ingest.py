"""``ingest``: record a finished (or running) Nextflow run from what it left on disk.

The workflow run is found by ``(sessionId, runName)`` (its ``reference`` is
``<sessionId>/<runName>``); each task attempt becomes a child run whose ``reference`` is
its task hash (the trace's short hash and the task id, ``ab/cdef12#7``, when no work dir
gives the full hash). Ingesting again records only what is new, so a second ingest of the same
run is a no-op.
"""

import contextlib
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

from . import _alone, _lineage, _publish
from ._history import HistoryRun, find_run, logged_tasks, read_history
from ._lineage import LineageStore, Record
from ._pipeline import Identity, pipeline_transform, resolve_identity, workflow_features
from ._record import record_tasks
from ._tasks import Task, attach, from_lineage, from_log, tasks_from_trace

log = logging.getLogger(__name__)
ENGINE = "nextflow"


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
    work_dir: str | os.PathLike[str] | None = None,
    pipeline: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Record the run ``run_name`` (default: the latest) of the launch dir ``launch_dir``.

    ``trace`` is the trace file (default: the newest ``trace*.txt`` in the launch dir),
    ``lineage`` the lineage store (default: ``<launch_dir>/.lineage`` when present).
    A launch dir with neither ``.nextflow/history`` nor a lineage store is read from its
    trace file alone (see ``ingest_traces``; ``pipeline`` names its transform).
    ``published``: output dirs to scan for published files (runs without a lineage
    store); ``work_dir``: where the task work dirs are (default: ``<launch_dir>/work``).
    ``progress(done, total)`` is called after each task.
    """
    launch, outdirs, work = _folders(launch_dir, published, work_dir)
    if trace is not None and Path(trace).is_dir():
        raise InvalidInput(f"{trace} is a folder: ingest_traces() records each trace in it")
    store = _store(launch, lineage)
    history_file = launch / ".nextflow" / "history"
    history = read_history(history_file) if history_file.is_file() else []
    if store is None and not history:
        found = Path(trace) if trace is not None else find_trace(launch)
        if found is None:
            raise InvalidInput(
                f"no Nextflow run found in {launch}: it has no .nextflow/history, "
                "no lineage store and no trace file (name one with --trace)"
            )
        return _ingest_alone(found, run_name, launch, outdirs, work, pipeline, progress)
    ident = resolve_identity(run_name, find_run(history, run_name), store)
    if ident is None and run_name is not None:
        raise NotFound(f"no Nextflow run named {run_name!r} in {launch}")
    if ident is None:
        raise InvalidInput(f"no Nextflow run found in {launch}: its sources name no run")
    with _collector_paused():
        tasks = _collect_tasks(launch, trace, store, ident)
        workflow, created = _workflow_run(ident, find_run(history, ident.run_name))
        if not tasks:  # only the receiver saw the tasks: find their work dirs
            tasks = [
                Task(name=r.name or r.reference, hash=r.reference)
                for r in tl.Run.filter(parent=workflow).order_by("id")
            ]
        attach(tasks, work or _work_dir(launch, ident.workflow), store)
        done = record_tasks(workflow, ident, tasks, store, progress, launch)
    return _result(workflow, created, ident, done, outdirs, launch)


def ingest_traces(
    traces: str | os.PathLike[str],
    launch_dir: str | os.PathLike[str] | None = None,
    run_name: str | None = None,
    *,
    published: Sequence[str | os.PathLike[str]] = (),
    work_dir: str | os.PathLike[str] | None = None,
    pipeline: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[IngestResult]:
    """Record a run from each trace file alone: ``traces`` is one file, or a folder of
    them (and of a ``pipeline_info`` folder in it), each its own run, oldest name first.

    ``run_name`` names the run of a single file (default: the file's name and its first
    submit time); ``launch_dir`` holds ``work/`` and keys the ``published`` files and the
    source inputs (default: ``X`` where the trace's work dirs are ``X/work/ab/cdef...``
    and ``X`` is there, else the trace's folder); ``pipeline`` is the pipeline's
    transform key (default ``nextflow-pipeline``). Tasks, retries, status and metrics
    come from the trace; outputs and inputs from the work dirs found (the trace's
    ``workdir`` field, ``work_dir`` or ``<launch_dir>/work``) and the published dirs.
    Ingesting again is a no-op.
    """
    source = Path(traces)
    files = list(_alone.trace_files(source))
    if run_name is not None and len(files) > 1:
        raise InvalidInput(f"a run name names one run; {source} holds {len(files)} trace files")
    folder = (
        launch_dir if launch_dir is not None else (source if source.is_dir() else source.parent)
    )
    launch, outdirs, work = _folders(folder, published, work_dir)
    return [
        _ingest_alone(path, run_name, launch, outdirs, work, pipeline, progress, launch_dir is None)
        for path in files
    ]


def _folders(
    launch_dir: str | os.PathLike[str],
    published: Sequence[str | os.PathLike[str]],
    work_dir: str | os.PathLike[str] | None,
) -> tuple[Path, list[Path], Path | None]:
    """The launch, published and work folders, absolute; refused when missing."""
    launch = Path(launch_dir).absolute()
    if not launch.is_dir():
        raise InvalidInput(f"not a Nextflow launch directory: {launch} (no such folder)")
    outdirs = [Path(p).absolute() for p in published]
    work = Path(work_dir).absolute() if work_dir is not None else None
    for folder, what in [*((f, "published output dir") for f in outdirs), (work, "work dir")]:
        if folder is not None and not folder.is_dir():
            raise InvalidInput(f"{what} not found: {folder}")
    return launch, outdirs, work


def _ingest_alone(
    path: Path,
    run_name: str | None,
    launch: Path,
    outdirs: list[Path],
    work: Path | None,
    pipeline: str | None,
    progress: Callable[[int, int], None] | None,
    guess_launch: bool = False,
) -> IngestResult:
    """One run from one trace file, with no history and no lineage store; with
    ``guess_launch``, the launch dir its work dirs name, when they name one."""
    if not path.is_file():
        raise InvalidInput(f"trace file not found: {path}")
    with _collector_paused():
        run = _alone.read_trace_run(path, run_name)
        launch = (_alone.launch_of(run) if guess_launch else None) or launch
        workflow, created = _alone.workflow_run(run, pipeline)
        attach(run.tasks, work or launch / "work", None)
        done = record_tasks(workflow, run.ident, run.tasks, None, progress, launch)
    return _result(workflow, created, run.ident, done, outdirs, launch)


def _result(
    workflow: tl.Run,
    created: bool,
    ident: Identity,
    done: dict[str, Any],
    outdirs: list[Path],
    launch: Path,
) -> IngestResult:
    """Published files scanned (when tasks were recorded now), and what was recorded."""
    if outdirs and done["recorded"]:
        done["artifacts"] += _publish.scan(outdirs, launch, workflow, done["by_hash"])
    return IngestResult(
        workflow.uid,
        workflow.name or ident.run_name,
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
            *launch.glob("execution_trace*.txt"),
            *launch.glob("pipeline_info/execution_trace*.txt"),
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
        return tasks_from_trace(trace_path)
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
