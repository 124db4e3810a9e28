"""Runs whose row the background writer writes (``adapters.start_run(..., later=True)``):
the id on demand, a parent still queued, a file saved under such a run, and the places
where waiting for the writer would deadlock (an SQLite transaction of the reader's own,
``Writer.at_once``)."""

import datetime as dt
import itertools
import sqlite3

import pytest
import threadline as tl
from threadline import adapters

from tests import harness


def later(key: str, parent: tl.Run | None = None) -> tl.Run:
    return adapters.start_run(key, "task", source=f"echo {key}", parent=parent, later=True)


def count(uid: str) -> int:
    return tl.Run.select().where(tl.Run.uid == uid).count()  # type: ignore[no-any-return]


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_a_run_started_later_is_written_in_order_and_its_id_read_on_demand(db_instance):
    flow = adapters.start_run("deferred/flow", "flow", source="echo flow")  # at once
    runs = [later(f"deferred/{i}", parent=flow) for i in range(5)]
    child = later("deferred/child", parent=runs[0])  # its parent's row is queued too
    writer = adapters.writer()
    writer.submit(lambda: adapters.link_runs(list(itertools.pairwise(runs))))
    for run in runs:
        writer.submit(lambda run=run: adapters.finish_run(run, "completed"))

    rid = runs[2].id  # waits for the writer: committed, so any connection sees it
    assert rid is not None and tl.Run.get(uid=runs[2].uid).id == rid
    writer.flush()

    found = tl.Run.filter(transform__key__startswith="deferred/").order_by("id").all()
    assert [r.uid for r in found] == [flow.uid, *(r.uid for r in runs), child.uid]
    assert [r.id for r in found[1:]] == [r.id for r in [*runs, child]]
    assert [r.status for r in found[1:6]] == ["completed"] * 5
    assert [r.parent_id for r in found[1:]] == [flow.id] * 5 + [runs[0].id]
    assert [len(r.upstream_runs) for r in found[1:6]] == [0, 1, 1, 1, 1]


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_a_file_saved_right_after_a_later_start_points_at_the_written_run(db_instance, isolated):
    run = later("deferred/saves")
    with adapters.activate(run):
        harness.write(isolated / "a.txt", "a")
        saved = tl.Artifact(str(isolated / "a.txt"), key="deferred/a.txt").save()
    assert saved.run_id == run.id
    assert tl.Artifact.get(key="deferred/a.txt").run.uid == run.uid
    adapters.writer().flush()
    assert count(run.uid) == 1  # written once: the writer's job found it written


def test_read_inside_an_own_sqlite_transaction_the_row_is_written_there(local_instance):
    """The writer is held off (its ``turn`` taken here) so its job cannot have run: the
    reader, inside a write transaction the writer would wait for, writes the row itself;
    the writer's job then finds it written."""
    writer = adapters.writer()
    with writer.turn:
        run = later("deferred/in-transaction")
        with adapters.transaction():
            rid = run.id
            adapters.finish_run(run, "completed")
        db = sqlite3.connect(local_instance.settings.db.removeprefix("sqlite:///"))
        row = db.execute("SELECT id, status FROM run WHERE uid = ?", (run.uid,)).fetchone()
        db.close()
        assert row == (rid, "completed")
    writer.flush()
    assert count(run.uid) == 1 and tl.Run.get(uid=run.uid).id == rid


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_read_inside_at_once_the_row_is_written_once(db_instance):
    """Inside ``Writer.at_once`` the writer waits for this thread: the row is looked up
    (the writer may have written it) or written here, never twice."""
    writer = adapters.writer()
    runs = [later(f"deferred/at-once/{i}") for i in range(20)]
    with writer.at_once():
        ids = [run.id for run in runs]
    writer.flush()
    assert None not in ids and len(set(ids)) == 20
    assert [count(run.uid) for run in runs] == [1] * 20
    assert [tl.Run.get(uid=run.uid).id for run in runs] == ids


def test_a_run_compares_by_identity_when_it_leaves_the_current_runs(local_instance):
    """Leaving a run (``activate``) never reads the ids of the other open runs: a run
    started later is not written by it."""
    writer = adapters.writer()
    with writer.turn:  # the writer cannot write them meanwhile
        outer, inner = later("deferred/outer"), later("deferred/inner")
        with adapters.activate(outer):
            with adapters.activate(inner):
                assert tl.context.run is inner
            assert tl.context.run is outer
        assert vars(outer)["__data__"].get("id") is None  # still queued: nothing read it
        assert vars(inner)["__data__"].get("id") is None
    writer.flush()
    assert outer.id is not None and count(outer.uid) == 1


def test_a_child_process_finds_a_parent_started_later(local_instance):
    """``child_environment`` hands the run's uid to a child process, which looks it up in
    the database: the row is written first."""
    run = later("deferred/parent-of-a-process")
    env = adapters.child_environment(run)
    db = sqlite3.connect(local_instance.settings.db.removeprefix("sqlite:///"))
    found = db.execute("SELECT id FROM run WHERE uid = ?", (env["THREADLINE_PARENT_RUN"],))
    assert found.fetchone() == (vars(run)["__data__"]["id"],)  # written, id on the run
    db.close()
    adapters.writer().flush()
    assert count(run.uid) == 1


def test_read_while_holding_the_writers_turn_writes_it_here(local_instance):
    """A thread holding ``writer.turn`` (the writer waits for it) that reads a queued
    run's id gets it written on its own thread instead of waiting forever."""
    writer = adapters.writer()
    with writer.turn:
        run = later("deferred/turn")
        rid = run.id
    writer.flush()
    assert rid is not None and count(run.uid) == 1 and tl.Run.get(uid=run.uid).id == rid


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_outputs_and_inputs_of_a_run_started_later(db_instance, isolated):
    """``register_outputs`` and ``register_inputs`` (one transaction) point at the row,
    written before their transaction."""
    run = later("deferred/io")
    harness.write(isolated / "in.txt", "in")
    harness.write(isolated / "out.txt", "out")
    [config] = adapters.register_inputs(run, [str(isolated / "in.txt")])
    [output] = adapters.register_outputs(run, [adapters.Output(str(isolated / "out.txt"))])
    adapters.writer().flush()
    assert count(run.uid) == 1
    found = tl.Run.get(uid=run.uid)
    assert [a.uid for a in found.outputs] == [output.uid]
    assert [a.uid for a in found.inputs] == [config.uid]


def test_a_field_set_before_the_row_is_written_is_kept(local_instance):
    """What is set on a run after its start (its row as started is what the writer
    inserts) is written by its close, as for a run written at once."""
    writer = adapters.writer()
    with writer.turn:  # the row is not written before the change
        run = later("deferred/renamed")
        run.name = "renamed"
    writer.submit(lambda: adapters.finish_run(run, "completed"))
    writer.flush()
    found = tl.Run.get(uid=run.uid)
    assert (found.name, found.status) == ("renamed", "completed")


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_the_row_written_later_is_the_run_as_started(db_instance):
    """The writer turns the started run's values into database values itself, except a
    container (params), turned at the start: a change made inside it afterwards is not
    written, as for a run written at once (a change in place marks nothing to save)."""
    writer = adapters.writer()
    started = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
    fields = {"source": "echo p", "params": {"sample": "a", "sizes": [1, 2]}, "engine": "bench"}
    with writer.turn:  # the later row is not written before the changes
        run = adapters.start_run("deferred/p", "task", later=True, started_at=started, **fields)
        now = adapters.start_run("deferred/p", "task", started_at=started, **fields)
        for each in (run, now):
            each.params["sample"] = "changed"
            each.params["sizes"].append(3)
    writer.flush()
    rows = [tl.Run.get(uid=r.uid) for r in (run, now)]
    assert [(r.params, r.started_at, r.engine) for r in rows] == [
        ({"sample": "a", "sizes": [1, 2]}, started, "bench")
    ] * 2
    assert rows[0].hostname == rows[1].hostname and rows[0].pid == rows[1].pid


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_a_row_a_reader_wrote_in_its_own_transaction_is_written_again_if_that_rolls_back(
    db_instance, monkeypatch
):
    """Reading the id inside the caller's own transaction writes the row there; that
    transaction rolled back, the writer's job writes it again and the run's close, queued
    after, lands on the new row (before: the row was lost without a word)."""
    writer = adapters.writer()
    writer.flush()
    earlier = len(writer.failures)  # the process's writer: earlier tests' failures stay
    monkeypatch.setattr(writer, "linger_s", 600.0)  # the row's job waits in the queue
    monkeypatch.setattr(writer, "quiet_s", 600.0)  # and does not end it when no job comes
    run = later("rolled/task")
    with pytest.raises(RuntimeError), tl.Run._meta.database.atomic(), writer.at_once():
        inside = run.id  # written here, in this transaction
        assert count(run.uid) == 1
        raise RuntimeError("the caller's transaction rolls back")
    assert count(run.uid) == 0
    writer.submit(lambda: adapters.finish_run(run, "completed"))
    writer.flush()

    assert writer.failures[earlier:] == []
    found = tl.Run.get(uid=run.uid)
    assert found.status == "completed" and found.id == run.id
    assert inside is not None and run.id is not None
