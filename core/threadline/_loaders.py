"""What ``Artifact.load()`` returns, by suffix. Other modules register more loaders.

Tables load as pandas DataFrames (``.parquet``, ``.csv``, ``.tsv``) and single-cell data as
AnnData (``.h5ad``, ``.zarr`` folders); those libraries are imported only then.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from . import _tables
from .errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

    Loader = Callable[[str], Any]  # a type only: Any is not imported at run time


def _text(path: str) -> str:
    with open(path) as handle:  # as Path.read_text(): the locale's encoding
        return handle.read()


def _json(path: str) -> Any:
    with open(path, "rb") as handle:
        return json.load(handle)


def _yaml(path: str) -> Any:
    import yaml

    with open(path, "rb") as handle:
        return yaml.safe_load(handle)


LOADERS: dict[str, Loader] = {
    ".txt": _text,
    ".md": _text,
    ".log": _text,
    ".fasta": _text,
    ".fa": _text,
    ".json": _json,
    ".yaml": _yaml,
    ".yml": _yaml,
    ".parquet": _tables.load_parquet,
    ".csv": _tables.load_csv,
    ".tsv": _tables.load_tsv,
    ".h5ad": _tables.load_h5ad,
    ".zarr": _tables.load_zarr,
}


def register_loader(suffix: str, loader: Loader) -> None:
    """Make ``Artifact.load()`` use ``loader(local_path)`` for ``suffix``."""
    if not suffix.startswith("."):
        raise InvalidInput(f"suffix must start with '.', got {suffix!r}")
    LOADERS[suffix.lower()] = loader


def load_path(path: str, suffix: str) -> Any:
    loader = LOADERS.get(suffix.lower())
    if loader is None:
        known = ", ".join(sorted(LOADERS))
        raise InvalidInput(
            f"no loader for suffix {suffix!r} (known: {known}); "
            "use .cache() for a local path or .open() for a file object"
        )
    return loader(path)
