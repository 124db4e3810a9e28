"""Weblog events (``-with-weblog``) applied to threadline, idempotently.

``started`` records the pipeline transform and the workflow run; ``process_submitted``,
``process_started`` and ``process_completed`` a child run per task (its ``reference`` is
the task hash); ``error`` and ``completed`` the workflow's outcome. A status ladder
(scheduled < started < final) makes duplicated, replayed and late events change nothing.
Task events that arrive before their run's ``started`` wait until it (or ``completed``)
arrives.
"""

import datetime as dt
import logging
import threading
from typing import Any

import threadline as tl
from threadline import adapters

from ._pipeline import transform_for
from ._tasks import FLOATS, METRIC_NAMES, task_features
from ._trace import NO_EXIT, split_name
from ._validate import check_event, java_date
from ._workdir import task_hash

log = logging.getLogger(__name__)
ENGINE = "nextflow"
TASK_STATUS = {
    "NEW": "scheduled",
    "SUBMITTED": "scheduled",
    "RUNNING": "started",
    "COMPLETED": "completed",
    "CACHED": "completed",
    "FAILED": "errored",
    "ABORTED": "aborted",
}
RANK = {"scheduled": 0, "started": 1, "completed": 2, "errored": 2, "aborted": 2}
MAX_PENDING = 100_000
FINAL = ("completed", "errored", "aborted")


class EventHandler:
    """Applies events in the order given; safe to call from one thread at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.run_names: list[str] = []  # runs seen, in order
        self._features: dict[int, tuple[tl.Run, dict[str, Any]]] = {}
        self._workflows: dict[str, tl.Run] = {}  # by reference
        self._tasks: dict[int, dict[str, tl.Run]] = {}  # workflow id -> reference -> run
        self._transforms: dict[str, tl.Transform] = {}

    def _find(self, reference: str) -> tl.Run | None:
        """The workflow run with this reference, looked up once, then cached."""
        if reference not in self._workflows:
            found = tl.Run.filter(reference=reference, engine=ENGINE).first()
            if found is None:
                return None
            self._workflows[reference] = found
        return self._workflows[reference]

    def _task_runs(self, workflow: tl.Run) -> dict[str, tl.Run]:
        """The workflow's task runs by reference: loaded in one query, then kept current."""
        if workflow.id not in self._tasks:
            self._tasks[workflow.id] = {r.reference: r for r in tl.Run.filter(parent=workflow)}
        return self._tasks[workflow.id]

    def _forget(self) -> None:
        """Drop what this handler remembers of the database (after a rollback)."""
        self._workflows, self._tasks, self._transforms = {}, {}, {}

    def apply(self, event: dict[str, Any]) -> None:
        self.apply_many([event])

    def apply_many(self, events: list[dict[str, Any]]) -> None:
        """Apply events in order, in one transaction (one commit for the batch); task
        features are written once, at the end. If any event fails, nothing of the batch
        is kept, in the database or in this handler's memory."""
        with self.lock:
            pending = {name: list(held) for name, held in self.pending.items()}
            run_names = list(self.run_names)
            try:
                with adapters.transaction():
                    for event in events:
                        self._one(check_event(event))
                    features, self._features = list(self._features.values()), {}
                    adapters.annotate_records(features, create_features=True)
            except BaseException:
                self._forget()  # rows (and changes) of the batch were rolled back
                self._features, self.pending, self.run_names = {}, pending, run_names
                raise

    def _one(self, event: dict[str, Any]) -> None:
        reference = f"{event['runId']}/{event['runName']}"
        if event["runName"] not in self.run_names:
            self.run_names.append(event["runName"])
        workflow = self._find(reference)
        if workflow is None and event.get("metadata") is None:
            self._hold(reference, event)
            return
        if workflow is None:
            workflow = self._workflow(reference, event)
            self._workflows[reference] = workflow
        for waiting in [*self.pending.pop(reference, []), event]:
            self._apply(workflow, waiting)

    def _hold(self, reference: str, event: dict[str, Any]) -> None:
        waiting = self.pending.setdefault(reference, [])
        if sum(len(v) for v in self.pending.values()) >= MAX_PENDING:
            log.warning("weblog: dropped an event of %s: too many waiting", reference)
            return
        waiting.append(event)

    def _apply(self, workflow: tl.Run, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind.startswith("process_") or (kind == "error" and event.get("trace")):
            self._task(workflow, event["trace"])
        if kind == "completed":
            self._completed(workflow, event.get("metadata") or {})
        elif kind == "error" and workflow.status not in FINAL:
            adapters.update_run(workflow, error=_error_text(event))

    def _workflow(self, reference: str, event: dict[str, Any]) -> tl.Run:
        meta = event.get("metadata") or {}
        info = meta.get("workflow") or {}
        manifest = info.get("manifest") or {}
        found = {
            "repository": info.get("repository"),
            "commit": info.get("commitId"),
            "revision": info.get("revision"),
            "script_id": info.get("scriptId"),
            "project": manifest.get("name") or info.get("projectName"),
        }
        transform = transform_for(found, info.get("commandLine"))
        run = adapters.start_run(
            transform.key,
            "pipeline",
            transform=transform,
            engine=ENGINE,
            reference=reference,
            name=event["runName"],
            params=meta.get("parameters") or None,
            started_at=java_date(info.get("start")),
            user=info.get("userName"),
        )
        values = {
            "session_id": event["runId"],
            "script_id": info.get("scriptId"),
            "revision": info.get("revision"),
            "nextflow_version": (info.get("nextflow") or {}).get("version"),
            "command_line": adapters.redact(info.get("commandLine") or "") or None,
        }
        adapters.annotate(run, {k: v for k, v in values.items() if v}, create_features=True)
        return run

    def _completed(self, workflow: tl.Run, meta: dict[str, Any]) -> None:
        if workflow.status in FINAL:
            return
        info = meta.get("workflow") or {}
        if meta.get("parameters") and not workflow.params:
            adapters.update_run(workflow, params=meta["parameters"])
        status = "completed" if info.get("success") else "errored"
        adapters.finish_run(
            workflow,
            status,
            error=info.get("errorMessage") or None,
            finished_at=java_date(info.get("complete")),
        )

    def _task(self, workflow: tl.Run, trace: dict[str, Any]) -> None:
        workdir = trace.get("workdir")
        digest = task_hash(workdir) if workdir else str(trace.get("hash"))
        status = TASK_STATUS.get(str(trace.get("status")), "started")
        runs = self._task_runs(workflow)
        run = runs.get(digest)
        if run is not None and RANK.get(run.status, 2) >= RANK[status]:
            return  # a duplicate or a late event: nothing new
        values = weblog_features(trace, digest)
        if run is None:  # created in the state the event reports: one INSERT
            run = runs[digest] = self._new_task(workflow, digest, trace, status)
            values["files_recorded"] = False  # ingest registers its files later
        else:
            started = java_date(trace.get("start")) or run.started_at
            if RANK[status] < 2:
                adapters.update_run(run, status=status, started_at=started)
            else:
                adapters.finish_run(run, status, started_at=started, **_outcome(trace, status))
        earlier = self._features.get(run.id, (run, {}))[1]
        self._features[run.id] = (run, _merged(earlier, values))

    def _new_task(
        self, workflow: tl.Run, digest: str, trace: dict[str, Any], status: str
    ) -> tl.Run:
        name = str(trace.get("name") or trace.get("process") or digest)
        process = trace.get("process") or split_name(name)[0] or name
        key = f"{workflow.transform.key}/{process}"
        if key not in self._transforms:
            self._transforms[key] = adapters.get_transform(key, "process")
        return adapters.start_run(
            key,
            "process",
            transform=self._transforms[key],
            engine=ENGINE,
            reference=digest,
            parent=workflow,
            name=name,
            status=status,
            started_at=java_date(trace.get("start")) or java_date(trace.get("submit")),
            **(_outcome(trace, status) if RANK[status] >= 2 else {}),
        )


def _outcome(trace: dict[str, Any], status: str) -> dict[str, Any]:
    """``error`` and ``finished_at`` of a task that ended with ``status``."""
    error = f"exit status {trace.get('exit')}" if status == "errored" else None
    finished = java_date(trace.get("complete")) or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return {"error": error, "finished_at": finished}


def weblog_features(trace: dict[str, Any], digest: str) -> dict[str, Any]:
    """The same features ingest records, from a weblog trace (raw numbers already)."""
    exit_status = trace.get("exit")
    name = str(trace.get("name") or "")
    facts: dict[str, Any] = {
        "hash": digest,
        "task_id": _text(trace.get("task_id")),
        "native_id": _text(trace.get("native_id")),
        "workdir": trace.get("workdir"),
    }
    for field, name_ in METRIC_NAMES.items():  # numbers checked by _validate.check_trace
        value = trace.get(field)
        if value is not None and not isinstance(value, list | dict):
            facts[name_] = float(value) if name_ in FLOATS else value
    return task_features(
        {
            "process": trace.get("process") or split_name(name)[0],
            "tag": trace.get("tag") or split_name(name)[1],
            "exit": None if exit_status == NO_EXIT else exit_status,
            "attempt": trace.get("attempt"),
        },
        facts,
    )


def _merged(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Features of two events of one task: the later wins, trace dicts merge by key."""
    merged = {**earlier, **later}
    if "trace" in earlier and "trace" in later:
        merged["trace"] = {**earlier["trace"], **later["trace"]}
    return merged


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _error_text(event: dict[str, Any]) -> str:
    trace = event.get("trace") or {}
    return f"task {trace.get('name')} failed" if trace else "the workflow failed"
