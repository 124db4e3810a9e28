"""Saving many artifacts at once: parallel hashing, then one transaction, bulk inserts.

Used by ``tl.save([...])`` and by adapters registering a job's outputs. The result is the
same as saving each artifact in turn (idempotent per key and content, contiguous
versions), with a handful of queries instead of several per artifact.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import peewee

from .. import _context
from .._db import write_transaction
from .._keys import check_key, suffix_of
from ..errors import InvalidInput
from ..storage._objects import Prepared, prepare, store
from ._base import new_uid, utcnow
from .artifact import Artifact

PARALLEL_BYTES = 32 << 20  # below this much local data, hash and copy in one thread


def save_artifacts(artifacts: Sequence[Artifact], workers: int = 8) -> list[Artifact]:
    """Save unsaved artifacts together; each element is updated in place and returned."""
    pending = [a for a in artifacts if a.id is None]
    for artifact in pending:
        if getattr(artifact, "_source", None) is None:
            raise InvalidInput("nothing to save: every artifact needs a path")
        if artifact.key is not None:
            check_key(artifact.key)
    keys = [a.key for a in pending if a.key is not None]
    if len(keys) != len(set(keys)):
        raise InvalidInput("the same key appears twice in one bulk save")
    if not pending:
        return list(artifacts)
    inst = _context.instance()

    def prep(a: Artifact) -> Prepared:
        return prepare(
            a._source, inst.backend, inst.stat_cache, a.suffix or suffix_of(a.key or str(a._source))
        )

    def prep_and_store(a: Artifact) -> Prepared:
        prepared = prep(a)
        store(prepared, inst.backend)
        return prepared

    if _worth_threads(pending, inst.backend.is_local):
        with ThreadPoolExecutor(max_workers=min(workers, len(pending))) as pool:
            prepared = list(pool.map(prep_and_store, pending))
    else:
        prepared = [prep_and_store(a) for a in pending]
    _write_all(pending, prepared, inst.storage)
    return list(artifacts)


def _worth_threads(pending: list[Artifact], local_storage: bool) -> bool:
    """Threads pay off for remote storage or big files; small local files go faster in
    this thread (per-file work is then mostly Python, which threads cannot overlap)."""
    if not local_storage or len(pending) < 2:
        return not local_storage and len(pending) > 1
    total = 0
    for artifact in pending:
        source = str(artifact._source)
        if "://" in source or os.path.isdir(source):
            return True
        total += os.path.getsize(source) if os.path.exists(source) else 0
    return total > PARALLEL_BYTES


def _write_all(pending: list[Artifact], prepared: list[Prepared], storage: Any) -> None:
    keys = sorted({a.key for a in pending if a.key is not None})
    db = Artifact._meta.database
    with write_transaction(db, lock="artifact:bulk"):
        for key in keys:  # PostgreSQL: take each key's lock, in a fixed order
            with write_transaction(db, lock=f"artifact:{key}"):
                pass
        existing = _existing(keys, [p.hash for p in prepared])
        tops = _top_versions(keys)
        rows, fresh, bumped = [], [], set()
        twins: list[tuple[Artifact, Artifact]] = []  # keyless repeats within this batch
        first_keyless: dict[str, Artifact] = {}
        for artifact, prep in zip(pending, prepared, strict=True):
            found = existing.get((artifact.key, prep.hash))
            if found is not None:
                artifact.__data__, artifact._dirty = dict(found.__data__), set()
                continue
            if artifact.key is None and prep.hash in first_keyless:
                twins.append((artifact, first_keyless[prep.hash]))
                continue
            if artifact.key is None:
                first_keyless[prep.hash] = artifact
            artifact._fill(prep, storage)
            if artifact.key is not None:
                tops[artifact.key] = tops.get(artifact.key, 0) + 1
                artifact.version = tops[artifact.key]
                bumped.add(artifact.key)
            artifact.uid = artifact.uid or new_uid()
            artifact.created_at = artifact.created_at or utcnow()
            rows.append(_row(artifact))
            fresh.append(artifact)
        if bumped:
            Artifact.update(is_latest=False).where(Artifact.key.in_(sorted(bumped))).execute()
        for start in range(0, len(rows), 500):
            Artifact.insert_many(rows[start : start + 500]).execute()
        ids = {
            a.uid: a.id
            for a in Artifact.select(Artifact.uid, Artifact.id).where(
                Artifact.uid.in_([a.uid for a in fresh])
            )
        }
    for artifact in fresh:
        artifact.id, artifact._dirty, artifact._source = ids[artifact.uid], set(), None
    for twin, original in twins:
        twin.__data__, twin._dirty, twin._source = dict(original.__data__), set(), None


def _row(artifact: Artifact) -> dict[str, Any]:
    data = {name: artifact.__data__.get(name) for name in Artifact._meta.fields if name != "id"}
    data["is_latest"] = True
    for name, field in Artifact._meta.fields.items():
        if data.get(name) is None and field.default is not None and name != "id":
            data[name] = field.default() if callable(field.default) else field.default
    return data


def _existing(keys: list[str], hashes: list[str]) -> dict[tuple[str | None, str], Artifact]:
    found: dict[tuple[str | None, str], Artifact] = {}
    unique = sorted(set(hashes))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        query = Artifact.select().where(Artifact.hash.in_(chunk) & (Artifact.visibility != "trash"))
        for artifact in query.order_by(Artifact.version):
            if artifact.key is None or artifact.key in keys:
                found[(artifact.key, artifact.hash)] = artifact
    return found


def _top_versions(keys: list[str]) -> dict[str, int]:
    tops: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        query = (
            Artifact.select(Artifact.key, peewee.fn.MAX(Artifact.version).alias("top"))
            .where(Artifact.key.in_(chunk))
            .group_by(Artifact.key)
        )
        tops.update({row.key: row.top for row in query})
    return tops
