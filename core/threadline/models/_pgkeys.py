"""PostgreSQL: foreign keys of bulk-written tables checked once per statement (v9, v10).

A foreign-key constraint checks every new row on its own: one lookup, with a row lock, in
the referenced table per key and row. A bulk ingest writes hundreds of thousands of rows:
feature values, each with two keys (its record and its feature; schema v9), task runs, each
with its transform and its parent run, and links between task runs, each with its two runs
(schema v10). Those lookups were about half of the server's work for each such ``COPY``.
Here each of these keys is four triggers that do what the constraint did, set-wise:

- after an INSERT, one query looks each different id of the statement's rows up in the
  referenced table and locks it (``FOR KEY SHARE``, the lock the constraint's check takes:
  a concurrent delete of one of them waits for this transaction, and a row deleted
  meanwhile is not found); one missing fails the statement with SQLSTATE 23503 and the
  constraint's message, as the constraint would. The lookup is a lateral join, one
  primary-key lookup per id (measured: with ``id = ANY (array)`` instead, a one-row INSERT
  of a run cost the server about three times what the constraints did). The check runs
  after the statement, so a row that names a row of the same statement (a task run and
  its workflow run in one ``COPY``: ``run.parent_id`` points into ``run``) is found;
- after an UPDATE that changes the key of a row to an id, that row is checked the same way
  (a trigger per row, filtered by ``WHEN``: an UPDATE that leaves the key as it is, such as
  closing a run, costs nothing);
- after a DELETE of referenced rows, their referencing rows go (``ON DELETE CASCADE``) or
  lose the reference (``ON DELETE SET NULL``), in one statement, which in turn fires the
  keys of that table: deleting a transform deletes its runs, which takes their feature
  values and links along and clears their children's ``parent_id``;
- changing the id of a referenced row is refused, as ``NO ACTION`` does.

The triggers run in the statement's transaction, so they see and lock what a constraint's
check would at ``READ COMMITTED``, the level threadline writes at. Unlike a constraint's
action, the delete trigger at ``REPEATABLE READ`` or above does not see rows that a
transaction committed after the deleting transaction's snapshot (threadline deletes no
record at those levels). The run table's other keys (environment, project, logs,
cached_from), which a bulk ingest leaves empty, stay constraints.
"""

from __future__ import annotations

import peewee

from .._db import is_sqlite

# (table, column) -> (referenced table, ON DELETE action)
VALUE_KEYS = {  # schema v9
    ("artifact_feature_value", "artifact_id"): ("artifact", "CASCADE"),
    ("artifact_feature_value", "feature_id"): ("feature", "CASCADE"),
    ("run_feature_value", "run_id"): ("run", "CASCADE"),
    ("run_feature_value", "feature_id"): ("feature", "CASCADE"),
}
RUN_KEYS = {  # schema v10
    ("run", "transform_id"): ("transform", "CASCADE"),
    ("run", "parent_id"): ("run", "SET NULL"),
    ("run_link", "upstream_id"): ("run", "CASCADE"),
    ("run_link", "downstream_id"): ("run", "CASCADE"),
}
STATEMENT_KEYS = {**VALUE_KEYS, **RUN_KEYS}


def statement_keys(
    db: peewee.Database,
    tables: object = None,
    keys: dict[tuple[str, str], tuple[str, str]] = STATEMENT_KEYS,
) -> None:
    """v9, v10 (PostgreSQL; nothing on SQLite): each of ``keys`` becomes its triggers and
    its constraint goes (idempotent)."""
    if is_sqlite(db):
        return
    for (table, column), (target, action) in keys.items():
        for statement in key_statements(table, column, target, action):
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


def key_statements(table: str, column: str, target: str, action: str = "CASCADE") -> list[str]:
    """The functions and triggers of one key, replacing any earlier ones of that name."""
    name = f"fk_{table}_{column}"
    triggers = [f'DROP TRIGGER IF EXISTS "{name}_{event}" ON "{table}"' for event in _CHECKED] + [
        f'DROP TRIGGER IF EXISTS "{name}_{event}" ON "{target}"' for event in _ACTED
    ]
    triggers.append(f'DROP FUNCTION IF EXISTS "{name}_cascade"()')  # v9's name for the action
    return [
        *_functions(table, column, target, action),
        *triggers,
        f'CREATE TRIGGER "{name}_on_insert" AFTER INSERT ON "{table}" '
        f'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "{name}_check"()',
        f'CREATE TRIGGER "{name}_on_update" AFTER UPDATE OF "{column}" ON "{table}" FOR EACH ROW '
        f'WHEN (NEW."{column}" IS DISTINCT FROM OLD."{column}" AND NEW."{column}" IS NOT NULL) '
        f'EXECUTE FUNCTION "{name}_check_row"()',
        f'CREATE TRIGGER "{name}_on_delete" AFTER DELETE ON "{target}" '
        f'REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "{name}_action"()',
        f'CREATE TRIGGER "{name}_on_key_change" AFTER UPDATE OF "id" ON "{target}" '
        f'FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "{name}_kept"()',
    ]


_CHECKED = ("on_insert", "on_update")
_ACTED = ("on_delete", "on_key_change")


def _functions(table: str, column: str, target: str, action: str) -> list[str]:
    name = f"fk_{table}_{column}"
    constraint = f"{table}_{column}_fkey"  # what the constraint was called
    refused = (
        f'\'insert or update on table "{table}" violates foreign key constraint '
        f"\"{constraint}\"' USING ERRCODE = 'foreign_key_violation', DETAIL = "
        f"'Key ({column})=(' || missing || ') is not present in table \"{target}\".'"
    )
    if action == "CASCADE":
        act = f'DELETE FROM "{table}" WHERE "{column}" IN (SELECT "id" FROM gone)'
    else:
        act = f'UPDATE "{table}" SET "{column}" = NULL WHERE "{column}" IN (SELECT "id" FROM gone)'
    return [
        f"""CREATE OR REPLACE FUNCTION "{name}_check"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE wanted bigint; found bigint; missing text;
BEGIN
  SELECT count(*), count(t.id) INTO wanted, found
    FROM (SELECT DISTINCT "{column}" AS id FROM new_rows WHERE "{column}" IS NOT NULL) n
    LEFT JOIN LATERAL (SELECT r."id" FROM "{target}" r WHERE r."id" = n.id FOR KEY SHARE) t
    ON true;
  IF found < wanted THEN
    SELECT n."{column}" INTO missing FROM new_rows n
      WHERE n."{column}" IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM "{target}" t WHERE t."id" = n."{column}") LIMIT 1;
    RAISE EXCEPTION {refused};
  END IF;
  RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION "{name}_check_row"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE missing text := NEW."{column}";
BEGIN
  PERFORM 1 FROM "{target}" WHERE "id" = NEW."{column}" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION {refused};
  END IF;
  RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION "{name}_action"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  {act};
  RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION "{name}_kept"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM "{table}" WHERE "{column}" = OLD."id") THEN
    RAISE USING ERRCODE = 'foreign_key_violation', MESSAGE = 'update or delete on table '
      || '"{target}" violates foreign key constraint "{constraint}" on table "{table}"';
  END IF;
  RETURN NULL;
END $$""",
    ]
