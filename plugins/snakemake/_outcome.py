"""How a workflow ended, as far as Snakemake's events tell, and its pipeline run closed.

A job that died of a signal (``died with <Signals.SIGINT: 2>``, or exit status 130, 143,
137, 129: the shell's way of saying the same) was stopped from outside: its run is
aborted, not errored, and a workflow whose only failures are such jobs was interrupted.
This does not depend on the order in which Snakemake's threads report the interrupt
("Terminating processes on user request") and the killed job: under load either comes
first, and a Ctrl-C that lands while Snakemake's main thread is writing a log line is
swallowed there, so only the killed job tells.
"""

from __future__ import annotations  # annotations name models: do not load them

import re
from dataclasses import dataclass, field

import threadline as tl
from threadline import adapters

INTERRUPT = "Terminating processes on user request"
JOB_EXCEPTIONS = ("RuleException",)  # a job's own failure, reported again as job_error
KILLED = re.compile(
    r"died with <Signals\.SIG(INT|TERM|KILL|HUP)|non-zero exit status (130|143|137|129)\b"
)
INTERRUPTED = "interrupted (Ctrl-C or a termination signal)"


@dataclass
class Outcome:
    """How the workflow ended, as far as the events tell."""

    errors: list[str] = field(default_factory=list)  # Snakemake's error messages
    workflow_errors: int = 0  # errors beyond a job's own (a missing input, a bad rule)
    interrupted: bool = False
    failed_jobs: dict[int, str] = field(default_factory=dict)  # whose last attempt failed
    killed_jobs: dict[int, str] = field(default_factory=dict)  # stopped by a signal

    @property
    def failed(self) -> bool:
        return bool(self.failed_jobs or self.workflow_errors)

    @property
    def stopped(self) -> bool:
        """Interrupted: Snakemake said so, or the only failed jobs were killed."""
        return self.interrupted or bool(self.killed_jobs and not self.failed_jobs)

    def killed(self, message: str) -> bool:
        """Whether a job error (with the errors reported just before it) is a kill."""
        return bool(KILLED.search(message)) or any(
            KILLED.search(error) for error in self.errors[-2:]
        )

    def job_ended(self, jobid: int, name: str, *, killed: bool) -> None:
        self.failed_jobs.pop(jobid, None)
        self.killed_jobs.pop(jobid, None)
        (self.killed_jobs if killed else self.failed_jobs)[jobid] = name

    def job_succeeded(self, jobid: int) -> None:
        """A retry made it: the job's earlier failure no longer counts."""
        self.failed_jobs.pop(jobid, None)
        self.killed_jobs.pop(jobid, None)

    def error(self, message: str, exception: str | None) -> None:
        if exception == "KeyboardInterrupt":
            self.interrupted = True
        elif exception not in JOB_EXCEPTIONS:
            self.workflow_errors += 1
        self.errors.append(message.strip())

    def message(self, text: str) -> None:
        if INTERRUPT in text:
            self.interrupted = True

    def raised(self, exc: BaseException) -> None:
        """Snakemake raised ``exc`` out of the workflow. Its API logs no error event for
        that (the command does): the workflow failed, or was interrupted, unless an event
        said so already. An exception group is named by its first exception."""
        if self.failed or self.stopped or (isinstance(exc, SystemExit) and not exc.code):
            return
        if isinstance(exc, KeyboardInterrupt):
            self.interrupted = True
            return
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        self.workflow_errors += 1
        self.errors.append(f"{type(exc).__name__}: {exc}".strip())

    def summary(self) -> str:
        if self.failed_jobs:
            names = ", ".join(self.failed_jobs.values())
            return f"{len(self.failed_jobs)} job(s) failed: {names}"
        return self.errors[-1].splitlines()[0] if self.errors else "the workflow failed"


def finish_pipeline(pipeline: tl.Run, outcome: Outcome) -> None:
    """Close the pipeline run: aborted when stopped, errored when failed, else completed."""
    if outcome.stopped:
        adapters.finish_run(pipeline, "aborted", error=INTERRUPTED)
    elif outcome.failed:
        adapters.finish_run(
            pipeline,
            "errored",
            error=outcome.summary(),
            traceback="\n\n".join(outcome.errors) or None,
        )
    else:
        adapters.finish_run(pipeline, "completed")
