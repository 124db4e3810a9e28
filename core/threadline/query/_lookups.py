"""Django-style lookups turned into peewee expressions, and the lazy ``Query`` they build.

``Artifact.filter(key__startswith="raw/", size__gt=1e6, run__transform__key="qc")``:
each keyword is split on ``__``; leading parts walk relations (foreign keys, backrefs and
link tables, each as an ``IN (subquery)``), the last part may be an operator, and a name
that is no field of the model is a feature (``sample="S1"`` or ``features__sample="S1"``);
further parts after a ``dict`` feature are keys inside it (``trace__peak_rss__gt=1e9``).
Artifacts in the trash or archive are hidden unless ``visibility`` is given.
"""

from collections.abc import Iterable, Iterator
from typing import Any

import peewee

from .. import _context
from .._db import is_sqlite, unwrap
from ..errors import InvalidInput, MultipleFound, NotFound, UnknownFeature
from . import _json_lookup
from ._feature_frame import feature_columns

OPERATORS = (
    "exact",
    "ne",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "startswith",
    "endswith",
    "contains",
    "icontains",
    "isnull",
)


def _is_sqlite() -> bool:
    return is_sqlite(_context.instance().db)


def _pattern(column: Any, value: str, where: str, case: bool = True) -> Any:
    """Case-sensitive (or not) prefix/suffix/substring match; wildcards in ``value`` are literal.

    SQLite's ``LIKE`` ignores case, so case-sensitive matches there use ``GLOB`` with
    ``*?[]`` escaped as one-character sets. Elsewhere ``LIKE``/``ILIKE`` with an explicit
    ``ESCAPE`` (SQLite has no default escape character, PostgreSQL's may be changed).
    """
    if _is_sqlite() and case:
        escaped = "".join(f"[{c}]" if c in "*?[]" else c for c in value)
        glob = {"start": f"{escaped}*", "end": f"*{escaped}", "any": f"*{escaped}*"}[where]
        return peewee.Expression(column, "GLOB", glob)
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = {"start": f"{escaped}%", "end": f"%{escaped}", "any": f"%{escaped}%"}[where]
    op = "LIKE" if case or _is_sqlite() else "ILIKE"
    # a NodeList, not Expression(column, "LIKE", ...): peewee renders that as GLOB on SQLite
    return peewee.NodeList(
        (
            column,
            peewee.SQL(op),
            peewee.Value(like, converter=False),
            peewee.SQL("ESCAPE"),
            peewee.Value("\\", converter=False),
        ),
        parens=True,
    )


def compare(column: Any, op: str, value: Any) -> Any:
    """``column <op> value`` as a peewee expression (``ne`` also matches NULL)."""
    simple = {"exact": "__eq__", "gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    if op == "exact" and value is None:
        return column.is_null()
    if op == "ne":
        return column.is_null(False) if value is None else (column != value) | column.is_null()
    if op in simple:
        return getattr(column, simple[op])(value)
    if op == "in":
        return column.in_(list(value))
    if op == "isnull":
        return column.is_null(bool(value))
    if op in ("startswith", "endswith", "contains"):
        where = {"startswith": "start", "endswith": "end", "contains": "any"}[op]
        return _pattern(column, str(value), where)
    if op == "icontains":
        return _pattern(column, str(value), "any", case=False)
    raise InvalidInput(f"unknown lookup operator {op!r}; use one of {', '.join(OPERATORS)}")


def resolve(model: Any, lookup: str, value: Any) -> Any:
    """One ``name__part__op=value`` keyword as an expression on ``model``."""
    parts = lookup.split("__")
    if parts[-1] == "in":
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise InvalidInput(f"{lookup} needs a list of values, not {value!r}")
        value = list(value)
    return _resolve(model, parts, value, lookup)


def _resolve(model: Any, parts: list[str], value: Any, lookup: str) -> Any:
    head, rest = parts[0], parts[1:]
    fields = model._meta.fields
    if head == "transform" and "transform" not in fields and "run" in fields:
        return _resolve(model, ["run", *parts], value, lookup)  # an output's transform
    if head in fields:
        field = fields[head]
        if isinstance(field, peewee.ForeignKeyField) and rest and rest[0] not in OPERATORS:
            rel = field.rel_model
            return field.in_(rel.select(rel.id).where(_resolve(rel, rest, value, lookup)))
        if rest and (rest[0] not in OPERATORS or len(rest) > 1):
            raise InvalidInput(
                f"unknown lookup {'__'.join(rest)!r} on {model.__name__}.{head} "
                f"({lookup}); operators: {', '.join(OPERATORS)}"
            )
        return compare(field, rest[0] if rest else "exact", value)
    if head in model._links:
        through, own, other = model._links[head]
        target = getattr(through, other).rel_model
        rest = _default_field(target, rest, value)
        inner = target.select(target.id).where(_resolve(target, rest, value, lookup))
        linked = through.select(getattr(through, own)).where(getattr(through, other).in_(inner))
        return model.id.in_(linked)
    for fk in model._meta.backrefs:
        if fk.backref == head:
            rest = _default_field(fk.model, rest, value)
            return model.id.in_(fk.model.select(fk).where(_resolve(fk.model, rest, value, lookup)))
    if head == "features" and rest:
        head, rest = rest[0], rest[1:]
    return _feature(model, head, rest, value, lookup)


def _default_field(target: Any, rest: list[str], value: Any) -> list[str]:
    """``labels="qc"`` means ``labels__name="qc"``; ``labels=label`` means by id."""
    if rest and rest[0] not in OPERATORS:
        return rest
    sample = value[0] if rest and rest[0] == "in" and value else value
    name = "name" if isinstance(sample, str) and "name" in target._meta.fields else "id"
    return [name, *rest]


def _feature(model: Any, name: str, rest: list[str], value: Any, lookup: str) -> Any:
    """Records whose feature ``name`` matches; list features match by element.

    ``ne`` means: has the feature, and no element equals the value.
    """
    table = getattr(model, "_feature_table", None)
    if table is None:
        raise InvalidInput(f"{model.__name__} has no field {name!r} ({lookup})")
    feature_model = table.feature.rel_model
    feature = feature_model.get_or_none(feature_model.name == name)
    if feature is None:
        raise UnknownFeature(
            name, f"{model.__name__} has no field {name!r} and no feature {name!r} ({lookup})"
        )
    if feature.dtype == "dict" and rest and (rest[-1] not in OPERATORS or len(rest) > 1):
        return _dict_item(model, table, feature.id, rest, value, lookup)
    op = rest[0] if rest else "exact"
    if len(rest) > 1 or op not in OPERATORS:
        raise InvalidInput(
            f"unknown lookup {'__'.join(rest)!r} on feature {name!r} ({lookup}); "
            f"operators: {', '.join(OPERATORS)}"
        )
    owner = getattr(table, model._feature_owner)
    base = table.select(owner).where(table.feature == feature.id)
    if op == "isnull":
        return ~model.id.in_(base) if value else model.id.in_(base)
    numeric = feature.dtype.removeprefix("list[").rstrip("]") in ("int", "float", "bool")
    if numeric and op in ("startswith", "endswith", "contains", "icontains"):
        raise InvalidInput(f"feature {name!r} is {feature.dtype}: {op} needs a text feature")
    column = table.num if numeric else table.text
    as_column = [
        _feature_operand(name, feature.dtype, v, numeric)
        for v in (value if op == "in" else [value])
    ]
    if op == "ne":
        return model.id.in_(base) & ~model.id.in_(base.where(column == as_column[0]))
    return model.id.in_(base.where(compare(column, op, as_column if op == "in" else as_column[0])))


def _dict_item(
    model: Any, table: Any, feature_id: int, rest: list[str], value: Any, lookup: str
) -> Any:
    """Records whose dict feature holds ``value`` at the key path ``rest`` (then an
    optional operator): see ``_json_lookup``."""
    op = rest[-1] if rest[-1] in OPERATORS else "exact"
    path = rest[:-1] if rest[-1] in OPERATORS else rest
    _json_lookup.check_path(lookup, path)
    if value is None and op in ("exact", "ne"):
        op, value = "isnull", op == "exact"
    if op == "in" and not value:
        return model.id.in_([])  # nothing is in an empty list
    kind = _json_lookup.kind_of(lookup, op, value)
    sqlite = _is_sqlite()
    column = _json_lookup.item(table.value, path, kind, sqlite)
    owner = getattr(table, model._feature_owner)
    base = table.select(owner).where(table.feature == feature_id)
    if op == "isnull":
        has = model.id.in_(base.where(column.is_null(False)))
        return ~has if value else has
    operands = [_json_lookup.operand(v, sqlite) for v in (value if op == "in" else [value])]
    return model.id.in_(base.where(compare(column, op, operands if op == "in" else operands[0])))


def _feature_operand(name: str, dtype: str, value: Any, numeric: bool) -> Any:
    """A filter value as the stored column holds it: a float, or text (ISO dates, names)."""
    if value is None:
        return None
    if numeric:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"feature {name!r} is {dtype}: cannot compare it with {value!r}"
            ) from None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, peewee.Model) and hasattr(value, "name"):
        return value.name  # a Label
    return value if isinstance(value, str) else str(value)


class Query:
    """A lazy, chainable query over one model; nothing runs until it is iterated."""

    def __init__(
        self,
        model: Any,
        where: tuple[Any, ...] = (),
        order: tuple[str, ...] = (),
        limit: int | None = None,
        hidden: bool = False,
        described: tuple[str, ...] = (),
    ) -> None:
        self.model, self._where, self._order = model, where, order
        self._limit, self._hidden, self._described = limit, hidden, described

    def _clone(self, **changes: Any) -> "Query":
        state = {
            "where": self._where,
            "order": self._order,
            "limit": self._limit,
            "hidden": self._hidden,
            "described": self._described,
            **changes,
        }
        return Query(self.model, **state)

    def filter(self, *expressions: Any, **lookups: Any) -> "Query":
        return self._filter(expressions, lookups, shown=True)

    def _filter(self, expressions: Any, lookups: dict[str, Any], shown: bool) -> "Query":
        added = list(expressions) + [resolve(self.model, k, v) for k, v in lookups.items()]
        hidden = self._hidden or any(k.split("__")[0] == "visibility" for k in lookups)
        described = self._described + (
            tuple(_describe_one(k, v) for k, v in lookups.items()) if shown else ()
        )
        return self._clone(where=self._where + tuple(added), hidden=hidden, described=described)

    def order_by(self, *names: str) -> "Query":
        for name in names:
            self._order_term(name)  # fail here, not when the query runs
        return self._clone(order=tuple(names))

    def limit(self, n: int) -> "Query":
        return self._clone(limit=n)

    def select(self) -> peewee.ModelSelect:
        """The peewee query this stands for."""
        query = self.model.select()
        conditions = list(self._where)
        if "visibility" in self.model._meta.fields and not self._hidden:
            conditions.append(self.model.visibility == "main")
        if conditions:
            query = query.where(*conditions)
        order = [self._order_term(n) for n in self._order]
        if not any(n.lstrip("-") == "id" for n in self._order):  # ties: a stable order
            descending = bool(self._order) and self._order[-1].startswith("-")
            order.append(self.model.id.desc() if descending else self.model.id.asc())
        query = query.order_by(*order)
        return query.limit(self._limit) if self._limit is not None else query

    def _order_term(self, name: str) -> Any:
        field = self.model._meta.fields.get(name.lstrip("-"))
        if field is None:
            raise InvalidInput(f"cannot order {self.model.__name__} by {name!r}: no such field")
        return field.desc() if name.startswith("-") else field.asc()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.select())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            if (index.start or 0) < 0 or (index.stop or 0) < 0 or index.step not in (None, 1):
                raise InvalidInput("query slices take non-negative bounds and no step")
            start = index.start or 0
            query = self.select().offset(start)
            if index.stop is not None:
                query = query.limit(max(index.stop - start, 0))
            return list(query)
        if index < 0:
            raise InvalidInput("query indexes must be non-negative")
        found = list(self.select().offset(index).limit(1))
        if not found:
            raise IndexError(f"query index {index} out of range")
        return found[0]

    def count(self) -> int:
        return int(self.select().order_by().count())

    def exists(self) -> bool:
        return bool(self.select().exists())

    def first(self) -> Any:
        return self.select().first()

    def all(self) -> list[Any]:
        return list(self.select())

    def get(self, **lookups: Any) -> Any:
        query = self.filter(**lookups) if lookups else self
        found = list(query.limit(2).select())
        name, shown = self.model.__name__, ", ".join(query._described) or "(no lookups)"
        if not found:
            raise NotFound(f"no {name} matches {shown}")
        if len(found) > 1:
            raise MultipleFound(
                f"several {name} records match {shown}; add lookups or use filter()"
            )
        return found[0]

    def to_dicts(self) -> list[dict[str, Any]]:
        rows = self.select().dicts()
        return list(rows)

    def to_dataframe(self, features: bool | Iterable[str] = False) -> Any:
        """Every matching row (no paging), one column per field; foreign keys as ids.

        ``features=True`` (or a list of names) adds a column per feature, and per key of a
        ``dict`` feature (``trace.peak_rss``); a name that is also a field's gets the
        prefix ``features.``. Rows come straight from the cursor; only columns whose stored
        form differs from the Python one (timestamps, booleans, JSON) are converted, a
        column at a time.
        """
        import pandas as pd

        fields = self.model._meta.sorted_fields
        sql, params = self.select().sql()
        cursor = unwrap(self.model._meta.database).execute_sql(sql, params)
        rows = cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(fields)
        frame = pd.DataFrame(
            {
                field.name: _column(values, field, pd)
                for field, values in zip(fields, columns, strict=True)
            }
        )
        if features is not False:
            self._add_features(frame, features, pd)
        return frame

    def _add_features(self, frame: Any, features: bool | Iterable[str], pd: Any) -> None:
        if getattr(self.model, "_feature_table", None) is None:
            raise InvalidInput(f"{self.model.__name__} records have no features")
        ids = self.select().select(self.model.id)
        record_ids = list(frame["id"])
        found = feature_columns(self.model, ids, features)
        for name, by_id in found.items():
            column = f"features.{name}" if name in frame.columns else name
            frame[column] = pd.Series([by_id.get(i) for i in record_ids], index=frame.index)

    df = to_dataframe

    def __repr__(self) -> str:
        return f"<Query {self.model.__name__}: {self.select().sql()[0][:120]}...>"


def _column(values: tuple[Any, ...], field: Any, pd: Any) -> Any:
    """One column as a typed pandas array, converted as a whole (nullable dtypes)."""
    if isinstance(field, peewee.DateTimeField):
        return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
    if isinstance(field, peewee.BooleanField):
        return pd.array(values, dtype="boolean")
    if isinstance(field, peewee.IntegerField | peewee.AutoField | peewee.ForeignKeyField):
        return pd.array(values, dtype="Int64")
    if isinstance(field, peewee.FloatField):
        return pd.array(values, dtype="Float64")
    if type(field).__module__ != "peewee":  # our own fields (JSON text)
        return pd.array([field.python_value(v) for v in values], dtype=object)
    return pd.array(values, dtype=object)


def _describe_one(key: str, value: Any) -> str:
    shown = repr(value)
    return f"{key}={shown if len(shown) <= 80 else shown[:77] + '...'}"


class QueryMixin:
    """Class-level query entry points shared by the public models."""

    @classmethod
    def filter(cls, *expressions: Any, **lookups: Any) -> Query:
        return Query(cls).filter(*expressions, **lookups)

    @classmethod
    def get(cls, *args: Any, **lookups: Any) -> Any:
        """Exactly one record matching ``lookups``, else ``NotFound``/``MultipleFound``."""
        if args:  # peewee style, Model.get(expression): peewee's own semantics
            return super().get(*args, **lookups)  # type: ignore[misc]
        implied = {k: v for k, v in cls._get_defaults(lookups).items() if k not in lookups}
        return Query(cls)._filter((), implied, shown=False).get(**lookups)

    @classmethod
    def get_or_none(cls, *args: Any, **lookups: Any) -> Any:
        try:
            return cls.get(*args, **lookups)
        except (NotFound, peewee.DoesNotExist):
            return None

    @classmethod
    def _get_defaults(cls, lookups: dict[str, Any]) -> dict[str, Any]:
        return lookups

    @classmethod
    def all(cls) -> Query:
        return Query(cls)
