"""Run rows written by the background writer: ``start_run(..., later=True)``.

A run started ``later`` is returned at once with its uid, fields and no id; its INSERT is
a job of this process's writer (``adapters.writer()``), queued before anything that points
at it (edges, annotations, its close), so one batch commits many task runs' rows and a
kill -9 still never leaves a record pointing at a missing one. The id is published on the
run only once the batch that wrote it is committed. Whoever reads ``run.id`` before that
gets it on demand (``Pending.resolve``, through the ``Run.id`` accessor):

- on the writer's thread (a later job of the same batch): the id its batch inserted;
- elsewhere: ``writer.wait()``, then the committed id (a task that saves a file waits
  once; a task that saves nothing never waits);
- where the writer would wait for the reader (an SQLite write transaction of the reader's
  own, whose lock the writer needs, or inside ``Writer.at_once``): the reader looks the row
  up by uid (the writer may have committed it) and else writes it itself, in its own
  transaction; the writer's job then writes it again only if that transaction was rolled
  back (``INSERT .. ON CONFLICT (uid) DO NOTHING``), and the run takes the new id.
"""

import functools
import json
import threading
from typing import Any

from .._db import is_sqlite, unwrap
from .._live import runs_ended, runs_started
from ..models import Run
from ..models._base import JSONField, _insert_sql
from ._guard import Guard
from ._writer import Writer


class Pending:
    """The deferred INSERT of ``run``'s row by ``writer``."""

    # one per task run, alive until its batch is written: no per-object __dict__
    __slots__ = (
        "bulked",
        "by_reader",
        "closed",
        "guard",
        "inserted",
        "lock",
        "row",
        "run",
        "taken",
        "writer",
    )

    def __init__(self, run: Run, writer: Writer, guard: Guard | None = None) -> None:
        self.run, self.writer, self.guard = run, writer, guard
        self.lock = threading.Lock()
        self.inserted: int | None = None  # the id the writer's open batch inserted
        self.by_reader = False  # written by a reader in its own transaction (_here)
        self.taken = False  # the writer has begun its job: the row is no longer just queued
        self.bulked = False  # inserted by ``insert_many`` in the open transaction
        self.closed = False  # the run's close is part of the queued row (``fold``)
        # the row as started (not as closed): a copy of its values taken now, turned into
        # database values by the writer (JSON columns: see _as_of_now)
        self.row = _snapshot(run.__data__)

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        """A pickled run (a task's result) carries no writer: unpickled, it is a plain
        run, with the id it had when it was pickled."""
        return (_nothing, ())

    def submit(self) -> None:
        self.writer.submit(
            self,
            where="a run's start",
            guard=self.guard,
            committed=self._committed,
            bulk=insert_many,
        )

    def fold(self, closed: dict[str, Any]) -> bool:
        """Make the run's close (``closed``: its final columns and the fields changed
        since the start) part of the queued row, if the writer has not begun to write
        it: one INSERT of the row as closed instead of an INSERT and an UPDATE. False
        where the row is being written or is written (the close is then an UPDATE)."""
        with self.lock:
            if self.taken or self.run.__data__.get("id") is not None:
                return False
            self.row.update(_snapshot(closed))
            self.closed = True
        self.writer.busy()  # the engine is busy: the writer keeps lingering
        return True

    def resolve(self) -> int | None:
        """The run's id, written first where it is not yet (see the module's text)."""
        data = self.run.__data__
        if threading.current_thread() is self.writer.thread:
            found: int | None = data.get("id") or self.inserted
            return found  # (the id its own open transaction inserted)
        db: Any = unwrap(Run._meta.database)
        if self.writer.holds_turn() or (db.in_transaction() and is_sqlite(db)):
            return self._here(db)
        self.writer.wait()
        written: int | None = data.get("id")
        return written

    def __call__(self) -> None:
        """The writer's job: the row, unless ``insert_many`` wrote it just before."""
        with self.lock:
            self.taken = True
            if self.bulked:
                self.bulked = False
                return
            data = self.run.__data__
            if data.get("id") is None:
                self.inserted = self._insert()
            elif self.by_reader:  # in the reader's own transaction: gone if it rolled back
                again = self._insert(unless_there=True)
                if again is not None:  # the jobs after this one point at the new row
                    data["id"] = again

    def _committed(self) -> None:
        with self.lock:
            data = self.run.__data__
            if data.get("id") is None and self.inserted is not None:
                data["id"] = self.inserted
            if data.get("id") is not None:  # the run no longer needs its pending write:
                vars(self.run).pop("_pending", None)  # no reference cycle left to collect
        runs_started([self.run])
        if self.closed:
            runs_ended([self.run])

    @property
    def names(self) -> tuple[str, ...]:
        """The row's columns, in the table's order, without the id."""
        return _names(tuple(self.row))

    def _take(self) -> bool:
        """For ``insert_many``: the writer begins; whether the row is still to write."""
        with self.lock:  # an id from an attempt rolled back is no id: SQLite reuses it
            self.taken, self.bulked, self.inserted = True, False, None
            return self.run.__data__.get("id") is None

    def _row(self) -> list[Any]:
        """The row's database values (its parent's id looked up now: the parent may have
        been deferred too)."""
        names, row = self.names, self.row
        values = [
            v.value if type(v) is _Ready else convert(v)
            for convert, v in zip(_converters(names), [row[n] for n in names], strict=True)
        ]
        parent = self.run.__rel__.get("parent")
        if "parent" in names and values[names.index("parent")] is None and parent is not None:
            values[names.index("parent")] = parent.id
        return values

    def _insert(self, unless_there: bool = False) -> Any:
        """INSERT the row as it was started (or closed: ``fold``) and return its id,
        without setting it on the run; ``unless_there``: nothing where a row with its
        uid exists (then None)."""
        names, values = self.names, self._row()
        db: Any = unwrap(Run._meta.database)
        sqlite = is_sqlite(db)
        if not unless_there:
            cursor = db.execute_sql(_insert_sql(Run, names, db.param, sqlite), values)
            return cursor.lastrowid if sqlite else cursor.fetchone()[0]
        sql = _insert_sql(Run, names, db.param, True) + ' ON CONFLICT ("uid") DO NOTHING'
        cursor = db.execute_sql(sql if sqlite else f"{sql} RETURNING id", values)
        if sqlite:
            return cursor.lastrowid if cursor.rowcount == 1 else None
        row = cursor.fetchone()
        return row[0] if row is not None else None

    def _here(self, db: Any) -> int | None:
        with self.lock:
            data = self.run.__data__
            if data.get("id") is None:
                sql = f'SELECT "id" FROM "run" WHERE "uid" = {db.param}'
                row = db.execute_sql(sql, [data["uid"]]).fetchone()
                if row is None:
                    data["id"], self.by_reader = self._insert(), True
                else:
                    data["id"] = row[0]
            return data["id"]  # type: ignore[no-any-return]


def insert_many(pendings: list[Pending]) -> None:
    """The writer's ``bulk`` for queued rows: a batch's rows in one INSERT per set of
    columns (and per 500 rows) instead of one each, and their ids in one query. A row
    whose parent is queued in the same batch waits for a later round, after it."""
    todo = [p for p in pendings if p._take()]
    while todo:
        queued = {id(p.run) for p in todo}
        ready = [p for p in todo if id(p.run.__rel__.get("parent")) not in queued] or todo[:1]
        groups: dict[tuple[str, ...], list[Pending]] = {}
        for pending in ready:
            groups.setdefault(pending.names, []).append(pending)
        for names, group in groups.items():
            for start in range(0, len(group), _ROWS):
                _insert_rows(names, group[start : start + _ROWS])
        todo = [p for p in todo if not p.bulked]


_ROWS = 500  # rows per INSERT: within SQLite's limit on parameters


def _insert_rows(names: tuple[str, ...], group: list[Pending]) -> None:
    db: Any = unwrap(Run._meta.database)
    one = _insert_sql(Run, names, db.param, True)
    row = one[one.rindex(" VALUES ") + 8 :]
    sql = one + f", {row}" * (len(group) - 1)
    values = [value for pending in group for value in pending._row()]
    uids = [pending.run.__data__["uid"] for pending in group]
    if is_sqlite(db):
        db.execute_sql(sql, values)
        marks = ", ".join([db.param] * len(uids))
        query = f'SELECT json_group_object("uid", "id") FROM "run" WHERE "uid" IN ({marks})'
        ids = json.loads(db.execute_sql(query, uids).fetchone()[0])
    else:
        ids = dict(db.execute_sql(f'{sql} RETURNING "uid", "id"', values).fetchall())
    for pending, uid in zip(group, uids, strict=True):
        pending.inserted, pending.bulked = ids[uid], True


class _Ready:
    """A column value converted for the database already."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _as_of_now(name: str, value: Any) -> Any:
    """A container (params) taken as it is now, so that a change made inside it later is
    no change of the row: a dict or list of plain values copied (the writer turns it into
    its database value), one that holds containers turned into its database value now;
    any other value as it is."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return value
    items = value.values() if kind is dict else value
    if all(type(item) in _SCALARS for item in items):
        return kind(value)
    return _Ready(_column(name).db_value(value))


_SCALARS = frozenset({str, int, float, bool, type(None)})
_JSON_COLUMNS = tuple(n for n, f in Run._meta.fields.items() if isinstance(f, JSONField))


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a run's column values as they are now (a JSON column's through
    ``_as_of_now``: the only columns whose values are containers)."""
    row = dict(values)
    for name in _JSON_COLUMNS:
        if name in row:
            row[name] = _as_of_now(name, row[name])
    return row


@functools.cache
def _names(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a run row whose data has ``keys``, in the table's order, no id."""
    return tuple(n for n in Run._meta.sorted_field_names if n != "id" and n in keys)


@functools.cache
def _converters(names: tuple[str, ...]) -> tuple[Any, ...]:
    """Each column's conversion to a database value (``Field.db_value``)."""
    return tuple(Run._meta.fields[n].db_value for n in names)


def _column(name: str) -> Any:
    return Run._meta.fields[name]


def _nothing() -> None:
    return None


def defer(run: Run, writer: Writer, guard: Guard | None = None) -> None:
    """Queue ``run``'s INSERT on ``writer`` (``start_run(..., later=True)``); ``guard``
    reports its failure."""
    pending = Pending(run, writer, guard)  # the row as it is now: what the writer inserts
    run._dirty.clear()  # fields set from now on are written by the run's next save (its close)
    vars(run)["_pending"] = pending
    pending.submit()
