"""Writes that need not hold up the flow: closing task runs and recording their edges.

A task's run row must exist before its body starts (artifacts saved in the body point
to it), but marking it finished and recording which runs it consumed can wait a few
milliseconds. Under Prefect the flow's thread competes for the GIL with Prefect's event
and log workers, and every database statement on that thread hands the GIL over and
waits to get it back; on a busy 2-core machine that is 1-2 ms per statement. So these
writes go, in order, to one background thread per process, and the end of every flow
run waits for them (``flush``): a flow's records are complete when the flow returns.

Work from tasks outside a flow, and in worker processes (Dask), is written at once:
no flow end would wait for it there.

All of the adapter's writes in a process take turns on ``WRITES``: a thread that waits
for SQLite's write lock sleeps in SQLite's busy handler (1 ms, then longer), while this
lock hands over as soon as the previous writer is done. The background thread takes it
once for everything queued meanwhile.
"""

import atexit
import queue
import threading
from collections.abc import Callable

from threadline import adapters

from ._registry import GUARD

Job = Callable[[], None]
WRITES = threading.Lock()


class Writer:
    """One background thread that runs submitted writes in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []

    def submit(self, job: Job) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._loop, daemon=True, name="threadline-prefect-writer"
                    )
                    self._thread.start()
        self._queue.put(job)

    def flush(self) -> None:
        """Wait until everything submitted so far is written; in strict mode, raise the
        first failure among those writes."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done.set)
        done.wait()
        with self._lock:
            errors, self._errors = self._errors, []
        if errors and adapters.strict():
            raise errors[0]

    def _loop(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while not self._queue.empty():
                jobs.append(self._queue.get())
            with WRITES:
                for job in jobs:
                    self._run(job)

    def _run(self, job: Job) -> None:
        try:
            job()
        except Exception as error:  # a hook's write: logged, never raised into Prefect
            GUARD.report("a Prefect task run (background write)", error)
            with self._lock:
                self._errors.append(error)


WRITER = Writer()
atexit.register(WRITER.flush)


def later(job: Job, now: bool) -> None:
    """Run ``job`` in the background, or at once when ``now``."""
    if now:
        with WRITES:
            job()
    else:
        WRITER.submit(job)
