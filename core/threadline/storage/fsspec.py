"""Objects behind any fsspec filesystem: S3 through s3fs, or ``memory://`` in tests.

fsspec and s3fs are imported when a backend is created, never by ``import threadline``.
S3 credentials and the endpoint come from the usual AWS environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``); they are never
stored in the database.
"""

import os
from collections.abc import Iterator
from typing import IO, Any

from ..errors import StorageError
from ._base import Backend


def _filesystem(protocol: str) -> Any:
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StorageError("storage needs fsspec: pip install 'threadline[s3]'") from exc
    if protocol != "s3":
        return fsspec.filesystem(protocol)
    try:
        import s3fs
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StorageError("S3 storage needs s3fs: pip install 'threadline[s3]'") from exc
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
    return s3fs.S3FileSystem(
        client_kwargs=client_kwargs, skip_instance_cache=True, use_listings_cache=False
    )


class FsspecBackend(Backend):
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.protocol = self.root.partition("://")[0]
        self.fs = _filesystem(self.protocol)
        self._base = self.fs._strip_protocol(self.root)  # how fs spells paths under root

    def _full(self, path: str) -> str:
        return f"{self._base}/{path}" if path else self._base

    def _put(self, local_path: str, path: str) -> None:
        self.fs.put_file(local_path, self._full(path))

    def _put_bytes(self, data: bytes, path: str) -> None:
        self.fs.pipe_file(self._full(path), data)

    def _get(self, path: str, local_path: str) -> None:
        tmp = f"{local_path}.part"
        self.fs.get_file(self._full(path), tmp)
        os.replace(tmp, local_path)

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        try:
            return self.fs.open(self._full(path), mode)  # type: ignore[no-any-return]
        except (OSError, FileNotFoundError) as exc:
            raise StorageError(f"cannot open {self.uri(path)}: {exc}") from exc

    def info(self, path: str) -> dict[str, Any] | None:
        try:
            raw = self.fs.info(self._full(path))
        except (FileNotFoundError, OSError):
            return None
        mtime = raw.get("LastModified") or raw.get("mtime") or raw.get("created")
        stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
        return {"size": raw.get("size") or 0, "type": raw.get("type", "file"), "mtime": stamp}

    def _list(self, prefix: str) -> Iterator[str]:
        full = self._full(prefix)
        if not self.fs.exists(full):
            return
        base = self._base.rstrip("/") + "/"
        for found in self.fs.find(full):
            yield found[len(base) :] if found.startswith(base) else found

    def _remove(self, path: str) -> None:
        full = self._full(path)
        if self.fs.isdir(full):
            self.fs.rm(full, recursive=True)
        else:
            self.fs.rm_file(full)

    def _move(self, src: str, dst: str) -> None:
        full = self._full(src)
        if self.fs.isdir(full):
            for rel in list(self._list(src)):
                self.fs.mv(self._full(rel), self._full(dst + rel[len(src) :]))
        else:
            self.fs.mv(full, self._full(dst))

    def check_reachable(self) -> None:
        bucket = self._base.split("/", 1)[0]
        try:
            self.fs.ls(bucket)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(f"storage {self.root} is not reachable: {first}") from exc
