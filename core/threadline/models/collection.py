"""Collections: versioned, ordered sets of artifacts. (``Schema`` lives in ``schema.py``.)"""

from __future__ import annotations

import hashlib

import peewee

from .. import _context
from .._db import write_transaction
from .._keys import check_key
from ..errors import InvalidInput
from ._base import BaseModel, new_uid, utcnow
from .artifact import Artifact
from .run import Run
from .schema import Schema

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Collection", "CollectionArtifact", "Schema"]


class Collection(BaseModel):
    """A versioned, ordered set of artifacts under a key."""

    uid = peewee.CharField(max_length=16, unique=True, default=new_uid)
    key = peewee.CharField(max_length=1024, index=True)
    version = peewee.IntegerField(default=1)
    is_latest = peewee.BooleanField(default=True)
    hash = peewee.CharField(max_length=64)
    description = peewee.TextField(null=True)
    run = peewee.ForeignKeyField(Run, null=True, backref="collections", on_delete="SET NULL")
    run_id: int | None
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("key", "version"), True),)

    def __init__(self, artifacts: Any = None, *, key: str | None = None, **fields: Any) -> None:
        super().__init__(key=key, **fields)
        self._members = list(artifacts) if artifacts is not None else None

    def save(self, *args: Any, **kwargs: Any) -> Collection:  # type: ignore[override]
        """Save; the same key and members returns the existing version."""
        if self.id is not None or self._members is None:
            super().save(*args, **kwargs)
            return self
        check_key(self.key)
        if any(a.id is None for a in self._members):
            raise InvalidInput("save every artifact before adding it to a collection")
        self.hash = hashlib.sha256("\n".join(a.hash for a in self._members).encode()).hexdigest()
        with write_transaction(Collection._meta.database, lock=f"collection:{self.key}"):
            same = Collection.get_or_none(
                (Collection.key == self.key) & (Collection.hash == self.hash)
            )
            if same is not None:
                self.__data__, self._dirty = dict(same.__data__), set()
                return self
            top = (
                Collection.select(peewee.fn.MAX(Collection.version))
                .where(Collection.key == self.key)
                .scalar()
            )
            self.version = (top or 0) + 1
            self.run = self.run or _context.current_run()
            Collection.update(is_latest=False).where(Collection.key == self.key).execute()
            super().save(force_insert=True)
            CollectionArtifact.insert_many(
                [
                    {"collection": self.id, "artifact": a.id, "position": i}
                    for i, a in enumerate(self._members)
                ]
            ).execute()
        return self

    @property
    def artifacts(self) -> list[Artifact]:
        return list(
            Artifact.select()
            .join(CollectionArtifact)
            .where(CollectionArtifact.collection == self.id)
            .order_by(CollectionArtifact.position)
        )

    def _repr_fields(self) -> list[str]:
        return ["uid", "key", "version"]


class CollectionArtifact(BaseModel):
    collection = peewee.ForeignKeyField(Collection, on_delete="CASCADE", index=True)
    artifact = peewee.ForeignKeyField(Artifact, on_delete="CASCADE", index=True)
    position = peewee.IntegerField(default=0)
