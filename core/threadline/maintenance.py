"""Integrity and clean-up: ``check()`` every object against its record, ``gc()`` the rest.

``check`` re-reads every byte of each stored object (never the stat cache: an integrity
check must notice content that changed under an unchanged size and mtime) and reports
records whose object is missing, unreadable or no longer matches its hash. ``orphans``
lists objects under ``.threadline/objects`` that no record points to (a save whose
database write failed, an interrupted save, a permanently deleted artifact); ``gc``
empties the trash and removes those orphans, and manifests left without their folder.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._context import instance
from .errors import StorageError
from .hashing import StatCache, hash_path, manifest_hash
from .models import Artifact, Storage
from .storage import MANIFESTS, OBJECTS, Backend, _manifest, inside, manifest_path

Progress = Callable[[int], None]


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
    query = Artifact.select(Artifact, Storage).join(Storage).order_by(Artifact.id)  # type: ignore[misc]
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
    return int(Artifact.select().count())


def empty_trash() -> int:
    """Permanently delete every artifact in the trash; returns how many."""
    trashed = list(Artifact.select().where(Artifact.visibility == "trash"))
    for artifact in trashed:
        artifact.delete(permanent=True)
    return len(trashed)


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
        (Artifact.storage == storage) & (Artifact.in_place == False)  # noqa: E712
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


def gc(keep_trash: bool = False, min_age_s: float = 3600) -> dict[str, int]:
    """Empty the trash (unless ``keep_trash``) and remove orphan objects.

    Orphans younger than ``min_age_s`` are kept: a save in progress uploads its object
    before it writes the record, and must not lose it in between.
    """
    backend = instance().backend
    purged = 0 if keep_trash else empty_trash()
    removed = 0
    for orphan in orphans():
        if min_age_s > 0 and (orphan.age_s is None or orphan.age_s < min_age_s):
            continue  # young, or of unknown age: perhaps a save in progress
        backend.remove(orphan.path)
        removed += 1
    _drop_stray_manifests(backend, min_age_s)
    return {"trash_purged": purged, "objects_removed": removed}


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
