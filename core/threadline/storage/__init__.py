"""Object storage: one small interface, a local-folder backend and an fsspec backend."""

from .._config import Transport
from ._base import MANIFESTS, OBJECTS, TRASH, Backend, inside, manifest_path, object_path
from .fsspec import FsspecBackend
from .local import LocalBackend

__all__ = [
    "MANIFESTS",
    "OBJECTS",
    "TRASH",
    "Backend",
    "FsspecBackend",
    "LocalBackend",
    "Transport",
    "inside",
    "manifest_path",
    "object_path",
    "open_backend",
]


def open_backend(root: str, transport: Transport | None = None) -> Backend:
    """The backend for a canonical root: a folder, ``s3://...`` or another fsspec URL."""
    if "://" in root:
        return FsspecBackend(root, transport)
    return LocalBackend(root)
