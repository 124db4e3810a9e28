"""Listings of artifacts and runs in a stable order, as the CLI and notebooks show them.

``list_artifacts`` sorts keyed artifacts by key and version, then key-less ones oldest
first: the same order on SQLite and PostgreSQL, which sort NULL keys differently.
``run_rows`` turns runs into plain rows, reading transform keys and parent uids in one
query each.
"""

from typing import Any

from .errors import NotFound
from .models import Artifact, Run, Transform


def list_artifacts(
    prefix: str = "",
    *,
    limit: int | None = None,
    all_versions: bool = False,
    trash: bool = False,
) -> list[Artifact]:
    """Artifacts whose key starts with ``prefix``: latest versions unless
    ``all_versions``, those in the trash instead with ``trash``; key-less ones (last)
    only when no prefix is given."""
    query = Artifact.filter(key__startswith=prefix) if prefix else Artifact.filter()
    if trash:
        query = query.filter(visibility="trash")
    elif not all_versions:
        query = query.filter(is_latest=True)

    def take(q: Any, n: int | None) -> list[Artifact]:
        return list(q.limit(n) if n is not None else q)

    found = take(query.filter(key__isnull=False).order_by("key", "version"), limit)
    if not prefix and (limit is None or len(found) < limit):
        rest = None if limit is None else limit - len(found)
        found += take(query.filter(key__isnull=True).order_by("created_at"), rest)
    return found


def list_runs(
    *,
    engine: str | None = None,
    status: str | None = None,
    parent: str | None = None,
    transform: str | None = None,
    limit: int | None = None,
) -> list[Run]:
    """Runs newest first, filtered by engine, status, parent run uid and transform key;
    an unknown parent uid or transform key is an error (a typo), not an empty list."""
    if parent is not None and not Run.select().where(Run.uid == parent).exists():
        raise NotFound(f"no run with uid {parent!r}")
    if transform is not None and not Transform.select().where(Transform.key == transform).exists():
        raise NotFound(f"no transform with key {transform!r}")
    lookups = {
        "engine": engine,
        "status": status,
        "parent__uid": parent,
        "transform__key": transform,
    }
    query = Run.filter(**{k: v for k, v in lookups.items() if v is not None})
    query = query.order_by("-started_at")
    return list(query.limit(limit) if limit is not None else query)


def run_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """Runs as plain rows, with transform keys and parent uids read in one query each."""
    ids = {r.transform_id for r in runs}
    keys = (
        {
            t.id: t.key
            for t in Transform.select(Transform.id, Transform.key).where(Transform.id.in_(ids))
        }
        if ids
        else {}
    )
    parent_ids = {r.parent_id for r in runs if r.parent_id is not None}
    parents: dict[int | None, str] = (
        {r.id: r.uid for r in Run.select(Run.id, Run.uid).where(Run.id.in_(parent_ids))}
        if parent_ids
        else {}
    )
    return [
        {
            "uid": r.uid,
            "status": r.status,
            "engine": r.engine,
            "transform": keys[r.transform_id],
            "name": r.name,
            "reference": r.reference,
            "parent": parents.get(r.parent_id),
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "error": r.error,
        }
        for r in runs
    ]


def artifact_dict(artifact: Artifact) -> dict[str, Any]:
    """``artifact.to_dict()`` with its date as an aware datetime (JSON: ISO 8601 + zone)."""
    return {**artifact.to_dict(), "created_at": artifact.created_at}
