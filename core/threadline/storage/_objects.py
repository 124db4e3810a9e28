"""Bringing content into storage and back: the I/O half of an artifact.

``prepare`` hashes a local path (or an object already under the storage root) and says
where its object lives; ``store`` uploads a managed object unless identical content is
already there, complete (``fetch``, the way back, is ``_fetch``: reading a stored object
needs none of this module). No database access happens here.

Guarantees: a file that changes between hashing and the end of its copy is refused
(``SourceChanged``) and leaves no object; a folder object counts only once its manifest
is written, last (``_manifest``); only regular files and folders are read.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .._tables import OTYPES, describe_file
from ..errors import InvalidInput, SourceChanged, StorageError
from ..hashing import (
    Hashed,
    Skipped,
    Stamp,
    StatCache,
    check_unchanged,
    hash_path,
    list_files,
    manifest_hash,
    regular_stat,
    sha256_bytes,
    stamp_of,
)
from . import _manifest
from ._base import Backend, Check, inside, object_path, read_only_mode

log = logging.getLogger("threadline.storage")
SMALL_FILE = 256 << 10
MAX_SUFFIX = 64


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
    entries: tuple[_manifest.Entry, ...] = ()  # folders: (path, size, sha256) per file
    stamps: tuple[Stamp, ...] = ()  # local sources: each file's stamp when it was hashed
    skipped: tuple[Skipped, ...] = ()  # folders: symbolic links left out, and why


def check_suffix(suffix: str) -> str:
    """A suffix is ``''`` or ``.ext`` (``.fastq.gz``): never a path of its own."""
    if suffix and (
        not suffix.startswith(".")
        or len(suffix) > MAX_SUFFIX
        or any(c in suffix for c in "/\\\x00\n\r\t")
        or ".." in suffix
    ):
        raise InvalidInput(
            f"invalid suffix {suffix!r}: use '' or a file extension such as '.csv' "
            f"(no '/', no '..', at most {MAX_SUFFIX} characters)"
        )
    return suffix


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
    entries = [(f, backend.sha256(inside(f, rel))) for f in files]
    size = sum((backend.info(inside(f, rel)) or {"size": 0})["size"] for f in files)
    return Prepared(
        rel, manifest_hash(entries), size, len(files), tuple(files), suffix, rel, True, otype=otype
    )


def prepare(path: Any, backend: Backend, cache: StatCache, suffix: str) -> Prepared:
    """Hash ``path``; register it in place when it already lies under the storage root."""
    check_suffix(suffix)
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        rel = backend.relative(text)
        if rel is None:
            raise InvalidInput(
                f"{text} is not under the storage root {backend.root}; "
                "copy it locally or use that root"
            )
        return _in_place_remote(backend, rel, suffix)
    local = _readable(text)
    rel = backend.relative(local) if backend.is_local else None
    in_place = rel is not None and not rel.startswith(".threadline/")
    try:
        data = None if in_place else _small_file(local)
        hashed: Hashed = (
            Hashed(local, sha256_bytes(data), len(data), None)
            if data is not None
            else hash_path(local, cache)
        )
    except (InvalidInput, StorageError):
        raise
    except OSError as exc:
        raise InvalidInput(f"cannot read {local}: {exc.strerror or exc}") from exc
    otype, n_observations = describe_file(local, suffix)
    entries = zip(hashed.files, hashed.sizes, hashed.hashes, strict=True)
    if hashed.skipped:
        links = "; ".join(f"{rel} ({why})" for rel, why in hashed.skipped)
        log.warning(
            "threadline: saving %s without %d symbolic links: %s", local, len(hashed.skipped), links
        )
    return Prepared(
        source=local,
        hash=hashed.hash,
        size=hashed.size,
        n_files=hashed.n_files,
        files=hashed.files,
        suffix=suffix,
        object_path=rel if in_place and rel is not None else object_path(hashed.hash, suffix),
        in_place=in_place,
        data=data,
        otype=otype,
        n_observations=n_observations,
        entries=tuple(entries),
        stamps=hashed.stamps,
        skipped=hashed.skipped,
    )


def _readable(text: str) -> str:
    """The absolute local path, refused unless it is a readable regular file or folder."""
    local = os.path.abspath(os.path.expanduser(text.removeprefix("file://")))
    if "\x00" in local:
        raise InvalidInput(f"invalid path {text!r}: contains a NUL character")
    try:
        os.stat(local)
    except FileNotFoundError:
        raise InvalidInput(f"path not found: {local}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {local}: {exc.strerror or exc}") from exc
    if not os.path.isdir(local):
        regular_stat(local)  # a FIFO would block, /dev/zero never end
    if not os.access(local, os.R_OK) or (os.path.isdir(local) and not os.access(local, os.X_OK)):
        raise InvalidInput(f"path not readable: {local}")
    return local


def _small_file(path: str) -> bytes | None:
    """The bytes of a small regular file: hashed and stored from one read, so the stored
    object is exactly what was hashed. Bigger files are streamed (and stat-cached)."""
    if os.path.isdir(path):
        return None
    st = regular_stat(path)
    if st.st_size >= SMALL_FILE:
        return None
    with open(path, "rb") as handle:
        data = handle.read(SMALL_FILE)
    check_unchanged(path, stamp_of(st))
    return data


def _unchanged(prepared: Prepared) -> Check | None:
    """A check that the local source still is what was hashed (run after the copy)."""
    if not prepared.stamps:
        return None

    def check() -> None:
        if prepared.n_files is None:
            check_unchanged(prepared.source, prepared.stamps[0])
            return
        for rel, stamp in zip(prepared.files, prepared.stamps, strict=True):
            check_unchanged(os.path.join(prepared.source, rel), stamp)
        if tuple(list_files(prepared.source)) != prepared.files:
            raise SourceChanged(prepared.source)

    return check


def store(prepared: Prepared, backend: Backend, move: bool = False) -> None:
    """Upload a managed object unless the same content is already stored, complete.

    ``move``: the source is a scratch file threadline wrote itself (``from_dataframe``);
    on local storage it is renamed into place instead of copied. A folder's manifest is
    written last; an upload interrupted before it is redone here.
    """
    if prepared.in_place:
        return
    where = prepared.object_path
    if prepared.n_files is not None:
        if _manifest.complete(backend, where, prepared.hash):
            return
        if not (move and _move_into(prepared, backend)):
            backend.put_folder(prepared.source, where, list(prepared.files), _unchanged(prepared))
        _manifest.write(backend, where, prepared.hash, list(prepared.entries), prepared.skipped)
        return
    info = backend.info(where)
    if info is not None and info["size"] == prepared.size:
        return
    if move and prepared.data is None and _move_into(prepared, backend):
        return
    if prepared.data is not None:
        backend.put_bytes(prepared.data, where)
    else:
        backend.put_file(prepared.source, where, _unchanged(prepared))


def _move_into(prepared: Prepared, backend: Backend) -> bool:
    """Rename a scratch file or folder into the local object path; False: copy instead."""
    target = backend.local_path(prepared.object_path)
    if target is None:
        return False
    mode = read_only_mode()
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        for folder, _, files in os.walk(prepared.source):
            for name in files:
                os.chmod(os.path.join(folder, name), mode)
        if os.path.isfile(prepared.source):
            os.chmod(prepared.source, mode)
        os.replace(prepared.source, target)
    except OSError:  # another device, or a folder is already there: copy instead
        return False
    return True
