"""Closes queued on the background writer (``finish_run(..., later=True)``), written a
batch at a time.

A close that finds its run's row still queued goes into that row (``Pending.fold``). One
that comes after the writer took the row (a task that outlives the writer's linger, as
the tasks of an async gather do) is an UPDATE of its own. Each statement the writer runs
hands the GIL to the engine's threads and back: 111 such UPDATEs cost a 111-task gather
flow about 390 context switches of the writer's thread. ``update_many``, the writer's
``bulk`` for closes, writes a batch's closes in one ``UPDATE ... FROM (VALUES ...)`` per
set of columns instead. A close it leaves to its own job (below) is written as before.
"""

import sqlite3
from collections.abc import Callable
from typing import Any

from .._db import is_sqlite, unwrap
from .._live import runs_ended
from ..models import Run

# the columns finish_run sets: a close that changes others is written by its own job
BULK_COLUMNS = frozenset({"status", "finished_at", "error", "traceback"})
_ROWS = 400  # rows per statement: within SQLite's limit on parameters (5 per row)


class Close:
    """The queued close of ``run``: ``close(run, closed, fields)``, unless ``update_many``
    wrote it in the batch's transaction just before."""

    __slots__ = ("close", "closed", "fields", "run", "written")

    def __init__(
        self,
        close: Callable[[Run, dict[str, Any], dict[str, Any]], None],
        run: Run,
        closed: dict[str, Any],
        fields: dict[str, Any],
    ) -> None:
        self.close, self.run, self.closed, self.fields = close, run, closed, fields
        self.written = False

    def __call__(self) -> None:
        if self.written:
            return
        self.close(self.run, self.closed, self.fields)


def update_many(closes: list[Close]) -> None:
    """The writer's ``bulk`` for closes. It writes those whose run's row is committed
    (its id is final) and that set only ``BULK_COLUMNS``; the others, and all of them
    where SQLite is older than 3.33 (no ``UPDATE ... FROM``), are left to their jobs."""
    for close in closes:
        close.written = False  # an attempt rolled back wrote nothing
    db: Any = unwrap(Run._meta.database)
    if is_sqlite(db) and sqlite3.sqlite_version_info < (3, 33):
        return
    groups: dict[tuple[str, ...], list[Close]] = {}
    for close in closes:
        names = _columns(close)
        if names:
            groups.setdefault(names, []).append(close)
    for names, group in groups.items():
        for start in range(0, len(group), _ROWS):
            _update_rows(db, names, group[start : start + _ROWS])


def _columns(close: Close) -> tuple[str, ...]:
    """The columns ``close`` writes, if ``update_many`` may write it; else ()."""
    run, data = close.run, close.run.__data__
    if close.fields or data.get("id") is None or "_pending" in vars(run):
        return ()  # other fields, or a row not yet committed (its id may still change)
    names = {*close.closed, *(n for n in run._dirty if n in data and n != "id")}
    return tuple(sorted(names)) if names <= BULK_COLUMNS else ()


def _update_rows(db: Any, names: tuple[str, ...], group: list[Close]) -> None:
    """One UPDATE for ``group``, each run's ``names`` set as its own close sets them."""
    fields, param = Run._meta.fields, db.param
    row = f"({', '.join([param] * (len(names) + 1))})"
    columns = ", ".join(
        f'"{fields[n].column_name}" = "v"."column{i + 2}"' for i, n in enumerate(names)
    )
    sql = (
        f'UPDATE "{Run._meta.table_name}" SET {columns} '
        f'FROM (VALUES {", ".join([row] * len(group))}) AS "v" '
        f'WHERE "{Run._meta.table_name}"."id" = "v"."column1"'
    )
    values: list[Any] = []
    for close in group:
        data = close.run.__data__
        data.update(close.closed)
        values.append(data["id"])
        values.extend(fields[n].db_value(data[n]) for n in names)
    db.execute_sql(sql, values)
    for close in group:
        close.run._dirty.clear()
        close.written = True
    runs_ended([close.run for close in group])
