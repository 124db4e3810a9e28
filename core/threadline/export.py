"""Export runs as OpenLineage run events, for Marquez and the other OpenLineage consumers.

Each run that started becomes a ``START`` event at its start and, once it has ended, a
``COMPLETE``, ``FAIL`` (with an ``errorMessage`` facet) or ``ABORT`` event at its end; a
run that never started (``scheduled``, or ``cached``: it reused another run's outputs)
has no ``START``. Events come in time order, a parent run's end after its children's
events. The job is the run's transform (namespace ``threadline``, name the transform key);
datasets are artifacts named as OpenLineage's naming conventions say: local files in
namespace ``file`` by absolute path, S3 objects in namespace ``s3://bucket`` by object
key; threadline's key, version, uid and hash travel in a ``threadline`` dataset facet and
the version also in the standard ``version`` facet. A parent run becomes the ``parent``
facet. Run ids are UUIDs derived from threadline's run uids, so exporting twice gives the
same ids. ``post_events`` delivers events to an OpenLineage HTTP endpoint.
"""

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from ._openlineage_send import post_events
from ._output import iso
from ._purge import tombstone
from .models import Artifact, Run, RunInput, Storage, Transform

REPOSITORY = "https://github.com/threadline/threadline"
PRODUCER = REPOSITORY
SPEC = "https://openlineage.io/spec"
RUN_EVENT = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
PARENT_FACET = f"{SPEC}/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
ERROR_FACET = f"{SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
VERSION_FACET = (
    f"{SPEC}/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
)
JOB_TYPE_FACET = f"{SPEC}/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
THREADLINE_FACET = f"{REPOSITORY}/blob/main/docs/lineage.md#the-threadline-dataset-facet"
NAMESPACE = "threadline"
END_EVENTS = {
    "completed": "COMPLETE",
    "errored": "FAIL",
    "aborted": "ABORT",
    "cached": "COMPLETE",
    "skipped": "ABORT",  # no START: it never ran
    "rolled_back": "ABORT",  # it ran, and the engine undid what it did
}
NEVER_STARTED = ("scheduled", "cached", "skipped")
LANGUAGES = {"nextflow": "GROOVY"}  # the errorMessage facet's programmingLanguage
_IDS = uuid.UUID("6c1f7a52-4a8e-4c56-9a0f-2f6b1f3d9e10")  # namespace of the derived run ids
_CHUNK = 500

__all__ = ["PRODUCER", "REPOSITORY", "openlineage_events", "post_events", "run_events", "run_id"]


def run_id(uid: str) -> str:
    """The OpenLineage run id (a UUID) of the threadline run ``uid``."""
    return str(uuid.uuid5(_IDS, uid))


def openlineage_events(
    runs: Iterable[Run] | None = None, *, since: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """OpenLineage run events for ``runs`` (default: every run) in time order; ``since``
    keeps the runs started at or after it (naive datetimes are UTC)."""
    chosen = list(runs) if runs is not None else None
    if chosen is None:
        query = Run.select().order_by(Run.started_at, Run.id)
        if since is not None:
            query = query.where(Run.started_at >= _naive_utc(since))
        chosen = list(query)
    elif since is not None:
        chosen = [r for r in chosen if r.started_at >= _naive_utc(since)]
    timed: list[tuple[dt.datetime, int, int, dict[str, Any]]] = []
    ends = _end_times(chosen)
    depth = _depths(chosen)
    for start in range(0, len(chosen), _CHUNK):
        for run, kind, at, event in run_events(chosen[start : start + _CHUNK], ends):
            rank = depth[run.id] if kind == "START" else -depth[run.id]
            timed.append((at, 0 if kind == "START" else 1, rank, event))
    timed.sort(key=lambda item: item[:3])
    return [event for *_, event in timed]


def _end_times(runs: list[Run]) -> dict[int, dt.datetime]:
    """When each run ended, a parent no earlier than its children's ends."""
    ends = {r.id: r.finished_at or r.started_at for r in runs}
    by_id: dict[int | None, Run] = {r.id: r for r in runs}
    for run in sorted(runs, key=lambda r: ends[r.id]):
        parent = by_id.get(run.parent_id)
        while parent is not None and ends[parent.id] < ends[run.id]:
            ends[parent.id] = ends[run.id]
            parent = by_id.get(parent.parent_id)
    return ends


def _depths(runs: list[Run]) -> dict[int, int]:
    by_id: dict[int | None, Run] = {r.id: r for r in runs}
    depth: dict[int, int] = {}
    for run in runs:
        level, parent = 0, by_id.get(run.parent_id)
        while parent is not None and level < 64:
            level, parent = level + 1, by_id.get(parent.parent_id)
        depth[run.id] = level
    return depth


def run_events(
    runs: list[Run], ends: dict[int, dt.datetime] | None = None
) -> Iterable[tuple[Run, str, dt.datetime, dict[str, Any]]]:
    """``(run, event type, time, event)`` for each event of ``runs``: a few queries for
    all of them (datasets, parents, transforms)."""
    ids = [r.id for r in runs]
    roots = {s.id: s.root for s in Storage.select()}
    outputs = _by_run((a.run_id, a) for a in Artifact.select().where(Artifact.run.in_(ids)))
    inputs = _by_run(
        (link.run_id, link.artifact)
        for link in RunInput.select(RunInput, Artifact).join(Artifact).where(RunInput.run.in_(ids))
    )
    parent_ids = sorted({r.parent_id for r in runs if r.parent_id})
    parents: dict[int | None, Run] = {p.id: p for p in Run.select().where(Run.id.in_(parent_ids))}
    transforms = _transforms({r.transform_id for r in [*runs, *parents.values()]})
    for run in runs:
        parent = parents.get(run.parent_id)
        reads = [_dataset(a, roots) for a in inputs.get(run.id, [])]
        if run.status not in NEVER_STARTED:
            start = _event("START", run.started_at, run, parent, transforms, reads, [])
            yield run, "START", run.started_at, start
        if run.status in END_EVENTS:
            made = [_dataset(a, roots) for a in outputs.get(run.id, [])]
            at = (ends or {}).get(run.id) or run.finished_at or run.started_at
            kind = END_EVENTS[run.status]
            yield run, kind, at, _event(kind, at, run, parent, transforms, reads, made)


def _by_run(pairs: Iterable[tuple[int | None, Artifact]]) -> dict[int | None, list[Artifact]]:
    found: dict[int | None, list[Artifact]] = {}
    for run_id_, artifact in pairs:
        found.setdefault(run_id_, []).append(artifact)
    return found


def _transforms(ids: set[int]) -> dict[int, Transform]:
    return {t.id: t for t in Transform.select().where(Transform.id.in_(sorted(ids)))}


def _event(
    kind: str,
    at: dt.datetime,
    run: Run,
    parent: Run | None,
    transforms: dict[int, Transform],
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    transform = transforms[run.transform_id]
    run_facets: dict[str, Any] = {}
    if parent is not None:
        run_facets["parent"] = {
            **_facet(PARENT_FACET),
            "run": {"runId": run_id(parent.uid)},
            "job": {"namespace": NAMESPACE, "name": transforms[parent.transform_id].key},
        }
    if kind == "FAIL":
        run_facets["errorMessage"] = {
            **_facet(ERROR_FACET),
            "message": run.error or "failed (no message recorded)",
            "programmingLanguage": LANGUAGES.get(run.engine or "", "PYTHON"),
            **({"stackTrace": run.traceback} if run.traceback else {}),
        }
    return {
        "eventType": kind,
        "eventTime": iso(at),  # the one JSON date format: microseconds, +00:00
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT,
        "run": {"runId": run_id(run.uid), "facets": run_facets},
        "job": {
            "namespace": NAMESPACE,
            "name": transform.key,
            "facets": {
                "jobType": {
                    **_facet(JOB_TYPE_FACET),
                    "processingType": "BATCH",
                    "integration": (run.engine or "threadline").upper(),
                    "jobType": transform.kind.upper(),
                }
            },
        },
        "inputs": inputs,
        "outputs": outputs,
    }


def dataset_name(root: str, path: str) -> tuple[str, str]:
    """``(namespace, name)`` of the object at ``path`` under storage ``root``, as
    OpenLineage's naming conventions say: ``file`` and the absolute path for local
    storage, ``s3://bucket`` and the object key for S3."""
    location = f"{root.rstrip('/')}/{path}" if path and not path.startswith("/") else path
    if "://" in location:
        scheme, _, rest = location.partition("://")
        bucket, _, key = rest.partition("/")
        return f"{scheme}://{bucket}", key
    return "file", location


def _dataset(artifact: Artifact, roots: dict[int, str]) -> dict[str, Any]:
    namespace, name = dataset_name(roots.get(artifact.storage_id, ""), artifact.path)
    return {
        "namespace": namespace,
        "name": name,
        "facets": {
            "version": {**_facet(VERSION_FACET), "datasetVersion": str(artifact.version)},
            "threadline": {
                **_facet(THREADLINE_FACET),
                "key": artifact.key,
                "version": artifact.version,
                "uid": artifact.uid,
                "hash": f"{artifact.hash_type}:{artifact.hash}",
                # a tombstone: the object is gone, gc purged it (the record stays)
                **({"purged": tombstone(artifact)} if artifact.visibility == "purged" else {}),
            },
        },
    }


def _facet(schema: str) -> dict[str, str]:
    return {"_producer": PRODUCER, "_schemaURL": schema}


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
