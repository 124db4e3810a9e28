"""Bringing content into storage and back: the I/O half of an artifact.

``prepare`` hashes a local path (or an object already under the storage root) and says
where its object lives; ``store`` uploads a managed object unless identical content is
already there; ``fetch`` gives a local copy of a stored object (cached for remote roots).
No database access happens here.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._tables import OTYPES, describe_file
from ..errors import InvalidInput, StorageError
from ..hashing import Hashed, StatCache, hash_path, manifest_hash, sha256_bytes
from ._base import Backend, object_path

SMALL_FILE = 256 << 10


@dataclass(frozen=True)
class Prepared:
    """A path ready to become an artifact: its identity and where its object goes."""

    source: str  # local path, or the object path for in-place remote objects
    hash: str
    size: int
    n_files: int | None
    files: tuple[str, ...]
    suffix: str
    object_path: str  # relative to the storage root
    in_place: bool
    data: bytes | None = None  # the content itself, for small files (read exactly once)
    otype: str | None = None  # DataFrame, AnnData: what the suffix says the content is
    n_observations: int | None = None  # rows, where the format's metadata tells cheaply


def _in_place_remote(backend: Backend, rel: str, suffix: str) -> Prepared:
    info = backend.info(rel)
    if info is None:
        raise InvalidInput(f"path not found: {backend.uri(rel)}")
    otype = OTYPES.get(suffix.lower())
    if info["type"] != "directory":
        return Prepared(
            rel, backend.sha256(rel), info["size"], None, (), suffix, rel, True, otype=otype
        )
    files = [f[len(rel) + 1 :] for f in backend.list(rel)]
    entries = [(f, backend.sha256(f"{rel}/{f}")) for f in files]
    size = sum((backend.info(f"{rel}/{f}") or {"size": 0})["size"] for f in files)
    return Prepared(
        rel, manifest_hash(entries), size, len(files), tuple(files), suffix, rel, True, otype=otype
    )


def prepare(path: Any, backend: Backend, cache: StatCache, suffix: str) -> Prepared:
    """Hash ``path``; register it in place when it already lies under the storage root."""
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        rel = backend.relative(text)
        if rel is None:
            raise InvalidInput(
                f"{text} is not under the storage root {backend.root}; "
                "copy it locally or use that root"
            )
        return _in_place_remote(backend, rel, suffix)
    local = os.path.abspath(os.path.expanduser(text.removeprefix("file://")))
    if not os.path.exists(local):
        raise InvalidInput(f"path not found: {local}")
    if not os.access(local, os.R_OK):
        raise InvalidInput(f"path not readable: {local}")
    rel = backend.relative(local) if backend.is_local else None
    in_place = rel is not None and not rel.startswith(".threadline/")
    try:
        data = None if in_place else _small_file(local)
        hashed: Hashed = (
            Hashed(local, sha256_bytes(data), len(data), None)
            if data is not None
            else hash_path(local, cache)
        )
    except OSError as exc:
        raise InvalidInput(f"cannot read {local}: {exc}") from exc
    where = rel if in_place else object_path(hashed.hash, suffix)
    otype, n_observations = describe_file(local, suffix)
    return Prepared(
        local,
        hashed.hash,
        hashed.size,
        hashed.n_files,
        hashed.files,
        suffix,
        where,
        in_place,
        data,
        otype,
        n_observations,
    )  # type: ignore[arg-type]


def _small_file(path: str) -> bytes | None:
    """The bytes of a small regular file: hashed and stored from one read, so the stored
    object is exactly what was hashed. Bigger files are streamed (and stat-cached)."""
    if os.path.isdir(path) or os.path.getsize(path) >= SMALL_FILE:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def store(prepared: Prepared, backend: Backend, move: bool = False) -> None:
    """Upload a managed object unless the same content is already stored.

    ``move``: the source is a scratch file threadline wrote itself (``from_dataframe``);
    on local storage it is renamed into place instead of copied.
    """
    if prepared.in_place:
        return
    info = backend.info(prepared.object_path)
    if info is not None and (prepared.n_files is not None or info["size"] == prepared.size):
        return
    if move and prepared.data is None and _move_into(prepared, backend):
        return
    if prepared.data is not None:
        backend.put_bytes(prepared.data, prepared.object_path)
    elif prepared.n_files is None:
        backend.put_file(prepared.source, prepared.object_path)
    else:
        backend.put_folder(prepared.source, prepared.object_path, list(prepared.files))


def _move_into(prepared: Prepared, backend: Backend) -> bool:
    """Rename a scratch file or folder into the local object path; False: copy instead."""
    target = backend.local_path(prepared.object_path)
    if target is None:
        return False
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        for folder, _, files in os.walk(prepared.source):
            for name in files:
                os.chmod(os.path.join(folder, name), 0o444)
        if os.path.isfile(prepared.source):
            os.chmod(prepared.source, 0o444)
        os.replace(prepared.source, target)
    except OSError:  # another device, or an identical folder won the race: copy instead
        return os.path.isdir(target)
    return True


def fetch(backend: Backend, path: str, cache_dir: str, is_folder: bool) -> str:
    """A local path for the object: itself on local storage, a cached copy otherwise."""
    local = backend.local_path(path)
    if local is not None:
        if not os.path.exists(local):
            raise StorageError(f"object missing from storage: {local}")
        return local
    protocol, _, base = backend.root.partition("://")
    target = Path(cache_dir) / protocol / base / path
    if is_folder:
        files = [f[len(path) + 1 :] for f in backend.list(path)]
        for rel in files:
            _fetch_file(backend, f"{path}/{rel}", target / rel)
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
