"""PostgreSQL: the feature-value tables' keys checked once per statement (schema v9).

A foreign-key constraint checks every new row on its own: one lookup, with a row lock, in
the referenced table per key and row. A bulk ingest writes hundreds of thousands of value
rows, each with two keys (its record and its feature), and those lookups were more than
half of the server's work for the value ``COPY``. Here each such key is three triggers that
do what the constraint did, set-wise:

- after an INSERT or UPDATE of value rows, one query locks the referenced rows of all the
  statement's rows (``FOR KEY SHARE``, the lock the constraint's check takes: a concurrent
  delete of one of them waits for this transaction, and a row deleted meanwhile is not
  found) and compares their number with the number of different ids; one missing fails the
  statement with SQLSTATE 23503 and the constraint's message, as the constraint would;
- after a DELETE of records or features, their value rows go (``ON DELETE CASCADE``);
- changing the id of a referenced record or feature is refused, as ``NO ACTION`` does.

The triggers run in the statement's transaction, so they see and lock what a constraint's
check would at ``READ COMMITTED``, the level threadline writes at. Unlike a constraint's
cascade, the delete trigger at ``REPEATABLE READ`` or above does not see value rows that a
transaction committed after the deleting transaction's snapshot (threadline deletes no
record at those levels).
"""

from __future__ import annotations

import peewee

from .._db import is_sqlite

# (table, column) -> referenced table; every one with ON DELETE CASCADE
STATEMENT_KEYS = {
    ("artifact_feature_value", "artifact_id"): "artifact",
    ("artifact_feature_value", "feature_id"): "feature",
    ("run_feature_value", "run_id"): "run",
    ("run_feature_value", "feature_id"): "feature",
}


def statement_keys(db: peewee.Database, tables: object = None) -> None:
    """v9 (PostgreSQL; nothing on SQLite): each key of ``STATEMENT_KEYS`` becomes its
    statement triggers and its constraint goes (idempotent)."""
    if is_sqlite(db):
        return
    for (table, column), target in STATEMENT_KEYS.items():
        for statement in key_statements(table, column, target):
            db.execute_sql(statement)
        for (name,) in db.execute_sql(_CONSTRAINTS, (table, table, column)).fetchall():
            db.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')


_CONSTRAINTS = (
    "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass "
    "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass "
    "AND attname = %s)]::smallint[]"
)


def has_statement_key(db: peewee.Database, table: str, column: str) -> bool:
    """Whether ``table.column`` is checked by this module's triggers (PostgreSQL)."""
    return bool(
        db.execute_sql(
            "SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s",
            (table, f"fk_{table}_{column}_on_insert"),
        ).fetchall()
    )


def key_statements(table: str, column: str, target: str) -> list[str]:
    """The functions and triggers of one key, replacing any earlier ones of that name."""
    name = f"fk_{table}_{column}"
    constraint = f"{table}_{column}_fkey"  # what the constraint was called
    refused = (
        f'\'insert or update on table "{table}" violates foreign key constraint '
        f"\"{constraint}\"' USING ERRCODE = 'foreign_key_violation', DETAIL = "
        f"'Key ({column})=(' || missing || ') is not present in table \"{target}\".'"
    )
    check = f"""CREATE OR REPLACE FUNCTION "{name}_check"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE wanted bigint; found bigint; missing text;
BEGIN
  SELECT count(DISTINCT "{column}") INTO wanted FROM new_rows;
  PERFORM 1 FROM "{target}" WHERE "id" IN (SELECT "{column}" FROM new_rows) FOR KEY SHARE;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF found < wanted THEN
    SELECT n."{column}" INTO missing FROM new_rows n
      WHERE NOT EXISTS (SELECT 1 FROM "{target}" t WHERE t."id" = n."{column}") LIMIT 1;
    RAISE EXCEPTION {refused};
  END IF;
  RETURN NULL;
END $$"""
    cascade = f"""CREATE OR REPLACE FUNCTION "{name}_cascade"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "{table}" WHERE "{column}" IN (SELECT "id" FROM gone);
  RETURN NULL;
END $$"""
    kept = f"""CREATE OR REPLACE FUNCTION "{name}_kept"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM "{table}" WHERE "{column}" = OLD."id") THEN
    RAISE USING ERRCODE = 'foreign_key_violation', MESSAGE = 'update or delete on table '
      || '"{target}" violates foreign key constraint "{constraint}" on table "{table}"';
  END IF;
  RETURN NULL;
END $$"""
    rows = "FOR EACH STATEMENT EXECUTE FUNCTION"
    return [
        check,
        cascade,
        kept,
        *(f'DROP TRIGGER IF EXISTS "{name}_{event}" ON "{table}"' for event in _CHECKED),
        f'DROP TRIGGER IF EXISTS "{name}_on_delete" ON "{target}"',
        f'DROP TRIGGER IF EXISTS "{name}_on_key_change" ON "{target}"',
        f'CREATE TRIGGER "{name}_on_insert" AFTER INSERT ON "{table}" '
        f'REFERENCING NEW TABLE AS new_rows {rows} "{name}_check"()',
        f'CREATE TRIGGER "{name}_on_update" AFTER UPDATE ON "{table}" '
        f'REFERENCING NEW TABLE AS new_rows {rows} "{name}_check"()',
        f'CREATE TRIGGER "{name}_on_delete" AFTER DELETE ON "{target}" '
        f'REFERENCING OLD TABLE AS gone {rows} "{name}_cascade"()',
        f'CREATE TRIGGER "{name}_on_key_change" AFTER UPDATE OF "id" ON "{target}" '
        f'FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "{name}_kept"()',
    ]


_CHECKED = ("on_insert", "on_update")
