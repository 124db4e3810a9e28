"""The adapter API's hot paths write what peewee's own model path writes.

``start_run`` builds its record without peewee's per-field ``setattr``, ``finish_run`` and
``update_run`` write with an UPDATE prepared once per set of columns, and
``outputs_of(below=True)`` reads the runs under in one recursive subquery: each is
compared here with the record, row or list the plain peewee path gives, on SQLite and
PostgreSQL. ``Writer.at_once`` sends the writes an engine hook makes at once through one
connection the writer keeps.
"""

import datetime as dt
import threading

import pytest
import threadline as tl
from threadline import adapters
from threadline._db import unwrap
from threadline.adapters import Output
from threadline.models import Run
from threadline.models.run import runs_below

from tests.harness import write

SKIP = {"id", "uid", "started_at"}  # per record by nature


def row(run_id: int) -> dict:
    found = Run.select().where(Run.id == run_id).dicts().get()
    return {k: v for k, v in found.items() if k not in SKIP}


def test_start_run_writes_the_row_peewee_writes(db_instance):
    parent = adapters.start_run("flow", "flow")
    transform = adapters.get_transform("flow/step", "task")
    given = {
        "engine": "prefect",
        "reference": "3f1c-task-run",
        "name": "step-7",
        "params": {"x": 7, "token": "sk-abcdefghijklmnopqrstuv", "nested": [1, {"a": None}]},
        "user": "ana",
        "python_version": "3.11.7",
        "git_repo": "https://example.org/repo.git",
        "git_dirty": False,
    }
    run = adapters.start_run(
        "flow/step", "task", transform=transform, parent=parent, project="p1", **given
    )
    assert run.id is not None and not run.is_dirty() and run.parent is parent
    assert run.transform is transform and run.project.name == "p1"
    assert run.params["token"] != given["params"]["token"]  # redacted, as before
    # the same record through peewee's model path (constructor, then save)
    plain = Run(
        transform=transform,
        parent=parent,
        project=run.project,
        status="started",
        **{**given, "params": run.params},
        hostname=run.hostname,
        pid=run.pid,
        process_start=run.process_start,
    )
    plain.save(force_insert=True)
    assert row(run.id) == row(plain.id)
    assert {k: v for k, v in run.__data__.items() if k not in SKIP} == {
        k: v for k, v in plain.__data__.items() if k not in SKIP
    }
    stored = tl.Run.get(uid=run.uid)
    assert (stored.parent.uid, stored.transform.key, stored.status) == (
        parent.uid,
        "flow/step",
        "started",
    )


def test_start_run_takes_records_for_foreign_keys_and_an_explicit_start(db_instance):
    earlier = adapters.finish_run(adapters.start_run("step", "task"))
    at = dt.datetime(2024, 5, 1, 12, 30, 15, 250000)
    run = adapters.start_run("step", "task", status="cached", cached_from=earlier, started_at=at)
    stored = tl.Run.get(uid=run.uid)
    assert (stored.cached_from.uid, stored.started_at, stored.status) == (
        earlier.uid,
        at,
        "cached",
    )
    assert run.cached_from is earlier and run.parent is None and run.project is None


def test_finish_run_writes_only_the_columns_it_changed(db_instance):
    run = adapters.start_run("step", "task", name="before")
    Run.update(name="renamed elsewhere").where(Run.id == run.id).execute()
    at = dt.datetime(2024, 5, 1, 13, 0, 0, 1)
    adapters.finish_run(
        run,
        "errored",
        error="ValueError: password=hunter2",
        traceback="Traceback...\n",
        finished_at=at,
        cache_note="why",
    )
    stored = tl.Run.get(uid=run.uid)
    assert (stored.status, stored.finished_at, stored.cache_note) == ("errored", at, "why")
    assert stored.name == "renamed elsewhere"  # not a column finish_run changed
    assert "hunter2" not in stored.error and stored.traceback == "Traceback...\n"
    assert not run.is_dirty()
    # peewee's save of the same changes gives the same row
    other = adapters.start_run("step", "task", name="before")
    Run.update(name="renamed elsewhere").where(Run.id == other.id).execute()
    other.status, other.finished_at, other.error = "errored", at, stored.error
    other.traceback, other.cache_note = "Traceback...\n", "why"
    other.save(only=other.dirty_fields)
    assert row(run.id) == row(other.id)


def test_update_run_then_finish_run(db_instance):
    run = adapters.start_run("step", "task", status="scheduled")
    adapters.update_run(run, status="started", name="go", params={"n": 1})
    assert (tl.Run.get(uid=run.uid).status, tl.Run.get(uid=run.uid).params) == (
        "started",
        {"n": 1},
    )
    adapters.finish_run(run)
    stored = tl.Run.get(uid=run.uid)
    assert (stored.status, stored.name, stored.params) == ("completed", "go", {"n": 1})


def test_outputs_of_below_reads_the_runs_under(instance, isolated):
    flow = adapters.start_run("flow", "flow")
    tasks = [adapters.start_run("flow/t", "task", parent=flow) for _ in range(3)]
    sub = adapters.start_run("flow/sub", "flow", parent=tasks[1])
    inner = adapters.start_run("flow/sub/t", "task", parent=sub)
    stranger = adapters.start_run("other", "flow")
    for index, run in enumerate([flow, *tasks, inner, stranger]):
        path = write(isolated / f"out{index}.txt", f"output {index}")
        adapters.register_outputs(run, [Output(str(path), key=f"out{index}.txt")])
    expected = adapters.outputs_of([flow, *adapters.descendants(flow)])
    assert [a.key for a in expected] == [f"out{i}.txt" for i in range(5)]
    assert adapters.outputs_of([flow], below=True) == expected
    assert [a.run.uid for a in adapters.outputs_of([flow], below=True)] == [
        a.run.uid for a in expected
    ]
    assert adapters.outputs_of([flow], below=True, limit=2) == expected[:2]
    assert adapters.outputs_of([stranger], below=True) == adapters.outputs_of([stranger])
    # a run given that is also under another one given: each output once
    assert adapters.outputs_of([flow, inner, sub], below=True) == expected
    below = [r.uid for r in tl.Run.select().where(tl.Run.id.in_(runs_below([flow.id])))]
    assert sorted(below) == sorted(r.uid for r in [*tasks, sub, inner])
    assert not tl.Run.select().where(tl.Run.id.in_(runs_below([]))).exists()


def test_descendants_come_level_by_level_and_by_id_within_a_level(db_instance):
    root = adapters.start_run("root", "flow")
    first, second = (adapters.start_run("root/t", "task", parent=root) for _ in range(2))
    deep = adapters.start_run("root/t/u", "task", parent=second)  # level 2, before first's
    under_first = adapters.start_run("root/t/u", "task", parent=first)
    late = adapters.start_run("root/t", "task", parent=root)  # level 1, started last
    deeper = adapters.start_run("root/t/u/v", "task", parent=deep)
    adapters.start_run("elsewhere", "flow")  # not in the family
    assert [r.uid for r in adapters.descendants(root)] == [
        r.uid for r in (first, second, late, deep, under_first, deeper)
    ]
    assert [r.uid for r in adapters.descendants(second)] == [deep.uid, deeper.uid]
    assert adapters.descendants(deeper) == []


# -- Writer.at_once: writes made at once, through the writer's one shared connection -------


def test_at_once_writes_of_many_threads_share_one_connection(db_instance):
    writer = adapters.Writer()
    db = unwrap(Run._meta.database)
    seen: list[object] = []
    own_opened: list[bool] = []

    def start(index: int) -> None:
        with writer.at_once():
            adapters.start_run("pool/step", "task", name=f"step-{index}")
            seen.append(db._state.conn)
        own_opened.append(not db.is_closed())  # this thread's own connection, after

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(map(id, seen))) == 1
    assert own_opened == [False] * 8  # no thread opened a connection of its own
    names = sorted(r.name for r in tl.Run.filter(transform__key="pool/step"))
    assert names == sorted(f"step-{i}" for i in range(8))  # committed, seen by others


def test_at_once_inside_a_transaction_is_part_of_it(db_instance):
    writer = adapters.Writer()
    try:
        with adapters.transaction():
            with writer.at_once():
                adapters.start_run("txn/step", "task")
            raise KeyError("undo")
    except KeyError:
        pass
    assert tl.Run.filter(transform__key="txn/step").count() == 0
    with writer.at_once():
        adapters.start_run("txn/step", "task")
    assert tl.Run.filter(transform__key="txn/step").count() == 1


def test_at_once_opens_a_fresh_connection_after_a_failure(db_instance):
    writer = adapters.Writer()
    db = unwrap(Run._meta.database)
    with writer.at_once():
        first = db._state.conn
    with pytest.raises(tl.errors.ThreadlineError), writer.at_once():
        db.execute_sql("SELECT * FROM no_such_table")
    with writer.at_once():
        run = adapters.start_run("after/failure", "task")
        assert db._state.conn is not first
    assert tl.Run.get(uid=run.uid).transform.key == "after/failure"
