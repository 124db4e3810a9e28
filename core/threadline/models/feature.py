"""Features (typed annotation dimensions), labels, and the tables of their values on
artifacts and runs.

A value is stored once per (record, feature, element): list features get one row per
element, so ``filter(tag="x")`` finds records whose list contains ``"x"``. Each row keeps
the JSON value plus a number or a text column that queries compare against. The dtype
rules live in ``threadline._dtypes``; reading and writing values in ``_managers.py``.
"""

from __future__ import annotations

import peewee

from .._dtypes import normalize_dtype
from ..errors import InvalidInput
from ._base import BaseModel, JSONField, utcnow

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any


class Feature(BaseModel):
    name = peewee.CharField(max_length=255, unique=True)
    dtype = peewee.CharField(max_length=64)
    description = peewee.TextField(null=True)
    coerce = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)

    def __init__(self, *args: Any, dtype: Any = None, **kwargs: Any) -> None:
        if dtype is not None:
            kwargs["dtype"] = normalize_dtype(dtype)
        super().__init__(*args, **kwargs)

    def save(self, *args: Any, **kwargs: Any) -> Feature:  # type: ignore[override]
        """Create the feature, or return the existing one if name and dtype agree."""
        if self.id is not None:
            super().save(*args, **kwargs)
            return self
        if not self.name or not self.dtype:
            raise InvalidInput(
                "a feature needs a name and a dtype: tl.Feature(name='sample', dtype=str)"
            )
        existing = Feature.get_or_none(Feature.name == self.name)
        if existing is None:  # ON CONFLICT: a concurrent creator wins, checked below
            data = {k: v for k, v in self.__data__.items() if k != "id"}
            Feature.insert(data).on_conflict_ignore().execute()
            existing = Feature.get(Feature.name == self.name)
        if existing.dtype != self.dtype:
            raise InvalidInput(
                f"feature {self.name!r} exists with dtype {existing.dtype}, not {self.dtype}"
            )
        self.__data__ = dict(existing.__data__)
        self._dirty = set()
        return self

    def _repr_fields(self) -> list[str]:
        return ["name", "dtype"]


class Label(BaseModel):
    name = peewee.CharField(max_length=255, unique=True)
    description = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    def save(self, *args: Any, **kwargs: Any) -> Label:  # type: ignore[override]
        """Create the label, or return the existing one of that name."""
        if self.id is None:
            if not self.name:
                raise InvalidInput("a label needs a non-empty name")
            Label.insert(
                name=self.name, description=self.description, created_at=self.created_at or utcnow()
            ).on_conflict_ignore().execute()
            self.__data__ = dict(Label.get(Label.name == self.name).__data__)
            self._dirty = set()
            return self
        super().save(*args, **kwargs)
        return self

    def _repr_fields(self) -> list[str]:
        return ["name"]


def _value_table(owner: str) -> type[BaseModel]:
    class Meta:
        # (feature, text|num, record): a filter's subquery reads the index alone; these
        # also serve lookups by feature, so the feature column has no index of its own
        indexes = tuple(map(peewee.SQL, value_indexes(owner)))

    attrs = {
        owner: peewee.DeferredForeignKey(
            owner.capitalize(), on_delete="CASCADE", index=True, backref="feature_values"
        ),
        "feature": peewee.ForeignKeyField(Feature, on_delete="CASCADE", index=False),
        "value": JSONField(),
        "num": peewee.DoubleField(null=True),
        "text": peewee.CharField(max_length=1024, null=True),
        "Meta": Meta,
        "__module__": __name__,
    }
    return type(f"{owner.capitalize()}FeatureValue", (BaseModel,), attrs)


def value_indexes(owner: str) -> list[str]:
    """The statements creating the lookup indexes of ``owner``'s feature-value table (the
    same names since schema v2; since v6 they end with the record's id). Since v9 the
    ``num`` one holds only rows with a number (a comparison with a number implies it), so
    text and dict values cost one index entry fewer; the ``text`` one holds every row and
    serves lookups by feature alone."""
    table = f"{owner}_feature_value"
    return [
        f'CREATE INDEX IF NOT EXISTS "{table}_feature_id_{column}" '
        f'ON "{table}" ("feature_id", "{column}", "{owner}_id"){where}'
        for column, where in (("text", ""), ("num", ' WHERE "num" IS NOT NULL'))
    ]


def _label_table(owner: str) -> type[BaseModel]:
    class Meta:
        indexes = (((owner, "label"), True),)

    attrs = {
        owner: peewee.DeferredForeignKey(
            owner.capitalize(), on_delete="CASCADE", index=True, backref="label_links"
        ),
        "label": peewee.ForeignKeyField(Label, on_delete="CASCADE", index=True),
        "feature": peewee.ForeignKeyField(Feature, null=True, on_delete="SET NULL"),
        "Meta": Meta,
        "__module__": __name__,
    }
    return type(f"{owner.capitalize()}Label", (BaseModel,), attrs)


ArtifactFeatureValue = _value_table("artifact")
RunFeatureValue = _value_table("run")
ArtifactLabel = _label_table("artifact")
RunLabel = _label_table("run")
