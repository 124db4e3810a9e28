"""Prefect's own examples (transactions, final state determination, tasks calling tasks),
as its documentation writes them, run twice: with ``from prefect import ...`` and with
the import switched to ``threadline.prefect``. Results and final states must not differ;
threadline's records must say what Prefect did."""

import re
import runpy
from pathlib import Path
from typing import Any

import pytest
import threadline as tl
from prefect.client.schemas.objects import State

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PREFECT_IMPORT = "from prefect import flow, task\n"
THREADLINE_IMPORT = "from threadline.prefect import flow, task\n"

EXAMPLES = """\
import os

from prefect import allow_failure
from prefect import flow, task
from prefect.transactions import transaction


@task
def write_file(contents: str):
    "Writes to a file."
    with open("side-effect.txt", "w") as f:
        f.write(contents)


@write_file.on_rollback
def del_file(transaction):
    "Deletes file."
    os.unlink("side-effect.txt")


@task
def quality_test():
    "Checks contents of file."
    with open("side-effect.txt", "r") as f:
        data = f.readlines()

    if len(data) < 2:
        raise ValueError("Not enough data!")


@flow
def pipeline(contents: str):
    with transaction():
        write_file(contents)
        quality_test()


@task
def always_fails_task():
    raise ValueError("I fail successfully")


@task
def always_succeeds_task():
    print("I'm fail safe!")
    return "success"


@flow
def always_succeeds_flow():
    x = always_fails_task.submit().result(raise_on_failure=False)
    y = always_succeeds_task.submit(wait_for=[x])
    return y


@flow
def allow_failure_flow():
    x = always_fails_task.submit()
    y = always_succeeds_task.submit(wait_for=[allow_failure(x)])
    return y


@flow
def always_fails_flow():
    x = always_fails_task.submit()
    y = always_succeeds_task.submit()
    return x, y


@flow
def never_ready_flow():
    x = always_fails_task.submit()
    y = always_succeeds_task.submit(wait_for=[x])
    return y


@task
def my_task():
    return 1


@task
def my_parent_task():
    return my_task() + 1


@flow
def my_flow():
    return my_parent_task()


if __name__ == "__main__":
    pipeline(contents="hello world")
"""

CALLS: dict[str, dict[str, Any]] = {
    "pipeline": {"contents": "hello world"},
    "always_succeeds_flow": {},
    "allow_failure_flow": {},
    "always_fails_flow": {},
    "never_ready_flow": {},
    "my_flow": {},
}


def shown(value: Any) -> str:
    """A result as comparable text: states by type, name and message (their ids and
    times differ from run to run), exceptions by type and message."""
    if isinstance(value, tuple | list):
        return "(" + ", ".join(shown(v) for v in value) + ")"
    if isinstance(value, State):
        return f"{value.type.value} {value.name}: " + re.sub(UUID, "<id>", value.message or "")
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return repr(value)


def outcome(state: Any) -> tuple[str, str, str]:
    """A final state as comparable text: type, name, and the result (or error)."""
    return state.type.value, state.name, shown(state.result(raise_on_failure=False))


def run_all(folder: Path, source: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    folder.mkdir()
    (folder / "examples.py").write_text(source)
    namespace = runpy.run_path(str(folder / "examples.py"))
    monkeypatch.chdir(folder)  # the examples write side-effect.txt where they run
    found = {}
    for name, kwargs in CALLS.items():
        found[name] = outcome(namespace[name](**kwargs, return_state=True))
        found[f"{name}: side-effect.txt"] = (folder / "side-effect.txt").exists()
    return found


def test_prefects_examples_behave_the_same_with_threadline(tracked, tmp_path, monkeypatch):
    assert EXAMPLES.count(PREFECT_IMPORT) == 1
    plain = run_all(tmp_path / "plain", EXAMPLES, monkeypatch)
    assert tl.Run.filter(engine="prefect").count() == 0
    tracked_source = EXAMPLES.replace(PREFECT_IMPORT, THREADLINE_IMPORT)
    assert run_all(tmp_path / "tracked", tracked_source, monkeypatch) == plain

    assert plain["pipeline"] == ("FAILED", "Failed", "ValueError: Not enough data!")
    assert plain["pipeline: side-effect.txt"] is False  # del_file ran on rollback
    assert plain["allow_failure_flow"][:2] == ("COMPLETED", "Completed")
    assert plain["never_ready_flow"][:2] == ("FAILED", "Failed")  # y stayed NotReady
    assert plain["my_flow"] == ("COMPLETED", "Completed", "2")
    statuses = {
        (run.transform.key, run.status)
        for run in tl.Run.filter(engine="prefect", transform__kind="task")
    }
    assert ("pipeline/write_file", "rolled_back") in statuses
    assert ("pipeline/quality_test", "errored") in statuses
    assert ("never-ready-flow/always_succeeds_task", "skipped") in statuses
    assert ("allow-failure-flow/always_succeeds_task", "completed") in statuses
    assert ("my-flow/my_task", "completed") in statuses
    (inner,) = tl.Run.filter(transform__key="my-flow/my_task")
    assert inner.parent.transform.key == "my-flow"
