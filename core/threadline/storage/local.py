"""Objects in a local folder, with plain ``os`` calls (no fsspec import on this path).

``shutil`` (6 M instructions with its compression modules) is imported where an object is
copied or removed, not when an instance opens: opening needs only ``os``.
"""

from __future__ import annotations

import os
import stat
import uuid

from ..errors import StorageError
from ._base import Backend, Check, inside, read_only_mode

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any


class LocalBackend(Backend):
    is_local = True

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self._folders: set[str] = set()  # folders known to exist: no mkdir per object

    def _ensure_folder(self, folder: str) -> None:
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def _abs(self, path: str) -> str:
        """The absolute path, refused unless it stays inside the root (symlinks
        resolved: a link inside the root that points out of it does not count).

        The root was resolved once, when the backend was made; each call looks at the
        components below it only (one ``lstat`` each) and resolves the whole path only
        when one of them is a link.
        """
        joined = inside(path, self.root)
        if _has_link(self.root, joined):
            real = os.path.realpath(joined)
            if real != self.root and not real.startswith(self.root + os.sep):
                raise StorageError(f"refusing path {path!r}: it resolves outside {self.root}")
        return joined

    def local_path(self, path: str) -> str:
        return self._abs(path)

    def _put(self, local_path: str, path: str, check: Check | None = None) -> None:
        import shutil  # on use: see the module docstring

        target = self._abs(path)
        self._ensure_folder(os.path.dirname(target))
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            shutil.copyfile(local_path, tmp)
            os.chmod(tmp, read_only_mode())  # immutable content; cache() hands out this path
            if check is not None:
                check()
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _put_bytes(self, data: bytes, path: str) -> None:
        target = self._abs(path)
        self._ensure_folder(os.path.dirname(target))
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put_folder(
        self, local_dir: str, path: str, files: list[str], check: Check | None = None
    ) -> None:
        """Copy into a temporary folder, then rename it into place in one step.

        A folder already at ``path`` (a rename is atomic, so it is whole unless it was
        half removed or tampered with) is kept when it holds exactly ``files`` with the
        same sizes, and replaced otherwise.
        """
        import shutil  # on use: see the module docstring

        target = self._abs(path)
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        mode = read_only_mode()
        try:
            os.makedirs(tmp)
            for rel in files:
                dst = inside(rel, tmp)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(os.path.join(local_dir, rel), dst)
                os.chmod(dst, mode)
            if check is not None:
                check()
            self._rename_folder(tmp, target)
        except OSError as exc:
            raise StorageError(f"cannot store {local_dir} at {target}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _rename_folder(self, tmp: str, target: str) -> None:
        import shutil  # on use: see the module docstring

        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if not os.path.isdir(target):
                raise
        if _same_listing(tmp, target):
            return  # an identical folder is there (a race, or an unfinished save): keep it
        aside = f"{target}.old-{uuid.uuid4().hex}"
        os.rename(target, aside)
        try:
            os.rename(tmp, target)
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    def _get(self, path: str, local_path: str) -> None:
        import shutil  # on use: see the module docstring

        shutil.copyfile(self._abs(path), local_path)

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        full = self._abs(path)
        try:
            return open(full, mode)
        except OSError as exc:
            raise StorageError(f"cannot open {full}: {exc}") from exc

    def info(self, path: str) -> dict[str, Any] | None:
        full = self._abs(path)
        try:
            st = os.stat(full)
        except OSError:
            return None
        kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
        return {"size": st.st_size, "type": kind, "mtime": st.st_mtime}

    def _list(self, prefix: str) -> Iterator[str]:
        base = self._abs(prefix)
        if os.path.isfile(base):
            yield prefix
            return
        for folder, _, files in os.walk(base):
            for name in files:
                yield os.path.relpath(os.path.join(folder, name), self.root)

    def _remove(self, path: str) -> None:
        import shutil  # on use: see the module docstring

        target = self._abs(path)
        if os.path.isdir(target):
            shutil.rmtree(target)
        else:
            os.unlink(target)

    def _move(self, src: str, dst: str) -> None:
        target = self._abs(dst)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(self._abs(src), target)

    def relative(self, uri: str) -> str | None:
        path = str(uri).removeprefix("file://")
        if not os.path.isabs(path):
            return None
        real = os.path.realpath(path)
        root = self.root + os.sep
        return real[len(root) :] if real.startswith(root) else None

    def create_root(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"storage {self.root} is not usable: {exc}") from exc

    def check_reachable(self) -> None:
        """The root, or the nearest folder it would be created in, must be writable.

        Nothing is created here: the root appears with the first stored object.
        """
        existing = self.root
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise StorageError(f"storage {self.root} is not usable: {existing} is not a folder")
        if not os.access(existing, os.W_OK):
            raise StorageError(f"storage {self.root} is not writable")


def _has_link(root: str, joined: str) -> bool:
    """Whether a component of ``joined`` below ``root`` is a symbolic link (components
    that do not exist have nothing to follow: the walk stops there)."""
    current = root.rstrip(os.sep)
    for part in joined[len(current) + 1 :].split(os.sep):
        if not part:
            continue
        current = f"{current}{os.sep}{part}"
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            return False
        if stat.S_ISLNK(mode):
            return True
    return False


def _same_listing(a: str, b: str) -> bool:
    """Whether two folders hold the same relative file paths with the same sizes."""

    def listing(top: str) -> dict[str, int]:
        found = {}
        for folder, _, files in os.walk(top):
            for name in files:
                full = os.path.join(folder, name)
                found[os.path.relpath(full, top)] = os.path.getsize(full)
        return found

    return listing(a) == listing(b)
