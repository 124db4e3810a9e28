"""Writes that need not hold up the flow: task runs' rows, closes, edges and annotations.

In a flow, a task run's row is queued on this process's background writer
(``adapters.start_run(..., later=True)``: one thread, batched short transactions, retried
through a database outage), and so are its close and the runs it consumed, after it. An
artifact saved in the body reads the run's id, which waits for the row once (the save
pipeline reads it before its own transaction). The end of every flow run waits for the
writer (``flush``), so a flow's records are complete when the flow call returns.

Work from tasks outside a flow, and in worker processes (Dask), is written at once: no
flow end would wait for it there. Writes made at once take the writer's ``turn``
(``Writer.at_once``): a thread that waited for SQLite's write lock would sleep in SQLite's
busy handler (1 ms, then longer), while this lock hands over as soon as the writer's batch
is committed; and they go through one connection the writer keeps for them, so that a
task runner's threads (new ones for every flow run) open no connection of their own.
"""

import contextlib
from collections.abc import Callable

from threadline import adapters

from ._registry import GUARD

Job = Callable[[], None]


def at_once() -> contextlib.AbstractContextManager[None]:
    """``with at_once():`` writes synchronously, taking turns with the background writer,
    through the connection it keeps for that (``Writer.at_once``; the writer is looked up
    each time: a forked worker process has a writer of its own)."""
    return adapters.writer().at_once()


def later(job: Job, now: bool) -> None:
    """Run ``job`` in the background, or at once when ``now``."""
    if now:
        with at_once():
            job()
    else:
        adapters.writer().submit(job, where="a Prefect task run", guard=GUARD)


def flush() -> None:
    """Wait for the background writes queued so far (the task runs of a flow)."""
    adapters.writer().flush()
