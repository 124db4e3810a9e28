"""Registering finished jobs in bulk: outputs, logs, inputs, features, final status.

A batch of jobs costs a handful of statements: one ``tl.save`` for every file the batch
wrote (hashed in parallel where it pays, content-addressed, idempotent per key and
content, so an unchanged output is no new version), one ``annotate_many`` for the
outputs' wildcard features and one for the job runs' features, then per job an update of
its run and one insert of its inputs.
"""

from __future__ import annotations  # annotations name models: do not load them

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import threadline as tl
from threadline.errors import InvalidInput

from ._events import JobInfo
from ._files import Reported, absolute, output_key, split_query

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
    temp_outputs: bool = False  # some outputs are temp(): register them without delay
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
    produced: dict[str, tuple[tl.Artifact, tl.Run]] = field(default_factory=dict)


@dataclass
class _File:
    job: JobState
    role: str  # "output", "log" or "benchmark"
    path: str
    artifact: tl.Artifact


def register(batch: Batch, jobs: list[JobState]) -> None:
    files = _save_files(batch, jobs)
    outputs = [(f.artifact, dict(f.job.info.wildcards)) for f in files
               if f.role != "log" and f.job.info.wildcards and f.artifact.run_id == f.job.run.id]
    outputs += _claim_storage_outputs(batch, jobs)
    if outputs:
        _annotate(outputs)
    logs = {id(f.job): f.artifact for f in reversed(files) if f.role == "log"}
    for job in jobs:
        _finish(batch, job, logs.get(id(job)))
    _annotate([(job.run, _run_features(job)) for job in jobs])
    for job in jobs:
        _link_inputs(batch, job)


def _annotate(items: list[tuple[Any, dict[str, Any]]]) -> None:
    """Features for a batch; a value that does not fit an existing feature (a wildcard
    named like a feature of another dtype) costs the annotations, not the batch."""
    try:
        tl.adapters.annotate_many(items, create_features=True)
    except InvalidInput as exc:
        log.warning("threadline: features not recorded for a batch of Snakemake jobs: %s",
                    exc)


def _run_features(job: JobState) -> dict[str, Any]:
    values = job.info.features()
    if "shellcmd" in values:
        values["shellcmd"] = tl.adapters.redact(values["shellcmd"])
    if job.attempt > 1:
        values["attempt"] = job.attempt
    return values


def _local_files(batch: Batch, job: JobState) -> list[tuple[str, str, str | None]]:
    """(role, absolute path, key) of the job's files that exist now."""
    wanted: list[tuple[str, Reported]] = []
    if job.status == "completed":
        wanted += [("output", o) for o in job.info.outputs]
        if job.info.benchmark is not None:
            wanted.append(("benchmark", job.info.benchmark))
    if batch.options.capture_logs:
        wanted += [("log", o) for o in job.info.logs]
    found = []
    for role, reported in wanted:
        if reported.is_storage or reported.is_special:
            continue
        path = absolute(reported.name, batch.workdir)
        if os.path.isfile(path) or os.path.isdir(path):  # temp() files may be gone already
            found.append((role, path, output_key(path, batch.workdir, batch.options.key_prefix)))
    return found


def _save_files(batch: Batch, jobs: list[JobState]) -> list[_File]:
    files = [_File(job, role, path, tl.Artifact(path, key=key, run=job.run))
             for job in jobs for role, path, key in _local_files(batch, job)]
    if not files:
        return []
    try:
        tl.save([f.artifact for f in files])
    except Exception:  # one bad file must not cost the batch: job by job
        log.debug("bulk save failed; saving job by job", exc_info=True)
        files = _save_each(batch, jobs)
    for f in files:
        if f.role == "output":
            batch.produced[f.path] = (f.artifact, f.job.run)
    return files


def _save_each(batch: Batch, jobs: list[JobState]) -> list[_File]:
    saved = []
    for job in jobs:
        files = [_File(job, role, path, tl.Artifact(path, key=key, run=job.run))
                 for role, path, key in _local_files(batch, job)]
        try:
            tl.save([f.artifact for f in files])
        except Exception as exc:  # recorded on the run instead
            log.warning("threadline: could not save the files of %s: %s", job.info.name, exc)
            job.error = job.error or f"threadline could not save its files: {exc}"
            continue
        saved += files
    return saved


def _claim_storage_outputs(batch: Batch, jobs: list[JobState]) -> list[tuple[Any, dict[str, Any]]]:
    """Outputs the storage plugin saved (``store_object`` knows no job): the job's run
    becomes their creator, unless the content was saved before (no new version)."""
    claimed = []
    for job in jobs:
        if job.status != "completed":
            continue
        for reported in job.info.outputs:
            artifact = _storage_artifact(reported)
            if artifact is None:
                continue
            if artifact.run_id is None:
                artifact.run = job.run
                artifact.save(only=[tl.Artifact.run])
            batch.produced[f"storage:{artifact.key}"] = (artifact, job.run)
            if job.info.wildcards and artifact.run_id == job.run.id:
                claimed.append((artifact, dict(job.info.wildcards)))
    return claimed


def _storage_artifact(reported: Reported) -> tl.Artifact | None:
    """The artifact behind a threadline storage file (``threadline://key``, or a bare
    key from ``--default-storage-provider threadline``); None for other storage."""
    if not reported.is_storage or ("://" in reported.name
                                   and not reported.name.startswith("threadline://")):
        return None
    key, version = split_query(reported.name)
    query = tl.Artifact.filter(key=key, visibility__ne="trash")
    query = query.filter(version=version) if version else query.filter(is_latest=True)
    return query.first()  # type: ignore[no-any-return]


def _finish(batch: Batch, job: JobState, log_artifact: tl.Artifact | None) -> None:
    """Close the job's run, unless it was written closed and nothing changed since."""
    fields: dict[str, Any] = {}
    if log_artifact is not None:
        fields["logs"] = log_artifact
    traceback = _log_tail(batch, job) if job.status == "errored" else None
    if job.run.status == job.status and not fields and not traceback \
            and job.run.error == job.error:
        return
    tl.adapters.finish_run(job.run, job.status, error=job.error, traceback=traceback,
                           finished_at=job.finished_at, **fields)


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


def _link_inputs(batch: Batch, job: JobState) -> None:
    """Link the job's inputs: files made in this invocation (and their runs as
    upstream), threadline storage keys, and other files found by content."""
    known: dict[int, tl.Artifact] = {}
    upstream: dict[int, tl.Run] = {}
    unknown: list[str] = []
    for reported in job.info.inputs:
        if reported.is_storage:
            key = split_query(reported.name)[0]
            made = batch.produced.get(f"storage:{key}")
            artifact = made[0] if made else _storage_artifact(reported)
        else:
            path = absolute(reported.name, batch.workdir)
            made = batch.produced.get(path)
            artifact = made[0] if made else None
            if made is None and (os.path.isfile(path) or os.path.isdir(path)):
                unknown.append(path)
        if artifact is not None:
            known[artifact.id] = artifact
        if made is not None and made[1].id != job.run.id:
            upstream[made[1].id] = made[1]
    if known or unknown:
        tl.adapters.link_inputs(job.run, artifacts=list(known.values()), paths=unknown,
                                register_unknown=batch.options.register_unknown_inputs)
    for run in upstream.values():
        tl.adapters.link_runs(run, job.run)
