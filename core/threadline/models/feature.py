"""Features (typed annotation dimensions), labels, and their values on artifacts and runs.

A value is stored once per (record, feature, element): list features get one row per
element, so ``filter(tag="x")`` finds records whose list contains ``"x"``. Each row keeps
the JSON value plus a number or a text column that queries compare against.
"""

import datetime as dt
import math
import numbers
import re
from typing import Any

import peewee

from .._db import unwrap, write_transaction
from ..errors import InvalidFeatureValue, InvalidInput, UnknownFeature
from ._base import BaseModel, JSONField, insert_columns, utcnow
from ._feature_frame import typed_value

DTYPES = ("int", "float", "str", "bool", "date", "datetime", "dict")
_LIST = re.compile(r"^list\[(\w+|cat\[Label\])\]$")
_CAT = re.compile(r"^cat(\[Label\])?$")
_PY_DTYPES = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    dict: "dict",
    dt.date: "date",
    dt.datetime: "datetime",
}


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
    inner = _LIST.match(text) or re.match(r"^list\[(cat)\]$", text)
    if inner and (inner.group(1) in DTYPES or _CAT.match(inner.group(1))):
        return "list[cat[Label]]" if inner.group(1).startswith("cat") else text
    raise InvalidInput(
        f"unsupported feature dtype {dtype!r}: use one of {', '.join(DTYPES)}, "
        "list[...] or cat[Label]"
    )


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

    def save(self, *args: Any, **kwargs: Any) -> "Label":  # type: ignore[override]
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
        indexes = ((("feature", "text"), False), (("feature", "num"), False))

    attrs = {
        owner: peewee.DeferredForeignKey(
            owner.capitalize(), on_delete="CASCADE", index=True, backref="feature_values"
        ),
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


# a value of exactly this type is already what its dtype stores (the common case; dicts
# are still scanned for NaN and infinities, which JSON cannot hold)
_EXACT = {"str": str, "int": int, "float": float, "bool": bool}


def _json_safe(value: Any) -> bool:
    """Whether a dict or list holds no NaN or infinite float at any depth."""
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        kind = type(item)
        if kind is float and not math.isfinite(item):
            return False
        if (kind is dict or kind is list) and not _json_safe(item):
            return False
    return True


def check_value(feature: Feature, value: Any) -> Any:
    """``value`` as the feature's dtype (coerced when the feature allows), or an error."""
    dtype = feature.dtype
    if type(value) is _EXACT.get(dtype):
        return value
    inner = _LIST.match(dtype)
    if inner:
        if not isinstance(value, list | tuple):
            raise InvalidFeatureValue(feature.name, value, dtype)
        elem = Feature(name=feature.name, dtype=inner.group(1), coerce=feature.coerce)
        try:
            return [check_value(elem, v) for v in value]
        except InvalidFeatureValue:
            raise InvalidFeatureValue(feature.name, value, dtype) from None
    checker = _CHECKS.get("cat" if dtype.startswith("cat") else dtype)
    ok, result = checker(value, feature.coerce) if checker else (False, None)
    if not ok:
        raise InvalidFeatureValue(feature.name, value, dtype)
    return result


def _is_bool(v: Any) -> bool:
    kind = type(v)
    numpy_bool = kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    return isinstance(v, bool) or numpy_bool


def _check_int(v: Any, coerce: bool) -> tuple[bool, Any]:
    if isinstance(v, numbers.Integral) and not _is_bool(v):
        return True, int(v)  # numpy integers too
    if coerce and isinstance(v, str | float) and not _is_bool(v):
        try:
            number = float(v)
            return number == int(number), int(number)
        except (ValueError, OverflowError):  # "abc", "nan", "inf"
            return False, None
    return False, None


def _check_float(v: Any, coerce: bool) -> tuple[bool, Any]:
    if isinstance(v, numbers.Real) and not _is_bool(v):
        return True, float(v)
    if coerce and isinstance(v, str):
        try:
            return True, float(v)
        except ValueError:
            return False, None
    return False, None


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def _check_bool(v: Any, coerce: bool) -> tuple[bool, Any]:
    if _is_bool(v):
        return True, bool(v)
    text = str(v).strip().lower() if coerce and isinstance(v, str | int) else None
    if text in _TRUE or text in _FALSE:
        return True, text in _TRUE
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
    "bool": _check_bool,
    "dict": lambda v, c: (isinstance(v, dict) and _json_safe(v), v),
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


def infer_dtype(value: Any) -> str:
    """The dtype a new feature gets from its first value (``create_features=True``)."""
    if isinstance(value, list | tuple):
        inner = {infer_dtype(v) for v in value} or {"str"}
        if inner == {"int", "float"}:
            inner = {"float"}
        if len(inner) != 1 or next(iter(inner)).startswith("list"):
            raise InvalidInput(
                f"cannot infer a feature dtype for {value!r}: mixed element "
                "types; create the feature with an explicit dtype"
            )
        return f"list[{inner.pop()}]"
    if isinstance(value, Label):
        return "cat[Label]"
    if _is_bool(value):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    for py_type in (str, dict, dt.datetime, dt.date):  # datetime before its base, date
        if isinstance(value, py_type):
            return _PY_DTYPES[py_type]
    raise InvalidInput(f"cannot infer a feature dtype for {value!r}")


def check_values(
    values: dict[str, Any], create_features: bool = False, known: dict[str, Feature] | None = None
) -> list[tuple[Feature, Any]]:
    """Resolve each feature and check its value; nothing is written.

    With ``create_features``, a missing feature comes back unsaved (``id is None``) with
    the dtype inferred from its value; ``write_values`` saves it. ``known`` carries the
    features resolved so far across calls (many records annotated at once), so that a
    feature is looked up, or inferred, once.
    """
    known = {} if known is None else known
    checked = []
    for name, value in values.items():
        feature = known.get(name)
        if feature is None:
            feature = known[name] = _resolve(name, value, create_features)
        if type(value) is not _EXACT.get(feature.dtype):  # else already as stored
            value = check_value(feature, value)
        checked.append((feature, value))
    return checked


def _resolve(name: str, value: Any, create_features: bool) -> Feature:
    """The feature ``name``; an unsaved one inferred from ``value`` if asked."""
    feature = Feature.get_or_none(Feature.name == name)
    if feature is None:
        if not create_features:
            raise UnknownFeature(name)
        feature = Feature(name=name, dtype=infer_dtype(value))
    return feature


_CHUNK = 500  # rows per statement: well under SQLite's and PostgreSQL's parameter limits


def _delete_values(table: type[BaseModel], owner: str, feature_id: int, ids: list[int]) -> None:
    """Remove ``feature_id``'s rows of these owners (plain SQL: thousands of ids at once)."""
    db = unwrap(table._meta.database)
    marks = ", ".join([db.param] * len(ids))
    column = getattr(table, owner).column_name
    db.execute_sql(
        f'DELETE FROM "{table._meta.table_name}" WHERE "feature_id" = {db.param} '
        f'AND "{column}" IN ({marks})',
        [feature_id, *ids],
    )


def _owners_with_values(table: type[BaseModel], owner: str, ids: list[int]) -> set[int]:
    """Which of these records have any feature value yet (one query per chunk)."""
    db = unwrap(table._meta.database)
    column = getattr(table, owner).column_name
    found: set[int] = set()
    for chunk in _chunks(ids):
        marks = ", ".join([db.param] * len(chunk))
        cursor = db.execute_sql(
            f'SELECT DISTINCT "{column}" FROM "{table._meta.table_name}" '
            f'WHERE "{column}" IN ({marks})',
            chunk,
        )
        found.update(row[0] for row in cursor.fetchall())
    return found


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _add_rows(columns: dict[str, list[Any]], record_id: int, feature_id: int, value: Any) -> None:
    """A value's rows, appended column by column: one per element of a list (an empty list
    is one row that matches no element), with its comparable ``num`` or ``text``."""
    elements = value if isinstance(value, list) else (value,)
    for element in elements or (None,):
        kind = type(element)
        if kind is str:
            num, text = None, element[:1024]
        elif kind in (int, float, bool):
            num, text = float(element), None
        else:
            comparable = columns_for(element)
            num, text = comparable["num"], comparable["text"]
        columns["owner"].append(record_id)
        columns["feature"].append(feature_id)
        columns["value"].append(value)
        columns["num"].append(num)
        columns["text"].append(text)


def write_values_many(items: list[tuple[BaseModel, list[tuple[Feature, Any]]]]) -> None:
    """Write checked values for many artifacts (or many runs) in one transaction.

    Each record's earlier value of a feature is replaced; categorical values make their
    labels and link them. Features that ``check_values`` left unsaved are created first.
    """
    items = [(record, checked) for record, checked in items if checked]
    if not items:
        return
    for _, checked in items:
        for feature, _ in checked:
            if feature.id is None:
                feature.save()
    model = type(items[0][0])
    table, owner = model._feature_table, model._feature_owner
    link = ArtifactLabel if owner == "artifact" else RunLabel
    owners: dict[int, list[int]] = {}
    columns: dict[str, list[Any]] = {"owner": [], "feature": [], "value": [], "num": [], "text": []}
    labelled = []
    for record, checked in items:
        for feature, value in checked:
            owners.setdefault(feature.id, []).append(record.id)
            _add_rows(columns, record.id, feature.id, value)
            if "cat" in feature.dtype:
                names = value if isinstance(value, list) else [value]
                labelled.extend((record.id, feature.id, name) for name in names)
    columns[owner] = columns.pop("owner")
    with write_transaction(table._meta.database):
        annotated = _owners_with_values(table, owner, list({r.id for r, _ in items}))
        for feature_id, all_ids in owners.items():
            ids = [i for i in all_ids if i in annotated]  # new records have nothing to replace
            for chunk in _chunks(ids):
                _delete_values(table, owner, feature_id, chunk)
                _delete_values(link, owner, feature_id, chunk)
        insert_columns(table, columns)
        _link_labels(link, owner, labelled)


def _link_labels(link: type[BaseModel], owner: str, labelled: list[tuple[int, int, str]]) -> None:
    names = sorted({name for _, _, name in labelled})
    for chunk in _chunks(names):
        Label.insert_many(
            [{"name": n, "created_at": utcnow()} for n in chunk]
        ).on_conflict_ignore().execute()
    ids: dict[str, int] = {}
    for chunk in _chunks(names):
        ids.update(
            {
                lb.name: lb.id
                for lb in Label.select(Label.id, Label.name).where(Label.name.in_(chunk))
            }
        )
    rows = [
        {owner: record_id, "label": ids[name], "feature": feature_id}
        for record_id, feature_id, name in labelled
    ]
    for chunk in _chunks(rows):
        link.insert_many(chunk).on_conflict_ignore().execute()


class FeatureManager:
    """``record.features``: read and write feature values of one artifact or run."""

    def __init__(self, record: BaseModel, table: type[BaseModel], owner_field: str) -> None:
        self._record, self._table, self._owner = record, table, owner_field

    def add_values(self, values: dict[str, Any], create_features: bool = False) -> None:
        """Set each feature's value (replacing an earlier one).

        Every value is checked (and every missing feature resolved) before anything is
        written: one bad value leaves the record, and the feature table, untouched.
        """
        if self._record.id is None:
            raise InvalidInput("save the record before adding feature values")
        self.write_values(check_values(values, create_features))

    def write_values(self, checked: list[tuple[Feature, Any]]) -> None:
        """Write values that ``check_values`` accepted (saving new features first)."""
        write_values_many([(self._record, checked)])

    def get_values(self) -> dict[str, Any]:
        """``{feature name: value}``, values as their dtype (dates as ``datetime.date``)."""
        owner = getattr(self._table, self._owner)
        rows = (
            self._table.select(self._table.value, Feature.name, Feature.dtype)
            .join(Feature)
            .where(owner == self._record.id)
            .order_by(self._table.id)
        )
        return {row.feature.name: typed_value(row.feature.dtype, row.value) for row in rows}

    def remove_values(self, *names: str) -> None:
        """Remove these features' values (and the labels their categorical values linked)."""
        owner = getattr(self._table, self._owner)
        ids = Feature.select(Feature.id).where(Feature.name.in_(names))
        link = ArtifactLabel if self._owner == "artifact" else RunLabel
        with write_transaction(self._table._meta.database):
            self._table.delete().where(
                (owner == self._record.id) & self._table.feature.in_(ids)
            ).execute()
            link.delete().where(
                (getattr(link, self._owner) == self._record.id) & link.feature.in_(ids)
            ).execute()

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
            self._table.insert(
                {self._owner: self._record.id, "label": label.id}
            ).on_conflict_ignore().execute()

    def remove(self, *labels: "Label | str") -> None:
        names = [getattr(x, "name", x) for x in labels]
        ids = Label.select(Label.id).where(Label.name.in_(names))
        owner = getattr(self._table, self._owner)
        self._table.delete().where(
            (owner == self._record.id) & self._table.label.in_(ids)
        ).execute()

    def all(self) -> list[Label]:
        owner = getattr(self._table, self._owner)
        query = Label.select().join(self._table).where(owner == self._record.id)
        return list(query.order_by(Label.name))

    def __iter__(self) -> Any:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())
