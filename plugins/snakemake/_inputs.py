"""A job's inputs resolved to the artifacts it really read: path first, then content.

Each local input is known by its content hash as of when the job started (noted on
Snakemake's main thread by the witness). It resolves, in order, to:

1. the output of a job of this invocation written at that path with that content, which
   finished before this job started (its run becomes upstream of this job's);
2. the artifact registered under the path's key (the path under the working directory)
   with that content;
3. an artifact with that content that no run made (a file saved by hand under another
   key), or for a file outside the working directory one made before the job started,
   never an output of this invocation (a copy step's output is never its raw input);
4. else the file itself, registered under its key with no creator, when its content is
   still what the job read (or a copy taken before an ``update()`` job changed it).

An input whose content at the job's start is unknown, or no longer on disk, is listed
as unverified on the job's run instead of being linked to whatever is there now.
"""

from __future__ import annotations  # annotations name models: do not load them

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import threadline as tl
from threadline import adapters

from ._files import absolute, output_key

if TYPE_CHECKING:
    from ._register import Batch, JobState

log = logging.getLogger("threadline.snakemake")
SOURCE_NOTE = "source data read from"  # how adapters.resolve_inputs describes sources


@dataclass(frozen=True)
class Made:
    """An artifact a job of this invocation wrote, and when that job finished."""

    artifact: tl.Artifact
    run: tl.Run
    finished_at: dt.datetime | None


@dataclass
class Resolved:
    """What a batch's local inputs resolved to, per job (by ``id(job)``)."""

    inputs: dict[int, list[tl.Artifact]] = field(default_factory=dict)
    upstream: dict[int, list[tl.Run]] = field(default_factory=dict)
    unverified: dict[int, list[str]] = field(default_factory=dict)
    deferred: list[JobState] = field(default_factory=list)  # inputs a batch output may be

    def add(self, job: JobState, artifact: tl.Artifact, run: tl.Run | None = None) -> None:
        self.inputs.setdefault(id(job), []).append(artifact)
        if run is not None and run.id != job.run.id:
            self.upstream.setdefault(id(job), []).append(run)


@dataclass(frozen=True)
class _Want:
    job: JobState
    path: str
    key: str | None
    digest: str


def resolve_local_inputs(
    batch: Batch, jobs: list[JobState], *, coming: set[tuple[str, str]] | None = None
) -> Resolved:
    """Resolve the local inputs of a batch of jobs (a few queries for the batch).

    Called twice per batch: before the batch's outputs are saved, with ``coming`` the
    (path, hash) of those outputs, for the inputs no job of the batch wrote (sources get
    their versions before any output written at their path later); then after, with
    ``coming=None``, for the inputs left (``Resolved.deferred``)."""
    resolved = Resolved()
    wanted: list[_Want] = []
    for job in jobs:
        for path in _local_inputs(batch, job):
            digest = _digest_at_start(batch, job, path)
            if digest is None:
                resolved.unverified.setdefault(id(job), []).append(path)
                continue
            made = _made_before(batch, job, path, digest)
            if made is not None:
                resolved.add(job, made.artifact, made.run)
            elif coming is not None and _coming(coming, path, digest):
                resolved.deferred.append(job)
            else:
                key = output_key(path, batch.workdir, batch.options.key_prefix)
                wanted.append(_Want(job, path, key, digest))
    if wanted:
        _lookup(batch, wanted, resolved)
    return resolved


def _local_inputs(batch: Batch, job: JobState) -> list[str]:
    paths = []
    for reported in job.info.inputs:
        if reported.is_storage or reported.is_special:
            continue
        path = absolute(reported.name, batch.workdir)
        if path not in paths:
            paths.append(path)
    return paths


def _digest_at_start(batch: Batch, job: JobState, path: str) -> str | None:
    """The hash the witness took as the job started; without a witness (records fed
    by hand), the hash now."""
    with batch.witness.seen_lock:
        seen = batch.witness.seen.inputs.get(job.info.jobid)
    if seen is not None:
        return seen.get(path)
    if batch.witness.workdir is not None or not os.path.exists(path):
        return None  # the witness saw the job start without this file
    return adapters.hash_files([path])[0]


def _made_before(batch: Batch, job: JobState, path: str, digest: str) -> Made | None:
    """The latest output of this invocation at ``path`` with ``digest`` whose job ended
    before ``job`` started (or, failing that, any with that content)."""
    candidates = [m for m in batch.produced.get(path, ()) if m.artifact.hash == digest]
    if not candidates:  # a file inside a folder a job wrote (a checkpoint's directory)
        candidates = _folder_of(batch, path)
    before = [
        m for m in candidates if m.finished_at is None or m.finished_at <= job.info.started_at
    ]
    chosen = before or candidates
    return chosen[-1] if chosen else None


def _coming(coming: set[tuple[str, str]], path: str, digest: str) -> bool:
    """Whether the batch saves ``path`` with that content (or unnoted), or a folder
    holding it."""
    if (path, digest) in coming or (path, "") in coming:
        return True
    folders = {p for p, _ in coming}
    return any(parent in folders for parent in _parents(path))


def _written(batch: Batch, path: str) -> bool:
    """Whether a job of this invocation writes ``path``, or a folder holding it."""
    return path in batch.written or any(p in batch.written for p in _parents(path))


def _parents(path: str) -> list[str]:
    parents, parent = [], os.path.dirname(path)
    while parent != os.path.dirname(parent):
        parents.append(parent)
        parent = os.path.dirname(parent)
    return parents


def _folder_of(batch: Batch, path: str) -> list[Made]:
    """The folder outputs of this invocation that ``path`` lies in (the nearest)."""
    for parent in _parents(path):
        folders = [m for m in batch.produced.get(parent, ()) if m.artifact.n_files is not None]
        if folders:
            return folders
    return []


def _lookup(batch: Batch, wanted: list[_Want], resolved: Resolved) -> None:
    """The rest by the adapter API's one rule (``adapters.resolve_inputs``: the key, then
    a producer of that content that finished before the job started, else source data
    registered under the key). One call for the batch, bounded by its earliest job's
    start (no producer that finished later counts, for any job of the batch), so that
    equal source files read by the batch's jobs are registered together, each under its
    own path. Nothing is linked here: the batch's transaction does that."""
    # a file a job of this invocation writes is never source data: its producer's
    # record is missing (not written yet, or refused), so the input is unverified
    sources = [None if _written(batch, w.path) else _source_of(batch, w) for w in wanted]
    started = min(w.job.info.started_at for w in wanted)
    for register in (True, False):
        items = [
            (w, adapters.Input(path=src or w.path, key=w.key, hash=w.digest))
            for w, src in zip(wanted, sources, strict=True)
            if (src is not None) == register
        ]
        if not items:
            continue
        found = adapters.resolve_inputs(
            None,
            [item for _, item in items],
            workdir=batch.workdir,
            started_at=started,
            register_unknown=register and batch.options.register_unknown_inputs,
        )
        found = _own_names(items, found) if register else found
        for (want, _), artifact in zip(items, found, strict=True):
            if artifact is not None:
                resolved.add(want.job, artifact)
            elif not register:
                resolved.unverified.setdefault(id(want.job), []).append(want.path)


def _own_names(
    items: list[tuple[_Want, adapters.Input]], found: list[tl.Artifact | None]
) -> list[tl.Artifact | None]:
    """A source file that resolved by content to another file registered as source data
    (equal bytes, another path, an earlier batch) is registered under its own key: two
    raw files are two names, whatever their bytes."""
    redo = [
        i
        for i, ((want, _), artifact) in enumerate(zip(items, found, strict=True))
        if want.key is not None
        and artifact is not None
        and artifact.run_id is None
        and artifact.key != want.key
        and (artifact.description or "").startswith(SOURCE_NOTE)
    ]
    if not redo:
        return found
    host = socket.gethostname()
    outputs = [
        adapters.Output(
            os.fspath(items[i][1].path or items[i][0].path),
            key=items[i][0].key,
            description=f"{SOURCE_NOTE} {items[i][0].path} on {host}",
        )
        for i in redo
    ]
    own = list(found)
    for i, artifact in zip(redo, adapters.register_inputs(None, outputs), strict=True):
        own[i] = artifact
    return own


def _source_of(batch: Batch, want: _Want) -> str | None:
    with batch.witness.seen_lock:
        held = batch.witness.seen.held_copy(want.path, want.digest)
    if held is not None:
        return held
    try:
        same = os.path.exists(want.path) and adapters.hash_files([want.path])[0] == want.digest
    except Exception:  # unreadable now (a symlink loop, a file being rewritten)
        log.debug("could not hash %s", want.path, exc_info=True)
        return None
    return want.path if same else None
