"""Export runs as OpenLineage run events, for Marquez and the other OpenLineage consumers.

Each run becomes a ``START`` event at its start and, once it has ended, a ``COMPLETE``,
``FAIL`` or ``ABORT`` event at its end. The job is the run's transform (namespace
``threadline``, name the transform key); datasets are artifacts, named by key (or
``sha256:<hash>`` when they have none) in the namespace of their storage root, with the
artifact version as the dataset version. A parent run becomes OpenLineage's parent
facet. Run ids are UUIDs derived from threadline's run uids, so exporting twice gives
the same ids. Nothing is sent anywhere: the events are returned, the CLI prints them.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from . import __version__
from .models import Artifact, Run, RunInput, Storage, Transform

PRODUCER = f"https://pypi.org/project/threadline/{__version__}"
SPEC = "https://openlineage.io/spec"
RUN_EVENT = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
PARENT_FACET = f"{SPEC}/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet"
VERSION_FACET = (
    f"{SPEC}/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
)
JOB_TYPE_FACET = f"{SPEC}/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
NAMESPACE = "threadline"
END_EVENTS = {"completed": "COMPLETE", "errored": "FAIL", "aborted": "ABORT"}
_IDS = uuid.UUID("6c1f7a52-4a8e-4c56-9a0f-2f6b1f3d9e10")  # namespace of the derived run ids
_CHUNK = 500


def run_id(uid: str) -> str:
    """The OpenLineage run id (a UUID) of the threadline run ``uid``."""
    return str(uuid.uuid5(_IDS, uid))


def openlineage_events(
    runs: Iterable[Run] | None = None, *, since: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """OpenLineage run events for ``runs`` (default: every run), oldest run first;
    ``since`` keeps the runs started at or after it (naive datetimes are UTC)."""
    chosen = list(runs) if runs is not None else None
    if chosen is None:
        query = Run.select().order_by(Run.started_at, Run.id)
        if since is not None:
            query = query.where(Run.started_at >= _naive_utc(since))
        chosen = list(query)
    elif since is not None:
        chosen = [r for r in chosen if r.started_at >= _naive_utc(since)]
    events: list[dict[str, Any]] = []
    for start in range(0, len(chosen), _CHUNK):
        events += _events_of(chosen[start : start + _CHUNK])
    return events


def _events_of(runs: list[Run]) -> Iterator[dict[str, Any]]:
    ids = [r.id for r in runs]
    roots = {s.id: s.root for s in Storage.select()}
    outputs = _by_run((a.run_id, a) for a in Artifact.select().where(Artifact.run.in_(ids)))
    inputs = _by_run(
        (link.run_id, link.artifact)
        for link in RunInput.select(RunInput, Artifact).join(Artifact).where(RunInput.run.in_(ids))
    )
    parents = {
        p.id: p
        for p in Run.select().where(Run.id.in_(sorted({r.parent_id for r in runs if r.parent_id})))
    }
    transforms = _transforms({r.transform_id for r in [*runs, *parents.values()]})
    for run in runs:
        parent = parents.get(run.parent_id)
        reads = [_dataset(a, roots) for a in inputs.get(run.id, [])]
        made = [_dataset(a, roots) for a in outputs.get(run.id, [])]
        yield _event("START", run.started_at, run, parent, transforms, reads, [])
        if run.status in END_EVENTS:
            yield _event(
                END_EVENTS[run.status],
                run.finished_at or run.started_at,
                run,
                parent,
                transforms,
                reads,
                made,
            )


def _by_run(pairs: Iterable[tuple[int, Artifact]]) -> dict[int, list[Artifact]]:
    found: dict[int, list[Artifact]] = {}
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
    return {
        "eventType": kind,
        "eventTime": _iso(at),
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


def _dataset(artifact: Artifact, roots: dict[int, str]) -> dict[str, Any]:
    root = roots.get(artifact.storage_id, "")
    namespace = root if "://" in root else f"file://{root}"
    return {
        "namespace": namespace,
        "name": artifact.key or f"sha256:{artifact.hash}",
        "facets": {"version": {**_facet(VERSION_FACET), "datasetVersion": str(artifact.version)}},
    }


def _facet(schema: str) -> dict[str, str]:
    return {"_producer": PRODUCER, "_schemaURL": schema}


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
