"""One list of tasks for a run, merged from the trace file, the lineage store and the log.

Precedence: trace rows (every attempt, cached tasks, status and metrics), else lineage
TaskRuns (identity and inputs only, written for completed tasks), else the
``Task completed`` lines of ``.nextflow.log``. Work dirs add exit codes and metrics
where the others lack them.
"""

import datetime as dt
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._history import LoggedTask
from ._lineage import LineageStore, Record
from ._trace import TraceRecord, split_name
from ._workdir import WorkDir, find_workdir, read_workdir, task_hash

STATUS = {
    "COMPLETED": "completed",
    "CACHED": "completed",
    "FAILED": "errored",
    "ABORTED": "aborted",
}
# trace fields that become run features, under these names
METRIC_NAMES = {
    "realtime": "realtime_ms",
    "duration": "duration_ms",
    "%cpu": "cpu_percent",
    "%mem": "mem_percent",
    "rss": "rss",
    "vmem": "vmem",
    "peak_rss": "peak_rss",
    "peak_vmem": "peak_vmem",
    "rchar": "rchar",
    "wchar": "wchar",
    "syscr": "syscr",
    "syscw": "syscw",
    "read_bytes": "read_bytes",
    "write_bytes": "write_bytes",
    "vol_ctxt": "vol_ctxt",
    "inv_ctxt": "inv_ctxt",
    "cpus": "cpus",
    "memory": "memory",
    "disk": "disk",
    "time": "time_ms",
    "queue": "queue",
    "container": "container",
    "hostname": "hostname",
    "cpu_model": "cpu_model",
    "module": "module",
    "error_action": "error_action",
    "accelerator": "accelerator",
    "accelerator_type": "accelerator_type",
    "scratch": "scratch",
}
FLOATS = ("cpu_percent", "mem_percent")


@dataclass
class Task:
    """A task attempt as threadline records it (a child run of the workflow run)."""

    name: str
    hash: str  # the full 32-hex hash when known, else the trace's ``ab/cdef12``
    task_id: str | None = None
    native_id: str | None = None
    status: str = "completed"
    exit_status: int | None = None
    attempt: int | None = None
    cached: bool = False
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    workdir: WorkDir | None = None
    lineage: Record | None = None
    submitted_at: dt.datetime | None = None
    recorded_workdir: str | None = None  # the trace's ``workdir`` field

    @property
    def reference(self) -> str:
        """The task run's ``reference``: the full hash, else the trace's short hash with the
        task id (8 hex digits collide in runs of about 100,000 tasks)."""
        if len(self.hash) == 32 or self.task_id is None:
            return self.hash
        return f"{self.hash}#{self.task_id}"

    @functools.cached_property
    def process(self) -> str:  # read for each batch's transforms, fields and features
        return split_name(self.name)[0] or self.name

    @functools.cached_property
    def tag(self) -> str | None:
        return split_name(self.name)[1]

    def features(self) -> dict[str, Any]:
        return task_features(
            {
                "process": self.process,
                "tag": self.tag,
                "exit": self.exit_status,
                "attempt": self.attempt,
            },
            {
                "hash": self.hash,
                "task_id": self.task_id,
                "native_id": self.native_id,
                "cached": self.cached,
                "workdir": str(self.workdir.path) if self.workdir else None,
                **self.metrics,
            },
        )


def task_features(scalars: dict[str, Any], trace: dict[str, Any]) -> dict[str, Any]:
    """A task run's features: the few that filters use most (process, tag, exit, attempt)
    as their own values, and the other facts of its trace record (hash, ids, cached, work
    dir, metrics) in one ``trace`` dict, queried as ``trace__peak_rss__gt=...``: one
    stored value per task instead of one per metric, which is what lets 100,000 tasks
    ingest in seconds."""
    values = {k: v for k, v in scalars.items() if v is not None}
    facts = {k: v for k, v in trace.items() if v is not None}
    if facts:
        values["trace"] = facts
    return values


def from_trace(row: TraceRecord) -> Task:
    values = row.fields
    status = str(values.get("status") or "COMPLETED")
    workdir = values.get("workdir")
    metrics = {METRIC_NAMES[k]: v for k, v in values.items() if k in METRIC_NAMES and v is not None}
    for name in FLOATS:
        if name in metrics:
            metrics[name] = float(metrics[name])
    name = values.get("name") or _name(values.get("process"), values.get("tag"))
    return Task(
        name=str(name),
        hash=task_hash(workdir) if workdir else str(values.get("hash")),
        task_id=_text(values.get("task_id")),
        native_id=_text(values.get("native_id")),
        status=STATUS.get(status, "errored"),
        exit_status=values.get("exit"),
        attempt=values.get("attempt"),
        cached=status == "CACHED",
        started_at=values.get("start") or values.get("submit"),
        finished_at=values.get("complete"),
        metrics=metrics,
        submitted_at=values.get("submit"),
        recorded_workdir=workdir,
    )


def from_lineage(record: Record) -> Task:
    return Task(name=str(record.spec.get("name") or record.key), hash=record.key, lineage=record)


def from_log(line: LoggedTask) -> Task:
    return Task(
        name=line.name,
        hash=task_hash(line.workdir),
        task_id=line.task_id,
        status=STATUS.get(line.status, "errored"),
        exit_status=line.exit_status,
    )


def attach(tasks: list[Task], work: Path, store: LineageStore | None) -> None:
    """Add work-dir facts and lineage records to tasks (full hashes where found)."""
    has_work = work.is_dir()
    for task in tasks:
        folder = find_workdir(work, task.hash) if has_work else None
        if folder is None and task.recorded_workdir and os.path.isdir(task.recorded_workdir):
            folder = Path(task.recorded_workdir)  # where the trace says it ran, if still there
        if folder is not None:
            task.workdir = read_workdir(folder)
            task.hash = task.workdir.task_hash
            if task.exit_status is None and not task.cached:
                task.exit_status = task.workdir.exit_status
            for key, value in task.workdir.metrics:
                name = METRIC_NAMES.get(key)
                if name is not None:
                    task.metrics.setdefault(name, float(value) if name in FLOATS else value)
        if store is not None and task.lineage is None:
            task.lineage = store.records.get(task.hash)


def short_hash(reference: str) -> str:
    """The trace's ``ab/cdef12`` form of a task run reference (full, short or with an id)."""
    flat = reference.split("#")[0].replace("/", "")
    return f"{flat[:2]}/{flat[2:8]}"


def _name(process: Any, tag: Any) -> str:
    return f"{process} ({tag})" if tag else str(process)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
