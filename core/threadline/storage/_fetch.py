"""Reading a stored object back: a local path for it (``Artifact.cache()``).

Apart from ``_objects`` (hashing and storing), so that the tables, which every query
imports, do not load the write path: a stored object is read with ``_base`` and the
folder manifest only.
"""

from __future__ import annotations

import os

from ..errors import StorageError
from . import _manifest
from ._base import Backend, inside

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from pathlib import Path


def fetch(backend: Backend, path: str, cache_dir: str, is_folder: bool) -> str:
    """A local path for the object: itself on local storage, a cached copy otherwise.

    Every file written into the cache is checked to stay inside it, whatever the bucket
    listing or the manifest says.
    """
    local = backend.local_path(path)
    if local is not None:
        if not os.path.exists(local):
            raise StorageError(f"object missing from storage: {local}")
        return local
    from pathlib import Path  # only for remote roots: opening an instance never needs it

    protocol, _, base = backend.root.partition("://")
    target = Path(inside(path, os.path.join(cache_dir, protocol, base)))
    if is_folder:
        entries = _manifest.read(backend, path)
        if entries is not None:
            files = [rel for rel, _, _ in entries]
        else:
            files = [f[len(path) + 1 :] for f in backend.list(path)]
        for rel in files:
            _fetch_file(backend, inside(rel, path), Path(inside(rel, str(target))))
        target.mkdir(parents=True, exist_ok=True)
    else:
        _fetch_file(backend, path, target)
    return str(target)


def _fetch_file(backend: Backend, path: str, target: Path) -> None:
    info = backend.info(path)
    if info is None:
        raise StorageError(f"object missing from storage: {backend.uri(path)}")
    if target.exists() and target.stat().st_size == info["size"]:
        return
    backend.get_file(path, str(target))
