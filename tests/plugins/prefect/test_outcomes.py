"""Issue 14 for Prefect: a run for every task run, as Prefect ended it. Task runs Prefect
never starts (an upstream did not complete: NotReady) are ``skipped``; a completed task
whose transaction rolled back is ``rolled_back``; a task called inside a task is a child
of the flow run, as in Prefect. On SQLite and PostgreSQL."""

import asyncio
import json
import logging
import os

import threadline as tl
from click.testing import CliRunner
from threadline.cli import main

from tests.plugins.prefect import flows_outcomes
from tests.plugins.prefect.sockets import leaves_prefects_socket_open


def cli(*args: str) -> str:
    done = CliRunner().invoke(main, list(args), catch_exceptions=False, prog_name="threadline")
    assert done.exit_code == 0, done.output
    return done.output


def test_a_task_prefect_never_starts_is_one_skipped_run(tracked_db):
    assert flows_outcomes.never_started("S1") == "None NotReady 2 2"  # Prefect's own results

    flow_run = tl.Run.get(transform__key="never-started")
    assert flow_run.status == "completed"
    tasks = list(flow_run.children)
    by_status: dict[str, list[tl.Run]] = {}
    for run in tasks:
        by_status.setdefault(run.status, []).append(run)
    assert {s: len(r) for s, r in by_status.items()} == {"errored": 1, "skipped": 7, "completed": 2}
    assert len({r.reference for r in tasks}) == 10  # one run per Prefect task run
    (failed,) = by_status["errored"]
    for run in by_status["skipped"]:
        assert run.transform.key == "never-started/count"
        assert run.error.startswith("NotReady: Upstream task run ")
        assert run.finished_at is not None and run.parent == flow_run
    direct = [r for r in by_status["skipped"] if r.params and r.params["sample"] == "S1"]
    assert len(direct) == 4  # wait_for=, a future argument, a direct call, return_state
    assert all(r.upstream_runs == [failed] for r in direct)  # why it never started
    assert f"'{failed.reference}'" in direct[0].error
    (chained,) = [r for r in by_status["skipped"] if r.params and r.params["sample"] == "chained"]
    assert chained.params["reads"].startswith("<result of Prefect task run ")


@leaves_prefects_socket_open  # Prefect's own, see sockets.py
def test_an_async_task_awaited_directly_is_skipped_too(tracked_db):
    assert asyncio.run(flows_outcomes.never_started_async("S3")) == "None NotReady 2"

    flow_run = tl.Run.get(transform__key="never-started-async")
    statuses = sorted((r.transform.key.rpartition("/")[2], r.status) for r in flow_run.children)
    assert statuses == [
        ("fails", "errored"),
        ("measure", "completed"),
        ("measure", "skipped"),
        ("measure", "skipped"),
    ]


def test_skipped_shows_in_every_view(tracked_db):
    flows_outcomes.never_started("S2")
    run = tl.Run.filter(status="skipped").first()

    assert f"({run.status}, prefect)" in cli("describe", run.uid) and run.status == "skipped"
    listed = json.loads(cli("runs", "--status", "skipped", "--json"))
    assert len(listed) == 7 and {r["status"] for r in listed} == {"skipped"}
    assert "skipped" in cli("runs", "--status", "skipped")
    events = tl.export.openlineage_events([run])
    assert [e["eventType"] for e in events] == ["ABORT"]  # it never started: no START


def test_a_rolled_back_transaction_marks_its_completed_task(tracked_db, isolated):
    assert flows_outcomes.rolled_back("hello world") == "done"

    assert not os.path.exists("side-effect.txt")  # the user's on_rollback hook ran
    assert os.path.exists("kept.txt")
    flow_run = tl.Run.get(transform__key="rolled-back")
    written = {r.params["path"]: r for r in flow_run.children if r.transform.key.endswith("file")}
    assert written["side-effect.txt"].status == "rolled_back"
    assert written["side-effect.txt"].error == "RolledBack: Task rolled back as part of transaction"
    assert written["kept.txt"].status == "completed"  # its transaction committed
    tests = {r.params["path"]: r.status for r in flow_run.children if "quality" in r.transform.key}
    assert tests == {"side-effect.txt": "errored", "kept.txt": "completed"}
    assert "(rolled_back, prefect)" in cli("describe", written["side-effect.txt"].uid)
    listed = json.loads(cli("runs", "--status", "rolled_back", "--json"))
    assert [r["uid"] for r in listed] == [written["side-effect.txt"].uid]


def test_a_task_called_in_a_task_is_a_child_of_the_flow_run(tracked_db):
    assert flows_outcomes.nested(3) == 7

    flow_run = tl.Run.get(transform__key="nested")
    outer = tl.Run.get(transform__key="nested/outer")
    inner = tl.Run.get(transform__key="nested/inner")
    assert outer.parent == flow_run and inner.parent == flow_run  # Prefect's parent
    assert inner.features.get_values() == {"called_by": outer.uid}  # the caller, kept
    assert outer.features.get_values() == {}


class _TaskRunNames(logging.Handler):
    """Prefect's name of each task run, as its run logger writes it (``task_run_name``):
    Prefect's server keeps no task runs here (its task run recorder is off)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)  # a run left NotReady ends with an ERROR line
        self.names: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "task_run_id"):
            self.names[str(record.task_run_id)] = record.task_run_name


def test_each_skipped_item_of_a_map_has_its_prefect_name(tracked_db):
    logger = logging.getLogger("prefect.task_runs")
    names = _TaskRunNames()
    logger.addHandler(names)
    try:
        ids = flows_outcomes.never_started_map()
    finally:
        logger.removeHandler(names)

    runs = [tl.Run.get(reference=task_run_id, engine="prefect") for task_run_id in ids]
    assert [r.status for r in runs] == ["skipped"] * 4 + ["completed"]
    skipped_names = [run.name for run in runs[:4]]
    assert skipped_names == [names.names[task_run_id] for task_run_id in ids[:4]]
    assert [name.rpartition("-")[0] for name in skipped_names] == ["add"] * 3 + ["count"]
    assert len(set(skipped_names)) == 4  # each item's own, as Prefect shows it: "add-1c2"
    assert runs[4].name.startswith("add-")  # the started item's, from Prefect's hook


def test_each_skipped_item_of_a_map_has_its_own_arguments(tracked_db):
    ids = flows_outcomes.never_started_map()

    runs = [tl.Run.get(reference=task_run_id, engine="prefect") for task_run_id in ids]
    broken = tl.Run.get(transform__key="never-started-map/fails")
    assert [r.params for r in runs] == [
        {"value": 1, "by": [10, 20], "label": "sum"},  # each item's own value, unmapped as given
        {"value": 2, "by": [10, 20], "label": "sum"},
        {"value": 3, "by": [10, 20], "label": "sum"},
        {"sample": f"<result of Prefect task run {broken.reference}>", "reads": "R1.fq"},
        {"value": 4, "by": [5], "label": "sum"},  # the started item, from Prefect's hook
    ]
    assert [r.upstream_runs for r in runs[:4]] == [[broken]] * 4  # why each never started


def test_a_task_that_switches_the_database_fails_and_the_flow_stays_whole(tracked_db, isolated):
    other = isolated / "other.db"
    result = flows_outcomes.switching(f"sqlite:///{other}", str(isolated / "other-st"))
    assert result == "1 Failed 2"  # the task failed; the flow went on in its own instance

    flow_run = tl.Run.get(transform__key="switching")
    assert flow_run.status == "completed" and not other.exists()
    tasks = {r.transform.key: r for r in flow_run.children}
    assert set(tasks) == {"switching/count", "switching/switch_instance"}
    assert sum(1 for r in flow_run.children if r.status == "completed") == 2
    refused = tasks["switching/switch_instance"]
    assert refused.status == "errored"
    assert refused.error.startswith("TrackingError: cannot connect to sqlite:///")
    assert "while run" in refused.error
