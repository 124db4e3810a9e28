"""Object storage: one small interface, a local-folder backend and an fsspec backend."""

from ._base import OBJECTS, TRASH, Backend, object_path
from .fsspec import FsspecBackend
from .local import LocalBackend

__all__ = [
    "OBJECTS",
    "TRASH",
    "Backend",
    "FsspecBackend",
    "LocalBackend",
    "object_path",
    "open_backend",
]


def open_backend(root: str) -> Backend:
    """The backend for a canonical root: a folder, ``s3://...`` or another fsspec URL."""
    if "://" in root:
        return FsspecBackend(root)
    return LocalBackend(root)
