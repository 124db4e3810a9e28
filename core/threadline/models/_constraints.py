"""Foreign keys that peewee leaves out of ``CREATE TABLE``, made real.

peewee writes no constraint for a ``DeferredForeignKey`` (a key to a table defined later),
so the ``ON DELETE`` actions those keys declare would not exist in the database: a forgotten
artifact's feature values and labels would stay behind, and SQLite, which gives a new row
the largest id plus one, would hand them to the next artifact. So:

- ``undefer`` turns the keys that only pointed forward (a record's feature values and
  labels, an artifact's schema) into ordinary keys once every table is defined: new
  databases get them in ``CREATE TABLE``.
- ``run.logs`` closes a cycle (artifact -> run -> artifact) and stays deferred;
  ``add_late_keys`` adds it once the tables exist: a constraint on PostgreSQL; on SQLite,
  which cannot add a constraint to a table, three triggers that act as one: a new or
  changed id that points nowhere is refused ("FOREIGN KEY constraint failed", as a real
  key says it) and deleting the target takes the declared ``ON DELETE`` action.
- ``upgrade`` (schema v7) does the same to a database made before: orphaned rows go first
  (a key cannot be added over them), then PostgreSQL gets the constraints; SQLite rebuilds
  the four child tables with theirs and gets triggers for the two keys on ``artifact`` and
  ``run``, tables too central to rebuild in place.
- ``add_checks`` (schema v8) gives SQLite keys that v7 made as a delete trigger alone the
  two triggers that refuse dangling ids.
- ``statement_keys`` (schema v9, PostgreSQL) checks the feature-value tables' two keys once
  per statement instead of once per row (``_pgkeys.py``): a bulk write of values no longer
  pays two key lookups per row. Schema v10 does the same for the run table's
  ``transform_id`` and ``parent_id`` (``ON DELETE SET NULL``, a key into its own table)
  and ``run_link``'s two keys.
"""

from __future__ import annotations

import logging

import peewee

from .._db import is_sqlite
from ._base import BaseModel
from ._pgkeys import STATEMENT_KEYS, has_statement_key
from ._pgkeys import statement_keys as statement_keys

logger = logging.getLogger("threadline")

CYCLE = {("run", "logs_id")}  # keys that must stay deferred: created after the tables
REBUILT = {"artifact_feature_value", "run_feature_value", "artifact_label", "run_label"}


def undefer(tables: list[type[BaseModel]]) -> None:
    """Make every deferred key outside ``CYCLE`` an ordinary one (called once all tables
    are defined: their targets exist, so table creation can order and constrain them)."""
    for field in _deferred(tables):
        if _name(field) not in CYCLE:
            field.deferred = False


def add_late_keys(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """The keys still deferred, added to freshly created tables."""
    for field in _deferred(tables):
        _add_key(db, field)


def upgrade(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v7: the keys peewee left out, added to a database made before (idempotent)."""
    for field in _born_deferred(tables):
        if _has_key(db, field):
            continue
        removed = _clear_orphans(db, field)
        if removed:
            logger.warning(
                "schema v7: %d row(s) of %s pointed at deleted %s records (%s)",
                removed,
                field.model._meta.table_name,
                field.rel_model._meta.table_name,
                "removed" if field.on_delete == "CASCADE" else "cleared",
            )
        if is_sqlite(db) and _name(field)[0] in REBUILT:
            _rebuild(db, field.model)
        else:
            _add_key(db, field)


def add_checks(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v8: SQLite keys kept as triggers refuse ids that point nowhere (idempotent)."""
    if not is_sqlite(db):
        return
    for field in _born_deferred(tables):
        table, column = _name(field)
        keys = db.execute_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()
        if not any(row[3] == column for row in keys):
            _add_key(db, field)


def _deferred(tables: list[type[BaseModel]]) -> list[peewee.ForeignKeyField]:
    return [f for t in tables for f in t._meta.refs if f.deferred]


def _born_deferred(tables: list[type[BaseModel]]) -> list[peewee.ForeignKeyField]:
    """Every key that peewee made from a ``DeferredForeignKey`` (deferred or undeferred
    since): the ones databases before v7 lack."""
    return [f for t in tables for f in t._meta.refs if _name(f) in BORN_DEFERRED]


BORN_DEFERRED = {
    ("artifact_feature_value", "artifact_id"),
    ("run_feature_value", "run_id"),
    ("artifact_label", "artifact_id"),
    ("run_label", "run_id"),
    ("artifact", "schema_id"),
    *CYCLE,
}


def _name(field: peewee.ForeignKeyField) -> tuple[str, str]:
    return field.model._meta.table_name, field.column_name


def _add_key(db: peewee.Database, field: peewee.ForeignKeyField) -> None:
    if not is_sqlite(db):
        field.model._schema.create_foreign_key(field)
        return
    for statement in _triggers(field):
        db.execute_sql(statement)


def _triggers(field: peewee.ForeignKeyField) -> list[str]:
    """SQLite: a key as triggers, the same checks and action a constraint would give."""
    table, column = _name(field)
    target = field.rel_model._meta.table_name
    if field.on_delete == "CASCADE":
        action = f'DELETE FROM "{table}"'
    else:
        action = f'UPDATE "{table}" SET "{column}" = NULL'
    refuse = (
        f'WHEN NEW."{column}" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "{target}" '
        f'WHERE "id" = NEW."{column}") BEGIN SELECT RAISE(ABORT, '
        "'FOREIGN KEY constraint failed'); END"
    )
    name = f"fk_{table}_{column}"
    return [
        f'CREATE TRIGGER IF NOT EXISTS "{name}_on_delete" AFTER DELETE ON "{target}" '
        f'BEGIN {action} WHERE "{column}" = OLD."id"; END',
        f'CREATE TRIGGER IF NOT EXISTS "{name}_on_insert" BEFORE INSERT ON "{table}" {refuse}',
        f'CREATE TRIGGER IF NOT EXISTS "{name}_on_update" BEFORE UPDATE OF "{column}" '
        f'ON "{table}" {refuse}',
    ]


def _has_key(db: peewee.Database, field: peewee.ForeignKeyField) -> bool:
    table, column = _name(field)
    if is_sqlite(db):
        keys = db.execute_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()
        trigger = db.execute_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            (f"fk_{table}_{column}_on_delete",),
        ).fetchall()
        return any(row[3] == column for row in keys) or bool(trigger)
    if (table, column) in STATEMENT_KEYS and has_statement_key(db, table, column):
        return True
    return bool(
        db.execute_sql(
            "SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass "
            "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = "
            "%s::regclass AND attname = %s)]::smallint[]",
            (table, table, column),
        ).fetchall()
    )


def _clear_orphans(db: peewee.Database, field: peewee.ForeignKeyField) -> int:
    table, column = _name(field)
    target = field.rel_model._meta.table_name
    orphan = (
        f'"{column}" IS NOT NULL AND NOT EXISTS '
        f'(SELECT 1 FROM "{target}" WHERE "{target}"."id" = "{table}"."{column}")'
    )
    if field.on_delete == "CASCADE":
        cursor = db.execute_sql(f'DELETE FROM "{table}" WHERE {orphan}')
    else:
        cursor = db.execute_sql(f'UPDATE "{table}" SET "{column}" = NULL WHERE {orphan}')
    return max(int(cursor.rowcount), 0)


def _rebuild(db: peewee.Database, model: type[BaseModel]) -> None:
    """SQLite: the table again, now with its keys (copied aside, dropped, created with its
    indexes, copied back). Only for tables nothing else points at."""
    table = model._meta.table_name
    columns = ", ".join(f'"{f.column_name}"' for f in model._meta.sorted_fields)
    db.execute_sql(f'CREATE TEMP TABLE "{table}__before_v7" AS SELECT * FROM "{table}"')
    db.execute_sql(f'DROP TABLE "{table}"')
    db.create_tables([model])
    db.execute_sql(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{table}__before_v7"')
    db.execute_sql(f'DROP TABLE "{table}__before_v7"')
