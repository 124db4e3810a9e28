"""The storage interface: a few primitives over object paths relative to a root.

A backend implements ``_put``, ``_get``, ``open``, ``info``, ``_list`` and ``_remove``; the
base derives folder uploads, existence checks, streaming hashes and cached local copies.
Writes are atomic from the database's point of view: an object is complete before any
record points at it (local files are written under a temporary name and renamed; an S3
PUT is atomic per object).
"""

import abc
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import StorageError

OBJECTS = ".threadline/objects/sha256"
TRASH = ".threadline/trash"


class Backend(abc.ABC):
    """Objects under one root; every path argument is relative to that root."""

    root: str
    is_local: bool = False

    # -- primitives ---------------------------------------------------------------------
    @abc.abstractmethod
    def _put(self, local_path: str, path: str) -> None: ...

    @abc.abstractmethod
    def _get(self, path: str, local_path: str) -> None: ...

    @abc.abstractmethod
    def open(self, path: str, mode: str = "rb") -> IO[Any]: ...

    @abc.abstractmethod
    def info(self, path: str) -> dict[str, Any] | None:
        """``{"size": int, "type": "file"|"directory", "mtime": float|None}`` or None."""
        ...

    @abc.abstractmethod
    def _list(self, prefix: str) -> Iterator[str]:
        """Every file below ``prefix``, as paths relative to the root."""
        ...

    @abc.abstractmethod
    def _remove(self, path: str) -> None: ...

    @abc.abstractmethod
    def _move(self, src: str, dst: str) -> None: ...

    # -- derived operations -------------------------------------------------------------
    def uri(self, path: str) -> str:
        return f"{self.root.rstrip('/')}/{path}"

    def local_path(self, path: str) -> str | None:
        """A local filesystem path for the object, if it lives on this machine."""
        return None

    def exists(self, path: str) -> bool:
        return self.info(path) is not None

    def put_file(self, local_path: str, path: str) -> None:
        try:
            self._put(local_path, path)
        except OSError as exc:
            raise StorageError(f"cannot store {local_path} at {self.uri(path)}: {exc}") from exc

    @abc.abstractmethod
    def _put_bytes(self, data: bytes, path: str) -> None: ...

    def put_bytes(self, data: bytes, path: str) -> None:
        """Store ``data`` as the object at ``path`` (atomically, like ``put_file``)."""
        try:
            self._put_bytes(data, path)
        except OSError as exc:
            where = self.uri(path)
            raise StorageError(f"cannot store {len(data)} bytes at {where}: {exc}") from exc

    def put_folder(self, local_dir: str, path: str, files: list[str]) -> None:
        """Upload a folder's ``files`` (relative paths) under ``path``."""
        for rel in files:
            self.put_file(os.path.join(local_dir, rel), f"{path}/{rel}")

    def get_file(self, path: str, local_path: str) -> None:
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._get(path, local_path)
        except (OSError, FileNotFoundError) as exc:
            raise StorageError(f"cannot fetch {self.uri(path)}: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        try:
            return sorted(self._list(prefix))
        except FileNotFoundError:
            return []

    def remove(self, path: str) -> None:
        try:
            self._remove(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot remove {self.uri(path)}: {exc}") from exc

    def move(self, src: str, dst: str) -> None:
        try:
            self._move(src, dst)
        except OSError as exc:
            raise StorageError(f"cannot move {self.uri(src)} to {dst}: {exc}") from exc

    def sha256(self, path: str, chunk: int = 8 << 20) -> str:
        """Stream the object through SHA-256 (used for in-place objects and checks)."""
        digest = hashlib.sha256()
        try:
            with self.open(path) as handle:
                while block := handle.read(chunk):
                    digest.update(block)
        except OSError as exc:
            raise StorageError(f"cannot read {self.uri(path)}: {exc}") from exc
        return digest.hexdigest()

    def relative(self, uri: str) -> str | None:
        """``uri`` relative to this root when it lies under it, else None."""
        root = self.root.rstrip("/") + "/"
        uri = str(uri)
        return uri[len(root) :] if uri.startswith(root) else None

    @abc.abstractmethod
    def check_reachable(self) -> None:
        """Raise ``StorageError`` when the root cannot be used; creates nothing."""
        ...

    def create_root(self) -> None:  # noqa: B027 - optional hook: nothing to do by default
        """Make the root exist where that means anything (a local folder)."""


def object_path(hash_: str, suffix: str) -> str:
    """Where content-addressed content lives: ``objects/sha256/ab/cdef...<suffix>``."""
    return f"{OBJECTS}/{hash_[:2]}/{hash_[2:]}{suffix}"
