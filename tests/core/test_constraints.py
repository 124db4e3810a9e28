"""Foreign keys declared on the tables exist in the database (models/_constraints.py).

Before schema v7 the keys peewee makes from a ``DeferredForeignKey`` (a record's feature
values and labels, an artifact's schema, a run's logs) had no constraint: forgetting an
artifact left its feature values behind and SQLite handed them to the next artifact, which
reused the id. These tests delete records for real and upgrade a real v6 database.
"""

import re

import peewee
import pytest
import threadline as tl
from threadline import adapters
from threadline._db import is_sqlite
from threadline.models import LATEST, TABLES
from threadline.models._constraints import BORN_DEFERRED, _has_key
from threadline.models._pgkeys import STATEMENT_KEYS

from tests.core.test_migrations import reopen, sql, versions
from tests.harness import write

KEYS = [
    f for t in TABLES for f in t._meta.refs if (t._meta.table_name, f.column_name) in BORN_DEFERRED
]
CHILDREN = ("artifact_feature_value", "run_feature_value", "artifact_label", "run_label")


def saved(folder, name, text, **features):
    artifact = tl.Artifact(str(write(folder / name, text)), key=name).save()
    if features:
        artifact.features.add_values(features, create_features=True)
    return artifact


def test_every_declared_key_exists_in_a_new_database(db_instance):
    assert len(KEYS) == len(BORN_DEFERRED)
    db = tl.instance().db
    assert [k.column_name for k in KEYS if not _has_key(db, k)] == []


def test_a_forgotten_artifact_takes_its_values_labels_and_log_links_along(db_instance, isolated):
    artifact = saved(isolated, "a.txt", "a", sample="S1")
    artifact.labels.add("blue")
    run = adapters.start_run("t", "task")
    adapters.update_run(run, logs=artifact)
    assert artifact.delete(forget=True) == "forget"
    assert sql("SELECT count(*) FROM artifact_feature_value")[0][0] == 0
    assert sql("SELECT count(*) FROM artifact_label")[0][0] == 0
    assert tl.Run.get(uid=run.uid).logs_id is None
    fresh = saved(isolated, "b.txt", "b")  # SQLite gives it the forgotten id again
    assert fresh.features.get_values() == {} and fresh.labels.all() == []


def test_a_deleted_run_takes_its_values_and_labels_along(db_instance):
    run = adapters.start_run("t", "task")
    run.features.add_values({"exit": 0}, create_features=True)
    run.labels.add("red")
    sql(f"DELETE FROM run WHERE id = {int(run.id)}")
    assert sql("SELECT count(*) FROM run_feature_value")[0][0] == 0
    assert sql("SELECT count(*) FROM run_label")[0][0] == 0


def assert_dangling_ids_refused(run: tl.Run, artifact: tl.Artifact) -> None:
    """A new or changed id that points nowhere fails as a key does, and nothing changes."""
    before = sql("SELECT id, logs_id FROM run ORDER BY id")
    for statement in (
        f"UPDATE run SET logs_id = 999997 WHERE id = {int(run.id)}",
        f"UPDATE artifact SET schema_id = 999996 WHERE id = {int(artifact.id)}",
        "INSERT INTO run (uid, transform_id, started_at, status, logs_id) "
        f"SELECT 'dangling000000ab', transform_id, started_at, status, 999995 "
        f"FROM run WHERE id = {int(run.id)}",
    ):
        refused = pytest.raises(peewee.IntegrityError, match=r"(?i)foreign key")
        with refused, tl.instance().db.atomic():
            sql(statement)
    assert sql("SELECT id, logs_id FROM run ORDER BY id") == before
    assert tl.Artifact.get(uid=artifact.uid).schema_id is None


def test_a_key_refuses_ids_that_point_nowhere(db_instance, isolated):
    artifact = saved(isolated, "a.txt", "a")
    run = adapters.start_run("t", "task")
    adapters.update_run(run, logs=artifact)  # a real target is taken
    assert tl.Run.get(uid=run.uid).logs_id == artifact.id
    assert_dangling_ids_refused(run, artifact)


def test_a_v7_database_gets_the_sqlite_key_checks(db_instance, isolated):
    artifact = saved(isolated, "a.txt", "a")
    run = adapters.start_run("t", "task")
    if is_sqlite(tl.instance().db):  # v7 made the logs key a delete trigger alone
        sql('DROP TRIGGER "fk_run_logs_id_on_insert"')
        sql('DROP TRIGGER "fk_run_logs_id_on_update"')
        sql(f"UPDATE run SET logs_id = 999998 WHERE id = {int(run.id)}")  # let through
        sql(f"UPDATE run SET logs_id = NULL WHERE id = {int(run.id)}")
    sql("DELETE FROM threadline_schema_version")
    sql("INSERT INTO threadline_schema_version (version) VALUES (7)")
    reopen()
    assert versions() == [LATEST]
    assert_dangling_ids_refused(run, artifact)


def as_in_v8() -> None:
    """PostgreSQL: take the keys checked per statement (the value tables' and the run
    table's) back to what v8 had, constraints (drop the triggers and their functions), and
    stamp the database v8."""
    as_constraints(STATEMENT_KEYS)
    sql("DELETE FROM threadline_schema_version")
    sql("INSERT INTO threadline_schema_version (version) VALUES (8)")


def as_constraints(keys: dict[tuple[str, str], tuple[str, str]]) -> None:
    """PostgreSQL: ``keys`` as foreign-key constraints again, their triggers gone."""
    for (table, column), (target, action) in keys.items():
        name = f"fk_{table}_{column}"
        for event in ("insert", "update"):
            sql(f'DROP TRIGGER "{name}_on_{event}" ON "{table}"')
        for event in ("delete", "key_change"):
            sql(f'DROP TRIGGER "{name}_on_{event}" ON "{target}"')
        for function in ("check", "check_row", "action", "kept"):
            sql(f'DROP FUNCTION "{name}_{function}"()')
        sql(
            f'ALTER TABLE "{table}" ADD FOREIGN KEY ("{column}") REFERENCES "{target}" ("id") '
            f"ON DELETE {action}"
        )


def _without_keys_as_in_v6() -> None:
    """Take the database back to what v6 created: no owner keys, no logs trigger."""
    db = tl.instance().db
    if not is_sqlite(db):
        as_in_v8()
        for key in KEYS:
            table = key.model._meta.table_name
            ((name,),) = sql(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND pg_get_constraintdef(oid) LIKE %s",
                (table, f"FOREIGN KEY ({key.column_name})%"),
            )
            sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    else:
        for action in ("delete", "insert", "update"):
            sql(f'DROP TRIGGER "fk_run_logs_id_on_{action}"')
        for table in CHILDREN:
            (ddl,) = sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,))[0]
            owner = table.split("_")[0]
            old = re.sub(rf', FOREIGN KEY \("{owner}_id"\)[^,)]*\)[^,)]*', "", ddl)
            assert old != ddl
            sql(f'ALTER TABLE "{table}" RENAME TO "x"')
            sql(old)
            sql(f'INSERT INTO "{table}" SELECT * FROM "x"')
            sql('DROP TABLE "x"')
    sql("DELETE FROM threadline_schema_version")
    sql("INSERT INTO threadline_schema_version (version) VALUES (6)")


def test_a_v6_database_loses_its_orphans_and_gets_the_keys(db_instance, isolated):
    kept = saved(isolated, "kept.txt", "kept", sample="S1")
    kept.labels.add("blue")
    run = adapters.start_run("t", "task")
    run.features.add_values({"exit": 0}, create_features=True)
    _without_keys_as_in_v6()
    db = tl.instance().db
    left = [k.column_name for k in KEYS if _has_key(db, k)]
    assert left == (["schema_id"] if is_sqlite(db) else [])  # SQLite: not rebuilt by v6
    feature = sql("SELECT feature_id FROM artifact_feature_value")[0][0]
    sql(
        "INSERT INTO artifact_feature_value (feature_id, value, text, artifact_id) "
        f"VALUES ({int(feature)}, '\"S9\"', 'S9', 999)"
    )
    sql(
        "INSERT INTO run_feature_value (feature_id, value, num, run_id) "
        "SELECT feature_id, value, num, 998 FROM run_feature_value"
    )
    sql(f"UPDATE run SET logs_id = 997 WHERE id = {int(run.id)}")
    reopen()
    assert versions() == [LATEST]
    db = tl.instance().db
    assert [k.column_name for k in KEYS if not _has_key(db, k)] == []
    assert sql("SELECT artifact_id FROM artifact_feature_value") == [(kept.id,)]
    assert sql("SELECT run_id FROM run_feature_value") == [(run.id,)]
    assert tl.Run.get(uid=run.uid).logs_id is None
    assert tl.Artifact.get(uid=kept.uid).features.get_values() == {"sample": "S1"}
    assert [label.name for label in tl.Artifact.get(uid=kept.uid).labels.all()] == ["blue"]
    assert tl.Artifact.filter(sample="S1").count() == 1  # indexes back in place
    assert_dangling_ids_refused(run, kept)
    assert kept.delete(forget=True) == "forget"
    assert sql("SELECT count(*) FROM artifact_feature_value")[0][0] == 0
