"""The background writer under Prefect: a flow's records are all visible when the flow call
returns, and a kill -9 between enqueue and commit loses only the batch being written."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

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
import os
import time
from pathlib import Path

import threadline as tl
from threadline.prefect import flow, task


@task
def step(i: int) -> int:
    hold = Path(os.environ["THREADLINE_WRITER_HOLD"])
    while i and not (hold / f"batch-{i}").exists():  # the writer took the closes before
        time.sleep(0.01)  # this one: without it, a slow writer thread batches them all
    Path(f"step-{i}.txt").write_text(f"step {i}")
    tl.Artifact(f"step-{i}.txt", key=f"steps/{i}.txt").save()  # in the body: points at the run
    return i


@flow
def steps() -> None:
    for i in range(3):
        step(i)


steps()
"""


def test_kill_9_of_a_flow_between_enqueue_and_commit(tracked, tmp_path):
    """The writer holds batch 2 (the close of task run 2) before its commit (the test
    hook ``THREADLINE_WRITER_HOLD``); a real SIGKILL then. Batch 1 and everything written
    on the task threads is there, batch 2 is gone, nothing points at a missing record.
    Whether task run 3 started before the kill depends on which thread took the writer's
    turn first after batch 1; either way it is never closed."""
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
        harness.wait_for_file(
            hold / "batch-1", child
        )  # step 0 closed, held; step 1 waits for its turn
        (hold / "go-1").touch()
        harness.wait_for_file(hold / "batch-2", child)  # step 1 closed, held
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL

    runs = {r.transform.key: r for r in tl.Run.filter(engine="prefect").all()}
    steps = sorted(
        (r for r in tl.Run.filter(transform__key="steps/step").all()), key=lambda r: r.id
    )
    assert sorted(runs) == ["steps", "steps/step"]
    statuses = [r.status for r in steps]
    assert statuses in (["completed", "started"], ["completed", "started", "started"])
    saved = tl.Artifact.filter(key__startswith="steps/").order_by("key").all()
    by_key = {a.key: a.run_id for a in saved}
    assert by_key["steps/0.txt"] == steps[0].id  # saved in the bodies: written at once
    assert by_key["steps/1.txt"] == steps[1].id
    assert set(by_key) <= {f"steps/{i}.txt" for i in range(len(steps))}
    assert all(by_key[f"steps/{i}.txt"] == steps[i].id for i in range(len(by_key)))
    assert all(r.parent_id == runs["steps"].id for r in steps)
    harness.assert_sqlite_consistent(tracked.settings.db)


@tlp.flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def refused(n: int) -> int:
    return sum(square.map(range(n)).result())


def test_a_refused_background_write_is_logged_once_and_never_fails_the_flow(
    tracked, hook_failures, monkeypatch
):
    """A real refusal by the database (a trigger that aborts closing any run): the task
    runs' closes fail in the background writer, one ERROR line for all of them, and the
    flow returns its result."""
    monkeypatch.setenv("THREADLINE_STRICT", "0")
    db = sqlite3.connect(tracked.settings.db.removeprefix("sqlite:///"))
    db.execute(
        "CREATE TRIGGER no_close BEFORE UPDATE OF status ON run "
        "BEGIN SELECT RAISE(ABORT, 'closing refused'); END"
    )
    db.commit()

    assert refused(12) == sum(i * i for i in range(12))

    closes = [r for r in hook_failures if "background write" in r.getMessage()]
    assert len(closes) == 1 and "closing refused" in closes[0].getMessage()
    statuses = db.execute(
        "SELECT r.status, count(*) FROM run r JOIN transform t ON r.transform_id = t.id "
        "WHERE t.key = 'refused/square' GROUP BY r.status"
    ).fetchall()
    db.close()
    assert statuses == [("started", 12)]  # started, never closed: nothing half-written
    hook_failures.clear()  # checked: the fixture's "no failure" check is for other tests
