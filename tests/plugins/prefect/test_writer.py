"""The background writer under Prefect: a flow's records are all visible when the flow call
returns, and a kill -9 between enqueue and commit loses only the batch being written."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import threadline as tl
import threadline.prefect as tlp
from prefect.task_runners import ThreadPoolTaskRunner

from tests import harness


@tlp.task
def square(x: int) -> int:
    return x * x


@tlp.task
def total(values: list[int]) -> int:
    return sum(values)


@tlp.flow(task_runner=ThreadPoolTaskRunner(max_workers=8))
def mapped(n: int) -> int:
    return total(square.map(range(n)))  # the futures: total waits for them


def test_a_flows_records_are_all_visible_when_the_flow_call_returns(tracked):
    assert mapped(40) == sum(i * i for i in range(40))

    # another connection, as another process would read them, right after the call
    db = sqlite3.connect(tracked.settings.db.removeprefix("sqlite:///"))
    statuses = db.execute(
        "SELECT t.key, r.status, count(*) FROM run r JOIN transform t ON r.transform_id = t.id "
        "GROUP BY t.key, r.status ORDER BY t.key"
    ).fetchall()
    edges = db.execute("SELECT count(*) FROM run_link").fetchone()
    db.close()
    assert statuses == [
        ("mapped", "completed", 1),
        ("mapped/square", "completed", 40),
        ("mapped/total", "completed", 1),
    ]
    assert edges == (40,)  # every square feeds total


CHILD = """
from pathlib import Path

import threadline as tl
from threadline.prefect import flow, task


@task
def step(i: int) -> int:
    Path(f"step-{i}.txt").write_text(f"step {i}")
    tl.Artifact(f"step-{i}.txt", key=f"steps/{i}.txt").save()  # in the body: points at the run
    return i


@flow
def steps() -> None:
    for i in range(3):
        step(i)


steps()
"""
START, CLOSE = "a run's start", "a run's close"  # what the hold hook's batch files list


def test_kill_9_of_a_flow_between_enqueue_and_commit(tracked, tmp_path):
    """The writer holds batch 3 before its commit (the test hook ``THREADLINE_WRITER_HOLD``)
    and the process gets a real SIGKILL. A task run's row is written by the writer too
    (batch 1: step 0's row alone, which its body's save waited for); batches 1 and 2 are
    there, job for job as their files list them, batch 3 is gone, and nothing points at a
    missing record (the files saved in the bodies point at rows written before them)."""
    import prefect.settings

    hold = tmp_path / "hold"
    hold.mkdir()
    script = tmp_path / "steps.py"
    script.write_text(textwrap.dedent(CHILD))
    env = {
        **os.environ,
        "PREFECT_API_URL": str(prefect.settings.PREFECT_API_URL.value()),
        "THREADLINE_DB": tracked.settings.db,
        "THREADLINE_STORAGE": tracked.settings.storage,
        "THREADLINE_WRITER_HOLD": str(hold),
    }
    child = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for n in (1, 2):
            harness.wait_for_file(hold / f"batch-{n}", child)
            (hold / f"go-{n}").touch()
        harness.wait_for_file(hold / "batch-3", child)
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL

    batches = [(hold / f"batch-{n}").read_text().splitlines() for n in (1, 2, 3)]
    assert batches[0] == [START]
    committed = batches[0] + batches[1]
    assert set(committed + batches[2]) <= {START, CLOSE} and batches[2]
    runs = {r.transform.key: r for r in tl.Run.filter(engine="prefect").all()}
    steps = sorted(tl.Run.filter(transform__key="steps/step").all(), key=lambda r: r.id)
    assert sorted(runs) == ["steps", "steps/step"]
    assert len(steps) == committed.count(START)  # the rows of batch 3: gone
    statuses = [r.status for r in steps]
    assert statuses == ["completed"] * committed.count(CLOSE) + ["started"] * (
        len(steps) - committed.count(CLOSE)
    )
    assert [r.params["i"] for r in steps] == list(range(len(steps)))  # in order, none skipped
    saved = tl.Artifact.filter(key__startswith="steps/").order_by("key").all()
    by_key = {a.key: a.run_id for a in saved}
    assert by_key["steps/0.txt"] == steps[0].id  # saved in the body, after its row
    assert set(by_key) <= {f"steps/{i}.txt" for i in range(len(steps))}
    assert all(by_key[f"steps/{i}.txt"] == steps[i].id for i in range(len(by_key)))
    assert all(r.parent_id == runs["steps"].id for r in steps)
    harness.assert_sqlite_consistent(tracked.settings.db)


def refuse_in(tracked, monkeypatch, trigger: str, message: str) -> sqlite3.Connection:
    """A real refusal by the database: a trigger ``trigger`` that aborts with ``message``;
    hook failures logged, not raised (THREADLINE_STRICT=0)."""
    monkeypatch.setenv("THREADLINE_STRICT", "0")
    db = sqlite3.connect(tracked.settings.db.removeprefix("sqlite:///"))
    db.execute(f"CREATE TRIGGER {trigger} BEGIN SELECT RAISE(ABORT, '{message}'); END")
    db.commit()
    return db  # the test reads the rows through it, then closes it


@tlp.flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def refused(n: int) -> int:
    return sum(square.map(range(n)).result())


@tlp.task
def square_written(x: int) -> int:
    """Reads its run's id: its row is written before its close, which is an UPDATE then
    (a close is otherwise folded into a row still queued: ``finish_run(later=True)``)."""
    assert tl.context.run.id is not None
    return x * x


@tlp.flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def refused_closes(n: int) -> int:
    return sum(square_written.map(range(n)).result())


def test_a_refused_background_write_is_logged_once_and_never_fails_the_flow(
    tracked, hook_failures, monkeypatch
):
    """A real refusal by the database (a trigger that aborts closing any run): the task
    runs' closes fail in the background writer, one ERROR line for all of them, and the
    flow returns its result."""
    db = refuse_in(
        tracked, monkeypatch, "no_close BEFORE UPDATE OF status ON run", "closing refused"
    )

    assert refused_closes(12) == sum(i * i for i in range(12))

    closes = [r for r in hook_failures if "background write" in r.getMessage()]
    assert len(closes) == 1 and "closing refused" in closes[0].getMessage()
    statuses = db.execute(
        "SELECT r.status, count(*) FROM run r JOIN transform t ON r.transform_id = t.id "
        "WHERE t.key = 'refused-closes/square_written' GROUP BY r.status"
    ).fetchall()
    db.close()
    assert statuses == [("started", 12)]  # started, never closed: nothing half-written
    hook_failures.clear()  # checked: the fixture's "no failure" check is for other tests


@tlp.flow
def saves_in_a_subflow(x: int) -> int:
    Path(f"sub-{x}.txt").write_text(f"sub {x}")
    tl.Artifact(f"sub-{x}.txt", key=f"sub/{x}.txt").save()
    return x


@tlp.task
def saves_at_once(x: int) -> int:
    Path(f"task-{x}.txt").write_text(f"task {x}")  # right after the start: the row waited for
    tl.Artifact(f"task-{x}.txt", key=f"task/{x}.txt").save()
    return saves_in_a_subflow(x)  # a flow whose parent is this task run


@tlp.flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def deferred_rows(n: int) -> int:
    return sum(saves_at_once.map(range(n)).result())


def test_rows_written_by_the_writer_under_saves_and_subflows(tracked_db):
    """Task runs' rows are the writer's: a task that saves a file right after its start,
    and a subflow inside a task (its parent, the task run), on SQLite and PostgreSQL; all
    visible, and every record pointing at the right run, when the flow call returns."""
    assert deferred_rows(6) == sum(range(6))

    flow_run = tl.Run.get(transform__key="deferred-rows")
    tasks = {r.params["x"]: r for r in flow_run.children}
    assert sorted(tasks) == list(range(6))
    assert all(r.status == "completed" for r in tasks.values())
    for x, task_run in tasks.items():
        assert tl.Artifact.get(key=f"task/{x}.txt").run_id == task_run.id
        [sub] = task_run.children
        assert sub.transform.key == "saves-in-a-subflow" and sub.status == "completed"
        assert tl.Artifact.get(key=f"sub/{x}.txt").run_id == sub.id


def test_a_refused_task_run_row_is_logged_once_and_never_fails_the_flow(
    tracked, hook_failures, monkeypatch
):
    """A real refusal of the task runs' rows (a trigger on their INSERT), which the
    background writer writes: one ERROR line for all of them on ``threadline.prefect``
    (and one for the closes that came after their row was taken: a close that finds its
    row still queued is part of that row's INSERT; which ones do depends on the writer's
    timing, so either is right), the flow returns its result and its own run is
    complete, no task run row exists, and nothing points at one."""
    when = "no_task_rows BEFORE INSERT ON run WHEN NEW.name LIKE 'square-%'"
    db = refuse_in(tracked, monkeypatch, when, "task rows refused")

    assert refused(12) == sum(i * i for i in range(12))

    said = [r.getMessage() for r in hook_failures]
    assert len(said) in (1, 2) and all(line.endswith("task rows refused") for line in said)
    assert "a run's start (background write)" in said[0]  # the rows: once for all 12
    assert all("a run's close (background write)" in line for line in said[1:])  # once
    rows = db.execute("SELECT name, status FROM run").fetchall()
    db.close()
    assert [status for _, status in rows] == ["completed"]  # the flow run alone
    assert not rows[0][0].startswith("square-")
    harness.assert_sqlite_consistent(tracked.settings.db)
    hook_failures.clear()  # checked: the fixture's "no failure" check is for other tests
