"""threadline.snakemake: Snakemake workflows recorded as lineage, artifacts as storage.

- ``snakemake --logger threadline``: the logger plugin (``LogHandler``,
  ``LogHandlerSettings``) records a workflow invocation as a pipeline run, each job as a
  child run of its rule, and the files jobs write as artifacts (see docs/snakemake.md).
- ``storage.threadline("raw/x.csv")`` and ``--default-storage-provider threadline``: the
  storage plugin (``StorageProvider``, ``StorageObject``, ``StorageProviderSettings``)
  reads artifacts by key and saves outputs as new versions.

Snakemake finds the plugins by module name (``snakemake_logger_plugin_threadline``,
``snakemake_storage_plugin_threadline``); those modules re-export the names here.
Importing this package loads nothing from Snakemake; each name loads on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "LogHandler",
    "LogHandlerSettings",
    "StorageObject",
    "StorageProvider",
    "StorageProviderSettings",
    "parse_reported",
    "split_query",
]

_LAZY = {
    "LogHandler": "threadline.snakemake._logger",
    "LogHandlerSettings": "threadline.snakemake._logger",
    "StorageObject": "threadline.snakemake._storage",
    "StorageProvider": "threadline.snakemake._storage",
    "StorageProviderSettings": "threadline.snakemake._storage",
    "parse_reported": "threadline.snakemake._files",
    "split_query": "threadline.snakemake._files",
}

if TYPE_CHECKING:
    from ._files import parse_reported, split_query
    from ._logger import LogHandler, LogHandlerSettings
    from ._storage import StorageObject, StorageProvider, StorageProviderSettings


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'threadline.snakemake' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
