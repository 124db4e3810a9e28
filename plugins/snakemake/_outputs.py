"""A batch's files saved: outputs as their jobs left them, logs and benchmarks.

An output is saved from the file when its content is still what the witness noted as
the job finished, from the copy the witness kept when Snakemake deleted it (``temp()``),
and not at all when a later job changed it in place before it could be read (logged).
Files are hashed and stored here, outside any database transaction.
"""

from __future__ import annotations  # annotations name models: do not load them

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import threadline as tl
from threadline import adapters

from ._files import Reported, absolute, output_key

if TYPE_CHECKING:
    from ._register import Batch, JobState

log = logging.getLogger("threadline.snakemake")


@dataclass
class _File:
    job: JobState
    role: str  # "output", "log" or "benchmark"
    path: str
    artifact: tl.Artifact


@dataclass(frozen=True)
class _Found:
    role: str
    path: str  # where the job wrote it
    source: str  # what is saved: the file, or a copy of what the job wrote
    key: str | None


def _local_files(batch: Batch, job: JobState) -> list[_Found]:
    """The job's files to save: outputs as the job left them (checked against the hash
    noted when it finished; a ``temp()`` output from the copy kept before Snakemake
    deleted it), logs and benchmarks as they are now."""
    wanted: list[tuple[str, Reported]] = []
    if job.status == "completed":
        wanted += [("output", o) for o in job.info.outputs]
        if job.info.benchmark is not None:
            wanted.append(("benchmark", job.info.benchmark))
    if batch.options.capture_logs:
        wanted += [("log", o) for o in job.info.logs]
    with batch.witness.seen_lock:
        at_end = batch.witness.seen.outputs.get(job.info.jobid)
    found = []
    for role, reported in wanted:
        if reported.is_storage or reported.is_special:
            continue
        path = absolute(reported.name, batch.workdir)
        noted = at_end.get(path) if at_end is not None and role == "output" else None
        source = _as_written(batch, path, noted)
        if source is not None:
            key = output_key(path, batch.workdir, batch.options.key_prefix)
            found.append(_Found(role, path, source, key))
    return found


def _as_written(batch: Batch, path: str, noted: str | None) -> str | None:
    """Where the content the job wrote is now: a copy kept for it, the file itself when
    it is unchanged (or when nothing was noted), else nowhere (changed since: not saved)."""
    with batch.witness.seen_lock:
        held = batch.witness.seen.held_copy(path, noted)
    if held is not None:
        return held
    if not (os.path.isfile(path) or os.path.isdir(path)):
        return None  # gone (temp() deleted without a copy), or a dangling link
    if noted is None:
        return path
    try:
        same = adapters.hash_files([path])[0] == noted
    except Exception:  # unreadable now: what the job wrote cannot be told
        log.debug("could not hash %s", path, exc_info=True)
        return None
    if not same:
        log.warning("threadline: %s changed after its job finished; not recorded", path)
    return path if same else None


def _files_of(batch: Batch, job: JobState) -> list[_File]:
    return [
        _File(job, f.role, f.path, tl.Artifact(f.source, key=f.key, run=job.run))
        for f in _local_files(batch, job)
    ]


def save_files(batch: Batch, jobs: list[JobState]) -> list[_File]:
    files = [f for job in jobs for f in _files_of(batch, job)]
    if not files:
        return []
    try:
        tl.save([f.artifact for f in files])
    except Exception:  # one bad file must not cost the batch: job by job
        log.debug("bulk save failed; saving job by job", exc_info=True)
        files = _save_each(batch, jobs)
    for f in files:
        if f.role == "output":
            batch.made(f.path, f.artifact, f.job)
    return files


def _save_each(batch: Batch, jobs: list[JobState]) -> list[_File]:
    saved = []
    for job in jobs:
        try:
            files = _files_of(batch, job)
            tl.save([f.artifact for f in files])
        except Exception as exc:  # recorded on the run instead
            log.warning("threadline: could not save the files of %s: %s", job.info.name, exc)
            job.error = job.error or f"threadline could not save its files: {exc}"
            continue
        saved += files
    return saved
