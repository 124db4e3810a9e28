"""Transforms (units of code), their runs, and what a run carries: project, environment."""

from __future__ import annotations

import peewee

from .._db import unwrap
from ..errors import InvalidInput
from ._base import BaseModel, JSONField, new_uid, utcnow
from ._managers import FeatureManager, LabelManager
from .feature import RunFeatureValue, RunLabel

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

RUN_STATUSES = (
    "scheduled",
    "started",
    "completed",
    "errored",
    "aborted",
    "cached",
    "skipped",  # never started: the engine gave up on it before it ran (an upstream failed)
    "rolled_back",  # completed, then undone by the engine (a transaction rolled back)
)


class Transform(BaseModel):
    """A unit of code. ``key`` + source ``hash``; a new hash under a key is a new version."""

    uid = peewee.CharField(max_length=16, unique=True, default=new_uid)
    key = peewee.CharField(max_length=1024, index=True)
    version = peewee.IntegerField(default=1)
    hash = peewee.CharField(max_length=64, null=True)
    kind = peewee.CharField(max_length=32, default="function")
    source = peewee.TextField(null=True)
    reference = peewee.CharField(max_length=1024, null=True)
    description = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("key", "hash"), True), (("key", "version"), True))

    @property
    def versions(self) -> list[Transform]:
        return list(Transform.select().where(Transform.key == self.key).order_by(Transform.version))

    def _repr_fields(self) -> list[str]:
        return ["uid", "key", "version", "kind"]


class Project(BaseModel):
    name = peewee.CharField(max_length=255, unique=True)
    description = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    def _repr_fields(self) -> list[str]:
        return ["name"]


class Environment(BaseModel):
    """A Python environment: interpreter and distributions, stored once per content."""

    hash = peewee.CharField(max_length=64, unique=True)
    python = peewee.CharField(max_length=64)
    packages = JSONField()
    created_at = peewee.DateTimeField(default=utcnow)

    def _repr_fields(self) -> list[str]:
        return ["hash", "python"]


class Run(BaseModel):
    """One execution of a Transform."""

    uid = peewee.CharField(max_length=16, unique=True, default=new_uid)
    transform = peewee.ForeignKeyField(Transform, backref="runs", on_delete="CASCADE")
    status = peewee.CharField(max_length=16, default="started", index=True)
    name = peewee.CharField(max_length=255, null=True)
    started_at = peewee.DateTimeField(default=utcnow, index=True)
    finished_at = peewee.DateTimeField(null=True)
    params = JSONField(null=True)
    parent = peewee.ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL")
    engine = peewee.CharField(max_length=32, null=True)
    reference = peewee.CharField(max_length=255, null=True, index=True)
    hostname = peewee.CharField(max_length=255, null=True)
    user = peewee.CharField(max_length=255, null=True)
    python_version = peewee.CharField(max_length=32, null=True)
    git_repo = peewee.CharField(max_length=1024, null=True)
    git_commit = peewee.CharField(max_length=64, null=True)
    git_dirty = peewee.BooleanField(null=True)
    environment = peewee.ForeignKeyField(Environment, null=True, on_delete="SET NULL")
    project = peewee.ForeignKeyField(Project, null=True, backref="runs", on_delete="SET NULL")
    logs = peewee.DeferredForeignKey("Artifact", null=True, on_delete="SET NULL")
    error = peewee.TextField(null=True)
    traceback = peewee.TextField(null=True)
    # caching (v3): the run a ``cached`` run reuses; why a cached step ran (the miss reason)
    cached_from = peewee.ForeignKeyField(
        "self", null=True, backref="reused_by", on_delete="SET NULL"
    )
    cache_note = peewee.TextField(null=True)
    # liveness (v3): the process that runs it, to recognise a run whose process is gone
    pid = peewee.IntegerField(null=True)
    process_start = peewee.DoubleField(null=True)  # seconds since the epoch
    transform_id: int  # the foreign keys' id attributes (peewee adds them), for type checkers
    parent_id: int | None
    environment_id: int | None
    project_id: int | None
    logs_id: int | None
    cached_from_id: int | None

    _feature_table, _feature_owner = RunFeatureValue, "run"

    @property
    def features(self) -> FeatureManager:
        return FeatureManager(self, RunFeatureValue, "run")

    @property
    def labels(self) -> LabelManager:
        return LabelManager(self, RunLabel, "run")

    @property
    def upstream_runs(self) -> list[Run]:
        """Runs linked as this run's direct predecessors (engine dependency edges)."""
        ids = RunLink.select(RunLink.upstream).where(RunLink.downstream == self.id)
        return list(Run.select().where(Run.id.in_(ids)).order_by(Run.id))

    def _repr_fields(self) -> list[str]:
        return ["uid", "status", "engine", "reference"]

    def __getstate__(self) -> Any:
        """A run still to be written (started ``later``) gets its row first, so that a
        pickled copy keeps the id (reading ``id`` waits for the writer)."""
        self.id  # noqa: B018
        return super().__getstate__()

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status" and value not in RUN_STATUSES:
            raise InvalidInput(f"run status must be one of {RUN_STATUSES}, not {value!r}")
        super().__setattr__(name, value)


class _RunId(peewee.FieldAccessor):
    """``run.id``. A run whose row the background writer still has to write (started with
    ``adapters.start_run(..., later=True)``) carries ``_pending``, which gets the id on
    demand (``adapters._deferred.Pending.resolve``): whoever reads it first waits for it."""

    def __get__(self, instance: Any, instance_type: Any = None) -> Any:
        if instance is None:
            return self.field
        value = instance.__data__.get("id")
        if value is None:
            pending = instance.__dict__.get("_pending")
            if pending is not None:
                return pending.resolve()
        return value


Run.id = _RunId(Run, Run._meta.primary_key, "id")  # type: ignore[assignment,misc]


def runs_below(ids: list[int]) -> peewee.SQL:
    """The ids of every run under the runs ``ids`` (their children, theirs... but not
    the runs themselves) as one recursive subquery, for ``Run.id.in_(runs_below(ids))``:
    a family of any size costs one statement. ``UNION`` walks a run met twice once."""
    table, parent = Run._meta.table_name, Run.parent.column_name
    if not ids:  # PostgreSQL refuses an empty IN ()
        return peewee.SQL(f"(SELECT id FROM {table} WHERE 1 = 0)")
    marks = ", ".join([unwrap(Run._meta.database).param] * len(ids))
    sql = (
        f"(WITH RECURSIVE below(id) AS (SELECT id FROM {table} WHERE {parent} IN ({marks}) "
        f"UNION SELECT r.id FROM {table} r JOIN below ON r.{parent} = below.id) "
        "SELECT id FROM below)"
    )
    return peewee.SQL(sql, list(ids))


class RunLink(BaseModel):
    """A dependency edge between runs (a task that consumed another task's result)."""

    upstream = peewee.ForeignKeyField(Run, on_delete="CASCADE")
    downstream = peewee.ForeignKeyField(Run, on_delete="CASCADE", index=True)
    upstream_id: int
    downstream_id: int

    class Meta:
        indexes = ((("upstream", "downstream"), True),)


class CacheEntry(BaseModel):
    """A completed run whose outputs a later call with the same cache key may reuse.

    ``key`` covers code, parameters and argument inputs plus the inputs the body read
    (``reads``: checked again at lookup); ``base`` is the part known before the body runs.
    ``parts`` keeps each component's hash, to say why a later call missed.
    """

    key = peewee.CharField(max_length=64, unique=True)
    base = peewee.CharField(max_length=64, index=True)
    transform_key = peewee.CharField(max_length=1024, index=True)
    run = peewee.ForeignKeyField(Run, on_delete="CASCADE")
    run_id: int
    parts = JSONField()
    reads = JSONField()
    result = JSONField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
