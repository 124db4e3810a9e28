"""What a job's files held when it started and when it finished, seen on Snakemake's
main thread.

The logger plugin runs on Snakemake's log listener thread, which lags the scheduler: by
the time it registers a job, a later job may have changed its inputs in place
(``update()``) and Snakemake may have deleted its ``temp()`` outputs. So a second,
synchronous handler on the ``snakemake.logging`` logger (called in the thread that logs,
before the record is queued for the plugin) notes, for every job:

- on ``workflow_started`` and ``job_info`` (logged just before the job runs): the
  instance is opened and, before the first job, the pipeline run is written and the
  variables its jobs inherit are set (from this thread, before any job process starts:
  never from the listener while Snakemake's threads start processes);
- on ``job_info``: the content hash of each local input, and a copy of each
  ``update()`` output as it was before the job changes it;
- on ``job_finished`` (logged after Snakemake checked the outputs and before it deletes
  temp files): the content hash of each local output, and a hard link (else a copy) of
  each ``temp()`` output, kept until the job is registered.

Hashes of unchanged files are cached by threadline, so registration reads nothing twice.
"""

import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from typing import Any

from threadline import adapters

from ._events import event_of, parse_job
from ._files import Reported, absolute
from ._workflow import JobIndex, live_workflow

log = logging.getLogger("threadline.snakemake")
SNAKEMAKE_LOGGER = "snakemake.logging"
WITNESSED = ("workflow_started", "job_info", "job_finished")  # logged by the main thread


@dataclass
class Seen:
    """Per job id: hashes at start and end, and copies of content that would be lost."""

    inputs: dict[int, dict[str, str]] = field(default_factory=dict)  # path -> hash at start
    outputs: dict[int, dict[str, str]] = field(default_factory=dict)  # path -> hash at end
    held: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, hash) -> copy

    def held_copy(self, path: str, digest: str | None) -> str | None:
        return None if digest is None else self.held.get((path, digest))


class Witness(logging.Handler):
    """The synchronous handler (see the module docstring); ``seen`` is read by the
    recorder on the listener thread, under ``seen_lock``."""

    def __init__(self, guard: adapters.Guard, on_start: Any = None, on_job: Any = None) -> None:
        super().__init__(logging.NOTSET)
        self.guard = guard
        self.on_start = on_start  # called with workflow_started's record (connects)
        self.on_job = on_job  # called before each job starts (its environment is set)
        self.seen_lock = threading.Lock()
        self.events_lock = threading.Lock()  # one witnessed event at a time (see handle)
        self.seen = Seen()
        self.workdir: str | None = None
        self.held_root: str | None = None
        self.workflow: Any = None
        self.index: JobIndex | None = None
        self.count = 0

    def attach(self) -> None:
        """First among the logger's handlers: runs before the record is queued."""
        logging.getLogger(SNAKEMAKE_LOGGER).handlers.insert(0, self)

    def detach(self) -> None:
        logging.getLogger(SNAKEMAKE_LOGGER).removeHandler(self)
        if self.held_root is not None:
            shutil.rmtree(self.held_root, ignore_errors=True)

    def handle(self, record: logging.LogRecord) -> bool:
        """A lock only for the events read here (``logging.Handler.handle`` takes the
        handler lock for every record): job threads log too, just before Snakemake starts
        their process (a ``script:`` or ``run:`` job's shell command, "Activating conda
        environment"), and must never wait while this handler hashes files on the main
        thread. A member of a failing pipe group started that
        late escapes Snakemake's kill of the group, and waits on its stream forever."""
        if event_of(record) in WITNESSED:
            with self.events_lock:
                self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        event = event_of(record)
        if event not in WITNESSED:
            return
        with self.guard(f"Snakemake's {event} event (main thread)"):
            if event == "workflow_started":
                self._started(record)
            elif self.workdir is not None and event == "job_info":
                self._job_info(record)
            elif self.workdir is not None:
                self._job_finished(int(record.__dict__["job_id"]))

    def _started(self, record: logging.LogRecord) -> None:
        if self.workdir is not None:
            return
        self.workdir = str(record.__dict__.get("cwd") or os.getcwd())
        self.held_root = os.path.join(self.workdir, ".snakemake", "threadline", str(os.getpid()))
        if self.on_start is not None:
            self.on_start(record)
        self.workflow = live_workflow()

    def _job_info(self, record: logging.LogRecord) -> None:
        if self.on_job is not None:
            self.on_job()
        job = parse_job(record)
        hashes = self._hash(self._local(job.inputs))
        with self.seen_lock:
            self.seen.inputs[job.jobid] = hashes
        for reported in job.outputs:
            if "update" in reported.labels and not reported.is_storage:
                self._hold(absolute(reported.name, self.workdir or "."), copy=True)

    def _job_finished(self, jobid: int) -> None:
        job = self._live_job(jobid)
        if job is None:
            return
        names = [str(f) for f in job.output]
        temp = {absolute(str(f), self.workdir or ".") for f in getattr(job, "temp_output", ())}
        paths = [absolute(n, self.workdir or ".") for n in names]
        hashes = self._hash([p for p in paths if os.path.isfile(p) or os.path.isdir(p)])
        with self.seen_lock:
            self.seen.outputs[jobid] = hashes
        for path in temp:
            if path in hashes:
                self._hold(path, copy=False, digest=hashes[path])

    def _live_job(self, jobid: int) -> Any:
        if self.index is None:
            self.index = JobIndex(self.workflow)
        return self.index.get(jobid)  # None: no DAG, or a changed internal API

    def _local(self, files: tuple[Reported, ...]) -> list[str]:
        local = [f for f in files if not f.is_storage and not f.is_special]
        paths = [absolute(f.name, self.workdir or ".") for f in local]
        return [p for p in paths if os.path.isfile(p) or os.path.isdir(p)]  # no FIFOs

    @staticmethod
    def _hash(paths: list[str]) -> dict[str, str]:
        """Hashes of the paths; one that cannot be hashed (a symlink loop, a file being
        written) is left out: registration finds it unverified."""
        try:
            return dict(zip(paths, adapters.hash_files(paths), strict=True))
        except Exception:
            pass
        hashes = {}
        for path in paths:
            try:
                hashes[path] = adapters.hash_files([path])[0]
            except Exception:
                log.debug("could not hash %s", path, exc_info=True)
        return hashes

    def _hold(self, path: str, *, copy: bool, digest: str | None = None) -> None:
        """Keep the content of ``path`` under the held folder (a hard link where it may
        be, a copy where the file is about to change in place)."""
        if not os.path.exists(path) or self.held_root is None:
            return
        if digest is None:
            digest = self._hash([path]).get(path)
            if digest is None:
                return
        self.count += 1
        target = os.path.join(self.held_root, str(self.count), os.path.basename(path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _keep(path, target, copy=copy)
        with self.seen_lock:
            self.seen.held[(path, digest)] = target


def _keep(path: str, target: str, *, copy: bool) -> None:
    if os.path.isdir(path):
        function: Any = shutil.copy2 if copy else _link_or_copy
        shutil.copytree(path, target, symlinks=True, copy_function=function)
    elif copy:
        shutil.copy2(path, target)
    else:
        _link_or_copy(path, target)


def _link_or_copy(path: str, target: str) -> None:
    try:
        os.link(path, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(path, target)
