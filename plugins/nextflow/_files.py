"""A task's files: outputs from its work dir or lineage FileOutputs, inputs staged in its
work dir or named in lineage, and the files a run published (lineage FileOutputs)."""

import logging
import os
from pathlib import Path

import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from . import _lineage
from ._lineage import LineageStore, Record
from ._tasks import Task

log = logging.getLogger(__name__)


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


def task_inputs(
    run: tl.Run, task: Task, by_hash: dict[str, tl.Run], store: LineageStore | None
) -> list[tuple[tl.Run, tl.Run]]:
    """Link a task to the files it read; returns its links to the task runs that wrote
    them, as (upstream, task) pairs."""
    paths = list(task.workdir.inputs) if task.workdir else []
    upstream = set()
    if task.lineage is not None:
        lids, external = _lineage.input_refs(task.lineage)
        upstream |= {_lineage.task_hash_of_lid(lid) for lid in lids}
        paths += [p.removeprefix("file://") for p in external]
    for path in paths:
        parts = Path(path).parts
        if len(parts) >= 3 and "".join(parts[-3:-1]) in by_hash:  # in another work dir
            upstream.add("".join(parts[-3:-1]))
    local = [p for p in dict.fromkeys(paths) if os.path.isfile(p) or os.path.isdir(p)]
    if local:
        adapters.link_inputs(run, paths=local)
    sources = [by_hash.get(digest) for digest in sorted(upstream)]
    return [(source, run) for source in sources if source is not None and source.id != run.id]
