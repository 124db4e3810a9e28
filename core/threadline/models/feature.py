"""Features (typed annotation dimensions), labels, and their values on artifacts and runs.

A value is stored once per (record, feature, element): list features get one row per
element, so ``filter(tag="x")`` finds records whose list contains ``"x"``. Each row keeps
the JSON value plus a number or a text column that queries compare against.
"""

import datetime as dt
import re
from typing import Any

import peewee

from .._db import write_transaction
from ..errors import InvalidFeatureValue, InvalidInput, UnknownFeature
from ._base import BaseModel, JSONField, utcnow

DTYPES = ("int", "float", "str", "bool", "date", "datetime", "dict")
_LIST = re.compile(r"^list\[(\w+)\]$")
_CAT = re.compile(r"^cat(\[Label\])?$")
_PY_DTYPES = {int: "int", float: "float", str: "str", bool: "bool", dict: "dict",
              dt.date: "date", dt.datetime: "datetime"}


def normalize_dtype(dtype: Any) -> str:
    """``str``/``"str"``/``list[int]``/``"cat[Label]"`` -> the canonical dtype string."""
    if isinstance(dtype, type) and dtype in _PY_DTYPES:
        return _PY_DTYPES[dtype]
    text = getattr(dtype, "__name__", None) if not isinstance(dtype, str) else dtype
    if getattr(dtype, "__origin__", None) is list:
        text = f"list[{normalize_dtype(dtype.__args__[0])}]"
    if not isinstance(text, str):
        raise InvalidInput(f"unsupported feature dtype {dtype!r}")
    if text in DTYPES or _CAT.match(text):
        return "cat[Label]" if text.startswith("cat") else text
    inner = _LIST.match(text)
    if inner and inner.group(1) in DTYPES:
        return text
    raise InvalidInput(f"unsupported feature dtype {dtype!r}: use one of {', '.join(DTYPES)}, "
                       "list[...] or cat[Label]")


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

    def save(self, *args: Any, **kwargs: Any) -> "Feature":  # type: ignore[override]
        """Create the feature, or return the existing one if name and dtype agree."""
        if self.id is not None:
            super().save(*args, **kwargs)
            return self
        existing = Feature.get_or_none(Feature.name == self.name)
        if existing is not None:
            if existing.dtype != self.dtype:
                raise InvalidInput(f"feature {self.name!r} exists with dtype {existing.dtype}, "
                                   f"not {self.dtype}")
            self.__data__ = dict(existing.__data__)
            self._dirty = set()
            return self
        if not self.name or not self.dtype:
            raise InvalidInput("a feature needs a name and a dtype")
        try:
            super().save(*args, **kwargs)
        except peewee.IntegrityError:  # created concurrently: take that one
            self.id = None
            return self.save()
        return self

    def _repr_fields(self) -> list[str]:
        return ["name", "dtype"]


class Label(BaseModel):
    name = peewee.CharField(max_length=255, unique=True)
    description = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    def save(self, *args: Any, **kwargs: Any) -> "Label":  # type: ignore[override]
        if self.id is None:
            existing = Label.get_or_none(Label.name == self.name)
            if existing is not None:
                self.__data__ = dict(existing.__data__)
                self._dirty = set()
                return self
        super().save(*args, **kwargs)
        return self

    def _repr_fields(self) -> list[str]:
        return ["name"]


def _value_table(owner: str) -> type[BaseModel]:
    class Meta:
        indexes = ((("feature", "text"), False), (("feature", "num"), False))

    attrs = {
        owner: peewee.DeferredForeignKey(owner.capitalize(), on_delete="CASCADE", index=True,
                                         backref="feature_values"),
        "feature": peewee.ForeignKeyField(Feature, on_delete="CASCADE"),
        "value": JSONField(),
        "num": peewee.DoubleField(null=True),
        "text": peewee.CharField(max_length=1024, null=True),
        "Meta": Meta,
        "__module__": __name__,
    }
    return type(f"{owner.capitalize()}FeatureValue", (BaseModel,), attrs)


def _label_table(owner: str) -> type[BaseModel]:
    class Meta:
        indexes = (((owner, "label"), True),)

    attrs = {
        owner: peewee.DeferredForeignKey(owner.capitalize(), on_delete="CASCADE", index=True,
                                         backref="label_links"),
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


def check_value(feature: Feature, value: Any) -> Any:
    """``value`` as the feature's dtype (coerced when the feature allows), or an error."""
    dtype = feature.dtype
    inner = _LIST.match(dtype)
    if inner:
        if not isinstance(value, list | tuple):
            raise InvalidFeatureValue(feature.name, value, dtype)
        elem = Feature(name=feature.name, dtype=inner.group(1), coerce=feature.coerce)
        return [check_value(elem, v) for v in value]
    checker = _CHECKS.get("cat" if dtype.startswith("cat") else dtype)
    ok, result = checker(value, feature.coerce) if checker else (False, None)
    if not ok:
        raise InvalidFeatureValue(feature.name, value, dtype)
    return result


def _check_int(v: Any, coerce: bool) -> tuple[bool, Any]:
    if isinstance(v, int) and not isinstance(v, bool):
        return True, v
    if coerce and isinstance(v, str | float):
        try:
            return float(v) == int(float(v)), int(float(v))
        except ValueError:
            return False, None
    return False, None


def _check_float(v: Any, coerce: bool) -> tuple[bool, Any]:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return True, float(v)
    if coerce and isinstance(v, str):
        try:
            return True, float(v)
        except ValueError:
            return False, None
    return False, None


def _check_temporal(kind: type) -> Any:
    def check(v: Any, coerce: bool) -> tuple[bool, Any]:
        exact = isinstance(v, kind) and (kind is dt.datetime or not isinstance(v, dt.datetime))
        if exact:
            return True, v.isoformat()
        if coerce and isinstance(v, str):
            try:
                return True, kind.fromisoformat(v).isoformat()
            except ValueError:
                return False, None
        return False, None

    return check


_CHECKS: dict[str, Any] = {
    "int": _check_int,
    "float": _check_float,
    "str": lambda v, c: (isinstance(v, str) or (c and v is not None), str(v)),
    "bool": lambda v, c: (isinstance(v, bool), v),
    "dict": lambda v, c: (isinstance(v, dict), v),
    "date": _check_temporal(dt.date),
    "datetime": _check_temporal(dt.datetime),
    "cat": lambda v, c: (isinstance(v, str | Label), getattr(v, "name", v)),
}


def columns_for(value: Any) -> dict[str, Any]:
    """The comparable columns of one scalar value."""
    if isinstance(value, bool):
        return {"num": float(value), "text": None}
    if isinstance(value, int | float):
        return {"num": float(value), "text": None}
    if isinstance(value, str):
        return {"num": None, "text": value[:1024]}
    return {"num": None, "text": None}


def resolve_feature(name: str, value: Any = None, create: bool = False) -> Feature:
    """The feature called ``name``; with ``create``, made from the value's type if missing."""
    feature = Feature.get_or_none(Feature.name == name)
    if feature is not None:
        return feature
    if not create:
        raise UnknownFeature(name)
    return Feature(name=name, dtype=infer_dtype(value)).save()


def infer_dtype(value: Any) -> str:
    if isinstance(value, list | tuple):
        inner = {infer_dtype(v) for v in value} or {"str"}
        return f"list[{inner.pop()}]" if len(inner) == 1 else "dict"
    for py_type in (bool, int, float, str, dict, dt.datetime, dt.date):
        if isinstance(value, py_type):
            return _PY_DTYPES[py_type]
    raise InvalidInput(f"cannot infer a feature dtype for {value!r}")


class FeatureManager:
    """``record.features``: read and write feature values of one artifact or run."""

    def __init__(self, record: BaseModel, table: type[BaseModel], owner_field: str) -> None:
        self._record, self._table, self._owner = record, table, owner_field

    def add_values(self, values: dict[str, Any], create_features: bool = False) -> None:
        """Set each feature's value (replacing an earlier one); check all before writing."""
        checked = []
        for name, value in values.items():
            feature = resolve_feature(name, value, create=create_features)
            checked.append((feature, check_value(feature, value)))
        owner = getattr(self._table, self._owner)
        with write_transaction(self._table._meta.database):
            for feature, value in checked:
                self._table.delete().where(
                    (owner == self._record.id) & (self._table.feature == feature.id)
                ).execute()
                self._table.insert_many(self._rows(feature, value)).execute()
                if feature.dtype.startswith("cat") or feature.dtype == "list[cat[Label]]":
                    self._link_labels(feature, value)

    def _rows(self, feature: Feature, value: Any) -> list[dict[str, Any]]:
        elements = value if isinstance(value, list) else [value]
        return [
            {self._owner: self._record.id, "feature": feature.id, "value": value,
             **columns_for(element)}
            for element in elements
        ]

    def _link_labels(self, feature: Feature, value: Any) -> None:
        link = ArtifactLabel if self._owner == "artifact" else RunLabel
        for name in value if isinstance(value, list) else [value]:
            label = Label(name=name).save()
            link.insert({self._owner: self._record.id, "label": label.id,
                         "feature": feature.id}).on_conflict_ignore().execute()

    def get_values(self) -> dict[str, Any]:
        owner = getattr(self._table, self._owner)
        rows = (self._table.select(self._table.value, Feature.name)
                .join(Feature).where(owner == self._record.id).order_by(self._table.id))
        return {row.feature.name: row.value for row in rows}

    def remove_values(self, *names: str) -> None:
        owner = getattr(self._table, self._owner)
        ids = Feature.select(Feature.id).where(Feature.name.in_(names))
        self._table.delete().where((owner == self._record.id)
                                   & self._table.feature.in_(ids)).execute()

    def __repr__(self) -> str:
        return f"Features({self.get_values()!r})"


class LabelManager:
    """``record.labels``: labels attached to one artifact or run."""

    def __init__(self, record: BaseModel, table: type[BaseModel], owner_field: str) -> None:
        self._record, self._table, self._owner = record, table, owner_field

    def add(self, *labels: "Label | str") -> None:
        for item in labels:
            label = item if isinstance(item, Label) else Label(name=item).save()
            if label.id is None:
                label.save()
            self._table.insert({self._owner: self._record.id, "label": label.id}
                               ).on_conflict_ignore().execute()

    def remove(self, *labels: "Label | str") -> None:
        names = [getattr(x, "name", x) for x in labels]
        ids = Label.select(Label.id).where(Label.name.in_(names))
        owner = getattr(self._table, self._owner)
        self._table.delete().where((owner == self._record.id)
                                   & self._table.label.in_(ids)).execute()

    def all(self) -> list[Label]:
        owner = getattr(self._table, self._owner)
        query = Label.select().join(self._table).where(owner == self._record.id)
        return list(query.order_by(Label.name))

    def __iter__(self) -> Any:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())
