"""Artifacts: files, folders and objects persisted to storage, versioned under a key.

The table and what a saved artifact does (read, open, load, trash, restore, delete). An
unsaved artifact holds what it will be saved from in a ``PendingSave``; ``save()`` hands
it to the one save pipeline, ``threadline.saving`` (``tl.save`` of one artifact), which
the tables reach through ``_context.layers()`` because it sits above them.
"""

from __future__ import annotations

import peewee

from .. import _context, _tables
from .._db import write_transaction
from .._describe import describe_artifact
from .._keys import check_key, check_key_kept, suffix_of
from .._loaders import load_path
from .._purge import current_user, purge_message, tombstone
from ..errors import ArtifactPurged, InvalidInput, InvalidKey
from ..storage._fetch import fetch
from ._base import BaseModel, new_uid, utcnow
from ._managers import FeatureManager, LabelManager
from .feature import ArtifactFeatureValue, ArtifactLabel
from .run import Run, Transform
from .schema import Schema

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

    from .._instance import Instance
    from ..lineage import LineageView
    from ..storage import Backend
    from ..validation import ValidationReport


class PendingSave:
    """What an unsaved artifact is saved from: a path (``tl.Artifact(path)``) or an
    in-memory object written out as ``format`` on save (``from_dataframe``/
    ``from_anndata``), with the report of its validation when a schema was given.

    A plain class, not a dataclass: a dataclass compiles its methods from source when the
    tables are imported (2 M instructions of every start), and nothing compares or prints
    these holders."""

    __slots__ = ("data", "format", "report", "source")

    def __init__(
        self,
        source: Any = None,  # a local file or folder, or an object URI under the storage root
        data: Any = None,  # a DataFrame or an AnnData
        format: str | None = None,  # parquet, h5ad, zarr (for ``data``)
        report: ValidationReport | None = None,
    ) -> None:
        self.source, self.data, self.format, self.report = source, data, format, report


class Storage(BaseModel):
    """A storage root: a local folder or ``s3://bucket/prefix``."""

    root = peewee.CharField(max_length=1024, unique=True)
    type = peewee.CharField(max_length=16)
    created_at = peewee.DateTimeField(default=utcnow)

    def _repr_fields(self) -> list[str]:
        return ["root"]


RunInputThrough = peewee.DeferredThroughModel()
# visibilities whose content cannot be read: in the trash, or purged by gc (a tombstone)
GONE = ("trash", "purged")


class Artifact(BaseModel):
    uid = peewee.CharField(max_length=16, unique=True, default=new_uid)
    key = peewee.CharField(max_length=1024, null=True, index=True)
    description = peewee.TextField(null=True)
    suffix = peewee.CharField(max_length=64, default="")
    kind = peewee.CharField(max_length=32, null=True)
    otype = peewee.CharField(max_length=64, null=True)
    size = peewee.BigIntegerField(null=True)
    hash = peewee.CharField(max_length=64, index=True)
    hash_type = peewee.CharField(max_length=16, default="sha256")
    n_files = peewee.IntegerField(null=True)
    n_observations = peewee.BigIntegerField(null=True)
    storage = peewee.ForeignKeyField(Storage, on_delete="RESTRICT")
    path = peewee.CharField(max_length=2048)
    in_place = peewee.BooleanField(default=False)
    version = peewee.IntegerField(default=1)
    is_latest = peewee.BooleanField(default=True)
    visibility = peewee.CharField(max_length=8, default="main")
    run = peewee.ForeignKeyField(Run, null=True, backref="outputs", on_delete="SET NULL")
    schema = peewee.DeferredForeignKey("Schema", null=True, on_delete="SET NULL")
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    # who moved it to the trash and when; when gc purged its object and who ran it
    deleted_at = peewee.DateTimeField(null=True)
    deleted_by = peewee.CharField(max_length=255, null=True)
    purged_at = peewee.DateTimeField(null=True)
    purged_by = peewee.CharField(max_length=255, null=True)
    input_of = peewee.ManyToManyField(Run, backref="inputs", through_model=RunInputThrough)
    storage_id: int  # the foreign keys' id attributes (peewee adds them), for type checkers
    run_id: int | None
    schema_id: int | None

    _feature_table, _feature_owner = ArtifactFeatureValue, "artifact"
    # what an unsaved artifact is saved from (records read from the database: None)
    pending: PendingSave | None = None

    class Meta:
        indexes = ((("key", "version"), True),)

    def __init__(self, data: Any = None, *, key: str | None = None, **fields: Any) -> None:
        """``data``: a local path, a folder, or an object URI under the storage root."""
        super().__init__(key=key, **fields)
        if data is not None:
            self.pending = PendingSave(source=data)

    # -- in-memory objects -------------------------------------------------------------
    @classmethod
    def from_dataframe(
        cls,
        df: Any,
        *,
        key: str | None = None,
        schema: Any = None,
        description: str | None = None,
        **fields: Any,
    ) -> Artifact:
        """An unsaved artifact for a pandas DataFrame, stored as parquet on ``save()``.

        With ``schema`` the frame is validated now: a ``ValidationError`` lists every
        problem and nothing is written. The saved artifact links the schema and is
        annotated with the categorical values of its feature columns.
        """
        if _tables.object_type(df) != "DataFrame":
            raise InvalidInput(f"from_dataframe() takes a DataFrame, not {type(df).__name__}")
        return cls._from_object(
            df, "parquet", key, schema, description=description, n_observations=len(df), **fields
        )

    @classmethod
    def from_anndata(
        cls,
        adata: Any,
        *,
        key: str | None = None,
        schema: Any = None,
        format: str | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> Artifact:
        """An unsaved artifact for an AnnData, stored as ``.h5ad`` (default) or ``.zarr``."""
        if _tables.object_type(adata) != "AnnData":
            raise InvalidInput(f"from_anndata() takes an AnnData, not {type(adata).__name__}")
        fmt = _tables.anndata_format(format, key)
        return cls._from_object(
            adata,
            fmt,
            key,
            schema,
            description=description,
            n_observations=int(adata.n_obs),
            **fields,
        )

    @classmethod
    def _from_object(
        cls, data: Any, fmt: str, key: str | None, schema: Any, **fields: Any
    ) -> Artifact:
        suffix = f".{fmt}"
        if key is not None:
            check_key(key)
            if suffix_of(key) not in ("", suffix):
                raise InvalidKey(
                    key, f"ends in {suffix_of(key)} but the object is stored as {suffix}"
                )
        report = None
        if schema is not None:
            report = _context.layers().validate(data, schema)
            report.raise_for_problems()
            data = report.data
        otype = _tables.object_type(data)
        artifact = cls(
            None, key=key, suffix=suffix, otype=otype, kind=fields.pop("kind", "dataset"), **fields
        )
        artifact.pending = PendingSave(data=data, format=fmt, report=report)
        return artifact

    @classmethod
    def _get_defaults(cls, lookups: dict[str, Any]) -> dict[str, Any]:
        """``Artifact.get(key=...)`` means the latest version of that key."""
        pinned = {"version", "is_latest", "uid", "id", "hash", "visibility"}
        if "key" in lookups and not pinned & {k.split("__")[0] for k in lookups}:
            return {**lookups, "is_latest": True}
        return lookups

    # -- saving ------------------------------------------------------------------------
    def save(self, *args: Any, **kwargs: Any) -> Artifact:  # type: ignore[override]
        """Store the object and write the record; returns the saved artifact.

        Same key and content: the existing artifact (its fields are copied into ``self``).
        A saved artifact writes its changed fields. ``tl.save([artifact])`` does the same.
        """
        if self.id is not None:
            if "key" in self._dirty:  # a saved version keeps its key
                check_key_kept(self.key, Artifact.get_by_id(self.id).key)
            super().save(*args, **kwargs)
            return self
        _context.layers().save_artifacts([self])
        return self

    # -- reading -----------------------------------------------------------------------
    def cache(self) -> str:
        """A local path to the content (downloaded into the cache for remote storage)."""
        self.check_available()
        inst = _context.instance()
        local = fetch(
            self._backend(inst), self.path, inst.settings.cache_dir, self.n_files is not None
        )
        self._record_input()
        return local

    def open(self, mode: str | None = None) -> Any:
        """A lazy handle for tables (a pyarrow dataset for parquet, a backed AnnData for
        h5ad, a zarr group for zarr); otherwise, or with ``mode``, a read-only file object."""
        if mode is None and self.suffix.lower() in _tables.LAZY_SUFFIXES:
            return self._open_lazy()
        self.check_available()
        mode = mode or "rb"
        if mode not in ("r", "rb"):
            raise InvalidInput(f"artifacts are immutable: open mode {mode!r} is not allowed")
        handle = self._backend(_context.instance()).open(self.path, mode)
        self._record_input()
        return handle

    def _open_lazy(self) -> Any:
        suffix = self.suffix.lower()
        if suffix == ".h5ad":
            return _tables.open_h5ad(self.cache())  # HDF5 needs a local file: cached once
        backend = self._backend(_context.instance())
        local = backend.local_path(self.path)
        self._record_input()
        fs = getattr(backend, "fs", None)  # remote storage: its own fsspec filesystem
        remote = fs._strip_protocol(backend.uri(self.path)) if fs is not None else None
        if suffix == ".zarr":
            return _tables.open_zarr(local, fs, remote)
        return _tables.open_parquet(local, fs, remote)

    def load(self) -> Any:
        """The content as a Python object, by suffix: a DataFrame (parquet, csv, tsv), an
        AnnData (h5ad, zarr), text, JSON, YAML, or what ``tl.register_loader`` added."""
        return load_path(self.cache(), self.suffix)

    def check_available(self) -> None:
        """``ArtifactPurged`` if ``gc`` purged this version's object (a tombstone)."""
        if self.visibility == "purged":
            raise ArtifactPurged(purge_message(self))

    def _backend(self, inst: Instance) -> Backend:
        if self.storage_id == inst.storage.id:
            return inst.backend
        return inst.backend_for(self.storage.root)

    def _record_input(self) -> None:
        run = _context.current_run()
        if run is not None and run.id != self.run_id:
            RunInput.insert(run=run.id, artifact=self.id).on_conflict_ignore().execute()

    # -- relations ---------------------------------------------------------------------
    @property
    def versions(self) -> list[Artifact]:
        if self.key is None:
            return [self]
        return list(
            Artifact.select()
            .where((Artifact.key == self.key) & Artifact.visibility.not_in(GONE))
            .order_by(Artifact.version)
        )

    @property
    def transform(self) -> Transform | None:
        run = self.run if self.run_id is not None else None
        return run.transform if run is not None else None

    @property
    def features(self) -> FeatureManager:
        return FeatureManager(self, ArtifactFeatureValue, "artifact")

    @property
    def labels(self) -> LabelManager:
        return LabelManager(self, ArtifactLabel, "artifact")

    @property
    def uri(self) -> str:
        return f"{self.storage.root.rstrip('/')}/{self.path}"

    # -- lifecycle ---------------------------------------------------------------------
    def delete(self, permanent: bool = False, forget: bool = False) -> str:  # type: ignore[override]
        """Move to trash (``"trash"``); ``permanent=True`` purges now, as ``gc`` purges
        the trash: a tombstone where a run used it (``"tombstone"``), else record and
        object go (``"erase"``); ``forget=True`` removes the record in any case
        (``"forget"``), refused while other records' lineage needs it."""
        if permanent or forget:
            return _context.layers().delete_now(self, forget)
        self._set_visibility("trash", deleted_at=utcnow(), deleted_by=current_user())
        return "trash"

    def restore(self) -> None:
        self.check_available()  # a purged version has no content to come back to
        self._set_visibility("main", deleted_at=None, deleted_by=None)

    def _set_visibility(self, visibility: str, **fields: Any) -> None:
        with write_transaction(Artifact._meta.database, lock=f"artifact:{self.key}"):
            Artifact.update(visibility=visibility, **fields).where(Artifact.id == self.id).execute()
            self.visibility = visibility
            for name, value in fields.items():
                setattr(self, name, value)
            if self.key is not None:
                refresh_latest(self.key)
        self.is_latest = Artifact.get_by_id(self.id).is_latest

    def view_lineage(self, direction: str = "upstream") -> LineageView:
        """This artifact's lineage view (what ``tl.lineage.view`` returns)."""
        return _context.layers().view_lineage(self, direction)

    def describe(self, as_text: bool = False) -> str | None:
        """Print (or return) a text tree of this artifact's identity and provenance."""
        text = describe_artifact(self)
        if as_text:
            return text
        print(text)
        return None

    def to_dict(self) -> dict[str, Any]:
        data = {
            name: getattr(self, name)
            for name in (
                "uid",
                "key",
                "version",
                "is_latest",
                "hash",
                "size",
                "suffix",
                "kind",
                "otype",
                "n_files",
                "n_observations",
                "visibility",
                "description",
                "path",
            )
        }
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        data["storage"] = self.storage.root if self.storage_id else None
        run = self.run if self.run_id else None
        data["run"] = run.uid if run is not None else None
        return {**data, **tombstone(self)} if self.visibility == "purged" else data

    def _repr_fields(self) -> list[str]:
        return ["uid", "key", "version", "hash"]


# ``Schema`` is defined before this module (validation needs it), so the deferred key is
# resolved here; peewee resolves it by itself only for models defined afterwards.
peewee.DeferredForeignKey.resolve(Schema)


class RunInput(BaseModel):
    """An artifact read by a run."""

    run = peewee.ForeignKeyField(Run, on_delete="CASCADE", index=True)
    artifact = peewee.ForeignKeyField(Artifact, on_delete="CASCADE", index=True)
    # True: hashed after the run started, not as of its start (the content may differ)
    unverified = peewee.BooleanField(null=True, default=False)
    run_id: int
    artifact_id: int

    class Meta:
        indexes = ((("run", "artifact"), True),)


RunInputThrough.set_model(RunInput)


def refresh_latest(key: str) -> None:
    """``is_latest`` marks the highest version whose content is there: not in the trash,
    not purged (a purged version is never the latest; its number is never reused)."""
    top = (
        Artifact.select(peewee.fn.MAX(Artifact.version))
        .where((Artifact.key == key) & Artifact.visibility.not_in(GONE))
        .scalar()
    )
    Artifact.update(is_latest=(Artifact.version == top) if top else False).where(
        Artifact.key == key
    ).execute()
