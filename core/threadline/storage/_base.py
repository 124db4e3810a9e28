"""The storage interface: a few primitives over object paths relative to a root.

A backend implements ``_put``, ``_get``, ``open``, ``info``, ``_list`` and ``_remove``; the
base derives folder uploads, existence checks, streaming hashes and cached local copies.
Writes are atomic from the database's point of view: an object is complete before any
record points at it (local files are written under a temporary name and renamed; an S3
PUT is atomic per object; a folder counts only once its manifest is written, last).

Every path a backend touches goes through ``inside()`` first, whatever it came from (a
key, a suffix, a database row, a bucket listing): one containment check for all.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator

from ..errors import StorageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import IO, Any

OBJECTS = ".threadline/objects/sha256"
MANIFESTS = ".threadline/manifests/sha256"
TRASH = ".threadline/trash"

Check = Callable[[], None]  # raises when the source moved while it was being copied


def inside(path: str, root: str = "") -> str:
    """``path`` (relative) joined to ``root``, refused when it could leave that root.

    Refused: an absolute path, a ``..`` segment, a NUL character. ``root`` names where
    the result must stay, for the message and the join ("" returns ``path`` itself).
    """
    text = str(path)
    bad = (
        "is absolute"
        if text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":")
        else "has a '..' segment"
        if ".." in text.replace("\\", "/").split("/")
        else "contains a NUL character"
        if "\x00" in text
        else None
    )
    if bad is not None:
        where = root or "the storage root"
        raise StorageError(f"refusing path {text!r}: it {bad} and could leave {where}")
    if not root:
        return text
    return f"{root.rstrip('/')}/{text}" if text else root


def read_only_mode() -> int:
    """0o444 less the process umask: stored objects are read-only, and no more readable
    than the umask allows (``umask 077`` gives 0o400)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return 0o444 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the racy way, once per call
    os.umask(mask)
    return 0o444 & ~mask


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Backend(abc.ABC):
    """Objects under one root; every path argument is relative to that root."""

    root: str
    is_local: bool = False

    # -- primitives ---------------------------------------------------------------------
    @abc.abstractmethod
    def _put(self, local_path: str, path: str, check: Check | None = None) -> None: ...

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
        return inside(path, self.root)

    def local_path(self, path: str) -> str | None:
        """A local filesystem path for the object, if it lives on this machine."""
        inside(path, self.root)
        return None

    def exists(self, path: str) -> bool:
        return self.info(path) is not None

    @contextlib.contextmanager
    def _failing(self, action: str, path: str, tail: str = "") -> Iterator[None]:
        """An ``OSError`` below (unless already a ``StorageError``) as one line:
        ``cannot <action> <path's URI><tail>: <the error's first line>``."""
        try:
            yield
        except StorageError:
            raise
        except OSError as exc:
            where = f"{self.uri(path)}{tail}"
            raise StorageError(f"cannot {action} {where}: {_first_line(exc)}") from exc

    def _checked(self, check: Check | None, path: str) -> None:
        """Run ``check`` once a copy at ``path`` is complete; when it raises, the copy
        is removed (a source that moved while copied leaves no object behind)."""
        if check is None:
            return
        try:
            check()
        except BaseException:
            self.remove(path)
            raise

    def put_file(self, local_path: str, path: str, check: Check | None = None) -> None:
        """Store a local file at ``path``; ``check`` runs after the copy and before the
        object becomes visible (raising there leaves no object behind)."""
        with self._failing(f"store {local_path} at", path):
            self._put(local_path, path, check)

    @abc.abstractmethod
    def _put_bytes(self, data: bytes, path: str) -> None: ...

    def put_bytes(self, data: bytes, path: str) -> None:
        """Store ``data`` as the object at ``path`` (atomically, like ``put_file``)."""
        with self._failing(f"store {len(data)} bytes at", path):
            self._put_bytes(data, path)

    def put_folder(
        self, local_dir: str, path: str, files: list[str], check: Check | None = None
    ) -> None:
        """Upload a folder's ``files`` (relative paths) under ``path``, replacing what an
        interrupted upload left there; ``check`` runs once everything is copied."""
        for rel in files:
            self.put_file(os.path.join(local_dir, rel), inside(rel, path))
        wanted = {inside(rel, path) for rel in files}
        for extra in set(self.list(path)) - wanted:
            self.remove(extra)
        self._checked(check, path)

    def get_file(self, path: str, local_path: str) -> None:
        os.makedirs(os.path.dirname(local_path) or ".", exist_ok=True)
        with self._failing("fetch", path):
            self._get(path, local_path)

    def list(self, prefix: str = "") -> list[str]:
        try:
            return sorted(self._list(prefix))
        except FileNotFoundError:
            return []

    def remove(self, path: str) -> None:
        """Remove an object (its manifest first: a half-removed folder never counts)."""
        if path.startswith(OBJECTS + "/"):
            self._remove_quietly(manifest_path(path))
        self._remove_quietly(path)

    def _remove_quietly(self, path: str) -> None:
        with self._failing("remove", path), contextlib.suppress(FileNotFoundError):
            self._remove(path)

    def move(self, src: str, dst: str) -> None:
        with self._failing("move", src, f" to {dst}"):
            self._move(src, dst)

    def sha256(self, path: str, chunk: int = 8 << 20) -> str:
        """Stream the object through SHA-256 (used for in-place objects and checks)."""
        digest = hashlib.sha256()
        with self._failing("read", path), self.open(path) as handle:
            while block := handle.read(chunk):
                digest.update(block)
        return digest.hexdigest()

    def relative(self, uri: str) -> str | None:
        """``uri`` relative to this root when it lies under it, else None."""
        root = self.root.rstrip("/") + "/"
        uri = str(uri)
        if not uri.startswith(root):
            return None
        return inside(uri[len(root) :])

    @abc.abstractmethod
    def check_reachable(self) -> None:
        """Raise ``StorageError`` when the root cannot be used; creates nothing."""
        ...

    def create_root(self) -> None:  # noqa: B027 - optional hook: nothing to do by default
        """Make the root exist where that means anything (a local folder)."""


def object_path(hash_: str, suffix: str) -> str:
    """Where content-addressed content lives: ``objects/sha256/ab/cdef...<suffix>``."""
    return inside(f"{OBJECTS}/{hash_[:2]}/{hash_[2:]}{suffix}")


def manifest_path(path: str) -> str:
    """Where a folder object's manifest lives (outside the folder, so that the folder
    holds exactly the files saved): ``manifests/sha256/ab/cdef...<suffix>.json``."""
    return inside(MANIFESTS + path[len(OBJECTS) :] + ".json")
