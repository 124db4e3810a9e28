"""Schema v9: on PostgreSQL the feature-value tables' keys are checked once per statement
(models/_pgkeys.py) and do everything the constraints they replace did; SQLite keeps its
keys. Real databases, real deletes, real concurrent transactions on PostgreSQL."""

import os
import threading
import time

import peewee
import psycopg2
import pytest
import threadline as tl
from threadline import adapters
from threadline._db import is_sqlite
from threadline.models import LATEST
from threadline.models._pgkeys import VALUE_KEYS

from tests.core.test_constraints import as_in_v8, saved
from tests.core.test_migrations import reopen, sql, versions, writes
from tests.sql_log import recorded_sql

foreign_key = pytest.raises(peewee.IntegrityError, match=r"(?i)foreign key")


def annotated(folder):
    run = adapters.start_run("t", "task")
    run.features.add_values({"exit": 0, "tag": "A"}, create_features=True)
    artifact = saved(folder, "a.txt", "a", sample="S1", score=0.5)
    return run, artifact


def constraints() -> list[tuple[str, str]]:
    """The value tables' foreign-key constraints (PostgreSQL)."""
    return sql(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid::regclass::text IN ('artifact_feature_value', 'run_feature_value') "
        "ORDER BY 1, 2"
    )


def num_indexes() -> list[str]:
    """The definitions of the value tables' ``num`` lookup indexes."""
    if is_sqlite(tl.instance().db):
        found = sql("SELECT sql FROM sqlite_master WHERE name LIKE '%feature_id_num' ORDER BY 1")
    else:
        found = sql("SELECT indexdef FROM pg_indexes WHERE indexname LIKE %s ORDER BY 1", ("%num",))
    return [row[0] for row in found]


def test_a_v8_database_is_upgraded_to_statement_keys(db_instance, isolated):
    run, artifact = annotated(isolated)
    db = tl.instance().db
    for owner in ("artifact", "run"):  # v8's num index held every row
        table = f"{owner}_feature_value"
        sql(f'DROP INDEX "{table}_feature_id_num"')
        sql(f'CREATE INDEX "{table}_feature_id_num" ON "{table}" (feature_id, num, {owner}_id)')
    if is_sqlite(db):
        sql("DELETE FROM threadline_schema_version")
        sql("INSERT INTO threadline_schema_version (version) VALUES (8)")
    else:
        as_in_v8()
        assert len(constraints()) == 4
    assert not any("WHERE" in index for index in num_indexes())
    with recorded_sql() as seen:
        reopen()
    assert versions() == [LATEST]
    assert len(num_indexes()) == 2
    assert all(
        index.endswith(("WHERE (num IS NOT NULL)", 'WHERE "num" IS NOT NULL'))
        for index in num_indexes()
    )
    if is_sqlite(tl.instance().db):  # of the value tables, v9 changes the num indexes alone
        changed = [s for s in writes(seen) if "feature_value" in s]
        assert len(changed) == 4 and all("feature_id_num" in s for s in changed)
    else:
        assert constraints() == []
        triggers = sql("SELECT tgname FROM pg_trigger WHERE tgname LIKE %s", ("fk%feature_value%",))
        assert len(triggers) == 4 * len(VALUE_KEYS)
    assert tl.Run.get(uid=run.uid).features.get_values() == {"exit": 0, "tag": "A"}
    assert tl.Artifact.get(uid=artifact.uid).features.get_values() == {
        "sample": "S1",
        "score": 0.5,
    }
    assert tl.Run.filter(tag="A").count() == 1 and tl.Artifact.filter(score__gt=0.1).count() == 1
    refused_and_cascaded(run, artifact)


def refused_and_cascaded(run: tl.Run, artifact: tl.Artifact) -> None:
    """What the keys do: dangling ids refused (one row or a bulk statement, nothing written),
    a referenced id kept, deletes cascading from the record and from the feature."""
    before = sql("SELECT * FROM run_feature_value ORDER BY id")
    (feature,) = sql("SELECT id FROM feature WHERE name = 'exit'")[0]
    insert = "INSERT INTO run_feature_value (feature_id, value, run_id) VALUES"
    for statement in (
        f"{insert} ({feature}, '1', 999991)",
        f"{insert} (999992, '1', {run.id})",
        "INSERT INTO run_feature_value (feature_id, value, num, run_id) "
        "SELECT feature_id, value, num, CASE WHEN text IS NULL THEN run_id ELSE 999993 END "
        "FROM run_feature_value",  # one good row and one dangling in one statement
        "UPDATE run_feature_value SET run_id = 999994",
        f"UPDATE run SET id = 999995 WHERE id = {run.id}",
        f"UPDATE feature SET id = 999996 WHERE id = {feature}",
    ):
        with foreign_key, tl.instance().db.atomic():
            sql(statement)
    assert sql("SELECT * FROM run_feature_value ORDER BY id") == before
    sql(f"DELETE FROM feature WHERE id = {feature}")
    assert tl.Run.get(uid=run.uid).features.get_values() == {"tag": "A"}
    sql(f"DELETE FROM run WHERE id = {run.id}")
    assert sql("SELECT count(*) FROM run_feature_value") == [(0,)]
    assert artifact.delete(forget=True) == "forget"
    assert sql("SELECT count(*) FROM artifact_feature_value") == [(0,)]


def test_the_keys_of_a_new_database_refuse_and_cascade(db_instance, isolated):
    run, artifact = annotated(isolated)
    if not is_sqlite(tl.instance().db):
        assert constraints() == []
    refused_and_cascaded(run, artifact)


def other_connection():
    connection = psycopg2.connect(os.environ["THREADLINE_DB"])
    connection.autocommit = False
    return connection


def waiting_for_a_lock(connection) -> bool:
    """Whether ``connection``'s server process is waiting for a lock (polled, up to 30 s:
    the other thread gets there whatever the machine's load)."""
    pid = connection.get_backend_pid()
    for _ in range(600):
        if sql("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)) == [
            ("Lock",)
        ]:
            return True
        time.sleep(0.05)
    return False


postgres_only = pytest.mark.parametrize("db_instance", ["postgres"], indirect=True)


def a_run_with_a_value() -> tuple[tl.Run, int]:
    """A run with a value of the feature ``exit``, and that feature's id."""
    run = adapters.start_run("t", "task")
    run.features.add_values({"exit": 0}, create_features=True)
    (feature,) = sql("SELECT id FROM feature WHERE name = 'exit'")[0]
    return run, feature


@postgres_only  # SQLite has one writer at a time
def test_a_run_deleted_while_its_values_are_written_takes_them_along(db_instance):
    run, feature = a_run_with_a_value()
    writer, deleter = other_connection(), other_connection()
    with writer.cursor() as cursor:  # values written, locking the run until commit
        cursor.execute(
            "INSERT INTO run_feature_value (feature_id, value, num, run_id) "
            f"SELECT {feature}, '1', 1, {run.id} FROM generate_series(1, 1000)"
        )
    done = threading.Event()

    def delete() -> None:
        with deleter.cursor() as cursor:
            cursor.execute(f"DELETE FROM run WHERE id = {run.id}")
        deleter.commit()
        done.set()

    thread = threading.Thread(target=delete)
    thread.start()
    assert waiting_for_a_lock(deleter)  # the delete waits for the writer's lock on the run
    assert not done.is_set()
    writer.commit()
    thread.join(30)
    assert done.is_set()
    assert sql(f"SELECT count(*) FROM run_feature_value WHERE run_id = {run.id}") == [(0,)]
    writer.close()
    deleter.close()


@postgres_only  # SQLite has one writer at a time
def test_values_for_a_run_deleted_meanwhile_are_refused(db_instance):
    run, feature = a_run_with_a_value()
    writer, deleter = other_connection(), other_connection()
    with deleter.cursor() as cursor:
        cursor.execute(f"DELETE FROM run WHERE id = {run.id}")
    failed: list[BaseException] = []

    def write() -> None:
        try:
            with writer.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO run_feature_value (feature_id, value, num, run_id) "
                    f"VALUES ({feature}, '1', 1, {run.id})"
                )
        except psycopg2.Error as error:
            failed.append(error)
            writer.rollback()

    thread = threading.Thread(target=write)
    thread.start()
    assert waiting_for_a_lock(writer)  # the check waits for the deleting transaction
    deleter.commit()
    thread.join(30)
    assert [type(e).__name__ for e in failed] == ["ForeignKeyViolation"]
    assert "is not present in table" in str(failed[0])
    assert sql("SELECT count(*) FROM run_feature_value") == [(0,)]
    writer.close()
    deleter.close()


def plan(query) -> str:
    db = tl.instance().db
    sql_text, params = query.select().sql()
    if is_sqlite(db):
        return " ".join(str(row[-1]) for row in sql("EXPLAIN QUERY PLAN " + sql_text, params))
    with db.atomic():
        sql("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
        return " ".join(row[0] for row in sql("EXPLAIN " + sql_text, params))


def test_lookups_use_the_value_indexes(db_instance):
    """The ``num`` index holds only rows with a number: a comparison with a number still
    finds it (it implies ``num IS NOT NULL``); lookups by feature alone use ``text``'s."""
    for i in range(20):
        run = adapters.start_run("t", "task")
        values = {"exit": i % 3, "tag": f"t{i}", "trace": {"a": i}}
        run.features.add_values(values, create_features=True)
    num, text = "run_feature_value_feature_id_num", "run_feature_value_feature_id_text"
    for lookups in ({"exit": 1}, {"exit__gt": 0}, {"exit__lte": 1.5}):
        assert num in plan(tl.Run.filter(**lookups)), lookups
    for lookups in ({"tag": "t3"}, {"exit__isnull": False}, {"trace__a": 3}):
        assert text in plan(tl.Run.filter(**lookups)), lookups
    assert [r.features.get_values()["tag"] for r in tl.Run.filter(exit__gt=1)] == [
        f"t{i}" for i in range(20) if i % 3 == 2
    ]
