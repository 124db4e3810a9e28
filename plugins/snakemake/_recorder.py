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
import threading
import time
from typing import Any

import threadline as tl
from threadline import adapters

from . import _claim, _workflow
from ._events import JobInfo, WorkflowInfo
from ._outcome import Outcome, finish_pipeline
from ._pipeline import ENGINE, Environment, connect, start_pipeline
from ._register import Batch, Failed, JobState, Options, in_transactions, register
from ._witness import Witness

log = logging.getLogger("threadline.snakemake")
BATCH_JOBS = 64  # finished jobs registered together
BATCH_SECONDS = 2.0  # ... or as soon as the oldest has waited this long
MAX_TRIES = 2  # batches a job may fail to be recorded in before it is given up


class Recorder:
    def __init__(self, options: Options, witness: Witness | None = None) -> None:
        self.options = options
        self.witness = witness or Witness(adapters.Guard("snakemake"))
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
        self.environment = Environment()
        self.dryrun = False
        self.parent_uid: str | None = None  # a run that started Snakemake (tl.track())
        self.tried_before_jobs = False  # jobs_may_start

    # -- workflow ------------------------------------------------------------------------
    def workflow_started(self, info: WorkflowInfo) -> None:
        """Remember the invocation (called on Snakemake's main thread by the witness,
        again by the listener); its run is created before the first job starts (or at
        close), once Snakemake has settled whether this is a dry run."""
        with self.lock:
            if self.info is None:
                connect(self.options)  # raises before anything is set: tried again later
                self.info = info
                self.workflow = _workflow.live_workflow()
                self.index = _workflow.JobIndex(self.workflow)
                self.parent_uid = os.environ.get("THREADLINE_PARENT_RUN")
                self.environment.export(None)

    def _pipeline_run(self) -> tl.Run | None:
        if self.pipeline is not None or self.info is None or self.dryrun:
            return self.pipeline
        if self.workflow is not None and getattr(self.workflow, "dryrun", False):
            self.dryrun = True
            return None
        self.pipeline = start_pipeline(self.info, self.workflow, self.options, self.parent_uid)
        # open until close(): a plugin that connects to another database meanwhile (a
        # storage provider first used after a checkpoint) is refused, not split from it
        adapters.hold(self.pipeline)
        self.batch = Batch(self.info.workdir, self.options, self.pipeline, self.witness)
        self.environment.export(self.pipeline)
        return self.pipeline

    def jobs_may_start(self) -> None:
        """Snakemake's main thread, just before it starts a job (see _witness): the
        pipeline run and the variables its jobs inherit are made here, so every job
        process sees them and no other thread writes the environment while processes
        start. Once made, this reads one attribute (the listener may hold the lock).
        Tried once: if that write fails, the listener tries again, as for any event,
        and Snakemake's thread never waits for the database again."""
        if self.pipeline is None and not self.dryrun and not self.tried_before_jobs:
            self.tried_before_jobs = True
            with self.lock:
                self._pipeline_run()

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
            self.batch.scheduled(info)  # type: ignore[union-attr]
            self._queue(self.unstarted, job)

    def job_finished(self, jobid: int, when: dt.datetime) -> None:
        with self.lock:
            job = self.jobs.get(jobid)
            if job is None or job.status != "started":
                return
            job.status, job.finished_at = "completed", when
            self.outcome.job_succeeded(jobid)  # a retry made it
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
            killed = self.outcome.interrupted or self.outcome.killed(message)
            self.outcome.job_ended(jobid, job.info.name if job else f"job {jobid}", killed=killed)
            if job is None or job.status != "started":
                return
            job.status = "aborted" if killed else "errored"
            job.finished_at, job.error = when, message
            self._queue(self.pending, job)
            self.flush()

    def error(self, message: str, exception: str | None) -> None:
        with self.lock:
            self.outcome.error(message, exception)

    def message(self, text: str) -> None:
        self.outcome.message(text)

    def raised(self, exc: BaseException) -> None:
        """Snakemake's API raised ``exc`` out of the workflow (see ``Outcome.raised``)."""
        with self.lock:
            self.outcome.raised(exc)

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
            runs = adapters.start_runs([self._run_row(job, t) for job, t in items])
            for (job, _), run in zip(items, runs, strict=True):
                job.run = run
                self.batch.run_starts[run.id] = job.info.started_at  # type: ignore[union-attr]

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
            transform = adapters.get_transform(key, "rule", source=source or key)
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
            adapters.finish_run(
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
                pipeline = self._pipeline_run()
                if pipeline is None:
                    return
                problem = self._flush_caught()
                self._settle_unreported()
                for _ in range(MAX_TRIES):  # the settled jobs, and retries of failed ones
                    if not (self.pending or self.unstarted):
                        break
                    failure = self._flush_caught()
                    problem = problem or failure
                finish_pipeline(pipeline, self.outcome)
                if problem is not None:
                    raise problem  # logged once by the handler, after the run is closed
            finally:
                self.environment.restore()
                if self.pipeline is not None:
                    adapters.release(self.pipeline)
                _claim.release(self.workflow)

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
        failed = self.outcome.failed or self.outcome.stopped
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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
