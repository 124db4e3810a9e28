"""The storage plugin: artifacts by key as Snakemake inputs and outputs.

``storage.threadline("threadline://raw/counts.csv")`` (or a bare key, or ``key@3`` for a
pinned version) is fetched into Snakemake's local storage folder; an output under such a
query is saved as the next version of that key. ``exists``/``mtime``/``size`` are one
indexed query each (``mtime`` is the version's creation time, so a new version makes
Snakemake rerun consumers). ``remove()``, which Snakemake calls before rerunning a job,
moves the version to the trash, and the next store restores it (then adds the new content
as the next version, or nothing when the bytes are the same): reruns never destroy
versions, and unchanged content makes no new one. The job run becomes the
creator of stored outputs when the logger plugin is active too (it claims them).

No ``from __future__ import annotations`` here: Snakemake builds its command-line options
from the settings' field types.
"""

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import threadline as tl
from snakemake_interface_storage_plugins.io import IOCacheStorageInterface, get_constant_prefix
from snakemake_interface_storage_plugins.settings import StorageProviderSettingsBase
from snakemake_interface_storage_plugins.storage_object import (
    StorageObjectGlob,
    StorageObjectRead,
    StorageObjectWrite,
)
from snakemake_interface_storage_plugins.storage_provider import (
    ExampleQuery,
    Operation,
    QueryType,
    StorageProviderBase,
    StorageQueryValidationResult,
)
from threadline import adapters
from threadline.errors import InvalidInput

from ._claim import open_instance
from ._files import SCHEME, reference, split_query


@dataclass
class StorageProviderSettings(StorageProviderSettingsBase):
    """``--storage-threadline-*`` options, or fields of a Snakefile ``storage:`` block.

    ``Optional[str]``, not ``str | None``: Snakemake's option builder understands only
    ``typing.Optional``.
    """

    db: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={
            "help": "Database URL of the threadline instance; default: THREADLINE_DB, the "
            "nearest threadline.toml, or the embedded default.",
            "env_var": False,
        },
    )
    storage: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={
            "help": "Storage root of the threadline instance (a folder or s3://bucket/prefix); "
            "give it together with --storage-threadline-db.",
            "env_var": False,
        },
    )


class StorageProvider(StorageProviderBase):
    """Snakemake creates one per tag in every process that parses the Snakefile, so
    nothing happens here until an object is used."""

    def __post_init__(self) -> None:
        self._connected = False

    def connect(self) -> None:
        """The instance this provider names, or the workflow's (``_claim``), opened on
        first use; naming another database than the workflow records into is refused."""
        if self._connected:
            return
        db = getattr(self.settings, "db", None)
        storage = getattr(self.settings, "storage", None)
        open_instance(db, storage, "a threadline storage provider")
        self._connected = True

    @classmethod
    def example_queries(cls) -> list[ExampleQuery]:
        return [
            ExampleQuery(
                query="threadline://raw/counts.csv",
                type=QueryType.ANY,
                description="The latest version of the artifact with key "
                "raw/counts.csv; as an output, its next version.",
            ),
            ExampleQuery(
                query="threadline://raw/counts.csv@2",
                type=QueryType.INPUT,
                description="Version 2 of that artifact (read-only).",
            ),
        ]

    def rate_limiter_key(self, query: str, operation: Operation) -> Any:
        return "threadline"

    def default_max_requests_per_second(self) -> float:
        return 1000.0

    def use_rate_limiter(self) -> bool:
        return False

    @classmethod
    def is_valid_query(cls, query: str) -> StorageQueryValidationResult:
        """``threadline://key``, a bare key, or either with ``@version``."""
        reason = _invalid_reason(query)
        return StorageQueryValidationResult(query=query, valid=reason is None, reason=reason)


def _invalid_reason(query: str) -> str | None:
    if "://" in query and not query.startswith(SCHEME):
        return f"not a threadline query (those start with {SCHEME} or are bare keys)"
    if not reference(query):
        return "the query names no key"
    if query.removeprefix(SCHEME).startswith("/"):
        return "keys are relative paths; drop the leading '/'"
    try:
        adapters.check_key(split_query(query)[0])  # the rule every artifact key follows
    except InvalidInput as exc:
        return str(exc)
    return None


class StorageObject(StorageObjectRead, StorageObjectWrite, StorageObjectGlob):
    """One key (the latest version) or one pinned version of it."""

    def __post_init__(self) -> None:
        self.key, self.version = split_query(self.query)
        self.query_reference = reference(self.query)

    def local_suffix(self) -> str:
        return self.key if self.version is None else f"{self.key}@{self.version}"

    async def inventory(self, cache: IOCacheStorageInterface) -> None:
        """Nothing to prefetch: each lookup is one indexed query."""

    def get_inventory_parent(self) -> str | None:
        return None

    def cleanup(self) -> None:
        """Nothing is kept outside Snakemake's local copy."""

    def _artifact(self) -> "tl.Artifact | None":  # quoted: keeps the models unloaded
        self.provider.connect()  # type: ignore[attr-defined]
        return adapters.resolve_references([self.query_reference]).get(self.query_reference)

    def exists(self) -> bool:
        return self._artifact() is not None

    def mtime(self) -> float:
        return _timestamp(self._existing().created_at)

    def size(self) -> int:
        return int(self._existing().size or 0)

    def checksum(self) -> str | None:
        artifact = self._existing()
        return None if artifact.n_files is not None else f"sha256:{artifact.hash}"

    def _existing(self) -> "tl.Artifact":
        artifact = self._artifact()
        if artifact is None:
            raise FileNotFoundError(f"no artifact {self.query} in threadline")
        return artifact

    def retrieve_object(self) -> None:
        artifact = self._existing()
        source, target = artifact.cache(), self.local_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        stamp = _timestamp(artifact.created_at)
        os.utime(target, (stamp, stamp))

    def store_object(self) -> None:
        if self.version is not None:
            raise ValueError(f"{self.query} pins a version; outputs need a bare key")
        self.provider.connect()  # type: ignore[attr-defined]
        path = self.local_path()
        if not _restore_if_same(self.key, path):
            tl.Artifact(str(path), key=self.key).save()

    def remove(self) -> None:
        """Move the latest version to the trash (pinned versions are left alone)."""
        if self.version is not None:
            return
        artifact = self._artifact()
        if artifact is not None:
            artifact.delete()

    def list_candidate_matches(self) -> Iterable[str]:
        self.provider.connect()  # type: ignore[attr-defined]
        prefix = split_query(get_constant_prefix(self.query))[0]
        scheme = SCHEME if self.query.startswith(SCHEME) else ""
        keys = tl.Artifact.filter(key__startswith=prefix, is_latest=True, visibility__ne="trash")
        return [f"{scheme}{artifact.key}" for artifact in keys.order_by("key")]


def _restore_if_same(key: str, path: Path) -> bool:
    """Undo a ``remove()`` that preceded this store (Snakemake removes outputs before it
    reruns their job): the trashed latest version comes back, and if the new bytes are
    the same, nothing else happens (True); otherwise they become the next version."""
    top = (
        tl.Artifact.filter(key=key, visibility__in=("main", "archive", "trash"))
        .order_by("-version")
        .first()
    )
    if top is None or top.visibility != "trash":
        return False
    top.restore()
    if top.n_files is not None or not path.is_file() or path.stat().st_size != top.size:
        return False
    return adapters.hash_files([path])[0] == top.hash


def _timestamp(created_at: dt.datetime) -> float:
    return created_at.replace(tzinfo=dt.UTC).timestamp()
