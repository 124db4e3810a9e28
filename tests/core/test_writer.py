"""The adapter API's background writer (``adapters.Writer``): batches, failures, a kill -9
between enqueue and commit, and a real PostgreSQL outage in the middle of a run."""

import contextlib
import itertools
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
import weakref
from collections.abc import Iterator

import pytest
import threadline as tl
from threadline import adapters

from tests import harness


def job(where: str) -> tl.Run:
    return adapters.start_run(where, "job", source=f"echo {where}")


def test_jobs_are_written_in_order_and_visible_after_flush(local_instance, isolated):
    writer = adapters.Writer()
    runs = [job(f"jobs/{i}") for i in range(30)]
    for i, run in enumerate(runs):
        writer.submit(lambda run=run: adapters.finish_run(run, "completed"))
        writer.submit(lambda run=run, i=i: adapters.annotate(run, {"i": i}, create_features=True))
    writer.submit(lambda: adapters.link_runs(list(itertools.pairwise(runs))))
    writer.flush()

    found = tl.Run.filter(transform__key__startswith="jobs/").order_by("id").all()
    assert [r.status for r in found] == ["completed"] * 30
    assert [r.features.get_values()["i"] for r in found] == list(range(30))
    assert [len(r.upstream_runs) for r in found] == [0] + [1] * 29
    assert adapters.writer() is adapters.writer()  # one per process


def test_a_written_batch_is_let_go_before_the_next_one(local_instance, isolated):
    """Nothing of a written batch stays referenced while the writer waits for the next:
    the jobs and what they hold are freed at once (objects kept alive meanwhile are what
    the engine's young collections move to the oldest generation)."""

    class Held:
        pass

    writer = adapters.Writer()
    held = Held()
    watched = weakref.ref(held)
    writer.submit(
        lambda held=held: adapters.annotate(job("jobs/held"), {"held": 1}, create_features=True)
    )
    del held
    writer.flush()  # returns when the batch's waiter is woken, just before the batch ends
    for _ in range(200):  # up to 10 s: freed at once unless something holds the batch
        if watched() is None:
            break
        time.sleep(0.05)
    assert watched() is None, "the writer still holds its last batch"
    assert tl.Run.get(transform__key="jobs/held").features.get_values() == {"held": 1}


def test_a_flush_behind_more_than_a_batch_never_waits_for_the_linger(local_instance, isolated):
    """A waiter queued behind more than ``MAX_BATCH`` jobs: the writer lingers no more
    until it is answered (it used to linger again after the first batch, so a flush behind
    1,200 jobs with a long linger waited twice that long). A hang shows as the thread
    still waiting after two minutes, with the writer lingering for ten."""
    import threading

    from threadline.adapters._writer import MAX_BATCH

    writer = adapters.Writer()
    writer.linger_s = writer.quiet_s = 600.0
    runs = [job(f"jobs/many/{i}") for i in range(3)]
    writer.flush()  # started, nothing queued
    for i in range(MAX_BATCH * 2 + 200):
        writer.submit(lambda run=runs[i % 3], i=i: adapters.update_run(run, name=f"n{i}"))
    flushed = threading.Thread(target=writer.flush, daemon=True)
    flushed.start()
    flushed.join(timeout=120)
    assert not flushed.is_alive(), "the flush waited for the writer's linger"
    assert tl.Run.get(uid=runs[(MAX_BATCH * 2 + 199) % 3].uid).name == f"n{MAX_BATCH * 2 + 199}"


def test_a_whole_batch_queued_is_written_without_lingering(local_instance, isolated):
    """``MAX_BATCH`` jobs queued wake the writer at once, waiter or not (a long linger no
    longer lets the queue grow without bound)."""
    import threading

    from threadline.adapters._writer import MAX_BATCH

    writer = adapters.Writer()
    writer.linger_s = writer.quiet_s = 600.0
    run = job("jobs/full")
    written = threading.Event()
    writer.submit(lambda: adapters.update_run(run, name="n0"), committed=written.set)
    while writer._queue.qsize():  # the writer holds the first job, lingering: the race
        time.sleep(0.01)  # a busy machine lost once (the queue never held a whole batch)
    for i in range(1, MAX_BATCH):
        writer.submit(lambda i=i: adapters.update_run(run, name=f"n{i}"), committed=written.set)
    assert written.wait(timeout=120), "the writer lingered with a whole batch queued"
    assert tl.Run.get(uid=run.uid).name == f"n{MAX_BATCH - 1}"
    writer.flush()


@pytest.mark.parametrize(
    ("linger_s", "quiet_s"),
    [(600.0, 0.05), (0.2, 600.0)],
    ids=["quiet-queue", "linger-bound"],
)
def test_a_lone_job_is_written_by_either_rule(local_instance, isolated, linger_s, quiet_s):
    """A lone job (a long task's start) is written once no job has come for ``quiet_s``
    (with a ten-minute linger, a writer without the quiet rule still holds it after the
    two minutes this waits), and ``linger_s`` bounds the wait whatever the queue does
    (here with a quiet rule that never fires)."""
    import threading

    writer = adapters.Writer()
    writer.linger_s, writer.quiet_s = linger_s, quiet_s
    run = job("jobs/lone")
    written = threading.Event()
    writer.submit(lambda: adapters.update_run(run, name="lone"), committed=written.set)
    assert written.wait(timeout=120), "the writer held a lone job past both rules"
    assert tl.Run.get(uid=run.uid).name == "lone"


def test_jobs_that_keep_coming_share_one_batch(local_instance, isolated):
    """While jobs keep coming (a busy engine: a loop of short tasks), the writer waits
    for more, up to ``linger_s``, instead of writing every ``quiet_s``: 60 jobs, one every
    50 ms for 3 s, with ``quiet_s`` 1 s, are one batch (a writer that wrote every
    ``quiet_s`` would make three or four). Only a stall of the submitting thread longer
    than a second would split them."""
    writer = adapters.Writer()
    writer.linger_s, writer.quiet_s = 600.0, 1.0
    run = job("jobs/busy")
    writer.flush()  # started
    before = writer.batches
    for i in range(60):
        writer.submit(lambda i=i: adapters.update_run(run, name=f"n{i}"))
        time.sleep(0.05)
    assert writer.batches == before, "the writer wrote while jobs kept coming"
    writer.flush()
    assert writer.batches == before + 1
    assert tl.Run.get(uid=run.uid).name == "n59"


def test_closes_folded_into_queued_rows_keep_the_writer_lingering(local_instance, isolated):
    """The tasks of an async gather queue their starts, then only close them: a close
    folded into a row still queued counts as a job for the quiet rule (``Writer.busy``).
    60 runs started at once, then closed one every 50 ms for 3 s with ``quiet_s`` 1 s,
    are one batch, each row written closed (a writer blind to the folds wrote the starts
    after a second, and every later close as an UPDATE of another batch). Only a stall of
    this thread longer than a second would split them."""
    writer = adapters.writer()
    saved = writer.linger_s, writer.quiet_s
    writer.linger_s, writer.quiet_s = 600.0, 1.0
    try:
        flow = job("gather/flow")
        tasks = [
            adapters.start_run("gather/task", "task", parent=flow, later=True) for _ in range(60)
        ]
        before = writer.batches
        for run in tasks:
            time.sleep(0.05)
            adapters.finish_run(run, "completed", later=True)
        assert writer.batches == before, "the writer wrote while the runs kept closing"
        writer.flush()
    finally:
        writer.linger_s, writer.quiet_s = saved
    assert writer.batches == before + 1
    found = tl.Run.filter(transform__key="gather/task").all()
    assert [(r.status, r.parent.uid) for r in found] == [("completed", flow.uid)] * 60


def test_a_batch_is_one_transaction(local_instance, isolated, tmp_path, monkeypatch):
    """Held before its commit (the test hook), a batch is invisible to other connections;
    what was queued meanwhile becomes the next batch."""
    hold = tmp_path / "hold"
    hold.mkdir()
    monkeypatch.setenv("THREADLINE_WRITER_HOLD", str(hold))
    writer = adapters.Writer()
    first, *others = [job(f"batch/{i}") for i in range(4)]
    writer.submit(lambda: adapters.finish_run(first, "completed"), where="first")
    harness.wait_for_file(hold / "batch-1")
    for i, run in enumerate(others):
        writer.submit(lambda run=run: adapters.finish_run(run, "errored"), where=f"other {i}")
    db = sqlite3.connect(local_instance.settings.db.removeprefix("sqlite:///"))
    status = "SELECT status FROM run WHERE uid = ?"
    assert db.execute(status, (first.uid,)).fetchone() == ("started",)  # not committed yet
    (hold / "go-1").touch()
    harness.wait_for_file(hold / "batch-2")
    assert db.execute(status, (first.uid,)).fetchone() == ("completed",)
    assert (hold / "batch-2").read_text().splitlines() == ["other 0", "other 1", "other 2"]
    (hold / "go-2").touch()
    writer.flush()
    assert [db.execute(status, (r.uid,)).fetchone() for r in others] == [("errored",)] * 3
    db.close()


def test_a_failing_job_is_logged_once_and_the_rest_written(
    local_instance, isolated, monkeypatch, caplog
):
    monkeypatch.setenv("THREADLINE_STRICT", "0")
    guard = adapters.Guard("myengine")
    writer = adapters.Writer()
    good, bad = job("ok"), job("bad")
    writer.submit(lambda: adapters.finish_run(bad, "done"), where="a job", guard=guard)
    writer.submit(lambda: adapters.finish_run(good, "completed"), where="a job", guard=guard)
    writer.submit(lambda: adapters.finish_run(bad, "over"), where="a job", guard=guard)
    with caplog.at_level(logging.DEBUG, logger="threadline.myengine"):
        writer.flush()  # never raises outside strict mode

    assert tl.Run.get(uid=good.uid).status == "completed"
    assert tl.Run.get(uid=bad.uid).status == "started"
    assert guard.failures == ["a job (background write): InvalidInput"] * 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "final status must be one of" in errors[0].getMessage()
    assert len(writer.failures) == 2

    monkeypatch.setenv("THREADLINE_STRICT", "1")
    writer.submit(lambda: adapters.finish_run(bad, "over"), where="a job", guard=guard)
    with pytest.raises(tl.errors.InvalidInput, match="final status"):
        writer.flush()


CHILD = """
import sys
import time
from pathlib import Path

import threadline as tl
from threadline import adapters

hold = Path(sys.argv[1])
writer = adapters.writer()
flow = adapters.start_run("flow", "flow", source="flow")  # written at once
made: dict[str, tl.Run] = {}


def start(name: str, parent: str | None) -> None:
    made[name] = adapters.start_run(name, "task", source=name, parent=made.get(parent, flow))


writer.submit(lambda: start("a", None), where="start a")
writer.submit(
    lambda: adapters.annotate(made["a"], {"n": 1}, create_features=True), where="annotate a"
)
while not (hold / "batch-1").exists():  # batch 1 is being written (held before its commit)
    time.sleep(0.01)
writer.submit(lambda: start("b", "a"), where="start b")
writer.submit(lambda: adapters.link_runs([(made["a"], made["b"])]), where="link a b")
writer.submit(lambda: adapters.annotate(made["b"], {"n": 2}), where="annotate b")
writer.submit(lambda: adapters.finish_run(made["a"], "completed"), where="finish a")
(hold / "queued").touch()  # all four wait in the queue: batch 2 takes them together
writer.flush()
"""


def test_kill_9_between_enqueue_and_commit_loses_only_the_last_batch(
    local_instance, isolated, tmp_path
):
    """A real SIGKILL while the writer holds batch 2 before its commit (the test hook):
    batch 1 is all there, batch 2 is all gone, and nothing points at a missing record."""
    hold = tmp_path / "hold"
    hold.mkdir()
    inst = local_instance
    env = {
        **os.environ,
        "THREADLINE_DB": inst.settings.db,
        "THREADLINE_STORAGE": inst.settings.storage,
        "THREADLINE_WRITER_HOLD": str(hold),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(hold)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        harness.wait_for_file(hold / "batch-1", child)
        harness.wait_for_file(
            hold / "queued", child
        )  # batch 2's jobs are queued before batch 1 commits
        (hold / "go-1").touch()
        harness.wait_for_file(hold / "batch-2", child)
        assert (hold / "batch-2").read_text().split("\n")[:-1] == [
            "start b",
            "link a b",
            "annotate b",
            "finish a",
        ]
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL

    a = tl.Run.get(transform__key="a")  # batch 1: written
    assert a.features.get_values() == {"n": 1}
    assert a.status == "started"  # "finish a" was in batch 2
    assert tl.Run.filter(transform__key="b").count() == 0  # batch 2: all of it lost
    db = sqlite3.connect(inst.settings.db.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM run_link").fetchone() == (0,)
    db.close()
    harness.assert_sqlite_consistent(inst.settings.db)


LOCKER = """
import sqlite3, sys, time
from pathlib import Path

db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")  # no other process can write until this one lets go
Path(sys.argv[2], "locked").touch()
while not Path(sys.argv[2], "release").exists():
    time.sleep(0.01)
db.execute("COMMIT")
"""


def test_a_database_locked_by_another_process_past_the_busy_timeout_loses_nothing(
    isolated, tmp_path, monkeypatch
):
    """Another process holds SQLite's write lock longer than the busy timeout (shortened
    to 0.2 s here, 120 s normally): the writer's batch fails with "database is locked",
    is retried, and is written once the lock is released."""
    from threadline import _db

    monkeypatch.setattr(_db, "BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(_db, "SQLITE_PRAGMAS", {**_db.SQLITE_PRAGMAS, "busy_timeout": 200})
    path = tmp_path / "db" / "threadline.db"
    monkeypatch.setenv("THREADLINE_DB", f"sqlite:///{path}")
    monkeypatch.setenv("THREADLINE_STORAGE", str(tmp_path / "storage"))
    tl.connect()
    runs = [job(f"locked/{i}") for i in range(3)]
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(path), str(tmp_path)])
    try:
        harness.wait_for_file(tmp_path / "locked", locker)
        writer = adapters.Writer(retry_s=120)
        for run in runs:
            writer.submit(lambda run=run: adapters.finish_run(run, "completed"))
        deadline = time.monotonic() + 120
        while writer.retries < 2:  # the batch met the lock and is being retried
            assert time.monotonic() < deadline, "the writer never tried to write"
            time.sleep(0.02)
    finally:
        (tmp_path / "release").touch()
        locker.wait(timeout=60)
    writer.flush()
    assert writer.failures == []
    assert [tl.Run.get(uid=r.uid).status for r in runs] == ["completed"] * 3
    tl.disconnect()


# -- a real PostgreSQL outage ------------------------------------------------------------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[harness.Postgres]:
    """A throwaway cluster of this module's own, stopped and started by the test."""
    if harness.postgres_bindir() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    with harness.postgres_server() as server:
        yield server


def pg_ctl(server: harness.Postgres, *args: str) -> None:
    command = server._cmd(os.path.join(server.bindir, "pg_ctl"), "-D", server.datadir, *args)
    subprocess.run(command, check=True, capture_output=True)


def restart(server: harness.Postgres) -> None:
    folder = os.path.dirname(server.datadir)
    options = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off"
    log = os.path.join(folder, "log")
    pg_ctl(server, "-o", options, "-l", log, "-w", "-t", "60", "start")


@pytest.fixture
def on_own_postgres(own_postgres, isolated, tmp_path, monkeypatch) -> Iterator[harness.Postgres]:
    monkeypatch.setenv("THREADLINE_DB", own_postgres.create_database(f"w{uuid.uuid4().hex[:12]}"))
    monkeypatch.setenv("THREADLINE_STORAGE", str(tmp_path / "storage"))
    tl.connect()
    yield own_postgres
    harness.end_open_runs()  # a failed test may leave one: disconnect would refuse
    tl.disconnect()


def test_an_outage_loses_nothing_when_the_database_is_back_in_time(on_own_postgres, caplog):
    writer = adapters.Writer(retry_s=120)
    runs = [job(f"outage/{i}") for i in range(5)]
    writer.submit(lambda: adapters.finish_run(runs[0], "completed"))
    writer.flush()
    pg_ctl(on_own_postgres, "-m", "immediate", "stop")  # the server is gone
    try:
        for i, run in enumerate(runs[1:], start=1):
            writer.submit(lambda run=run: adapters.finish_run(run, "completed"))
            writer.submit(
                lambda run=run, i=i: adapters.annotate(run, {"i": i}, create_features=True)
            )
        writer.submit(lambda: adapters.link_runs(list(itertools.pairwise(runs))))
        deadline = time.monotonic() + 120
        while writer.retries < 2:  # the writer met the outage and is retrying
            assert time.monotonic() < deadline, "the writer never tried to write"
            time.sleep(0.05)
    finally:
        restart(on_own_postgres)
    with caplog.at_level(logging.WARNING, logger="threadline.adapters"):
        writer.flush()

    assert writer.failures == []
    said = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(said) == 1  # one warning for the whole outage
    tl.disconnect()
    tl.connect()  # this thread's connection died with the server
    found = tl.Run.filter(transform__key__startswith="outage/").order_by("id").all()
    assert [r.status for r in found] == ["completed"] * 5
    assert [r.features.get_values().get("i") for r in found] == [None, 1, 2, 3, 4]
    assert [len(r.upstream_runs) for r in found] == [0, 1, 1, 1, 1]


def test_an_outage_loses_no_run_started_later(on_own_postgres):
    """Runs whose rows the writer writes (``start_run(..., later=True)``), started while
    the server is down: written, and closed, once it is back within the retry window."""
    writer = adapters.writer()  # the one ``later`` uses
    transform = adapters.get_transform("outage/later", "job", source="echo later")
    before = writer.retries
    pg_ctl(on_own_postgres, "-m", "immediate", "stop")
    try:
        runs = [
            adapters.start_run("outage/later", "job", transform=transform, later=True)
            for _ in range(4)
        ]
        for run in runs:
            writer.submit(lambda run=run: adapters.finish_run(run, "completed"))
        deadline = time.monotonic() + 60
        while writer.retries < before + 2:  # the writer met the outage and is retrying
            assert time.monotonic() < deadline, "the writer never tried to write"
            time.sleep(0.05)
    finally:
        restart(on_own_postgres)
    writer.flush()

    tl.disconnect()
    tl.connect()  # this thread's connection died with the server
    found = tl.Run.filter(transform__key="outage/later").order_by("id").all()
    assert [r.uid for r in found] == [r.uid for r in runs]
    assert [r.id for r in found] == [r.id for r in runs]
    assert [r.status for r in found] == ["completed"] * 4


def test_an_outage_longer_than_the_window_is_reported_once(on_own_postgres, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "0")
    guard = adapters.Guard("myengine")
    writer = adapters.Writer(retry_s=0.5)
    run = job("outage/long")
    pg_ctl(on_own_postgres, "-m", "immediate", "stop")
    try:
        writer.submit(lambda: adapters.finish_run(run, "completed"), where="a job", guard=guard)
        writer.flush()  # returns once the window has passed, without raising
    finally:
        restart(on_own_postgres)
    assert guard.failures == ["a job (background write): DatabaseError"]
    tl.disconnect()
    tl.connect()
    assert tl.Run.get(uid=run.uid).status == "started"  # given up: nothing half-written


def test_every_thread_reads_and_writes_again_after_a_restart(on_own_postgres, isolated):
    """Not only the writer's: a thread whose connection died with the server gets a new
    one for its next read or transaction (a plain write outside one is never retried)."""
    import threading

    run = job("restart/read")
    seen: list[str] = []

    def other_thread() -> None:
        seen.append(tl.Run.get(uid=run.uid).status)  # a connection of its own, opened now
        started.set()
        restarted.wait()
        seen.append(tl.Run.get(uid=run.uid).status)  # ... dead now: read on a new one

    started, restarted = threading.Event(), threading.Event()
    thread = threading.Thread(target=other_thread)
    thread.start()
    started.wait()
    pg_ctl(on_own_postgres, "-m", "fast", "stop")
    restart(on_own_postgres)
    restarted.set()
    thread.join()
    assert seen == ["started", "started"]
    assert tl.Run.get(uid=run.uid).status == "started"  # this thread's read, the same
    pg_ctl(on_own_postgres, "-m", "fast", "stop")
    restart(on_own_postgres)
    harness.write(isolated / "a.txt", "a")
    saved = tl.Artifact(str(isolated / "a.txt"), key="restart/a.txt").save()  # BEGIN first
    assert tl.Artifact.get(key="restart/a.txt").hash == saved.hash


def test_what_is_queued_at_exit_is_written(local_instance, isolated):
    """A process that queues writes and ends without flushing: the writer is flushed by
    the interpreter's exit."""
    script = """
from threadline import adapters

runs = [adapters.start_run(f"exit/{i}", "job", source="x") for i in range(20)]
for run in runs:
    adapters.writer().submit(lambda run=run: adapters.finish_run(run, "completed"))
"""
    env = {
        **os.environ,
        "THREADLINE_DB": local_instance.settings.db,
        "THREADLINE_STORAGE": local_instance.settings.storage,
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    found = tl.Run.filter(transform__key__startswith="exit/").all()
    assert [r.status for r in found] == ["completed"] * 20


def _open_connections(inst) -> int:
    """This process's open connections to ``inst``'s database: SQLite, open files that
    are its file; PostgreSQL, the server's other backends on that database."""
    url = inst.settings.db
    if url.startswith("sqlite:///"):
        path, found = url.removeprefix("sqlite:///"), 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                found += os.readlink(f"/proc/self/fd/{fd}") == path
        return found
    import psycopg2

    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cur.fetchone()[0])


def _rows(inst, sql: str, *args) -> list[tuple]:
    previous = tl.connect(db=inst.settings.db, storage=inst.settings.storage)
    try:
        return [tuple(row) for row in previous.db.execute_sql(sql, args).fetchall()]
    finally:
        tl.disconnect()


def test_writes_queued_for_an_instance_land_there_when_another_is_connected(db_instance, isolated):
    """``tl.connect()`` to another instance while jobs wait in the queue: they are written
    to the instance they were submitted for, none to the new one, and the writer's
    connections to the old database are closed."""
    writer = adapters.Writer()
    writer.linger_s = writer.quiet_s = (
        600.0  # the batch waits in the queue until something asks for it
    )
    run = job("leaving/a")
    writer.submit(lambda: adapters.finish_run(run, "completed"), where="finish a")
    writer.submit(lambda: adapters.annotate(run, {"n": 1}, create_features=True), where="note a")
    with writer.at_once():  # the connection at_once shares is open too
        adapters.start_run("leaving/b", "job", source="echo b")

    other = tl.connect(db=f"sqlite:///{isolated / 'other.db'}", storage=str(isolated / "other"))

    assert writer.failures == []
    assert _open_connections(db_instance) == 0
    new = sqlite3.connect(other.settings.db.removeprefix("sqlite:///"))
    assert new.execute("SELECT count(*) FROM run").fetchone() == (0,)
    assert new.execute("SELECT count(*) FROM feature").fetchone() == (0,)
    new.close()
    p = "%s" if db_instance.settings.db.startswith("postgres") else "?"
    assert _rows(db_instance, f"SELECT status FROM run WHERE uid = {p}", run.uid) == [
        ("completed",)
    ]
    assert _rows(db_instance, "SELECT count(*) FROM run_feature_value") == [(1,)]
