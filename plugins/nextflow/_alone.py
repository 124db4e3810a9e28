"""A Nextflow run from its trace file alone, when its launch folder is gone (no
``.nextflow/history``, no lineage store): nf-core's ``pipeline_info/execution_trace_*.txt``
in an output folder, a CI runner's or a colleague's run.

The workflow run is named by ``run_name``, else by the trace file's name and its first
submit time (``execution_trace@2021-03-29T19:50:21``). Its identity (``reference``) is
``trace:<file name>@<first submit>``, whatever the name: the same file ingested again,
from any folder and under any ``--run``, is the same run. It started at the first submit
and finished at the last completion; it errored when the last attempt of a task failed
(``error_action`` ``IGNORE`` aside) or was aborted, else it completed.
"""

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from ._pipeline import Identity, transform_for
from ._tasks import Task, tasks_from_trace

ENGINE = "nextflow"
PIPELINE = "nextflow-pipeline"  # the transform key when nothing names the pipeline
_PATTERNS = ("*trace*.txt", "*trace*.txt.[0-9]*", "*trace*.tsv")  # .txt.1: rolled (< 22.10)


@dataclass(frozen=True)
class TraceRun:
    """A workflow run as its trace file alone tells it."""

    path: Path
    ident: Identity
    tasks: list[Task]
    status: str  # completed or errored
    error: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def find_traces(folder: Path) -> list[Path]:
    """The trace files in ``folder`` and in a ``pipeline_info`` folder under it, by name;
    files whose header is not a trace header (reports, timelines) are left out."""
    found = {
        path
        for where in (folder, folder / "pipeline_info")
        for pattern in _PATTERNS
        for path in where.glob(pattern)
        if path.is_file() and _is_trace(path)
    }
    return sorted(found)


def _is_trace(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            header = handle.readline(65536).rstrip("\r\n").split("\t")
    except OSError:
        return False
    return bool({"task_id", "hash", "name"} & set(header)) and "status" in header


def read_trace_run(path: Path, run_name: str | None = None) -> TraceRun:
    """The run of one trace file (``TraceError`` for a malformed one)."""
    tasks = tasks_from_trace(path)
    if not tasks:
        raise InvalidInput(f"{path}: a trace file without tasks")
    starts = [t.submitted_at or t.started_at for t in tasks]
    first = min((s for s in starts if s is not None), default=None)
    ends = [end for t in tasks if (end := _end(t)) is not None]
    stamp = first.isoformat(timespec="milliseconds") if first else _content_id(path)
    shown = f"@{first:%Y-%m-%dT%H:%M:%S}" if first else ""
    name = run_name or f"{path.stem}{shown}"
    ident = Identity(name, "", key=f"trace:{path.name[:200]}@{stamp}")
    status, error = run_status(tasks)
    return TraceRun(path, ident, tasks, status, error, first, max(ends, default=first))


def launch_of(run: TraceRun) -> Path | None:
    """The launch dir the trace's work dirs point to: ``X`` for ``X/work/ab/cdef...``
    (Nextflow's default work dir is ``work`` in the launch dir), when every task agrees
    and ``X`` is still there; else None."""
    found = {
        folder.parents[2]
        for task in run.tasks
        if task.recorded_workdir
        and len((folder := Path(task.recorded_workdir)).parents) > 2
        and folder.parent.parent.name == "work"
    }
    only = found.pop() if len(found) == 1 else None
    return only if only is not None and only.is_dir() else None


def _end(task: Task) -> dt.datetime | None:
    if task.finished_at is not None:
        return task.finished_at
    duration = task.metrics.get("duration_ms")
    start = task.submitted_at or task.started_at
    if start is None or not isinstance(duration, int | float):
        return start
    return start + dt.timedelta(milliseconds=duration)


def _content_id(path: Path) -> str:
    """A trace without dates: its header and first row stand for it."""
    with open(path, "rb") as handle:
        head = handle.readline() + handle.readline()
    return hashlib.sha256(head).hexdigest()[:16]


def run_status(tasks: list[Task]) -> tuple[str, str | None]:
    """``errored`` (and why) when the last attempt of a task failed or was aborted. Rows
    come in completion order, so a task's retry follows its failed attempt."""
    last = {task.name: task for task in tasks}
    failed = [
        t
        for t in last.values()
        if t.status != "completed" and t.metrics.get("error_action") != "IGNORE"
    ]
    if not failed:
        return "completed", None
    names = ", ".join(f"{t.name} ({t.status})" for t in failed[:3])
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return "errored", f"{len(failed)} task(s) did not complete: {names}{more}"


def workflow_run(run: TraceRun, pipeline: str | None) -> tuple[tl.Run, bool]:
    """The workflow run of a trace (created, and closed with its outcome, the first time)."""
    existing = tl.Run.filter(reference=run.ident.reference, engine=ENGINE).first()
    if existing is not None:
        return existing, False
    transform = transform_for({"project": pipeline or PIPELINE})
    created = adapters.start_run(
        transform.key,
        "pipeline",
        transform=transform,
        engine=ENGINE,
        reference=run.ident.reference,
        name=run.ident.run_name,
        started_at=run.started_at,
    )
    adapters.annotate(created, {"trace_file": str(run.path.absolute())}, create_features=True)
    adapters.finish_run(
        created, run.status, error=run.error, finished_at=run.finished_at or run.started_at
    )
    return created, True


def trace_files(trace: Path) -> Iterator[Path]:
    """``trace`` itself, or every trace file in the folder ``trace``."""
    if trace.is_dir():
        found = find_traces(trace)
        if not found:
            raise InvalidInput(f"no Nextflow trace files in {trace}")
        yield from found
    elif trace.is_file():
        yield trace
    else:
        raise InvalidInput(f"trace file not found: {trace}")
