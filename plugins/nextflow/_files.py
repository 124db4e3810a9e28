"""A task's files: outputs from its work dir or lineage FileOutputs, inputs staged in its
work dir or named in lineage, and the files a run published (lineage FileOutputs)."""

import dataclasses
import logging
import os
from pathlib import Path

import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from . import _lineage
from ._lineage import LineageStore, Record
from ._publish import task_hash_of
from ._tasks import Task

log = logging.getLogger(__name__)
CHUNK = 500  # hashes per lookup


def published(
    store: LineageStore, workflow: Record, by_hash: dict[str, tl.Run], missing: list[str]
) -> int:
    """Published files (lineage FileOutputs of the run): artifacts keyed by their path
    under the output dir, outputs of the task run whose file they were copied from.
    Files under the storage root (an S3 output dir included) are registered in place."""
    count = 0
    for record in store.published_of(workflow):
        path = str(record.spec.get("path") or "").removeprefix("file://")
        source = by_hash.get(_lineage.task_hash_of_lid(str(record.spec.get("source") or "")))
        if "://" not in path and not os.path.exists(path):
            missing.append(path)
            continue
        key = record.key.split("/", 1)[1]  # <runHash>/<path under the output dir>
        labels = record.spec.get("labels")
        try:
            adapters.register_outputs(
                source,
                [adapters.Output(path, key=key)],
                features={"published": True, **({"labels": labels} if labels else {})},
            )
        except InvalidInput as exc:  # a remote file gone, or outside the storage root
            log.warning("nextflow: published file not recorded: %s", exc)
            missing.append(path)
            continue
        count += 1
    return count


def task_outputs(
    run: tl.Run, task: Task, store: LineageStore | None, missing: list[str]
) -> list[adapters.Output]:
    """A task's output files, from its work dir, else its lineage FileOutputs (those not
    on disk go to ``missing``)."""
    if task.cached:
        return []  # the earlier run registered them
    if task.workdir is not None:
        paths = list(task.workdir.outputs)
    elif store is not None and task.lineage is not None:
        paths = [str(r.spec.get("path")) for r in store.file_outputs_of(task.lineage)]
    else:
        return []
    missing.extend(p for p in paths if not os.path.exists(p))
    return [
        adapters.Output(p, run=run, features={"process": task.process})
        for p in paths
        if os.path.exists(p)
    ]


def own_records(outputs: list[adapters.Output]) -> list[adapters.Output]:
    """Work files whose content a keyless record already holds (an earlier task's, or an
    earlier file of this batch) get a key of their own, their work path
    (``work/ab/cdef.../file``): threadline keeps one keyless record per content, so
    without a name each task writing the same bytes (parallel tasks, empty markers)
    would share the first task's record, and its readers would be linked to that task."""
    if not outputs:
        return outputs
    digests = adapters.hash_files([o.path for o in outputs])
    ordered = sorted(set(digests))
    seen = {
        str(a.hash)
        for start in range(0, len(ordered), CHUNK)
        for a in tl.Artifact.filter(hash__in=ordered[start : start + CHUNK], key__isnull=True)
    }
    named = []
    for output, digest in zip(outputs, digests, strict=True):
        key = work_key(output.path) if digest in seen and output.key is None else None
        named.append(dataclasses.replace(output, key=key) if key else output)
        seen.add(digest)
    return named


def work_key(path: str) -> str | None:
    """``work/ab/cdef.../file`` for a file in a task work dir (wherever the work dir is)."""
    parts = Path(path).parts
    digest = task_hash_of(Path(path))
    if not digest:
        return None
    index = next(i for i in range(1, len(parts)) if parts[i - 1] + parts[i] == digest)
    return "/".join(("work", *parts[index - 1 :]))


def task_inputs(
    run: tl.Run,
    task: Task,
    by_hash: dict[str, tl.Run],
    store: LineageStore | None,
    launch: Path,
) -> list[tuple[tl.Run, tl.Run]]:
    """Link a task to the files it read, through the one adapter rule
    (``adapters.resolve_inputs``); returns its links to the task runs that wrote them, as
    (upstream, task) pairs.

    A file another task wrote (in that task's work dir, or a ``lid://`` input of the
    lineage store) names that task's run as its producer, so the right one of several
    outputs with equal content is linked. A file from outside the work dirs (reads, a
    genome) is source data keyed by its path relative to the launch dir, whoever runs
    the ingest from wherever. Only producers that finished before the task started count.
    """
    writers: dict[str, str] = {}  # path read -> task hash of the task that wrote it ("": none)
    upstream: set[str] = set()
    for path in task.workdir.inputs if task.workdir else ():
        writers.setdefault(path, task_hash_of(Path(path)))
    if task.lineage is not None:
        lids, external = _lineage.input_refs(task.lineage)
        for lid in lids:
            upstream.add(_lineage.task_hash_of_lid(lid))
            record = store.get(lid) if store is not None else None
            path = str(record.spec.get("path") or "") if record is not None else ""
            if path:
                writers.setdefault(path.removeprefix("file://"), _lineage.task_hash_of_lid(lid))
        for path in external:
            local = path.removeprefix("file://")
            writers.setdefault(local, task_hash_of(Path(local)))
    upstream |= {digest for digest in writers.values() if digest in by_hash}
    inputs = [
        adapters.Input(path=path, producers=_producers(by_hash.get(digest), run))
        for path, digest in writers.items()
        if os.path.isfile(path) or os.path.isdir(path)
    ]
    if inputs:
        started = task.started_at or run.started_at
        adapters.resolve_inputs(run, inputs, workdir=str(launch), started_at=started)
    sources = [by_hash.get(digest) for digest in sorted(upstream)]
    return [(source, run) for source in sources if source is not None and source.id != run.id]


def _producers(writer: tl.Run | None, run: tl.Run) -> tuple[tl.Run, ...]:
    return (writer,) if writer is not None and writer.id != run.id else ()
