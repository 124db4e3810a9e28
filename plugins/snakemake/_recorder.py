"""The recorder: Snakemake events in, transforms, runs and artifacts out.

One ``Recorder`` per workflow invocation, fed by the logger plugin from Snakemake's log
listener thread. ``workflow_started`` opens the pipeline run, ``job_info`` a child run per
job, ``job_finished`` queues the job for registration (outputs hashed and saved in bulk,
inputs linked, features written, a batch at a time), ``job_error`` closes it errored with
its log. ``close`` registers what is left, settles jobs that never reported, and ends the
pipeline run: completed, errored, or aborted on an interrupt.
"""

from __future__ import annotations  # annotations name models: do not load them

import datetime as dt
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import threadline as tl
from threadline.errors import InvalidInput

from . import _workflow
from ._events import JobInfo, WorkflowInfo
from ._files import output_key
from ._register import Batch, Failed, JobState, Options, in_transactions, register

log = logging.getLogger("threadline.snakemake")
ENGINE = "snakemake"
BATCH_JOBS = 64  # finished jobs registered together
BATCH_SECONDS = 2.0  # ... or as soon as the oldest has waited this long
MAX_TRIES = 2  # batches a job may fail to be recorded in before it is given up
INTERRUPT = "Terminating processes on user request"
JOB_EXCEPTIONS = ("RuleException",)  # a job's own failure, reported again as job_error
KILLED = re.compile(r"died with <Signals\.SIG(INT|TERM|KILL|HUP)")


@dataclass
class Outcome:
    """How the workflow ended, as far as the events tell."""

    errors: list[str] = field(default_factory=list)  # Snakemake's error messages
    workflow_errors: int = 0  # errors beyond a job's own (a missing input, a bad rule)
    interrupted: bool = False
    failed_jobs: dict[int, str] = field(default_factory=dict)  # whose last attempt failed

    @property
    def failed(self) -> bool:
        return bool(self.failed_jobs or self.workflow_errors)

    def summary(self) -> str:
        if self.failed_jobs:
            names = ", ".join(self.failed_jobs.values())
            return f"{len(self.failed_jobs)} job(s) failed: {names}"
        return self.errors[-1].splitlines()[0] if self.errors else "the workflow failed"


class Recorder:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.lock = threading.RLock()
        self.info: WorkflowInfo | None = None
        self.pipeline: tl.Run | None = None
        self.jobs: dict[int, JobState] = {}
        self.pending: list[JobState] = []  # finished, to register
        self.unstarted: list[JobState] = []  # started, run not written yet
        self.pending_since = 0.0
        self.batch: Batch | None = None
        self.outcome = Outcome()
        self.workflow: Any = None
        self.index = _workflow.JobIndex(None)
        self.transforms: dict[str, tl.Transform] = {}
        self.saved_env: dict[str, str | None] = {}
        self.dryrun = False
        self.parent_uid: str | None = None  # a run that started Snakemake (tl.track())

    # -- workflow ------------------------------------------------------------------------
    def workflow_started(self, info: WorkflowInfo) -> None:
        """Remember the invocation; its run is created with the first job (or at close),
        once Snakemake has settled whether this is a dry run."""
        with self.lock:
            if self.info is None:
                self.info = info
                self.workflow = _workflow.live_workflow()
                self.index = _workflow.JobIndex(self.workflow)
                self._connect()
                self.parent_uid = os.environ.get("THREADLINE_PARENT_RUN")
                self._export_environment(None)

    def _pipeline_run(self) -> tl.Run | None:
        if self.pipeline is not None or self.info is None or self.dryrun:
            return self.pipeline
        if self.workflow is not None and getattr(self.workflow, "dryrun", False):
            self.dryrun = True
            return None
        info = self.info
        snakefile = os.path.abspath(os.path.join(info.workdir, info.snakefile))
        key = (
            self.options.key_prefix
            or output_key(snakefile, info.workdir, None)
            or os.path.basename(snakefile)
        )
        source = _workflow.pipeline_source(self.workflow, snakefile)
        self.pipeline = tl.adapters.start_run(
            key,
            "pipeline",
            source=source,
            engine=ENGINE,
            reference=info.workflow_id,
            name=os.path.basename(snakefile),
            started_at=info.started_at,
            params=_workflow.config(self.workflow) if self.workflow else None,
            project=self.options.project,
            hostname=info.host,
            user=info.user,
            parent=tl.Run.filter(uid=self.parent_uid).first() if self.parent_uid else None,
        )
        self.batch = Batch(info.workdir, self.options, self.pipeline)
        self._export_environment(self.pipeline)
        _annotate_pipeline(self.pipeline, _pipeline_features(info))
        return self.pipeline

    def _connect(self) -> None:
        if self.options.db or self.options.storage:
            tl.connect(db=self.options.db, storage=self.options.storage)
        else:
            tl.instance()  # resolve now (env, project file, default): fail early

    def _export_environment(self, run: tl.Run | None) -> None:
        """Job processes (scripts, cluster jobs) write into this instance, under the
        pipeline run: ``tl.track()`` there nests, the storage plugin finds the database."""
        for name, value in tl.adapters.child_environment(run).items():
            if run is None and name == "THREADLINE_PARENT_RUN":
                continue  # no pipeline run yet: never another thread's current run
            self.saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self.saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved_env = {}

    # -- jobs ----------------------------------------------------------------------------
    def job_info(self, info: JobInfo) -> None:
        """A job started: its run is written with the next batch (params read now,
        while the job is live in the DAG)."""
        with self.lock:
            pipeline = self._pipeline_run()
            earlier = self.jobs.get(info.jobid)
            if pipeline is None or (earlier is not None and earlier.status == "started"):
                return
            attempt = earlier.attempt + 1 if earlier is not None else 1  # --retries
            job = JobState(
                info,
                params=self.index.params(info.jobid),
                attempt=attempt,
                temp_outputs=self.index.has_temp_outputs(info.jobid),
            )
            self.jobs[info.jobid] = job
            self._queue(self.unstarted, job)

    def job_finished(self, jobid: int, when: dt.datetime) -> None:
        with self.lock:
            job = self.jobs.get(jobid)
            if job is None or job.status != "started":
                return
            job.status, job.finished_at = "completed", when
            self.outcome.failed_jobs.pop(jobid, None)  # a retry made it
            self._queue(self.pending, job)
            if job.temp_outputs:  # hash them before Snakemake deletes them
                self.flush()

    def _queue(self, queue: list[JobState], job: JobState) -> None:
        if not self.pending and not self.unstarted:
            self.pending_since = time.monotonic()
        queue.append(job)
        if len(queue) >= BATCH_JOBS:
            self.flush()

    def job_error(self, jobid: int, message: str, when: dt.datetime) -> None:
        """A failed job is errored; one killed by Ctrl-C or a termination signal
        (Snakemake reports those as failures too) is aborted."""
        with self.lock:
            job = self.jobs.get(jobid)
            self.outcome.failed_jobs[jobid] = job.info.name if job else f"job {jobid}"
            if job is None or job.status != "started":
                return
            killed = self.outcome.interrupted or any(
                KILLED.search(error) for error in self.outcome.errors[-2:]
            )
            job.status = "aborted" if killed else "errored"
            job.finished_at, job.error = when, message
            self._queue(self.pending, job)
            self.flush()

    def error(self, message: str, exception: str | None) -> None:
        with self.lock:
            if exception == "KeyboardInterrupt":
                self.outcome.interrupted = True
            elif exception not in JOB_EXCEPTIONS:
                self.outcome.workflow_errors += 1
            self.outcome.errors.append(message.strip())

    def message(self, text: str) -> None:
        if INTERRUPT in text:
            self.outcome.interrupted = True

    def tick(self) -> None:
        """Called on every event: register a batch that has waited long enough."""
        with self.lock:
            if (
                self.pending or self.unstarted
            ) and time.monotonic() - self.pending_since >= BATCH_SECONDS:
                self.flush()

    def flush(self) -> None:
        """Write the queued job runs (one INSERT), then register the finished jobs.

        Jobs that could not be written are queued again with their runs reset (a
        rolled-back run is never referred to) and retried by a later flush, at the latest
        at close; after ``MAX_TRIES`` failed batches a job is given up. The first error
        is raised for the caller (the handler logs it once, Snakemake goes on)."""
        with self.lock:
            unstarted, self.unstarted = self.unstarted, []
            finished, self.pending = self.pending, []
            if self.batch is None or not (unstarted or finished):
                return
            try:
                failed = self._start(unstarted)
                waiting = [job for job in finished if job.run is None]  # its start failed
                failed += register(self.batch, [j for j in finished if j.run is not None])
            except Exception as exc:  # beyond a job (the database gone): all of them wait
                failed, waiting = [(job, exc) for job in unstarted + finished], []
            if failed or waiting:
                self._retry_later(failed, waiting)
            if failed:
                raise failed[0][1]

    def _start(self, jobs: list[JobState]) -> Failed:
        """Write the job runs; their transforms first, each committed on its own."""
        failed: Failed = []
        ready = []
        for job in jobs:
            try:
                ready.append((job, self._transform(job.info.rule)))
            except Exception as exc:
                failed.append((job, exc))

        def write(items: list[tuple[JobState, tl.Transform]]) -> None:
            runs = tl.adapters.start_runs([self._run_row(job, t) for job, t in items])
            for (job, _), run in zip(items, runs, strict=True):
                job.run = run

        def undo(items: list[tuple[JobState, tl.Transform]]) -> None:
            for job, _ in items:
                job.run = None  # type: ignore[assignment]  # rolled back: written again

        failed += [(job, exc) for (job, _), exc in in_transactions(ready, write, undo)]
        return failed

    def _transform(self, rule: str) -> tl.Transform:
        assert self.pipeline is not None
        key = f"{self.pipeline.transform.key}/{rule}"
        transform = self.transforms.get(key)
        if transform is None:
            source = _workflow.rule_source(self.workflow, rule) if self.workflow else None
            transform = tl.adapters.get_transform(key, "rule", source=source or key)
            self.transforms[key] = transform
        return transform

    def _run_row(self, job: JobState, transform: tl.Transform) -> dict[str, Any]:
        ended = (
            {"finished_at": job.finished_at, "error": job.error} if job.status != "started" else {}
        )  # finished before its batch: written closed
        return {
            "transform": transform,
            "engine": ENGINE,
            "reference": str(job.info.jobid),
            "parent": self.pipeline,
            "name": job.info.name,
            "started_at": job.info.started_at,
            "params": job.params,
            "project": self.options.project,
            "status": job.status,
            **ended,
        }

    def _retry_later(self, failed: Failed, waiting: list[JobState]) -> None:
        """Queue the jobs of a failed batch again; give up on those that failed before."""
        jobs = {id(job): job for job in waiting}
        for job in {id(job): job for job, _ in failed}.values():
            job.tries += 1
            jobs[id(job)] = job
        for job in jobs.values():
            if job.tries >= MAX_TRIES:
                log.warning("threadline: gave up recording Snakemake job %s", job.info.name)
                self._abort_given_up(job)
                job.status = "dropped"  # never settled again
                continue
            if job.run is None:
                self.unstarted.append(job)
            if job.status != "started":
                self.pending.append(job)
        self.pending_since = time.monotonic()  # not at once: after BATCH_SECONDS

    @staticmethod
    def _abort_given_up(job: JobState) -> None:
        """A job whose run was written but whose files could not be: its run is closed
        as aborted rather than left started (if the database lets it)."""
        if job.run is None or job.run.status not in ("started", "scheduled"):
            return
        try:
            tl.adapters.finish_run(
                job.run,
                "aborted",
                finished_at=job.finished_at,
                error="threadline could not record this job's files",
            )
        except Exception:  # the database that refused the batch may refuse this too
            log.warning("threadline: could not close the run of %s", job.info.name)

    # -- the end -------------------------------------------------------------------------
    def close(self) -> None:
        """Register what is left, settle unreported jobs, end the pipeline run."""
        with self.lock:
            try:
                if self._pipeline_run() is None:
                    return
                problem = self._flush_caught()
                self._settle_unreported()
                for _ in range(MAX_TRIES):  # the settled jobs, and retries of failed ones
                    if not (self.pending or self.unstarted):
                        break
                    failure = self._flush_caught()
                    problem = problem or failure
                self._finish_pipeline()
                if problem is not None:
                    raise problem  # logged once by the handler, after the run is closed
            finally:
                self._restore_environment()

    def _flush_caught(self) -> Exception | None:
        try:
            self.flush()
        except Exception as exc:
            return exc
        return None

    def _settle_unreported(self) -> None:
        """Jobs with no finished/error event (a bare ``--quiet`` suppresses them, an
        interrupt kills them): completed when their outputs are all there and the
        workflow did not fail, else aborted."""
        failed = self.outcome.failed or self.outcome.interrupted
        now = _now()
        for job in self.jobs.values():
            if job.status != "started":
                continue
            if not failed and job.outputs_present(self.batch.workdir):  # type: ignore[union-attr]
                job.status, job.finished_at = "completed", now
            else:
                job.status, job.finished_at = "aborted", now
                job.error = "the job did not report an end before the workflow stopped"
            self.pending.append(job)

    def _finish_pipeline(self) -> None:
        assert self.pipeline is not None
        if self.outcome.interrupted:
            tl.adapters.finish_run(
                self.pipeline, "aborted", error="interrupted (Ctrl-C or a termination signal)"
            )
        elif self.outcome.failed:
            tl.adapters.finish_run(
                self.pipeline,
                "errored",
                error=self.outcome.summary(),
                traceback="\n\n".join(self.outcome.errors) or None,
            )
        else:
            tl.adapters.finish_run(self.pipeline, "completed")


def _annotate_pipeline(run: tl.Run, values: dict[str, Any]) -> None:
    """A value that does not fit an existing feature (a feature ``command`` of another
    dtype) costs that feature, not the recording of the workflow."""
    try:
        tl.adapters.annotate(run, values, create_features=True)
        return
    except InvalidInput:
        pass
    for name, value in values.items():
        try:
            tl.adapters.annotate(run, {name: value}, create_features=True)
        except InvalidInput as exc:
            log.warning(
                "threadline: feature %r not recorded on the Snakemake pipeline run: %s", name, exc
            )


def _pipeline_features(info: WorkflowInfo) -> dict[str, Any]:
    values = {
        "snakemake_version": info.snakemake_version,
        "config_md5": info.config_md5,
        "command": tl.adapters.redact(info.cmd) if info.cmd else None,
        "workdir": info.workdir,
    }
    return {k: v for k, v in values.items() if v}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
