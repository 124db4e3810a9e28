"""Integrity and clean-up: ``check()`` every object against its record, ``gc()`` the rest.

``check`` re-hashes each stored object (local files through the stat cache, remote ones
by streaming) and reports records whose object is missing or whose content changed.
``gc`` empties the trash and removes objects under ``.threadline/objects`` that no record
points to (leftovers of interrupted saves, or of permanently deleted artifacts).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._context import instance
from .hashing import hash_path, manifest_hash
from .models import Artifact, Storage
from .storage import OBJECTS, Backend

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Problem:
    uid: str
    key: str | None
    path: str
    issue: str  # "missing" or "hash mismatch"

    def to_dict(self) -> dict[str, Any]:
        return {"uid": self.uid, "key": self.key, "path": self.path, "issue": self.issue}


def _actual_hash(backend: Backend, artifact: Artifact, cache: Any) -> str | None:
    local = backend.local_path(artifact.path)
    if local is not None:
        return hash_path(local, cache).hash
    if artifact.n_files is None:
        return backend.sha256(artifact.path)
    files = backend.list(artifact.path)
    prefix = len(artifact.path) + 1
    return manifest_hash((f[prefix:], backend.sha256(f)) for f in files)


def check(progress: Progress | None = None) -> list[Problem]:
    """Every artifact whose object is missing or no longer matches its hash."""
    inst = instance()
    problems = []
    for artifact in Artifact.select().order_by(Artifact.id):
        backend = inst.backend_for(artifact.storage.root)
        if not backend.exists(artifact.path):
            problems.append(Problem(artifact.uid, artifact.key, artifact.uri, "missing"))
        elif _actual_hash(backend, artifact, inst.stat_cache) != artifact.hash:
            problems.append(Problem(artifact.uid, artifact.key, artifact.uri, "hash mismatch"))
        if progress:
            progress(1)
    return problems


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
    referenced = {a.path for a in Artifact.select(Artifact.path)
                  .where((Artifact.storage == storage) & (Artifact.in_place == False))}  # noqa: E712
    now = time.time()
    for top in _object_roots(inst.backend):
        if top in referenced:
            continue
        info = inst.backend.info(top)
        if info is not None and info["mtime"] is not None and now - info["mtime"] < min_age_s:
            continue
        inst.backend.remove(top)
        removed += 1
    return {"trash_purged": purged, "objects_removed": removed}


def _object_roots(backend: Backend) -> list[str]:
    """Each stored object once: a file, or a folder object's top directory."""
    roots = set()
    for path in backend.list(OBJECTS):
        rest = path[len(OBJECTS) + 1:].split("/")
        if len(rest) >= 2:
            roots.add(f"{OBJECTS}/{rest[0]}/{rest[1]}")
    return sorted(roots)
