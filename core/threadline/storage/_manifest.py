"""Folder manifests: a folder object counts only once its manifest is written, last.

A manifest lists every file of a stored folder (relative path, size, SHA-256) and sits
outside the folder, at ``manifest_path(object path)``, so the folder holds exactly the
files saved. ``complete()`` is the only "does this folder exist" test: the manifest must
exist, parse, and hash to the folder's content hash. An upload killed half way leaves no
manifest, so the next save of the same folder uploads it again. Symbolic links the saved
folder held but the object leaves out (loops, links to folders outside it) are listed in the
manifest under ``skipped_links``, with why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .._digests import manifest_hash
from ..errors import StorageError
from ._base import Backend, _first_line, inside, manifest_path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

    from ..hashing import Skipped

Entry = tuple[str, int, str]  # relative path, size, sha256


class UnreadableManifest(StorageError):
    """A manifest that is there but cannot be parsed (a damaged or foreign file)."""


def encode(hash_: str, entries: list[Entry], skipped: Sequence[Skipped] = ()) -> bytes:
    files = [{"path": p, "size": s, "sha256": h} for p, s, h in sorted(entries)]
    data: dict[str, Any] = {"hash": hash_, "files": files}
    if skipped:  # symbolic links the folder holds but the object does not (loops...)
        data["skipped_links"] = [{"path": p, "why": why} for p, why in sorted(skipped)]
    return json.dumps(data, indent=0).encode()


def write(
    backend: Backend, path: str, hash_: str, entries: list[Entry], skipped: Sequence[Skipped] = ()
) -> None:
    """Write the manifest of the folder object at ``path`` (after all its files); the
    symbolic links left out of it (``hashing.walk_folder``) are listed with why."""
    backend.put_bytes(encode(hash_, entries, skipped), manifest_path(path))


def skipped_links(backend: Backend, path: str) -> list[Skipped]:
    """The symbolic links the folder object at ``path`` left out, with why (none when
    there is no readable manifest)."""
    try:
        with backend.open(manifest_path(path)) as handle:
            data: Any = json.loads(handle.read())
        return [(str(s["path"]), str(s["why"])) for s in data.get("skipped_links", [])]
    except (StorageError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def read(backend: Backend, path: str) -> list[Entry] | None:
    """The entries of the folder object at ``path``; None when there is no manifest (an
    unfinished upload, or a folder stored before manifests existed)."""
    where = manifest_path(path)
    if backend.info(where) is None:
        return None
    try:
        with backend.open(where) as handle:
            data: Any = json.loads(handle.read())
        entries = [(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in data["files"]]
    except StorageError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        where = backend.uri(where)
        raise UnreadableManifest(f"unreadable manifest {where}: {_first_line(exc)}") from exc
    for rel, _, _ in entries:
        inside(rel, backend.uri(path))  # a manifest names files inside its folder only
    return entries


def complete(backend: Backend, path: str, hash_: str) -> bool:
    """Whether the folder object at ``path`` is whole: its manifest is there and matches."""
    try:
        entries = read(backend, path)
    except UnreadableManifest:
        return False  # a damaged manifest: the next save writes it again
    if entries is None:
        return False
    return manifest_hash((rel, h) for rel, _, h in entries) == hash_
