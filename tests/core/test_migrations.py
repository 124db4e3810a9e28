"""Schema versions: fresh databases are stamped LATEST, v1 databases upgrade in place."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import threadline as tl
from threadline import adapters
from threadline._db import is_sqlite, open_database
from threadline.errors import DatabaseError
from threadline.models import LATEST, TABLES

from tests.sql_log import recorded_sql

V2_INDEXES = [
    "artifact_feature_value_feature_id_text",
    "artifact_feature_value_feature_id_num",
    "run_feature_value_feature_id_text",
    "run_feature_value_feature_id_num",
]


def sql(statement: str, params: tuple = ()) -> list[tuple]:
    cursor = tl.instance().db.execute_sql(statement, params)
    return list(cursor.fetchall()) if cursor.description else []


def tables() -> set[str]:
    return set(tl.instance().db.get_tables())


def indexes() -> set[str]:
    if is_sqlite(tl.instance().db):
        return {row[0] for row in sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
    return {row[0] for row in sql("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}


def versions() -> list[int]:
    return [row[0] for row in sql("SELECT version FROM threadline_schema_version")]


def pg_only_indexes() -> list[str]:
    return [] if is_sqlite(tl.instance().db) else ["artifact_key_pattern"]


def reopen() -> None:
    tl.disconnect()
    tl.connect()


def writes(seen: list[str]) -> list[str]:
    verbs = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")
    return [s for s in seen if s.lstrip().upper().startswith(verbs)]


def make_v1(folder: Path) -> dict[str, str]:
    """Fill the instance, then take it back to schema v1: no run_link, no v2 indexes."""
    path = folder / "data.txt"
    path.write_text("v1 data")
    run = adapters.start_run("old", "task", params={"n": 1})
    (artifact,) = adapters.register_outputs(
        run,
        [adapters.Output(str(path), key="v1/data.txt")],
        features={"sample": "S1", "score": 0.5},
    )
    other = adapters.start_run("older", "task")
    sql("DROP TABLE run_link")
    for name in V2_INDEXES + pg_only_indexes():
        sql(f"DROP INDEX IF EXISTS {name}")
    sql("DELETE FROM threadline_schema_version")
    sql("INSERT INTO threadline_schema_version (version) VALUES (1)")
    assert "run_link" not in tables() and not set(V2_INDEXES) & indexes()
    return {"run": run.uid, "other": other.uid, "artifact": artifact.uid}


def test_a_fresh_database_is_stamped_latest(db_instance):
    assert versions() == [LATEST]
    assert {t._meta.table_name for t in TABLES} | {"threadline_schema_version"} <= tables()
    assert set(V2_INDEXES + pg_only_indexes()) <= indexes()


def test_a_v1_database_is_upgraded_in_place(db_instance, isolated):
    uids = make_v1(isolated)
    with recorded_sql() as seen:
        reopen()
    assert any("run_link" in s for s in writes(seen))  # the step ran ...
    assert versions() == [LATEST]  # ... and the version row was replaced, not added to
    assert "run_link" in tables() and set(V2_INDEXES + pg_only_indexes()) <= indexes()
    artifact = tl.Artifact.get(uid=uids["artifact"])  # data intact
    assert artifact.load() == "v1 data" and artifact.run.uid == uids["run"]
    assert artifact.features.get_values() == {"sample": "S1", "score": 0.5}
    assert tl.Artifact.filter(score__gt=0.1).count() == 1
    assert tl.Run.get(uid=uids["run"]).params == {"n": 1}
    run, other = tl.Run.get(uid=uids["run"]), tl.Run.get(uid=uids["other"])
    adapters.link_runs([(other, run)])  # the new table works
    assert [r.uid for r in run.upstream_runs] == [other.uid]


def test_opening_an_upgraded_database_again_changes_nothing(db_instance, isolated):
    make_v1(isolated)
    reopen()
    with recorded_sql() as seen:
        reopen()
    assert writes(seen) == []
    assert versions() == [LATEST]


def test_opening_a_current_database_changes_nothing(db_instance):
    with recorded_sql() as seen:
        reopen()
    assert writes(seen) == []


def test_a_newer_database_is_refused_not_restamped(db_instance, isolated):
    db_url = tl.instance().settings.db
    sql(
        "UPDATE threadline_schema_version SET version = ?".replace("?", tl.instance().db.param),
        (LATEST + 1,),
    )
    tl.disconnect()
    with pytest.raises(DatabaseError) as caught:
        tl.connect()
    message = str(caught.value)
    assert f"schema version {LATEST + 1} is newer" in message and "\n" not in message
    # the version row is untouched (read through a second, fresh connection)
    other = isolated / "other"
    tl.connect(db=f"sqlite:///{other / 'db.sqlite'}", storage=str(other / "storage"))
    assert versions() == [LATEST]
    raw = open_database(db_url)
    try:
        version = raw.execute_sql("SELECT version FROM threadline_schema_version").fetchall()
    finally:
        raw.close()
    assert [row[0] for row in version] == [LATEST + 1]


UPGRADE = """
import threadline as tl
tl.connect()
print(tl.Run.filter().count())
"""


@pytest.mark.slow
def test_processes_opening_a_v1_database_together_upgrade_it_once(db_instance, isolated):
    make_v1(isolated)
    inst = tl.instance()
    env = {
        **os.environ,
        "THREADLINE_DB": inst.settings.db,
        "THREADLINE_STORAGE": inst.settings.storage,
    }
    tl.disconnect()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    results = [child.communicate(timeout=120) for child in children]
    assert [c.returncode for c in children] == [0] * 4, [err for _, err in results]
    assert [out.strip() for out, _ in results] == ["2"] * 4
    tl.connect()
    assert versions() == [LATEST] and "run_link" in tables()
