"""One list of tasks for a run, merged from the trace file, the lineage store and the log.

Precedence: trace rows (every attempt, cached tasks, status and metrics), else lineage
TaskRuns (identity and inputs only, written for completed tasks), else the
``Task completed`` lines of ``.nextflow.log``. Work dirs add exit codes and metrics
where the others lack them.
"""

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._history import LoggedTask
from ._lineage import LineageStore, Record
from ._trace import TraceRecord, iter_trace, read_columns, split_name
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

    @property
    def process(self) -> str:  # read for each batch's transforms, fields and features
        return self._name_parts()[0]

    @property
    def tag(self) -> str | None:
        return self._name_parts()[1]

    def _name_parts(self) -> tuple[str, str | None]:
        """The process and the tag, split from the name once."""
        parts: tuple[str, str | None] | None = self.__dict__.get("_parts")
        if parts is None:
            process, tag = split_name(self.name)
            parts = self.__dict__["_parts"] = (process or self.name, tag)
        return parts

    def features(self) -> dict[str, Any]:
        """``task_features`` of this task, built directly (once per task of an ingest)."""
        process, tag = self._name_parts()
        values: dict[str, Any] = {"process": process}
        if tag is not None:
            values["tag"] = tag
        if self.exit_status is not None:
            values["exit"] = self.exit_status
        if self.attempt is not None:
            values["attempt"] = self.attempt
        facts: dict[str, Any] = {"hash": self.hash}
        if self.task_id is not None:
            facts["task_id"] = self.task_id
        if self.native_id is not None:
            facts["native_id"] = self.native_id
        facts["cached"] = self.cached
        if self.workdir is not None:
            facts["workdir"] = str(self.workdir.path)
        facts.update(self.metrics)
        if None in facts.values():
            facts = {k: v for k, v in facts.items() if v is not None}
        values["trace"] = facts
        return values


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


def tasks_from_trace(path: Path) -> list[Task]:
    """The tasks of a trace file, in file order: ``from_trace`` of each row, built from
    whole columns (``read_columns``); a file that is not well-formed is read row by row
    by ``iter_trace``, which says where it is not."""
    found = read_columns(path)
    if found is None:
        return [from_trace(row) for row in iter_trace(path)]
    header, values = found
    columns = dict(zip(header, values, strict=True))  # a repeated field: the last one
    nothing: list[Any] = [None] * (len(values[0]) if values else 0)
    name, process, tag, workdir, digest, state, start, submit = (
        columns.get(field, nothing)
        for field in ("name", "process", "tag", "workdir", "hash", "status", "start", "submit")
    )
    if None in name:
        name = [str(n or _name(p, t)) for n, p, t in zip(name, process, tag, strict=True)]
    if workdir is not nothing or None in digest:
        digest = [task_hash(w) if w else str(h) for w, h in zip(workdir, digest, strict=True)]
    kinds = {s: str(s or "COMPLETED") for s in set(state)}
    statuses = {s: STATUS.get(kind, "errored") for s, kind in kinds.items()}
    start = submit if start is nothing else [a or b for a, b in zip(start, submit, strict=True)]
    return list(
        map(  # Task's fields in their order (text columns are str or None, as _text makes)
            Task,
            name,
            digest,
            columns.get("task_id", nothing),
            columns.get("native_id", nothing),
            [statuses[s] for s in state],
            columns.get("exit", nothing),
            columns.get("attempt", nothing),
            [kinds[s] == "CACHED" for s in state],
            start,
            columns.get("complete", nothing),
            _metrics(columns, len(nothing)),
            nothing,  # workdir: attach() finds it
            nothing,  # lineage
            submit,
            workdir,
        )
    )


def _metrics(columns: dict[str, list[Any]], count: int) -> list[dict[str, Any]]:
    """Each row's metrics (``from_trace``'s: present ones, percentages as floats)."""
    names, metrics = _metric_columns(columns)
    if not metrics:
        return [{} for _ in range(count)]
    rows = zip(*metrics, strict=True)
    if any(None in column for column in metrics):
        return [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in rows]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _metric_columns(columns: dict[str, list[Any]]) -> tuple[list[str], list[list[Any]]]:
    """The metrics' names and columns (``from_trace``'s, percentages as floats)."""
    names = [METRIC_NAMES[k] for k in columns if k in METRIC_NAMES]
    metrics = [
        [float(v) if v is not None else None for v in columns[k]]
        if METRIC_NAMES[k] in FLOATS
        else columns[k]
        for k in columns
        if k in METRIC_NAMES
    ]
    return names, metrics


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
