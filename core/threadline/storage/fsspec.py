"""Objects behind any fsspec filesystem: S3 through s3fs, or ``memory://`` in tests.

fsspec and s3fs are imported when a backend is created, never by ``import threadline``.
S3 credentials and the endpoint come from the usual AWS environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``); they are never
stored in the database. Timeouts and retries come from ``Transport`` (the instance
config's ``[s3]`` table); any transport failure becomes one ``StorageError`` line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .._config import Transport
from ..errors import StorageError, ThreadlineError
from ._base import Backend, Check, _first_line, inside

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import IO, Any


def _filesystem(protocol: str, transport: Transport) -> Any:
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
    config = {
        "connect_timeout": transport.connect_timeout,
        "read_timeout": transport.read_timeout,
        "retries": {"max_attempts": transport.retries + 1, "mode": "standard"},
    }
    fs = s3fs.S3FileSystem(
        client_kwargs=client_kwargs,
        config_kwargs=config,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    fs.retries = 1  # botocore retries (above); s3fs's own loop would multiply them
    return fs


class FsspecBackend(Backend):
    def __init__(self, root: str, transport: Transport | None = None) -> None:
        self.root = root.rstrip("/")
        self.protocol = self.root.partition("://")[0]
        self.transport = transport or Transport()
        self.fs = _filesystem(self.protocol, self.transport)
        self._base = self.fs._strip_protocol(self.root)  # how fs spells paths under root

    def _full(self, path: str) -> str:
        return inside(path, self._base)

    @contextlib.contextmanager
    def _transport(self, action: str, path: str) -> Iterator[None]:
        """Any failure below (botocore, aiohttp, timeouts) as one ``StorageError`` line;
        ``FileNotFoundError`` passes through for the callers that expect it."""
        try:
            yield
        except (FileNotFoundError, ThreadlineError):
            raise
        except Exception as exc:
            raise StorageError(f"cannot {action} {self.uri(path)}: {self._reason(exc)}") from exc

    def _reason(self, exc: Exception) -> str:
        """A transport failure in words, naming the setting that bounds it."""
        name, t = type(exc).__name__, self.transport
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        endpoint = "/".join(str(endpoint).split("/")[:3])
        tries = f"{t.retries + 1} attempt{'s' if t.retries else ''}"
        if "ReadTimeout" in name:
            return (
                f"{endpoint} did not answer within {t.read_timeout:g} s ({tries}; "
                "see read_timeout and retries under [s3] in threadline.toml)"
            )
        if "ConnectTimeout" in name or "EndpointConnectionError" in name:
            return f"cannot connect to {endpoint} ({tries}): is the S3 endpoint up?"
        return _first_line(exc)

    def _put(self, local_path: str, path: str, check: Check | None = None) -> None:
        with self._transport("store", path):
            self.fs.put_file(local_path, self._full(path))
        self._checked(check, path)

    def _put_bytes(self, data: bytes, path: str) -> None:
        with self._transport("store", path):
            self.fs.pipe_file(self._full(path), data)

    def _get(self, path: str, local_path: str) -> None:
        tmp = f"{local_path}.part"
        with self._transport("fetch", path):
            self.fs.get_file(self._full(path), tmp)
        os.replace(tmp, local_path)

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        full = self._full(path)
        with self._transport("open", path):
            try:
                return self.fs.open(full, mode)  # type: ignore[no-any-return]
            except FileNotFoundError as exc:
                raise StorageError(f"cannot open {self.uri(path)}: not found") from exc

    def info(self, path: str) -> dict[str, Any] | None:
        full = self._full(path)
        try:
            with self._transport("reach", path):
                raw = self.fs.info(full)
        except FileNotFoundError:
            return None
        mtime = raw.get("LastModified") or raw.get("mtime") or raw.get("created")
        stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
        return {"size": raw.get("size") or 0, "type": raw.get("type", "file"), "mtime": stamp}

    def _list(self, prefix: str) -> Iterator[str]:
        full = self._full(prefix)
        with self._transport("list", prefix):
            if not self.fs.exists(full):
                return
            found_all = self.fs.find(full)
        base = self._base.rstrip("/") + "/"
        for found in found_all:
            yield found[len(base) :] if found.startswith(base) else found

    def _remove(self, path: str) -> None:
        full = self._full(path)
        with self._transport("remove", path):
            if self.fs.isdir(full):
                self.fs.rm(full, recursive=True)
            else:
                self.fs.rm_file(full)

    def _move(self, src: str, dst: str) -> None:
        full = self._full(src)
        with self._transport("move", src):
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
            raise StorageError(
                f"storage {self.root} is not reachable: {self._reason(exc)}"
            ) from exc
