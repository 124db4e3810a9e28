"""Objects in a local folder, with plain ``os`` calls (no fsspec import on this path)."""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import StorageError
from ._base import Backend


class LocalBackend(Backend):
    is_local = True

    def __init__(self, root: str) -> None:
        self.root = str(Path(root).resolve())
        self._folders: set[str] = set()  # folders known to exist: no mkdir per object

    def _ensure_folder(self, folder: str) -> None:
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def _abs(self, path: str) -> str:
        return os.path.join(self.root, path)

    def local_path(self, path: str) -> str:
        return self._abs(path)

    def _put(self, local_path: str, path: str) -> None:
        target = self._abs(path)
        self._ensure_folder(os.path.dirname(target))
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            shutil.copyfile(local_path, tmp)
            os.chmod(tmp, 0o444)  # stored content is immutable; cache() hands out this path
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

    def put_folder(self, local_dir: str, path: str, files: list[str]) -> None:
        """Copy into a temporary folder, then rename it into place in one step."""
        target = self._abs(path)
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            for rel in files:
                dst = os.path.join(tmp, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(os.path.join(local_dir, rel), dst)
                os.chmod(dst, 0o444)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                os.rename(tmp, target)
            except OSError:
                if not os.path.isdir(target):  # lost a race to an identical folder: fine
                    raise
        except OSError as exc:
            raise StorageError(f"cannot store {local_dir} at {target}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _get(self, path: str, local_path: str) -> None:
        shutil.copyfile(self._abs(path), local_path)

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        try:
            return open(self._abs(path), mode)
        except OSError as exc:
            raise StorageError(f"cannot open {self._abs(path)}: {exc}") from exc

    def info(self, path: str) -> dict[str, Any] | None:
        try:
            st = os.stat(self._abs(path))
        except OSError:
            return None
        kind = "directory" if os.path.isdir(self._abs(path)) else "file"
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
        existing = Path(self.root)
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise StorageError(f"storage {self.root} is not usable: {existing} is not a folder")
        if not os.access(existing, os.W_OK):
            raise StorageError(f"storage {self.root} is not writable")
