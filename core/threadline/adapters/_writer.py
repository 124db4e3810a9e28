"""The background writer: writes an engine's hook need not wait for, batched, off its thread.

An engine hook that writes on the engine's own thread pays for each database statement
twice: the statement, and the wait to get the GIL back from the engine's busy background
threads when the driver returns (1-2 ms a statement on a busy 2-core machine). Writes whose
result the hook does not need at once (closing a run, its edges, its annotations) go to one
``Writer`` thread per process instead, in order, and the writer writes everything queued
meanwhile as one short transaction:

- A kill -9 loses at most the batch being written; since a batch is one transaction and
  jobs run in the order they were submitted, no record ever points at a missing one.
- A database outage (the database cannot be reached, or another process holds SQLite's
  write lock past the busy timeout) is retried, batch by batch, for
  ``THREADLINE_WRITER_RETRY_S`` seconds (60 by default); nothing is lost if the database
  is back within that window. After it, the batch is given up and reported once.
- A job that fails for another reason (a bug, a refused value) is reported once per kind
  through the submitter's ``Guard`` and dropped; the rest of its batch is written, each
  job in its own transaction. With ``THREADLINE_STRICT=1``, ``flush`` raises it.
- ``flush()`` waits until everything submitted before it is written: call it where the
  engine's unit of work ends (a flow run) so its records are all visible when it returns;
  every writer is also flushed at interpreter exit.
- Before ``threadline.connect()`` makes another instance current, every writer writes
  what it holds to the instance it was submitted for and closes its connections to it
  (``leave``): nothing queued lands in the next instance.

A run's row can be queued too (``start_run(..., later=True)``, see ``_deferred``): its id
comes once the batch is committed, and whoever reads it first waits for it (``wait``). A
write the hook needs at once stays on the hook's thread, inside ``at_once()`` (``turn``):
the writer holds the same lock while it writes a batch, so the two take turns instead of
one sleeping in SQLite's busy handler.

Test hook: with ``THREADLINE_WRITER_HOLD=<folder>``, before committing batch ``n`` the
writer writes ``<folder>/batch-<n>`` (one line per job: what it writes) and waits until
``<folder>/go-<n>`` exists, so a test can kill the process between enqueue and commit.
"""

import atexit
import contextlib
import dataclasses
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import _context
from .._db import unwrap, write_transaction
from ..models import Run
from ._guard import Guard, strict
from ._outage import retry_s_from_env, unavailable
from ._shared import SharedConnection, in_memory
from ._turn import Turn

ENV_HOLD = "THREADLINE_WRITER_HOLD"
MAX_BATCH = 500  # jobs per transaction: short enough never to hold the write lock long
# How long a batch waits for more jobs. Each batch, whatever its size, takes the GIL from
# the engine's threads a few times, and that stalls a busy engine for longer than the
# batch's own work: at 0.02 s a loop of 2.5 ms Prefect tasks had 2,000 more context
# switches per 200 tasks than plain Prefect; writing every 0.1 s, its tasks took 1.10-1.12x
# as long as plain Prefect's, every 0.5 s 1.03-1.07x. So while jobs keep coming (a busy
# engine) a batch waits up to LINGER_S after its first job; once none has come for QUIET_S
# (the engine paused: a long task, the flow's end), it is written at once.
LINGER_S = 0.5
QUIET_S = 0.1

Job = Callable[[], None]
Bulk = Callable[[list[Any]], None]
log = logging.getLogger("threadline.adapters")
_DEFAULT_GUARD = Guard("adapters", host="the engine's run")


@dataclasses.dataclass(slots=True)
class _Item:
    job: Job
    where: str
    guard: Guard
    committed: Job | None = None  # called once the job's transaction is committed
    bulk: Bulk | None = None  # does the work of many such jobs at once (see ``submit``)


class Writer:
    """One background thread that writes submitted jobs in order, in batches.

    ``retry_s``: how long a batch is retried while the database cannot be reached (default
    ``THREADLINE_WRITER_RETRY_S``, else 60 s). ``turn``: the lock the writer holds while
    writing; take it around this process's synchronous writes. ``retries``: how many
    times a batch met an unreachable database; ``failures``: the errors of jobs given up;
    ``batches``: how many batches it has ended (a reader can tell whether anything was
    written since it last looked).
    """

    def __init__(self, *, retry_s: float | None = None, name: str = "threadline-writer") -> None:
        self.retry_s = retry_s_from_env() if retry_s is None else retry_s
        self.name = name
        self.turn = Turn()
        self.linger_s = LINGER_S
        self.quiet_s = QUIET_S
        self._urgent = threading.Event()  # set by a waiter or a full batch: write now
        self._waiters = 0  # waiters (flush, wait, leave) queued and not yet answered
        self._busy = 0  # jobs changed in place so far (``busy``): only ever compared
        self.retries = 0
        self.batches = 0
        self.failures: list[BaseException] = []
        self._queue: queue.SimpleQueue[_Item | threading.Event] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._unraised: list[BaseException] = []
        self._holds = 0  # batches held by the test hook (THREADLINE_WRITER_HOLD)
        self._shared = SharedConnection()  # see at_once

    def submit(
        self,
        job: Job,
        *,
        where: str = "a write",
        guard: Guard | None = None,
        committed: Job | None = None,
        bulk: Bulk | None = None,
    ) -> None:
        """Queue ``job`` (a function that writes through the adapter API); ``where`` names
        it in the log line of a failure, reported through ``guard``; ``committed`` (on the
        writer's thread) once the transaction that wrote ``job`` is committed.

        ``bulk``: a function given, in the transaction of each batch, the list of its
        jobs that name it (in order), before any job of the batch runs; it does their
        work in a few statements, and each job then finds its work done. Every statement
        of a batch hands the GIL to the engine's threads and back: when they are busy,
        that costs them more than the statement. A job with a ``bulk`` must need nothing
        that a job queued before it in the same batch writes, but another of its kind."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, daemon=True, name=self.name)
                    self._thread.start()
                    _started.add(self)
        self._queue.put(_Item(job, where, guard or _DEFAULT_GUARD, committed, bulk))
        if self._whole_batch_queued():
            self._urgent.set()

    def _whole_batch_queued(self) -> bool:
        """Whether a whole batch waits, counting the first job, which the writer may hold
        already: no need to linger."""
        return self._queue.qsize() >= MAX_BATCH - 1

    @property
    def thread(self) -> threading.Thread | None:
        """The writer's thread, once started."""
        return self._thread

    def flush(self) -> None:
        """Wait until everything submitted so far is written (or given up); with
        ``THREADLINE_STRICT=1``, raise the first failure among those writes."""
        if not self.wait():
            return
        with self._lock:
            errors, self._unraised = self._unraised, []
        if errors and strict():
            raise errors[0]

    def wait(self) -> bool:
        """``flush`` without raising: failures stay for the next ``flush`` to raise.
        False where there was nothing to wait for (never started, or on its thread)."""
        if self._thread is None or threading.current_thread() is self._thread:
            return False
        done = threading.Event()
        self._queue_waiter(done)
        done.wait()
        return True

    def _queue_waiter(self, done: threading.Event) -> None:
        """Queue ``done``; the writer lingers no more until every waiter is answered."""
        with self._lock:
            self._waiters += 1
        self._queue.put(done)
        self._urgent.set()

    def leave(self) -> None:
        """Before another instance becomes current: write what is queued (to the current
        instance, as ``wait``) and close this writer's connections to it, its thread's
        and the one ``at_once`` shares."""
        if self._thread is not None and threading.current_thread() is not self._thread:
            done = _Leaving()
            self._queue_waiter(done)
            done.wait()
        if self.holds_turn():
            self._shared.drop()
        else:
            with self.turn:
                self._shared.drop()

    @contextlib.contextmanager
    def at_once(self) -> Iterator[None]:
        """Write at once on this thread, taking turns with the batches (``turn``). The
        statements in the block go through one connection the writer keeps for such
        writes, unless this thread is inside a transaction of its own (then they are part
        of it) or the database lives in memory: the threads of an engine's thread pool,
        new ones for every flow, then open no connection of their own just to start a run
        (0.3-0.7 ms of CPU each on SQLite)."""
        with self.turn:
            db: Any = unwrap(Run._meta.database)  # peewee keeps its per-thread state in _state
            state = db._state
            if state.transactions or in_memory(db):
                yield
                return
            saved = vars(state).copy()
            state.set_connection(self._shared.get(db))
            try:
                yield
            except BaseException:
                self._shared.drop()  # it may be broken (an outage): opened again next time
                raise
            finally:
                vars(state).update(saved)

    def holds_turn(self) -> bool:
        """Whether this thread holds ``turn`` (the writer then waits for it)."""
        return self.turn.holder == threading.get_ident()

    def _loop(self) -> None:
        while True:
            self._one_batch(self._take())

    def _one_batch(self, entries: list[_Item | threading.Event]) -> None:
        """Write a batch and wake its waiters. A method of its own so that nothing of
        the batch stays referenced while the loop waits for the next one: its jobs and
        the runs they hold are freed at once, before a young collection of the engine's
        threads could move them to the oldest generation."""
        items = [e for e in entries if isinstance(e, _Item)]
        if items:
            with self.turn:
                self._write(items)
            self.batches += 1
        for entry in entries:
            if isinstance(entry, _Leaving):
                _close_own_connection()
            if isinstance(entry, threading.Event):
                with self._lock:
                    self._waiters -= 1
                entry.set()

    def _take(self) -> list[_Item | threading.Event]:
        """The next batch: what is queued, once the writer has lingered (``_linger``) after
        its first job or a waiter (``flush``, ``wait``) has come."""
        entries = [self._queue.get()]
        lingers = self.linger_s > 0 and not self._waiters and not self._whole_batch_queued()
        if isinstance(entries[0], _Item) and lingers:
            self._linger()
        self._urgent.clear()
        while len(entries) < MAX_BATCH:
            try:
                entries.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return entries

    def _linger(self) -> None:
        """Wait for more jobs: while they keep coming, up to ``linger_s`` after the first
        (fewer batches while the engine is busy); once none has come for ``quiet_s``, no
        longer. A close folded into a queued row (``busy``) counts as one: an async
        gather's tasks queue their starts, then only fold their closes. A waiter or a
        whole batch ends the wait at once. Jobs queued meanwhile do not wake this thread
        (each wake-up takes the GIL from the engine's threads): it looks every ``quiet_s``."""
        deadline = time.monotonic() + self.linger_s
        while (left := deadline - time.monotonic()) > 0:
            seen = (self._queue.qsize(), self._busy)
            if (
                self._urgent.wait(min(self.quiet_s, left))
                or (self._queue.qsize(), self._busy) == seen
            ):
                return

    def busy(self) -> None:
        """The engine changed a job queued here in place (a close folded into a queued
        row): for the quiet rule (``_linger``), as if a job had come."""
        self._busy += 1

    def _write(self, items: list[_Item]) -> None:
        """One transaction for the batch; while the database cannot be reached, again
        until ``retry_s`` has passed; a job's own failure: each job in its own transaction."""
        attempts, deadline = 0, time.monotonic() + self.retry_s
        while True:
            try:
                with write_transaction(Run._meta.database):
                    _run(items)
                    self._hold(items)
                return _committed(items)
            except Exception as error:
                if not unavailable(error):
                    break  # the database answers: one of the jobs is at fault
                attempts += 1
                self.retries += 1
                if attempts == 1:
                    log.warning(
                        "threadline: the database cannot be reached (%s); retrying for %g s",
                        error,
                        self.retry_s,
                    )
                if time.monotonic() >= deadline:
                    return self._give_up(items, error)
                time.sleep(min(2.0, 0.05 * 2**attempts))
        for item in items:
            try:
                with write_transaction(Run._meta.database):
                    _run([item])
            except Exception as error:
                self._give_up([item], error)
            else:
                _committed([item])

    def _give_up(self, items: list[_Item], error: BaseException) -> None:
        for item in items:
            item.guard.report(f"{item.where} (background write)", error)
        with self._lock:
            self.failures.append(error)
            self._unraised.append(error)

    def _hold(self, items: list[_Item]) -> None:
        """The test hook (``THREADLINE_WRITER_HOLD``): wait, before the commit, for a go."""
        folder = os.environ.get(ENV_HOLD)
        if not folder:
            return
        self._holds += 1
        lines = "".join(f"{item.where}\n" for item in items)
        written = Path(folder, f"batch-{self._holds}.part")
        written.write_text(lines)
        written.replace(Path(folder, f"batch-{self._holds}"))  # whole when it appears
        while not Path(folder, f"go-{self._holds}").exists():
            time.sleep(0.01)


class _Leaving(threading.Event):
    """Queued by ``leave``: set once what came before it is written and the writer's
    thread has closed its connection."""


def _run(items: list[_Item]) -> None:
    """Run the jobs: first each ``bulk`` function once, with its jobs, then every job."""
    bulks: dict[Bulk, list[Job]] = {}
    for item in items:
        if item.bulk is not None:
            bulks.setdefault(item.bulk, []).append(item.job)
    for bulk, jobs in bulks.items():
        bulk(jobs)
    for item in items:
        item.job()


def _committed(items: list[_Item]) -> None:
    for item in items:
        if item.committed is not None:
            item.committed()


def _close_own_connection() -> None:
    """Close this thread's connection to the current instance's database, if open."""
    db = getattr(Run._meta.database, "obj", None)  # never opens an instance
    if db is not None:
        with contextlib.suppress(Exception):
            db.close()


_writer: Writer | None = None
_writer_lock = threading.Lock()
_started: "weakref.WeakSet[Writer]" = weakref.WeakSet()  # writers whose thread runs


def writer() -> Writer:
    """This process's writer (one per process, started on first use, flushed at exit)."""
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = Writer()
    return _writer


def _flush_at_exit() -> None:
    if _writer is not None:
        with contextlib.suppress(Exception):
            _writer.flush()


def _forget_in_child() -> None:
    """A forked child has no writer thread: it starts its own."""
    global _writer, _writer_lock
    _writer, _writer_lock = None, threading.Lock()


def _leave_all() -> None:
    for each in list(_started):
        each.leave()


atexit.register(_flush_at_exit)
_context.on_leaving_instance(_leave_all)
os.register_at_fork(after_in_child=_forget_in_child)
