"""Queued run rows written many at a time (``_deferred.insert_many``, the writer's ``bulk``)
and closes folded into a row still queued (``finish_run(..., later=True)``), on SQLite
and PostgreSQL. The writer is held (``linger_s``) so the jobs of a test surely fall in one
batch; ``flush`` then writes them."""

import pytest
import threadline as tl
from threadline import adapters

from tests.sql_log import recorded_sql

pytestmark = pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def held(monkeypatch):
    """The process's writer, lingering until a ``flush``: every job queued meanwhile is
    one batch."""
    writer = adapters.writer()
    writer.flush()
    monkeypatch.setattr(writer, "linger_s", 600.0)
    monkeypatch.setattr(writer, "quiet_s", 600.0)  # and does not end it when no job comes
    return writer


def later(key: str, parent: tl.Run | None = None, **fields) -> tl.Run:
    return adapters.start_run(key, "task", source="echo", parent=parent, later=True, **fields)


def refuse(statement: str, postgres: bool, when: str = "") -> None:
    """A real trigger that refuses ``statement`` (INSERT or UPDATE) on ``run``, for rows
    where ``when`` (SQL on NEW) holds, or every row."""
    db = tl.Run._meta.database
    if postgres:
        test = f"IF {when} THEN " if when else "IF true THEN "
        db.execute_sql(
            "CREATE FUNCTION refuse_run() RETURNS trigger AS $$ BEGIN "
            f"{test}RAISE EXCEPTION 'run {statement} refused'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        db.execute_sql(
            f"CREATE TRIGGER refuse BEFORE {statement} ON run FOR EACH ROW "
            "EXECUTE FUNCTION refuse_run()"
        )
    else:
        condition = f"WHEN {when} " if when else ""
        db.execute_sql(
            f"CREATE TRIGGER refuse BEFORE {statement} ON run {condition}"
            f"BEGIN SELECT RAISE(ABORT, 'run {statement} refused'); END"
        )


def is_postgres() -> bool:
    return tl.instance().settings.db.startswith("postgres")


def run_statements(statements: list[str], verb: str) -> list[str]:
    return [s for s in statements if s.startswith(f'{verb} "run"') or f'{verb} INTO "run"' in s]


def test_a_batch_of_queued_rows_is_one_insert_with_every_id_right(db_instance, held):
    """Twenty rows queued under a flow, and a child whose parent is one of them (queued
    in the same batch): two INSERTs (the child waits for its parent's round), and every
    run gets the id its uid has in the database."""
    flow = adapters.start_run("bulk/flow", "flow", source="echo")
    runs = [later(f"bulk/{i % 3}", parent=flow, name=f"task {i}") for i in range(20)]
    child = later("bulk/child", parent=runs[7])

    with recorded_sql() as statements:
        held.flush()

    assert len(run_statements(statements, "INSERT")) == 2
    ids = {r.uid: r.id for r in tl.Run.filter(transform__key__startswith="bulk/").all()}
    assert [r.id for r in [flow, *runs, child]] == [ids[r.uid] for r in [flow, *runs, child]]
    assert len(set(ids.values())) == 22
    assert tl.Run.get(uid=child.uid).parent_id == runs[7].id
    assert [r.name for r in tl.Run.filter(parent=flow.id).order_by("id").all()] == [
        f"task {i}" for i in range(20)
    ]


def test_a_close_is_folded_into_its_queued_row(db_instance, held):
    """Runs closed while their rows are queued are written closed, in the one INSERT: a
    trigger that refuses every UPDATE of ``run`` never fires, and the rows hold the
    status, end time and (redacted) error of the close."""
    refuse("UPDATE", is_postgres())
    runs = [later(f"fold/{i}") for i in range(5)]
    for i, run in enumerate(runs):
        status = "errored" if i == 2 else "completed"
        error = "boom: password=hunter2" if i == 2 else None
        adapters.finish_run(run, status, error=error, later=True)
    failures = len(held.failures)

    with recorded_sql() as statements:
        held.flush()

    assert len(held.failures) == failures  # nothing refused: no UPDATE was needed
    assert run_statements(statements, "UPDATE") == []
    rows = {r.uid: r for r in tl.Run.filter(transform__key__startswith="fold/").all()}
    assert [rows[r.uid].status for r in runs] == ["completed"] * 2 + ["errored"] + ["completed"] * 2
    assert rows[runs[2].uid].error == "boom: password=***"
    assert all(rows[r.uid].finished_at >= rows[r.uid].started_at for r in runs)
    assert all(r.id == rows[r.uid].id and r.status == rows[r.uid].status for r in runs)


def test_a_close_after_the_row_is_written_is_an_update(db_instance, held):
    """A run whose row is written (its id was read) is closed by an UPDATE queued after
    it, and a run whose extra fields change with the close is never folded."""
    written, extra = later("update/written"), later("update/extra")
    assert written.id is not None  # waits for the writer: the row is there
    adapters.finish_run(written, "completed", later=True)
    adapters.finish_run(extra, "completed", later=True, cache_note="from cache")

    with recorded_sql() as statements:
        held.flush()

    assert len(run_statements(statements, "UPDATE")) == 2
    assert tl.Run.get(uid=written.uid).status == "completed"
    assert tl.Run.get(uid=extra.uid).cache_note == "from cache"


def test_one_refused_row_of_a_bulk_batch_is_lost_alone(db_instance, held):
    """A trigger refuses one of ten queued rows: the batch's one INSERT fails, the jobs
    are written one by one, the nine others are there with their right ids, and the
    failure is counted once."""
    refuse("INSERT", is_postgres(), when="NEW.name = 'bad'")
    runs = [later("refused/task", name="bad" if i == 4 else f"good {i}") for i in range(10)]
    for run in runs:
        adapters.finish_run(run, "completed", later=True)
    failures = len(held.failures)

    held.flush()

    assert len(held.failures) == failures + 1
    assert "run INSERT refused" in str(held.failures[-1])
    found = {r.uid: r for r in tl.Run.filter(transform__key="refused/task").all()}
    assert sorted(found) == sorted(r.uid for i, r in enumerate(runs) if i != 4)
    kept = [r for r in runs if r.uid in found]
    assert all(found[r.uid].id == r.id and found[r.uid].status == "completed" for r in kept)


def test_fields_set_before_a_folded_close_are_written_with_it(db_instance, held):
    """What is set on a run after its start goes into the row with a folded close, as it
    goes into the UPDATE of a close that is not folded: the name and params changed
    since the start (params as they are at the close; a change after it is not written)."""
    run = later("fold/renamed", params={"a": 1})
    run.name = "renamed"
    run.params = {"a": 2}
    adapters.finish_run(run, "completed", later=True)
    run.params["a"] = 3  # after the close: not written
    held.flush()
    found = tl.Run.get(uid=run.uid)
    assert (found.name, found.params, found.status) == ("renamed", {"a": 2}, "completed")


def test_an_id_from_a_rolled_back_attempt_is_never_used(db_instance, held):
    """A queued row refused on every attempt must not keep an id from an earlier attempt
    that was rolled back (SQLite gives that id to the next row): its close, an UPDATE,
    would land on another run. The stale id is planted by hand (a rolled-back attempt
    that inserted the row cannot be made to fail the second time for real here)."""
    refuse("INSERT", is_postgres(), when="NEW.name = 'refused'")
    other = adapters.start_run("stale/other", "task", source="echo")  # written at once
    run = later("stale/refused", name="refused")
    vars(run)["_pending"].inserted = other.id  # as a rolled-back attempt would leave it
    adapters.finish_run(run, "errored", later=True, cache_note="never folded: an UPDATE")

    held.flush()

    found = tl.Run.get(uid=other.uid)
    assert (found.status, found.cache_note) == ("started", None)
    assert tl.Run.filter(name="refused").count() == 0
