"""Registering finished jobs in bulk: outputs, logs, inputs, features, final status.

A batch of jobs costs a handful of statements. First the file work, outside any
transaction: one ``tl.save`` for every file the batch wrote (hashed in parallel where it
pays, content-addressed, idempotent per key and content, so an unchanged output is no new
version), one query for the threadline storage files the jobs wrote or read, and per job
with unknown input files one ``link_inputs`` (hashed, registered by content). Then one
short transaction: one ``claim_outputs`` making jobs the creators of what they stored, one
``annotate_records`` for the outputs' wildcard features and one for the job runs' features,
per job an update of its run and one insert of its inputs, one insert of the run links.
"""

from __future__ import annotations  # annotations name models: do not load them

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from ._events import JobInfo
from ._files import SCHEME, Reported, absolute, reference, split_query
from ._inputs import Made, resolve_local_inputs
from ._outputs import save_files
from ._witness import Witness

log = logging.getLogger("threadline.snakemake")
LOG_TAIL = 4000  # characters of a failed job's log kept as its traceback


@dataclass(frozen=True)
class Options:
    """The logger's settings, resolved."""

    db: str | None = None
    storage: str | None = None
    key_prefix: str | None = None
    project: str | None = None
    register_unknown_inputs: bool = True
    capture_logs: bool = True


@dataclass
class JobState:
    info: JobInfo
    run: tl.Run = None  # type: ignore[assignment]  # written with the first batch after
    params: dict[str, Any] | None = None
    attempt: int = 1
    tries: int = 0  # batches that failed to record the job (it is retried, then dropped)
    temp_outputs: bool = False  # some outputs are temp(): register them without delay
    unverified: list[str] = field(default_factory=list)  # inputs whose content is unknown
    status: str = "started"
    finished_at: dt.datetime | None = None
    error: str | None = None

    def outputs_present(self, workdir: str) -> bool:
        local = [o for o in self.info.outputs if not o.is_storage and not o.is_special]
        return all(os.path.exists(absolute(o.name, workdir)) for o in local)


@dataclass
class Batch:
    """What registration needs across batches: where, how, and what was made so far."""

    workdir: str
    options: Options
    pipeline: tl.Run
    witness: Witness
    produced: dict[str, list[Made]] = field(default_factory=dict)  # by path or storage key
    run_starts: dict[int, dt.datetime] = field(default_factory=dict)  # job runs' starts
    written: set[str] = field(default_factory=set)  # paths jobs of this invocation write

    def scheduled(self, info: JobInfo) -> None:
        """Note the paths a job will write (not ``update()`` ones: read first)."""
        for reported in info.outputs:
            if not (reported.is_storage or reported.is_special or "update" in reported.labels):
                self.written.add(absolute(reported.name, self.workdir))

    def made(self, where: str, artifact: tl.Artifact, job: JobState) -> None:
        self.produced.setdefault(where, []).append(Made(artifact, job.run, job.finished_at))


Failed = list[tuple[Any, Exception]]  # what could not be written, and why


def register(batch: Batch, jobs: list[JobState]) -> Failed:
    """Register finished jobs; returns the jobs that could not be recorded (for a retry).

    The file work comes first, outside any transaction (outputs hashed and stored by
    ``tl.save``, unknown inputs hashed and registered by ``link_inputs``, failed jobs'
    logs read), so the database's write lock is never held while files are read; then
    one short transaction writes the rest of the batch.
    """
    try:
        plans, failed = _prepare(batch, jobs)
    except Exception as exc:  # a batch-wide lookup failed: the whole batch waits
        return [(job, exc) for job in jobs]
    failed += [(plan.job, exc) for plan, exc in in_transactions(plans, _record, _reload_runs)]
    return failed


def in_transactions(
    items: list[Any], write: Callable[[list[Any]], None], undo: Callable[[list[Any]], None]
) -> Failed:
    """``write`` the items in one transaction; should it fail, each in a transaction of
    its own, so that one bad item costs only itself. ``undo`` forgets in memory what a
    rolled-back transaction wrote. Returns the items that failed, with their errors."""
    if not items:
        return []
    try:
        with adapters.transaction():
            write(items)
        return []
    except Exception as exc:
        undo(items)
        if len(items) == 1:
            return [(items[0], exc)]
        log.debug("writing a batch failed; writing item by item", exc_info=True)
    failed = []
    for item in items:
        try:
            with adapters.transaction():
                write([item])
        except Exception as exc:
            undo([item])
            failed.append((item, exc))
    return failed


@dataclass
class _Plan:
    """What the transaction writes for one job, found before it starts."""

    job: JobState
    outputs: list[tuple[tl.Artifact, dict[str, Any]]] = field(default_factory=list)
    claims: list[tl.Artifact] = field(default_factory=list)  # stored, no creator yet
    log: tl.Artifact | None = None
    traceback: str | None = None
    inputs: dict[int, tl.Artifact] = field(default_factory=dict)
    upstream: dict[int, tl.Run] = field(default_factory=dict)


def _prepare(batch: Batch, jobs: list[JobState]) -> tuple[list[_Plan], Failed]:
    plans = {id(job): _Plan(job) for job in jobs}
    failed, deferred = _plan_local_inputs(batch, list(plans.values()), _coming(batch, jobs))
    files = save_files(batch, jobs)
    storage = adapters.resolve_references(_storage_references(jobs))
    for f in files:
        plan = plans[id(f.job)]
        if f.role == "log":
            plan.log = f.artifact if plan.log is None else plan.log  # the first log
        elif f.job.info.wildcards and f.artifact.run_id == f.job.run.id:
            plan.outputs.append((f.artifact, dict(f.job.info.wildcards)))
    for plan in plans.values():
        _plan_storage_outputs(batch, plan, storage)
    for plan in plans.values():
        if plan.job.status == "errored":
            plan.traceback = _log_tail(batch, plan.job)
        try:
            _plan_inputs(batch, plan, storage)
        except Exception as exc:  # a file gone in between, an unreadable one: retried later
            failed.append((plan.job, exc))
    failed += _plan_local_inputs(batch, [plans[id(job)] for job in deferred], None)[0]
    done = {id(job) for job, _ in failed}
    return [p for p in plans.values() if id(p.job) not in done], failed


def _coming(batch: Batch, jobs: list[JobState]) -> set[tuple[str, str]]:
    """(path, hash) of the outputs this batch will save, as their jobs left them; (path,
    "") for those of jobs that reported no end (their content was not noted)."""
    coming: set[tuple[str, str]] = set()
    for job in jobs:
        if job.status != "completed":
            continue
        with batch.witness.seen_lock:
            noted = batch.witness.seen.outputs.get(job.info.jobid)
        if noted is not None:
            coming.update(noted.items())
        else:
            coming.update((absolute(o.name, batch.workdir), "") for o in job.info.outputs)
    return coming


def _plan_local_inputs(
    batch: Batch, plans: list[_Plan], coming: set[tuple[str, str]] | None
) -> tuple[Failed, list[JobState]]:
    """Local inputs resolved for the whole batch, should that fail job by job; returns
    the jobs that failed and those with inputs left until the batch's outputs are saved."""
    groups, failed, deferred = [plans], [], []  # type: ignore[var-annotated]
    try:
        resolved = [resolve_local_inputs(batch, [p.job for p in plans], coming=coming)]
    except Exception:
        log.debug("resolving a batch's inputs failed; job by job", exc_info=True)
        groups, resolved = [], []
        for plan in plans:
            try:
                resolved.append(resolve_local_inputs(batch, [plan.job], coming=coming))
                groups.append([plan])
            except Exception as exc:
                failed.append((plan.job, exc))
    for group, found in zip(groups, resolved, strict=True):
        deferred += {id(job): job for job in found.deferred}.values()
        for plan in group:
            for artifact in found.inputs.get(id(plan.job), ()):
                plan.inputs[artifact.id] = artifact
            for run in found.upstream.get(id(plan.job), ()):
                plan.upstream[run.id] = run
            for path in found.unverified.get(id(plan.job), ()):
                name = os.path.relpath(path, batch.workdir)
                if name not in plan.job.unverified:
                    plan.job.unverified.append(name)
    return failed, deferred


def _record(plans: list[_Plan]) -> None:
    """The database writes of a batch (inside one transaction)."""
    claims = [(artifact, plan.job.run) for plan in plans for artifact in plan.claims]
    if claims:
        adapters.claim_outputs(claims)
    outputs = [item for plan in plans for item in plan.outputs]
    if outputs:
        _annotate(outputs)
    for plan in plans:
        _finish(plan)
    _annotate([(plan.job.run, _run_features(plan.job)) for plan in plans])
    for plan in plans:
        if plan.inputs:
            adapters.link_inputs(plan.job.run, artifacts=list(plan.inputs.values()))
    pairs = [(run, plan.job.run) for plan in plans for run in plan.upstream.values()]
    if pairs:
        adapters.link_runs(pairs)


def _reload_runs(plans: list[_Plan]) -> None:
    """After a rollback, the runs as the database has them (not as ``finish_run`` left
    them in memory), so that a retry writes them again."""
    ids = [plan.job.run.id for plan in plans]
    fresh = {run.id: run for run in tl.Run.filter(id__in=ids)}
    for plan in plans:
        plan.job.run = fresh.get(plan.job.run.id, plan.job.run)


def _annotate(items: list[tuple[Any, dict[str, Any]]]) -> None:
    """Features for a batch; a value that does not fit an existing feature (a wildcard
    named like a feature of another dtype) costs the annotations, not the batch."""
    try:
        adapters.annotate_records(items, create_features=True)
    except InvalidInput as exc:
        log.warning("threadline: features not recorded for a batch of Snakemake jobs: %s", exc)


def _run_features(job: JobState) -> dict[str, Any]:
    values = job.info.features()
    if job.attempt > 1:
        values["attempt"] = job.attempt
    if job.unverified:
        values["unverified_inputs"] = job.unverified
    return values


def _storage_references(jobs: list[JobState]) -> list[str]:
    """``key`` or ``key@N`` of every threadline storage file the jobs wrote or read."""
    reported = [o for job in jobs if job.status == "completed" for o in job.info.outputs]
    reported += [i for job in jobs for i in job.info.inputs]
    reported += [f for job in jobs for f in job.info.logs]
    return [reference(r.name) for r in reported if _is_threadline_storage(r)]


def _is_threadline_storage(reported: Reported) -> bool:
    """``threadline://key``, or a bare key from ``--default-storage-provider
    threadline``; not another plugin's storage."""
    return reported.is_storage and ("://" not in reported.name or reported.name.startswith(SCHEME))


def _plan_storage_outputs(batch: Batch, plan: _Plan, storage: dict[str, tl.Artifact]) -> None:
    """Outputs the storage plugin saved (``store_object`` knows no job): the job's run
    becomes their creator, unless the content was saved before (no new version)."""
    job = plan.job
    if batch.options.capture_logs:  # logs stored by the storage plugin: the job's too
        for reported in job.info.logs:
            artifact = _stored(reported, storage)
            if artifact is not None and artifact.run_id in (None, job.run.id):
                plan.claims += [artifact] if artifact.run_id is None else []
                plan.log = plan.log or artifact
    if job.status != "completed":
        return
    for reported in job.info.outputs:
        artifact = _stored(reported, storage)
        if artifact is None:
            continue
        if artifact.run_id is None:
            plan.claims.append(artifact)
        batch.made(f"storage:{artifact.key}", artifact, job)
        if job.info.wildcards and artifact.run_id in (None, job.run.id):
            plan.outputs.append((artifact, dict(job.info.wildcards)))


def _stored(reported: Reported, storage: dict[str, tl.Artifact]) -> tl.Artifact | None:
    if not _is_threadline_storage(reported):
        return None
    return storage.get(reference(reported.name))


def _finish(plan: _Plan) -> None:
    """Close the job's run, unless it was written closed and nothing changed since."""
    job = plan.job
    fields: dict[str, Any] = {}
    if plan.log is not None:
        fields["logs"] = plan.log
    if (
        job.run.status == job.status
        and not fields
        and not plan.traceback
        and job.run.error == job.error
    ):
        return
    adapters.finish_run(
        job.run,
        job.status,
        error=job.error,
        traceback=plan.traceback,
        finished_at=job.finished_at,
        **fields,
    )


def _log_tail(batch: Batch, job: JobState) -> str | None:
    tails = []
    for reported in job.info.logs:
        path = absolute(reported.name, batch.workdir)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        tails.append(f"{reported.name}:\n{text[-LOG_TAIL:]}")
    return "\n".join(tails) or None


def _plan_inputs(batch: Batch, plan: _Plan, storage: dict[str, tl.Artifact]) -> None:
    """The job's threadline storage inputs: made in this invocation (their runs become
    upstream), else the stored version by key."""
    job = plan.job
    for reported in job.info.inputs:
        if not reported.is_storage:
            continue
        made = batch.produced.get(f"storage:{split_query(reported.name)[0]}")
        artifact = made[-1].artifact if made else storage.get(reference(reported.name))
        if artifact is not None:
            plan.inputs[artifact.id] = artifact
        if made and made[-1].run.id != job.run.id:
            plan.upstream[made[-1].run.id] = made[-1].run
