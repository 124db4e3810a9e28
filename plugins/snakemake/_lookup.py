"""The artifacts behind threadline storage queries: ``key`` means its latest version,
``key@3`` version 3, and trashed versions are never found.

One helper for the storage plugin (one query at a time) and the recorder (every storage
file of a batch of jobs in one query), so both read a query the same way.
"""

from __future__ import annotations  # annotations name models: do not load them

from collections.abc import Iterable

import threadline as tl

Wanted = tuple[str, int | None]  # (key, pinned version or None for the latest)
CHUNK = 500  # keys per query, under every database's limit on parameters


def find_artifacts(wanted: Iterable[Wanted]) -> dict[Wanted, tl.Artifact]:
    """The artifact for each (key, version) that has one, a query per 500 keys."""
    asked = set(wanted)
    keys = sorted({key for key, _ in asked})
    versions = sorted({version for _, version in asked if version is not None})
    model = tl.Artifact
    which = model.is_latest == True  # noqa: E712  # a peewee expression, not a comparison
    if versions:
        which = which | model.version.in_(versions)
    found: dict[Wanted, tl.Artifact] = {}
    for start in range(0, len(keys), CHUNK):
        query = model.select().where(
            model.key.in_(keys[start : start + CHUNK]) & (model.visibility != "trash") & which
        )
        for artifact in query:
            for ident in ((artifact.key, artifact.version), (artifact.key, None)):
                if ident in asked and (ident[1] is not None or artifact.is_latest):
                    found[ident] = artifact
    return found


def find_artifact(key: str, version: int | None) -> tl.Artifact | None:
    """The artifact for one query: the latest version of ``key``, or ``version``."""
    return find_artifacts([(key, version)]).get((key, version))
