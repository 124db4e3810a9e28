"""Integrity and clean-up: ``check()`` every object against its record, ``gc()`` the rest.

``check`` re-reads every byte of each stored object (never the stat cache: an integrity
check must notice content that changed under an unchanged size and mtime) and reports
records whose object is missing, unreadable or no longer matches its hash. ``gc`` empties
the trash and removes objects under ``.threadline/objects`` that no record points to
(leftovers of interrupted saves, or of permanently deleted artifacts).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._context import instance
from .hashing import StatCache, hash_path, manifest_hash
from .models import Artifact, Storage
from .storage import OBJECTS, Backend

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
    query = Artifact.select(Artifact, Storage).join(Storage).order_by(Artifact.id)
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
    if not backend.exists(artifact.path):
        return "missing"
    try:
        actual = _actual_hash(backend, artifact)
    except OSError:  # StorageError included
        return "unreadable"
    return None if actual == artifact.hash else "hash mismatch"


def count_artifacts() -> int:
    return int(Artifact.select().count())


def empty_trash() -> int:
    """Permanently delete every artifact in the trash; returns how many."""
    trashed = list(Artifact.select().where(Artifact.visibility == "trash"))
    for artifact in trashed:
        artifact.delete(permanent=True)
    return len(trashed)


def gc(keep_trash: bool = False, min_age_s: float = 3600) -> dict[str, int]:
    """Empty the trash (unless ``keep_trash``) and remove unreferenced objects.

    Objects younger than ``min_age_s`` are kept: a save in progress uploads its object
    before it writes the record, and must not lose it in between.
    """
    inst = instance()
    purged = 0 if keep_trash else empty_trash()
    removed = 0
    storage = Storage.get(Storage.root == inst.backend.root)
    referenced = {
        a.path
        for a in Artifact.select(Artifact.path).where(
            (Artifact.storage == storage) & (Artifact.in_place == False)
        )
    }  # noqa: E712
    now = time.time()
    for top in _object_roots(inst.backend):
        if top in referenced:
            continue
        mtime = _newest_mtime(inst.backend, top)
        if min_age_s > 0 and (mtime is None or now - mtime < min_age_s):
            continue  # young, or of unknown age: perhaps a save in progress
        inst.backend.remove(top)
        removed += 1
    return {"trash_purged": purged, "objects_removed": removed}


def _newest_mtime(backend: Backend, top: str) -> float | None:
    """When ``top`` last changed: a file's mtime, a folder's newest file's (S3 folders
    have no mtime of their own)."""
    info = backend.info(top)
    if info is None:
        return None
    if info["type"] != "directory":
        return info["mtime"]  # type: ignore[no-any-return]
    times = [(backend.info(f) or {}).get("mtime") for f in backend.list(top)]
    known = [t for t in times if t is not None]
    return max(known) if len(known) == len(times) and known else info["mtime"]


def _object_roots(backend: Backend) -> list[str]:
    """Each stored object once: a file, or a folder object's top directory."""
    roots = set()
    for path in backend.list(OBJECTS):
        rest = path[len(OBJECTS) + 1 :].split("/")
        if len(rest) >= 2:
            roots.add(f"{OBJECTS}/{rest[0]}/{rest[1]}")
    return sorted(roots)
