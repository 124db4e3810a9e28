"""Schema v10: on PostgreSQL the run table's ``transform_id`` (ON DELETE CASCADE) and
``parent_id`` (a key into ``run`` itself, ON DELETE SET NULL) and ``run_link``'s two keys (ON
DELETE CASCADE) are checked once per statement (models/_pgkeys.py) and do everything the
constraints they replace did; SQLite keeps its keys. Real databases, real deletes, real
concurrent transactions on PostgreSQL."""

import io
import threading
from typing import Any

import peewee
import psycopg2
import pytest
import threadline as tl
from threadline import adapters
from threadline._db import is_sqlite
from threadline.models import LATEST
from threadline.models._pgkeys import RUN_KEYS, VALUE_KEYS

from tests.core.test_constraints import as_constraints
from tests.core.test_migrations import reopen, sql, versions, writes
from tests.core.test_migrations_v9 import other_connection, postgres_only, waiting_for_a_lock
from tests.sql_log import recorded_sql

COLUMNS = "uid, transform_id, status, started_at, parent_id"


def family() -> dict[str, tl.Run]:
    """A workflow run, two task runs of one transform under it and a run of another
    transform under the first task run; each with a value; links a -> b -> c."""
    runs = {"workflow": adapters.start_run("wf", "pipeline")}
    runs["a"] = adapters.start_run("task", "task", parent=runs["workflow"])
    runs["b"] = adapters.start_run("task", "task", parent=runs["workflow"])
    runs["c"] = adapters.start_run("sub", "task", parent=runs["a"])
    for run in runs.values():
        run.features.add_values({"exit": 0}, create_features=True)
    a, b, c = (runs[name].id for name in "abc")
    sql(f"INSERT INTO run_link (upstream_id, downstream_id) VALUES ({a}, {b}), ({b}, {c})")
    return runs


def new_run(uid: str, transform: int, parent: object = "NULL") -> str:
    return (
        f"INSERT INTO run ({COLUMNS}) "
        f"VALUES ('{uid}', {transform}, 'started', '2026-01-01 00:00:00', {parent})"
    )


def transform_of(run: tl.Run) -> int:
    return sql(f"SELECT transform_id FROM run WHERE id = {run.id}")[0][0]


def refused():
    """Refused as a foreign key refuses (SQLSTATE 23503 on PostgreSQL), in a transaction
    of its own."""
    return pytest.raises(peewee.IntegrityError, match=r"(?i)foreign key")


def everything() -> list[tuple]:
    return (
        sql("SELECT id, transform_id, parent_id FROM run ORDER BY id")
        + sql("SELECT run_id, feature_id FROM run_feature_value ORDER BY id")
        + sql("SELECT upstream_id, downstream_id FROM run_link ORDER BY id")
    )


def refuses_dangling_and_changed_ids(runs: dict[str, tl.Run]) -> tuple[list[Any], list[Any]]:
    """Dangling ids refused in one-row and bulk INSERTs and UPDATEs, a referenced id kept
    (also where a link alone refers to it); every row before and after (nothing written)."""
    before = everything()
    up, down = adapters.start_run("sub", "task"), adapters.start_run("sub", "task")
    sql(f"INSERT INTO run_link (upstream_id, downstream_id) VALUES ({up.id}, {down.id})")
    task = transform_of(runs["a"])
    select = f"INSERT INTO run ({COLUMNS}) SELECT substr(uid, 2) || 'x', "
    a, b = runs["a"].id, runs["b"].id
    link = "INSERT INTO run_link (upstream_id, downstream_id) VALUES"
    for statement in (
        new_run("x1", 999991),
        new_run("x2", task, 999992),
        f"{select}transform_id, status, started_at, "  # good rows and one dangling
        f"CASE WHEN id = {b} THEN 999993 ELSE parent_id END FROM run",
        f"{select}CASE WHEN id = {b} THEN 999994 ELSE transform_id END, status, started_at, "
        "parent_id FROM run",
        f"UPDATE run SET parent_id = 999995 WHERE id = {b}",
        "UPDATE run SET transform_id = 999996",
        f"UPDATE run SET parent_id = CASE WHEN id = {b} THEN 999997 ELSE parent_id END",
        f"UPDATE transform SET id = 999998 WHERE id = {task}",
        f"UPDATE run SET id = 999999 WHERE id = {runs['workflow'].id}",
        f"{link} ({b}, {a}), (999981, {a})",
        f"{link} ({b}, {a}), ({a}, 999982)",
        f"UPDATE run_link SET downstream_id = 999983 WHERE upstream_id = {a}",
        "UPDATE run_link SET upstream_id = 999984",
        f"UPDATE run SET id = 999985 WHERE id = {up.id}",
        f"UPDATE run SET id = 999986 WHERE id = {down.id}",
    ):
        with refused() as caught, tl.instance().db.atomic():
            sql(statement)
        if not is_sqlite(tl.instance().db):
            assert caught.value.orig.pgcode == "23503", statement
    sql(f"DELETE FROM run WHERE id IN ({up.id}, {down.id})")  # their link goes along
    return before, everything()


def acts_through_the_chain(runs: dict[str, tl.Run]) -> list[Any]:
    """Deleting a transform deletes its runs, their values go and their children lose
    their parent; a parent and its child deleted in one statement; a deleted parent's
    children keep going without it. Returns the runs and values left once the last
    transform is deleted."""
    workflow, c = runs["workflow"], runs["c"]
    sql(f"DELETE FROM transform WHERE id = {transform_of(runs['a'])}")
    assert sql("SELECT id, parent_id FROM run ORDER BY id") == [(workflow.id, None), (c.id, None)]
    assert sql("SELECT count(*) FROM run_link") == [(0,)]  # a -> b -> c: a and b are gone
    assert sorted(sql("SELECT run_id FROM run_feature_value")) == sorted([(workflow.id,), (c.id,)])
    child = adapters.start_run("sub", "task", parent=workflow)
    grandchild = adapters.start_run("sub", "task", parent=child)
    sql(f"DELETE FROM run WHERE id IN ({child.id}, {grandchild.id})")
    other = adapters.start_run("sub", "task", parent=workflow)
    sql(f"UPDATE run SET parent_id = {other.id} WHERE id = {c.id}")  # a key changed, to a run
    sql(f"DELETE FROM run WHERE id = {workflow.id}")
    assert sql("SELECT id, parent_id FROM run ORDER BY id") == [(c.id, other.id), (other.id, None)]
    sql(f"DELETE FROM transform WHERE id = {transform_of(c)}")
    return sql("SELECT count(*) FROM run") + sql("SELECT count(*) FROM run_feature_value")


def test_the_run_keys_refuse_dangling_and_changed_ids(db_instance):
    before, after = refuses_dangling_and_changed_ids(family())
    assert after == before


def test_deletes_cascade_and_clear_through_the_chain(db_instance):
    assert acts_through_the_chain(family()) == [(0,), (0,)]


def run_constraints() -> list[str]:
    """The columns of the foreign-key constraints of ``run`` and ``run_link`` (PostgreSQL)."""
    found = sql(
        "SELECT c.conrelid::regclass::text || '.' || a.attname FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype = 'f' AND c.conrelid IN ('run'::regclass, 'run_link'::regclass)"
    )
    return sorted(row[0] for row in found)


OTHER_KEYS = ["run.cached_from_id", "run.environment_id", "run.logs_id", "run.project_id"]


def as_in_v9() -> None:
    """PostgreSQL: the run table's two keys back to constraints, the value tables' UPDATE
    checks and delete actions back to v9's statement triggers, stamped v9."""
    as_constraints(RUN_KEYS)
    for table, column in VALUE_KEYS:
        name = f"fk_{table}_{column}"
        sql(f'DROP TRIGGER "{name}_on_update" ON "{table}"')
        sql(
            f'CREATE TRIGGER "{name}_on_update" AFTER UPDATE ON "{table}" REFERENCING NEW '
            f'TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "{name}_check"()'
        )
        sql(f'ALTER FUNCTION "{name}_action"() RENAME TO "{name}_cascade"')
    sql("DELETE FROM threadline_schema_version")
    sql("INSERT INTO threadline_schema_version (version) VALUES (9)")


def test_a_v9_database_is_upgraded_to_run_statement_keys(db_instance):
    runs = family()
    before = everything()
    if is_sqlite(tl.instance().db):
        sql("DELETE FROM threadline_schema_version")
        sql("INSERT INTO threadline_schema_version (version) VALUES (9)")
    else:
        as_in_v9()
        assert run_constraints() == sorted(OTHER_KEYS + [f"{t}.{c}" for t, c in RUN_KEYS])
    with recorded_sql() as seen:
        reopen()
    assert versions() == [LATEST]
    if is_sqlite(tl.instance().db):  # the stamp alone
        assert all("threadline_schema_version" in s for s in writes(seen))
    else:
        assert run_constraints() == OTHER_KEYS
        statement_level = sql(
            "SELECT tgname FROM pg_trigger WHERE tgname LIKE %s "
            "AND tgtype & 1 = 0 ORDER BY 1",  # FOR EACH STATEMENT
            ("fk%on_update",),
        )
        assert statement_level == []  # UPDATE checks are row triggers now, v9's too
        assert sql("SELECT proname FROM pg_proc WHERE proname LIKE %s", ("fk%cascade",)) == []
    assert everything() == before
    refused_from, refused_to = refuses_dangling_and_changed_ids(runs)
    assert refused_to == refused_from
    assert acts_through_the_chain(runs) == [(0,), (0,)]


def copy_runs(connection, rows: list[tuple]) -> None:
    """``COPY`` of run rows (id, uid, transform, parent) on ``connection``."""
    text = "".join(
        f"{id}\t{uid}\t{transform}\tstarted\t2026-01-01 00:00:00\t{parent}\n"
        for id, uid, transform, parent in rows
    )
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY run (id, {COLUMNS}) FROM STDIN", io.StringIO(text))


def run_ids(count: int) -> list[int]:
    return [row[0] for row in sql(f"SELECT nextval('run_id_seq') FROM generate_series(1, {count})")]


@postgres_only  # COPY
def test_a_copy_finds_parents_of_its_own_and_refuses_dangling_keys(db_instance):
    runs = family()
    task, workflow = transform_of(runs["a"]), runs["workflow"].id
    connection = other_connection()
    p, q, r = run_ids(3)  # a chain in one COPY: parent before and after its child
    copy_runs(connection, [(q, "q", task, p), (p, "p", task, workflow), (r, "r", task, q)])
    connection.commit()
    assert sql(f"SELECT id, parent_id FROM run WHERE id >= {p} ORDER BY id") == [
        (p, workflow),
        (q, p),
        (r, q),
    ]
    before = everything()
    for transform, parent in ((task, 999991), (999992, "\\N")):  # a dangling parent, transform
        good, bad = run_ids(2)
        with pytest.raises(psycopg2.errors.ForeignKeyViolation) as caught:
            copy_runs(connection, [(good, "good", task, workflow), (bad, "bad", transform, parent)])
        connection.rollback()
        assert caught.value.pgcode == "23503" and "is not present in table" in str(caught.value)
    for link in f"{p}\t999993\n", f"999994\t{p}\n":  # a good link and a dangling one
        with pytest.raises(psycopg2.errors.ForeignKeyViolation), connection.cursor() as cursor:
            text = io.StringIO(f"{q}\t{r}\n{link}")
            cursor.copy_expert("COPY run_link (upstream_id, downstream_id) FROM STDIN", text)
        connection.rollback()
    assert everything() == before
    connection.close()


def race(first: str, then: str, *, then_fails: bool) -> list[BaseException]:
    """``first`` on one connection (not committed yet), ``then`` on another, which must wait
    for the first's lock; the first commits, then the second. The second's errors."""
    holder, waiter = other_connection(), other_connection()
    with holder.cursor() as cursor:
        cursor.execute(first)
    failed: list[BaseException] = []

    def second() -> None:
        try:
            with waiter.cursor() as cursor:
                cursor.execute(then)
            waiter.commit()
        except psycopg2.Error as error:
            failed.append(error)
            waiter.rollback()

    thread = threading.Thread(target=second)
    thread.start()
    assert waiting_for_a_lock(waiter)  # the second waits for the first's transaction
    holder.commit()
    thread.join(30)
    assert not thread.is_alive()
    holder.close()
    waiter.close()
    assert [type(e).__name__ for e in failed] == (["ForeignKeyViolation"] if then_fails else [])
    return failed


def insert_with_a_value(uid: str, transform: int, parent: int) -> str:
    """Two new runs and a value of each: one statement each, in one transaction."""
    (feature,) = sql("SELECT id FROM feature WHERE name = 'exit'")[0]
    return (
        f"INSERT INTO run ({COLUMNS}) SELECT '{uid}' || n, {transform}, 'started', "
        f"'2026-01-01 00:00:00', {parent} FROM generate_series(1, 2) n; "
        "INSERT INTO run_feature_value (feature_id, value, num, run_id) "
        f"SELECT {feature}, '1', 1, id FROM run WHERE uid IN ('{uid}1', '{uid}2')"
    )


@postgres_only  # SQLite has one writer at a time
def test_a_transform_deleted_while_runs_are_inserted_for_it_takes_them_along(db_instance):
    runs = family()
    task, workflow = transform_of(runs["a"]), runs["workflow"].id
    race(
        insert_with_a_value("new", task, workflow),
        f"DELETE FROM transform WHERE id = {task}",
        then_fails=False,
    )
    assert sql(f"SELECT count(*) FROM run WHERE transform_id = {task}") == [(0,)]
    assert sql(
        "SELECT count(*) FROM run_feature_value WHERE run_id NOT IN (SELECT id FROM run)"
    ) == [(0,)]
    assert sql(f"SELECT parent_id FROM run WHERE id = {runs['c'].id}") == [(None,)]


@postgres_only  # SQLite has one writer at a time
def test_runs_for_a_transform_deleted_meanwhile_are_refused(db_instance):
    runs = family()
    task, workflow = transform_of(runs["a"]), runs["workflow"].id
    race(
        f"DELETE FROM transform WHERE id = {task}",
        insert_with_a_value("new", task, workflow),
        then_fails=True,
    )
    assert sql("SELECT count(*) FROM run WHERE transform_id NOT IN (SELECT id FROM transform)") == [
        (0,)
    ]
    assert sql("SELECT count(*) FROM run WHERE uid IN ('new1', 'new2')") == [(0,)]


@postgres_only  # SQLite has one writer at a time
def test_a_parent_deleted_while_a_child_is_inserted_leaves_the_child_without_it(db_instance):
    runs = family()
    task, parent = transform_of(runs["a"]), runs["b"].id
    race(
        insert_with_a_value("child", task, parent),
        f"DELETE FROM run WHERE id = {parent}",
        then_fails=False,
    )
    assert sql("SELECT parent_id FROM run WHERE uid IN ('child1', 'child2')") == [(None,), (None,)]
    assert sql(f"SELECT count(*) FROM run WHERE id = {parent}") == [(0,)]


@postgres_only  # SQLite has one writer at a time
def test_a_child_of_a_parent_deleted_meanwhile_is_refused(db_instance):
    runs = family()
    task, parent = transform_of(runs["a"]), runs["b"].id
    race(
        f"DELETE FROM run WHERE id = {parent}",
        insert_with_a_value("child", task, parent),
        then_fails=True,
    )
    assert sql("SELECT count(*) FROM run WHERE uid IN ('child1', 'child2')") == [(0,)]
    assert sql(
        "SELECT count(*) FROM run WHERE parent_id IS NOT NULL AND parent_id NOT IN "
        "(SELECT id FROM run)"
    ) == [(0,)]


def links_to(run: int, count: int = 2) -> str:
    """Links from ``count`` other runs to ``run``, in one statement."""
    return (
        "INSERT INTO run_link (upstream_id, downstream_id) SELECT id, "
        f"{run} FROM run WHERE id <> {run} ORDER BY id LIMIT {count}"
    )


@postgres_only  # SQLite has one writer at a time
def test_a_run_deleted_while_links_to_it_are_inserted_takes_them_along(db_instance):
    runs = family()
    sql("DELETE FROM run_link")
    race(links_to(runs["c"].id), f"DELETE FROM run WHERE id = {runs['c'].id}", then_fails=False)
    assert sql("SELECT count(*) FROM run_link") == [(0,)]


@postgres_only  # SQLite has one writer at a time
def test_links_to_a_run_deleted_meanwhile_are_refused(db_instance):
    runs = family()
    sql("DELETE FROM run_link")
    race(f"DELETE FROM run WHERE id = {runs['c'].id}", links_to(runs["c"].id), then_fails=True)
    assert sql("SELECT count(*) FROM run_link") == [(0,)]
