"""Schema versions and in-place upgrades.

A new database gets every table at once and is stamped with ``LATEST``. An existing one
runs each step above its recorded version, in order, inside one locked transaction, so
that several processes opening an old database at once upgrade it exactly once.
Add a step by appending ``(version, function)`` to ``STEPS`` and bumping ``LATEST``.
"""

from collections.abc import Callable

import peewee

from .._db import is_sqlite, write_transaction
from ..errors import DatabaseError
from ._base import BaseModel
from ._constraints import add_checks as _v8_key_checks
from ._constraints import add_late_keys, statement_keys
from ._constraints import upgrade as _v7_foreign_keys
from ._pgkeys import STATEMENT_KEYS, VALUE_KEYS
from .feature import value_indexes

LATEST = 10


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()

    class Meta:
        table_name = "threadline_schema_version"


def _v2_run_links_and_feature_indexes(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v2: run-to-run dependency edges; indexes for feature-value lookups."""
    run_link = next(t for t in tables if t.__name__ == "RunLink")
    db.create_tables([run_link], safe=True)
    for table in ("artifact_feature_value", "run_feature_value"):
        for column in ("text", "num"):
            db.execute_sql(
                f"CREATE INDEX IF NOT EXISTS {table}_feature_id_{column} "
                f"ON {table} (feature_id, {column})"
            )
    _pattern_index(db)


def _pattern_index(db: peewee.Database) -> None:
    """PostgreSQL: an index that serves case-sensitive ``LIKE 'prefix%'`` on keys."""
    if not is_sqlite(db):
        db.execute_sql(
            "CREATE INDEX IF NOT EXISTS artifact_key_pattern ON artifact (key varchar_pattern_ops)"
        )


def _v3_caching_and_liveness(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v3: the ``cached`` status's columns (cached_from, cache_note), the process of a run
    (pid, process_start) and the cache_entry table."""
    double = "REAL" if is_sqlite(db) else "DOUBLE PRECISION"
    present = {column.name for column in db.get_columns("run")}
    for column, sql_type in (
        ("cached_from_id", "INTEGER REFERENCES run (id) ON DELETE SET NULL"),
        ("cache_note", "TEXT"),
        ("pid", "INTEGER"),
        ("process_start", double),
    ):
        if column not in present:
            db.execute_sql(f"ALTER TABLE run ADD COLUMN {column} {sql_type}")
    entry = next(t for t in tables if t.__name__ == "CacheEntry")
    db.create_tables([entry], safe=True)


def _v4_tombstones(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v4: the tombstone of a purged artifact: who deleted it and when, who purged it and
    when (visibility ``purged`` needs no column change)."""
    stamp = "DATETIME" if is_sqlite(db) else "TIMESTAMP"
    present = {column.name for column in db.get_columns("artifact")}
    for column, sql_type in (
        ("deleted_at", stamp),
        ("deleted_by", "VARCHAR(255)"),
        ("purged_at", stamp),
        ("purged_by", "VARCHAR(255)"),
    ):
        if column not in present:
            db.execute_sql(f"ALTER TABLE artifact ADD COLUMN {column} {sql_type}")


def _v5_unverified_inputs(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v5: ``run_input.unverified``, an input hashed after its run started."""
    present = {column.name for column in db.get_columns("run_input")}
    if "unverified" not in present:
        db.execute_sql("ALTER TABLE run_input ADD COLUMN unverified BOOLEAN")


def _v6_covering_feature_indexes(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v6: the feature-value lookup indexes also hold the record's id (a filter's
    subquery reads the index alone), under their v2 names; the single-column index on
    feature_id goes, as those indexes lead with it (one index fewer to keep up per row)."""
    for owner in ("artifact", "run"):
        table = f"{owner}_feature_value"
        for column in ("text", "num"):
            db.execute_sql(f'DROP INDEX IF EXISTS "{table}_feature_id_{column}"')
        for statement in value_indexes(owner):
            db.execute_sql(statement)
        db.execute_sql(f'DROP INDEX IF EXISTS "{table}_feature_id"')


def _v9_statement_keys_and_partial_num_index(
    db: peewee.Database, tables: list[type[BaseModel]]
) -> None:
    """v9: PostgreSQL checks the value tables' keys per statement (``_pgkeys.py``); the
    value tables' ``num`` lookup index holds only rows with a number (``value_indexes``)."""
    statement_keys(db, tables, VALUE_KEYS)
    for owner in ("artifact", "run"):
        db.execute_sql(f'DROP INDEX IF EXISTS "{owner}_feature_value_feature_id_num"')
        db.execute_sql(value_indexes(owner)[1])


def _v10_run_statement_keys(db: peewee.Database, tables: list[type[BaseModel]]) -> None:
    """v10: PostgreSQL checks the run table's ``transform_id`` and ``parent_id`` and the
    run links' two keys per statement too, and every such key's UPDATE check is a row
    trigger that fires only when the key changes (``_pgkeys.py``); SQLite: the version
    stamp alone."""
    statement_keys(db, tables, STATEMENT_KEYS)


STEPS: list[tuple[int, Callable[[peewee.Database, list[type[BaseModel]]], None]]] = [
    (2, _v2_run_links_and_feature_indexes),
    (3, _v3_caching_and_liveness),
    (4, _v4_tombstones),
    (5, _v5_unverified_inputs),
    (6, _v6_covering_feature_indexes),
    (7, _v7_foreign_keys),  # the keys peewee left out of CREATE TABLE (_constraints.py)
    (8, _v8_key_checks),  # SQLite keys kept as triggers refuse dangling ids too
    (9, _v9_statement_keys_and_partial_num_index),
    (10, _v10_run_statement_keys),
]


def _current(db: peewee.Database) -> int | None:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def _refuse_newer(version: int | None) -> None:
    if version is not None and version > LATEST:
        raise DatabaseError(
            f"database schema version {version} is newer than this threadline "
            f"understands ({LATEST}); upgrade threadline to open it"
        )


def ensure_schema(db: peewee.Database, tables: list[type[BaseModel]]) -> int:
    """Create or upgrade the schema; returns the version now in place.

    A database stamped with a newer version than ``LATEST`` is refused (``DatabaseError``),
    never restamped: older code must not write into a schema it does not know.
    """
    version = _current(db)
    _refuse_newer(version)
    if version == LATEST:
        return LATEST
    with write_transaction(db, lock="threadline:schema"):
        version = _current(db)  # again, under the lock: another process may have upgraded
        _refuse_newer(version)
        if version == LATEST:
            return LATEST
        if version is None:
            db.create_tables([SchemaVersion, *tables], safe=True)
            add_late_keys(db, tables)
            statement_keys(db, tables)
            _pattern_index(db)
            SchemaVersion.create(version=LATEST)
            return LATEST
        for step_version, step in STEPS:
            if step_version > version:
                step(db, tables)
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=LATEST)
    return LATEST
