"""Django-style lookups turned into peewee expressions, and the lazy ``Query`` they build.

``Artifact.filter(key__startswith="raw/", size__gt=1e6, run__transform__key="qc")``:
each keyword is split on ``__``; leading parts walk relations (foreign keys, backrefs and
link tables, each as an ``IN (subquery)``), the last part may be an operator, and a name
that is no field of the model is a feature (``sample="S1"`` or ``features__sample="S1"``).
Artifacts in the trash or archive are hidden unless ``visibility`` is given.
"""

from collections.abc import Iterator
from typing import Any

import peewee

from .. import _context
from .._db import is_sqlite
from ..errors import InvalidInput, MultipleFound, NotFound, UnknownFeature

OPERATORS = ("exact", "ne", "in", "gt", "gte", "lt", "lte", "startswith", "endswith",
             "contains", "icontains", "isnull")


def _is_sqlite() -> bool:
    return is_sqlite(_context.instance().db)


def _pattern(column: Any, value: str, where: str, case: bool = True) -> Any:
    """Case-sensitive prefix/suffix/substring match on both databases."""
    if _is_sqlite() and case:
        escaped = "".join(f"[{c}]" if c in "*?[]" else c for c in value)
        glob = {"start": f"{escaped}*", "end": f"*{escaped}", "any": f"*{escaped}*"}[where]
        return peewee.Expression(column, "GLOB", glob)
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = {"start": f"{escaped}%", "end": f"%{escaped}", "any": f"%{escaped}%"}[where]
    op = "LIKE" if case else ("LIKE" if _is_sqlite() else "ILIKE")
    return peewee.Expression(column, op, like)


def compare(column: Any, op: str, value: Any) -> Any:
    """``column <op> value`` as a peewee expression."""
    simple = {"exact": "__eq__", "ne": "__ne__", "gt": "__gt__", "gte": "__ge__",
              "lt": "__lt__", "lte": "__le__"}
    if op == "exact" and value is None:
        return column.is_null()
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


def _split(parts: list[str]) -> tuple[list[str], str]:
    if len(parts) > 1 and parts[-1] in OPERATORS:
        return parts[:-1], parts[-1]
    return parts, "exact"


def resolve(model: Any, lookup: str, value: Any) -> Any:
    """One ``name__part__op=value`` keyword as an expression on ``model``."""
    return _resolve(model, lookup.split("__"), value, lookup)


def _resolve(model: Any, parts: list[str], value: Any, lookup: str) -> Any:
    head, rest = parts[0], parts[1:]
    fields = model._meta.fields
    if head in fields:
        field = fields[head]
        if isinstance(field, peewee.ForeignKeyField) and rest and rest[0] not in OPERATORS:
            rel = field.rel_model
            return field.in_(rel.select(rel.id).where(_resolve(rel, rest, value, lookup)))
        if rest and rest[0] not in OPERATORS:
            raise InvalidInput(f"{model.__name__}.{head} has no relation {rest[0]!r} ({lookup})")
        return compare(field, rest[0] if rest else "exact", value)
    if head in model._links:
        through, own, other = model._links[head]
        target = getattr(through, other).rel_model
        inner = target.select(target.id).where(_resolve(target, rest or ["id"], value, lookup))
        linked = through.select(getattr(through, own)).where(getattr(through, other).in_(inner))
        return model.id.in_(linked)
    for fk in model._meta.backrefs:
        if fk.backref == head and rest:
            return model.id.in_(fk.model.select(fk).where(_resolve(fk.model, rest, value, lookup)))
    if head == "features" and rest:
        head, rest = rest[0], rest[1:]
    return _feature(model, head, rest, value, lookup)


def _feature(model: Any, name: str, rest: list[str], value: Any, lookup: str) -> Any:
    table = getattr(model, "_feature_table", None)
    if table is None:
        raise InvalidInput(f"{model.__name__} has no field {name!r} ({lookup})")
    feature_model = table.feature.rel_model
    feature = feature_model.get_or_none(feature_model.name == name)
    if feature is None:
        raise UnknownFeature(name, f"{model.__name__} has no field {name!r} and no feature "
                                   f"{name!r} ({lookup})")
    op = rest[0] if rest else "exact"
    owner = getattr(table, model._feature_owner)
    base = table.select(owner).where(table.feature == feature.id)
    if op == "isnull":
        return ~model.id.in_(base) if value else model.id.in_(base)
    sample = value[0] if op == "in" and value else value
    column = table.num if isinstance(sample, int | float) else table.text
    if hasattr(sample, "isoformat"):
        value = [v.isoformat() for v in value] if op == "in" else value.isoformat()
    if isinstance(sample, bool):
        value = [float(v) for v in value] if op == "in" else float(value)
    return model.id.in_(base.where(compare(column, op, value)))


class Query:
    """A lazy, chainable query over one model; nothing runs until it is iterated."""

    def __init__(self, model: Any, where: tuple[Any, ...] = (), order: tuple[str, ...] = (),
                 limit: int | None = None, hidden: bool = False) -> None:
        self.model, self._where, self._order = model, where, order
        self._limit, self._hidden = limit, hidden

    def _clone(self, **changes: Any) -> "Query":
        state = {"where": self._where, "order": self._order, "limit": self._limit,
                 "hidden": self._hidden, **changes}
        return Query(self.model, **state)

    def filter(self, *expressions: Any, **lookups: Any) -> "Query":
        added = list(expressions) + [resolve(self.model, k, v) for k, v in lookups.items()]
        hidden = self._hidden or any(k.split("__")[0] == "visibility" for k in lookups)
        return self._clone(where=self._where + tuple(added), hidden=hidden)

    def order_by(self, *names: str) -> "Query":
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
        order = [self._order_term(n) for n in self._order] or [self.model.id]
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

    def __getitem__(self, index: int) -> Any:
        return list(self.select().offset(index).limit(1))[0]

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
        name = self.model.__name__
        if not found:
            raise NotFound(f"no {name} matches {_describe(lookups)}")
        if len(found) > 1:
            raise MultipleFound(f"several {name} records match {_describe(lookups)}; "
                                "add lookups or use filter()")
        return found[0]

    def to_dicts(self) -> list[dict[str, Any]]:
        rows = self.select().dicts()
        return list(rows)

    def to_dataframe(self) -> Any:
        import pandas as pd

        columns = list(self.model._meta.fields)
        return pd.DataFrame(list(self.select().tuples()), columns=columns)

    df = to_dataframe

    def __repr__(self) -> str:
        return f"<Query {self.model.__name__}: {self.select().sql()[0][:120]}...>"


def _describe(lookups: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in lookups.items()) or "(no lookups)"


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
        return Query(cls).get(**cls._get_defaults(lookups))

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
