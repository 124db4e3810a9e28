"""Integrity and clean-up: ``check()`` every object against its record, ``gc()`` the rest.

``check`` re-reads every byte of each stored object (never the stat cache: an integrity
check must notice content that changed under an unchanged size and mtime) and reports
records whose object is missing, unreadable or no longer matches its hash. ``orphans``
lists objects under ``.threadline/objects`` that no record points to (a save whose
database write failed, an interrupted save, a permanently deleted artifact); ``gc``
empties the trash and removes those orphans, and manifests left without their folder.

Provenance outlives the bytes: a trashed artifact that a run used (read or wrote) is
purged, not erased: its object goes, its record stays as a tombstone (visibility
``purged``, with who deleted it and when) so that the lineage of everything derived from
it still reaches it. ``gc_plan`` lists what ``gc`` will do (the CLI shows it and asks);
only ``forget`` removes tombstones, refusing while other records depend on them unless
they are named.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._context import instance
from ._gc import Forget, GcPlan, Purge, execute, plan
from .errors import StorageError
from .hashing import StatCache, hash_path, manifest_hash
from .models import Artifact, Storage
from .storage import MANIFESTS, OBJECTS, Backend, _manifest, inside, manifest_path

Progress = Callable[[int], None]
__all__ = [
    "Forget",
    "GcPlan",
    "Orphan",
    "Problem",
    "Purge",
    "check",
    "count_artifacts",
    "empty_trash",
    "gc",
    "gc_plan",
    "orphans",
]


@dataclass(frozen=True)
class Problem:
    uid: str
    key: str | None
    path: str
    issue: str  # "missing", "unreadable" or "hash mismatch"

    def to_dict(self) -> dict[str, Any]:
        return {"uid": self.uid, "key": self.key, "path": self.path, "issue": self.issue}


def _actual_hash(backend: Backend, artifact: Artifact) -> str | None:
    local = backend.local_path(artifact.path)
    if local is not None:
        # a fresh, empty cache: hashing's default one remembers hashes for the process
        return hash_path(local, StatCache(None)).hash
    if artifact.n_files is None:
        return backend.sha256(artifact.path)
    files = backend.list(artifact.path)
    prefix = len(artifact.path) + 1
    return manifest_hash((f[prefix:], backend.sha256(f)) for f in files)


def check(progress: Progress | None = None) -> list[Problem]:
    """Every artifact whose object is missing or no longer matches its hash."""
    inst = instance()
    problems = []
    backends: dict[str, Backend] = {}
    query = (
        Artifact.select(Artifact, Storage)  # type: ignore[misc]
        .join(Storage)
        .where(Artifact.visibility != "purged")  # a tombstone has no object to check
        .order_by(Artifact.id)
    )
    for artifact in query:
        root = artifact.storage.root
        backend = backends.setdefault(root, inst.backend_for(root))
        issue = _issue(backend, artifact)
        if issue is not None:
            problems.append(Problem(artifact.uid, artifact.key, artifact.uri, issue))
        if progress:
            progress(1)
    return problems


def _issue(backend: Backend, artifact: Artifact) -> str | None:
    try:
        inside(artifact.path)
        if not backend.exists(artifact.path) and not _empty_folder(backend, artifact):
            return "missing"
        actual = _actual_hash(backend, artifact)
    except StorageError as exc:
        return "path outside the storage root" if "refusing path" in str(exc) else "unreadable"
    except OSError:
        return "unreadable"
    return None if actual == artifact.hash else "hash mismatch"


def _empty_folder(backend: Backend, artifact: Artifact) -> bool:
    """An empty folder on S3 has no key of its own: its manifest says it exists."""
    return artifact.n_files == 0 and _manifest.complete(backend, artifact.path, artifact.hash)


def count_artifacts() -> int:
    """Artifacts with content (tombstones of purged ones not counted)."""
    return int(Artifact.select().where(Artifact.visibility != "purged").count())


def empty_trash() -> int:
    """Purge every artifact in the trash (a tombstone where a run used it, else the record
    goes too); returns how many."""
    return execute(plan(orphans=[]))["trash_purged"]


@dataclass(frozen=True)
class Orphan:
    """An object no record points to."""

    path: str  # relative to the storage root
    uri: str
    age_s: float | None  # seconds since it last changed (None: unknown)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.uri, "issue": "orphan object", "age_s": self.age_s}


def _referenced(backend: Backend) -> set[str]:
    storage = Storage.get_or_none(Storage.root == backend.root)
    if storage is None:
        return set()
    rows = Artifact.select(Artifact.path).where(
        (Artifact.storage == storage)
        & (Artifact.in_place == False)  # noqa: E712
        & (Artifact.visibility != "purged")  # a tombstone keeps no object alive
    )
    return {a.path for a in rows}


def orphans() -> list[Orphan]:
    """Objects in the instance's storage that no artifact record points to."""
    backend = instance().backend
    referenced = _referenced(backend)
    now = time.time()
    found = []
    for top in _object_roots(backend):
        if top not in referenced:
            mtime = _newest_mtime(backend, top)
            age = None if mtime is None else max(0.0, now - mtime)
            found.append(Orphan(top, backend.uri(top), age))
    return found


def gc_plan(
    keep_trash: bool = False,
    min_age_s: float = 3600,
    forget: bool | Sequence[str] = False,
) -> GcPlan:
    """What ``gc`` with these arguments would do, doing nothing: the trashed artifacts it
    purges (``Purge.tombstone``: the record stays), the orphan objects it removes, the
    tombstones it forgets. ``InvalidInput`` (nothing done) when ``forget`` would cut the
    lineage of records that are not named, or names no purged record."""
    # young orphans, or of unknown age, are kept: perhaps a save in progress
    old = [o for o in orphans() if min_age_s <= 0 or (o.age_s or -1.0) >= min_age_s]
    return plan(keep_trash=keep_trash, orphans=old, forget=forget)


def gc(
    keep_trash: bool = False,
    min_age_s: float = 3600,
    forget: bool | Sequence[str] = False,
    planned: GcPlan | None = None,
) -> dict[str, int]:
    """Purge the trash (unless ``keep_trash``), remove orphan objects and, with ``forget``,
    the records of purged artifacts; returns the counts.

    A trashed artifact a run used becomes a tombstone (object freed, record kept); one no
    run used goes entirely. Orphans younger than ``min_age_s`` are kept: a save in
    progress uploads its object before it writes the record, and must not lose it in
    between. ``forget=True`` forgets every tombstone, refusing (``InvalidInput``, nothing
    done) while other records depend on one; ``forget=["raw/x.txt", "key@2", uid]``
    forgets those, whatever depends on them. ``planned``: do what ``gc_plan`` listed
    (what the CLI confirmed), not what is there now.
    """
    todo = planned if planned is not None else gc_plan(keep_trash, min_age_s, forget)
    result = execute(todo)
    backend = instance().backend
    referenced = _referenced(backend)  # again: a save may have claimed one since listed
    removed = [o for o in todo.orphans if o.path not in referenced]
    for orphan in removed:
        backend.remove(orphan.path)
    _drop_stray_manifests(backend, min_age_s)
    return {
        "trash_purged": result["trash_purged"],
        "tombstones_kept": result["tombstones_kept"],
        "objects_removed": len(removed),
        "records_forgotten": result["records_forgotten"],
    }


def _drop_stray_manifests(backend: Backend, min_age_s: float) -> None:
    """Manifests whose folder is gone (a removal interrupted after its first step)."""
    now = time.time()
    for path in backend.list(MANIFESTS):
        obj = OBJECTS + path[len(MANIFESTS) : -len(".json")]
        if manifest_path(obj) != path or backend.exists(obj):
            continue
        mtime = (backend.info(path) or {}).get("mtime")
        if min_age_s > 0 and (mtime is None or now - mtime < min_age_s):
            continue
        backend.remove(path)


def _newest_mtime(backend: Backend, top: str) -> float | None:
    """When ``top`` last changed: a file's mtime, a folder's newest file's (S3 folders
    have no mtime of their own)."""
    info = backend.info(top)
    if info is None:
        return None
    own: float | None = info["mtime"]
    if info["type"] != "directory":
        return own
    times = [(backend.info(f) or {}).get("mtime") for f in backend.list(top)]
    known = [float(t) for t in times if t is not None]
    return max(known) if len(known) == len(times) and known else own


def _object_roots(backend: Backend) -> list[str]:
    """Each stored object once: a file, or a folder object's top directory."""
    roots = set()
    for path in backend.list(OBJECTS):
        rest = path[len(OBJECTS) + 1 :].split("/")
        if len(rest) >= 2:
            roots.add(f"{OBJECTS}/{rest[0]}/{rest[1]}")
    return sorted(roots)
