"""Artifacts: files, folders and objects persisted to storage, versioned under a key.

Saving (``Artifact(path, key=...).save()``):

1. the key is checked and the path hashed (stat cache, parallel for folder contents);
2. the object is uploaded content-addressed, unless it already lies under the storage
   root (registered in place) or identical content is already stored;
3. one short write transaction, serialised per key, returns the existing artifact for the
   same key and content, or inserts the next version and moves ``is_latest``.

The record is written only after its object is complete, so a crash leaves at worst an
unreferenced object, which ``threadline gc`` removes.
"""

import os
import tempfile
from typing import Any

import peewee

import threadline

from .. import _context, _tables
from .._db import unwrap, write_transaction
from .._describe import describe_artifact
from .._keys import check_key, suffix_of
from .._loaders import load_path
from ..errors import InvalidInput, InvalidKey
from ..hashing import StatCache
from ..storage._objects import Prepared, fetch, prepare, store
from ._base import BaseModel, new_uid, utcnow
from ._validation import ValidationReport, validate
from .feature import (
    ArtifactFeatureValue,
    ArtifactLabel,
    FeatureManager,
    LabelManager,
    write_values_many,
)
from .run import Run, Transform
from .schema import Schema


class Storage(BaseModel):
    """A storage root: a local folder or ``s3://bucket/prefix``."""

    root = peewee.CharField(max_length=1024, unique=True)
    type = peewee.CharField(max_length=16)
    created_at = peewee.DateTimeField(default=utcnow)

    def _repr_fields(self) -> list[str]:
        return ["root"]


RunInputThrough = peewee.DeferredThroughModel()


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
    input_of = peewee.ManyToManyField(Run, backref="inputs", through_model=RunInputThrough)

    _feature_table, _feature_owner = ArtifactFeatureValue, "artifact"

    class Meta:
        indexes = ((("key", "version"), True),)

    def __init__(self, data: Any = None, *, key: str | None = None, **fields: Any) -> None:
        """``data``: a local path, a folder, or an object URI under the storage root."""
        super().__init__(key=key, **fields)
        self._source = data
        self._pending: tuple[Any, str] | None = None  # (DataFrame or AnnData, format)
        self._report: ValidationReport | None = None

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
    ) -> "Artifact":
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
    ) -> "Artifact":
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
    ) -> "Artifact":
        suffix = f".{fmt}"
        if key is not None:
            check_key(key)
            if suffix_of(key) not in ("", suffix):
                raise InvalidKey(
                    key, f"ends in {suffix_of(key)} but the object is stored as {suffix}"
                )
        report = None
        if schema is not None:
            report = validate(data, schema)
            report.raise_for_problems()
            data = report.data
        otype = _tables.object_type(data)
        artifact = cls(
            None, key=key, suffix=suffix, otype=otype, kind=fields.pop("kind", "dataset"), **fields
        )
        artifact._pending, artifact._report = (data, fmt), report
        return artifact

    @classmethod
    def _get_defaults(cls, lookups: dict[str, Any]) -> dict[str, Any]:
        """``Artifact.get(key=...)`` means the latest version of that key."""
        pinned = {"version", "is_latest", "uid", "id", "hash", "visibility"}
        if "key" in lookups and not pinned & {k.split("__")[0] for k in lookups}:
            return {**lookups, "is_latest": True}
        return lookups

    # -- saving ------------------------------------------------------------------------
    def save(self, *args: Any, **kwargs: Any) -> "Artifact":  # type: ignore[override]
        """Store the object and write the record; returns the saved artifact.

        Same key and content: the existing artifact (its fields are copied into ``self``).
        """
        if self.id is None and getattr(self, "_pending", None) is not None:
            return self._save_object()
        if self.id is not None or getattr(self, "_source", None) is None:
            if self.id is None:
                raise InvalidInput("nothing to save: give a path, tl.Artifact(path, key=...)")
            super().save(*args, **kwargs)
            return self
        if self.key is not None:
            check_key(self.key)
        inst = _context.instance()
        scratch = getattr(self, "_scratch", False)  # our own file: nothing to remember
        suffix = self.suffix or suffix_of(self.key or str(self._source))
        if not scratch and self.schema_id is not None:
            self._validate_file(suffix)
        prepared = prepare(
            self._source, inst.backend, NO_CACHE if scratch else inst.stat_cache, suffix
        )
        store(prepared, inst.backend, move=scratch)
        saved = self._write(prepared, inst.storage)
        self.__data__, self._dirty, self._source = dict(saved.__data__), set(), None
        return self

    def _validate_file(self, suffix: str) -> None:
        """A table file saved with a validating schema is loaded and checked first; it is
        stored as it is (coercion checks that values convert, it does not rewrite files)."""
        schema = self.schema
        if schema.kind == "record":
            return  # a plain record describes the file, it has no rules
        source = str(self._source)
        if suffix.lower() not in _tables.OTYPES or (
            "://" in source and not source.startswith("file://")
        ):
            raise InvalidInput(
                f"schema {schema.label} validates local DataFrame and AnnData "
                f"files ({', '.join(_tables.OTYPES)}), not {source}"
            )
        local = source.removeprefix("file://")
        if not os.path.exists(local):
            raise InvalidInput(f"path not found: {os.path.abspath(local)}")
        report = validate(load_path(local, suffix), schema)
        report.raise_for_problems()
        self._report = report

    def _save_object(self) -> "Artifact":
        """Write the pending DataFrame/AnnData to a scratch file, then save that file."""
        data, fmt = self._pending  # type: ignore[misc]
        inst = _context.instance()
        if self._report is not None:
            schema = self._report.schema
            self.schema = schema if schema.id is not None else schema.save()
        scratch = _scratch_dir(inst)
        os.makedirs(scratch, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as folder:
            self._source, self._scratch = _tables.write_object(data, folder, fmt), True
            self._pending = None
            try:
                self.save()
            except BaseException:
                self._pending = (data, fmt)  # still unsaved: save() may be called again
                raise
            finally:
                self._scratch = False
        return self

    def _write(self, prepared: Prepared, storage: Storage) -> "Artifact":
        with write_transaction(Artifact._meta.database, lock=f"artifact:{self.key}"):
            top, same_id = _version_state(self.key, prepared.hash)
            if same_id is not None:
                same = Artifact.get_by_id(same_id)
                self._annotate(same)
                return same  # type: ignore[no-any-return]
            self._fill(prepared, storage)
            if self.key is not None:
                self.version = top + 1
                if top:
                    _run_sql(_UNSET_LATEST, (False, self.key, True))
            self.is_latest = True
            self.insert_now()
            self._annotate(self)
        return self

    def _annotate(self, saved: "Artifact") -> None:
        """Link the validating schema and write the categorical values found in the data
        (inside the save's transaction: the record and its annotations appear together)."""
        report = getattr(self, "_report", None)
        if report is None:
            return
        if saved.schema_id != report.schema.id:
            Artifact.update(schema=report.schema.id).where(Artifact.id == saved.id).execute()
            saved.schema_id = report.schema.id
        if report.annotations:
            write_values_many([(saved, list(report.annotations))])

    def _fill(self, prepared: Prepared, storage: Storage) -> None:
        run = _context.current_run()
        self.hash, self.size, self.n_files = prepared.hash, prepared.size, prepared.n_files
        self.suffix, self.path = prepared.suffix, prepared.object_path
        self.in_place = prepared.in_place
        self.storage = storage
        self.kind = self.kind or ("folder" if prepared.n_files is not None else "file")
        self.otype = self.otype or prepared.otype
        if self.n_observations is None:
            self.n_observations = prepared.n_observations
        if self.run_id is None and run is not None:
            self.run = run

    # -- reading -----------------------------------------------------------------------
    def cache(self) -> str:
        """A local path to the content (downloaded into the cache for remote storage)."""
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

    def _backend(self, inst: Any) -> Any:
        if self.storage_id == inst.storage.id:
            return inst.backend
        return inst.backend_for(self.storage.root)

    def _record_input(self) -> None:
        run = _context.current_run()
        if run is not None and run.id != self.run_id:
            RunInput.insert(run=run.id, artifact=self.id).on_conflict_ignore().execute()

    # -- relations ---------------------------------------------------------------------
    @property
    def versions(self) -> list["Artifact"]:
        if self.key is None:
            return [self]
        return list(
            Artifact.select()
            .where((Artifact.key == self.key) & (Artifact.visibility != "trash"))
            .order_by(Artifact.version)
        )

    @property
    def transform(self) -> Transform | None:
        return self.run.transform if self.run_id is not None else None

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
    def delete(self, permanent: bool = False) -> None:
        """Move to trash; with ``permanent=True`` remove the record and unshared object."""
        if not permanent:
            self._set_visibility("trash")
            return
        inst = _context.instance()
        with write_transaction(Artifact._meta.database, lock=f"artifact:{self.key}"):
            RunInput.delete().where(RunInput.artifact == self.id).execute()
            Run.update(logs=None).where(Run.logs == self.id).execute()
            # ``delete`` is this instance method here, so build peewee's query directly
            peewee.ModelDelete(Artifact).where(Artifact.id == self.id).execute()
            shared = (
                Artifact.select()
                .where((Artifact.path == self.path) & (Artifact.storage == self.storage_id))
                .exists()
            )
            if self.key is not None:
                _refresh_latest(self.key)
        if not shared and not self.in_place:
            self._backend(inst).remove(self.path)

    def restore(self) -> None:
        self._set_visibility("main")

    def _set_visibility(self, visibility: str) -> None:
        with write_transaction(Artifact._meta.database, lock=f"artifact:{self.key}"):
            Artifact.update(visibility=visibility).where(Artifact.id == self.id).execute()
            self.visibility = visibility
            if self.key is not None:
                _refresh_latest(self.key)
        self.is_latest = Artifact.get_by_id(self.id).is_latest

    def view_lineage(self, direction: str = "upstream") -> str:
        """This artifact's lineage as a Mermaid flowchart (``tl.lineage.mermaid``)."""
        return threadline.lineage.mermaid(self, direction)  # loaded on first use

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
        data["run"] = self.run.uid if self.run_id else None
        return data

    def _repr_fields(self) -> list[str]:
        return ["uid", "key", "version", "hash"]


NO_CACHE = StatCache(None)  # hashes, remembers nothing

# ``Schema`` is defined before this module (validation needs it), so the deferred key is
# resolved here; peewee resolves it by itself only for models defined afterwards.
peewee.DeferredForeignKey.resolve(Schema)


def _scratch_dir(inst: Any) -> str:
    """Where in-memory objects are written before saving: beside the objects on local
    storage (so that the file is renamed into place), in the cache folder otherwise."""
    local = inst.backend.local_path(".threadline/tmp")
    return local or os.path.join(inst.settings.cache_dir, "tmp")


class RunInput(BaseModel):
    """An artifact read by a run."""

    run = peewee.ForeignKeyField(Run, on_delete="CASCADE", index=True)
    artifact = peewee.ForeignKeyField(Artifact, on_delete="CASCADE", index=True)

    class Meta:
        indexes = ((("run", "artifact"), True),)


RunInputThrough.set_model(RunInput)


# The save path runs these for every artifact; they are plain SQL, written once.
_STATE_KEYED = (
    "SELECT MAX(version), MAX(CASE WHEN hash = ? AND visibility <> 'trash' "
    "THEN id END) FROM artifact WHERE key = ?"
)
_STATE_KEYLESS = (
    "SELECT 0, MAX(id) FROM artifact WHERE hash = ? AND key IS NULL AND visibility <> 'trash'"
)
_UNSET_LATEST = "UPDATE artifact SET is_latest = ? WHERE key = ? AND is_latest = ?"


def _run_sql(sql: str, params: tuple[Any, ...]) -> Any:
    db = unwrap(Artifact._meta.database)
    return db.execute_sql(sql.replace("?", db.param), params)


def _version_state(key: str | None, hash_: str) -> tuple[int, int | None]:
    """(highest version under ``key``, id of a visible artifact with this content)."""
    if key is None:
        row = _run_sql(_STATE_KEYLESS, (hash_,)).fetchone()
    else:
        row = _run_sql(_STATE_KEYED, (hash_, key)).fetchone()
    return (row[0] or 0), row[1]


def _refresh_latest(key: str) -> None:
    """``is_latest`` marks the highest version that is not in the trash."""
    top = (
        Artifact.select(peewee.fn.MAX(Artifact.version))
        .where((Artifact.key == key) & (Artifact.visibility != "trash"))
        .scalar()
    )
    Artifact.update(is_latest=(Artifact.version == top) if top else False).where(
        Artifact.key == key
    ).execute()
