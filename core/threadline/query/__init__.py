"""The query language: Django-style lookups on any table, run lazily by ``Query``.

``Artifact.filter(key__startswith="raw/", size__gt=1e6, run__transform__key="qc")``:
each keyword is split on ``__``; leading parts walk relations (foreign keys, backrefs and
link tables, each as an ``IN (subquery)``), the last part may be an operator, and a name
that is no field of the model is a feature (``sample="S1"`` or ``features__sample="S1"``);
further parts after a ``dict`` feature are keys inside it (``trace__peak_rss__gt=1e9``).
Artifacts in the trash or archive are hidden unless ``visibility`` is given.

The lookups are ``_lookups.py`` (dict items: ``_json.py``); feature columns of
``to_dataframe(features=...)``: ``_frame.py``. Nothing here imports a table: the tables
(``threadline.models``) build on ``QueryMixin``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

import peewee

from .._db import is_sqlite, unwrap
from ..errors import InvalidInput, MultipleFound, NotFound
from ._columnar import column, paused_gc
from ._frame import feature_columns
from ._lookups import OPERATORS, compare, intersected, resolve

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["OPERATORS", "Query", "QueryMixin", "compare", "resolve"]


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

    def _clone(self, **changes: Any) -> Query:
        state = {
            "where": self._where,
            "order": self._order,
            "limit": self._limit,
            "hidden": self._hidden,
            "described": self._described,
            **changes,
        }
        return Query(self.model, **state)

    def filter(self, *expressions: Any, **lookups: Any) -> Query:
        return self._filter(expressions, lookups, shown=True)

    def _filter(self, expressions: Any, lookups: dict[str, Any], shown: bool) -> Query:
        added = list(expressions) + [resolve(self.model, k, v) for k, v in lookups.items()]
        hidden = self._hidden or any(k.split("__")[0] == "visibility" for k in lookups)
        described = self._described + (
            tuple(_describe_one(k, v) for k, v in lookups.items()) if shown else ()
        )
        return self._clone(where=self._where + tuple(added), hidden=hidden, described=described)

    def order_by(self, *names: str) -> Query:
        for name in names:
            self._order_term(name)  # fail here, not when the query runs
        return self._clone(order=tuple(names))

    def limit(self, n: int) -> Query:
        return self._clone(limit=n)

    def select(self) -> peewee.ModelSelect:
        """The peewee query this stands for."""
        query = self.model.select()
        conditions = intersected(self.model, list(self._where))
        if "visibility" in self.model._meta.fields and not self._hidden:
            conditions.append(self.model.visibility == "main")
        if conditions:
            query = query.where(*conditions)
        order = [self._order_term(n) for n in self._order]
        if not any(n.lstrip("-") == "id" for n in self._order):  # ties: a stable order
            descending = bool(self._order) and self._order[-1].startswith("-")
            order.append(self.model.id.desc() if descending else self.model.id.asc())
        ordered: peewee.ModelSelect = query.order_by(*order)
        return ordered.limit(self._limit) if self._limit is not None else ordered

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
        rows: Any = self.select().dicts()  # peewee's stub types rows as models, not dicts
        return list(rows)

    def to_dataframe(self, features: bool | Iterable[str] = False) -> Any:
        """Every matching row (no paging), one column per field; foreign keys as ids.

        ``features=True`` (or a list of names) adds a column per feature, and per key of a
        ``dict`` feature (``trace.peak_rss``); a name that is also a field's gets the
        prefix ``features.``. Rows come straight from the cursor and are turned into
        typed columns a column at a time (``_columnar.py``).
        """
        import pandas as pd

        fields = self.model._meta.sorted_fields
        sql, params = self.select().sql()
        db = unwrap(self.model._meta.database)
        # rows and values die young: no collection scans them; all reads see one snapshot
        with paused_gc(), _one_snapshot(db, features is not False):
            # feature values first: a thread parses them while the rows below are read
            placed = None if features is False else self._feature_values(features)
            rows = db.execute_sql(sql, params).fetchall()
            columns = list(zip(*rows, strict=True)) if rows else [()] * len(fields)
            del rows
            data = {f.name: column(c, f, pd) for f, c in zip(fields, columns, strict=True)}
            del columns
            frame = pd.DataFrame(data, copy=False)  # the arrays are this frame's alone
            if placed is not None:
                self._add_features(frame, placed(frame["id"].to_numpy("int64")), pd)
        return frame

    def _feature_values(self, features: bool | Iterable[str]) -> Any:
        if getattr(self.model, "_feature_table", None) is None:
            raise InvalidInput(f"{self.model.__name__} records have no features")
        ids = self.select().select(self.model.id)
        if self._limit is None:  # the order picks no rows: SQLite need not sort the ids
            ids = ids.order_by()
        return feature_columns(self.model, ids, features)

    def _add_features(self, frame: Any, found: dict[str, Any], pd: Any) -> None:
        for name, values in found.items():
            column = f"features.{name}" if name in frame.columns else name
            frame[column] = pd.Series(values, index=frame.index)

    df = to_dataframe

    def __repr__(self) -> str:
        return f"<Query {self.model.__name__}: {self.select().sql()[0][:120]}...>"


def _one_snapshot(db: Any, several: bool) -> Any:
    """One read transaction around a frame's several reads (features, values, rows), so
    that all of them see the same commits: SQLite (WAL) keeps one snapshot per read
    transaction; PostgreSQL does at REPEATABLE READ (its default, READ COMMITTED, takes a
    new one per statement). Inside the caller's own transaction, the caller decides."""
    if not several:
        return nullcontext()
    if is_sqlite(db):
        return nullcontext() if db.connection().in_transaction else db.atomic()
    return nullcontext() if db.in_transaction() else _repeatable_read(db)


@contextmanager
def _repeatable_read(db: Any) -> Iterator[None]:
    with db.atomic():
        db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


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
