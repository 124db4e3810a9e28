"""Reads in several threads at once and Python's garbage collector.

``to_dataframe`` and the lineage walks pause automatic collections while they build
their rows (``query._columnar.paused_gc``). The collector is one per process, so the
pauses of reads running in two threads overlap. Each read here is really stopped in the
middle of its first SQL statement by SQLite's progress handler on its own thread's
connection (SQLite only: that is where such a hook exists; the pause does not depend on
the database), while the other thread acts.
"""

import gc
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import threadline as tl

from tests.harness import write


class HeldRead:
    """``call()`` in a thread of its own, held inside its first SQL statement until
    ``release()``; ``result`` is what it returned."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.inside, self.go = threading.Event(), threading.Event()
        self.result: object = None
        self.failed: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()
        assert self.inside.wait(30), "the read never reached SQLite"

    def _run(self, call: Callable[[], object]) -> None:
        try:
            connection = tl.instance().db.connection()  # this thread's own, opened now

            def hold() -> int:
                if not self.inside.is_set():
                    self.inside.set()
                    self.go.wait(30)
                return 0  # go on with the statement

            connection.set_progress_handler(hold, 1)
            try:
                self.result = call()
            finally:
                connection.set_progress_handler(None, 1)
        except BaseException as exc:  # handed to the test by release()
            self.failed.append(exc)
            self.inside.set()

    def release(self) -> object:
        self.go.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.failed:
            raise self.failed[0]
        return self.result


@pytest.fixture
def keys_frame(local_instance, isolated: Path) -> Callable[[], list[str]]:
    path = write(isolated / "src" / "a.txt", "content")
    tl.Artifact(path, key="threads/a.txt").save()
    return lambda: list(tl.Artifact.filter(key__startswith="threads/").to_dataframe()["key"])


def collections_during(work: Callable[[], object]) -> int:
    """How many collections Python ran by itself while ``work`` ran (``gc.callbacks``)."""
    started: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(count)
    try:
        work()
    finally:
        gc.callbacks.remove(count)
    return len(started)


def containers() -> list:
    return [[i] for i in range(20_000)]  # 20,000 tracked objects: many collections' worth


@pytest.fixture
def collector():
    """The collector as the test found it, put back afterwards."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def test_a_thread_that_turns_the_collector_off_during_another_threads_read_keeps_it_off(
    keys_frame, collector
):
    """The defect: a read that ends put back the collector it had found on when it
    began, undoing what another thread had set meanwhile."""
    gc.enable()
    held = HeldRead(keys_frame)
    gc.disable()  # this thread's own choice, while the other thread reads
    assert held.release() == ["threads/a.txt"]
    assert gc.isenabled() is False
    gc.disable()
    held = HeldRead(keys_frame)
    gc.enable()
    assert held.release() == ["threads/a.txt"]
    assert gc.isenabled() is True


def test_overlapping_reads_hold_the_collector_until_the_last_one_ends(keys_frame, collector):
    """Two reads in two threads: the first to end leaves the second's pause in place; the
    last to end gives back the collector as it was before the first began."""
    gc.enable()
    thresholds = gc.get_threshold()
    first = HeldRead(keys_frame)
    second = HeldRead(keys_frame)
    assert first.release() == ["threads/a.txt"]
    assert collections_during(containers) == 0  # the second read is still going on
    assert second.release() == ["threads/a.txt"]
    assert gc.isenabled() is True and gc.get_threshold() == thresholds
    assert collections_during(containers) > 0  # collecting again by itself


def test_a_threshold_set_during_a_read_is_kept(keys_frame, collector):
    """Someone who sets the collector's thresholds while a read runs keeps them."""
    held = HeldRead(keys_frame)
    gc.set_threshold(5000, 20, 20)
    assert held.release() == ["threads/a.txt"]
    assert gc.get_threshold() == (5000, 20, 20)


def test_a_feature_frame_inside_a_transaction_holds_its_own_values(db_instance):
    """Outside a transaction SQLite's feature values are read on a second connection in a
    thread of their own; inside one, on the caller's own connection, which alone sees
    what the transaction wrote."""
    pytest.importorskip("pandas")
    from threadline import adapters

    flow = adapters.get_transform("tx", "flow")
    runs = adapters.start_runs([{"transform": flow, "name": f"r{i}"} for i in range(3)])
    adapters.annotate_records([(r, {"exit": i}) for i, r in enumerate(runs)], create_features=True)
    query = tl.Run.filter(transform__key="tx").order_by("id")
    outside = query.df(features=True)
    assert list(outside["exit"]) == [0, 1, 2]
    with tl.instance().db.atomic():
        adapters.annotate_records([(runs[0], {"colour": "red"})], create_features=True)
        inside = query.df(features=True)
    assert inside["colour"].tolist()[0] == "red" and inside["colour"].isna().tolist()[1:] == [
        True,
        True,
    ]
    assert list(inside["exit"]) == [0, 1, 2]
    assert list(query.df(features=True)["colour"].fillna("-")) == ["red", "-", "-"]


def one_run_and_a_save_for_later() -> Callable[[], None]:
    """Run "first" (exit 1) under transform "snap"; the returned call saves run "second"
    (exit 2) and changes first's exit to 9."""
    from threadline import adapters

    flow = adapters.get_transform("snap", "flow")
    (first,) = adapters.start_runs([{"transform": flow, "name": "first"}])
    adapters.annotate_records([(first, {"exit": 1})], create_features=True)

    def save_elsewhere() -> None:
        (second,) = adapters.start_runs([{"transform": flow, "name": "second"}])
        adapters.annotate_records([(second, {"exit": 2}), (first, {"exit": 9})])

    return save_elsewhere


def test_a_commit_landing_between_a_feature_frames_reads_shows_in_all_of_it_or_none(
    local_instance,
):
    """A frame's feature values and rows are two statements; another thread's save that
    commits while the values are being read (SQLite's trace and progress hooks on the
    reading connection start it there, for real) shows in the whole frame or not at
    all: one read transaction, one snapshot."""
    pytest.importorskip("pandas")
    save_elsewhere = one_run_and_a_save_for_later()

    reading, steps, saved = [], [], threading.Event()

    def watch(sql: str) -> None:
        reading.append("run_feature_value" in sql)

    def step() -> int:
        if reading and reading[-1] and not saved.is_set():
            steps.append(1)
            if len(steps) == 5:  # well inside the values' statement
                writer = threading.Thread(target=save_elsewhere)
                writer.start()
                writer.join(30)
                saved.set()
        return 0

    connection = tl.instance().db.connection()
    connection.set_trace_callback(watch)
    connection.set_progress_handler(step, 1)
    try:
        frame = tl.Run.filter(transform__key="snap").order_by("id").df(features=True)
    finally:
        connection.set_progress_handler(None, 1)
        connection.set_trace_callback(None)
    assert saved.is_set()  # the save committed while the frame was being read
    seen = (list(frame["name"]), frame["exit"].tolist())
    assert seen in ((["first"], [1]), (["first", "second"], [9, 2]))
    after = tl.Run.filter(transform__key="snap").order_by("id").df(features=True)
    assert (list(after["name"]), after["exit"].tolist()) == (["first", "second"], [9, 2])


def test_a_commit_landing_between_a_feature_frames_reads_on_postgresql(db_instance, monkeypatch):
    """The same on PostgreSQL (and SQLite again), where no progress hook exists: the save
    runs, for real, in another thread right after the frame's values statement returns
    and before its rows are read (a hook on this instance's ``execute_sql``, no mock)."""
    pytest.importorskip("pandas")
    save_elsewhere = one_run_and_a_save_for_later()

    db, saved, reader = tl.instance().db, threading.Event(), threading.get_ident()
    execute_sql = db.execute_sql

    def then_save(sql: str, *args: object, **kwargs: object) -> object:
        cursor = execute_sql(sql, *args, **kwargs)
        frames = threading.get_ident() == reader  # not the saving thread's own statements
        if frames and "run_feature_value" in sql and not saved.is_set():
            writer = threading.Thread(target=save_elsewhere)
            writer.start()
            writer.join(30)
            saved.set()
        return cursor

    monkeypatch.setattr(db, "execute_sql", then_save)
    frame = tl.Run.filter(transform__key="snap").order_by("id").df(features=True)
    monkeypatch.undo()
    assert saved.is_set()  # the save committed between the frame's statements
    assert (list(frame["name"]), frame["exit"].tolist()) == (["first"], [1])
    after = tl.Run.filter(transform__key="snap").order_by("id").df(features=True)
    assert (list(after["name"]), after["exit"].tolist()) == (["first", "second"], [9, 2])
