"""Failures, retries, and hook failures that must not fail the flow."""

import pytest
import threadline as tl
from threadline.prefect import flow, task

from tests.plugins.prefect import flows_basic, flows_more


def test_failing_task_errors_its_run_and_the_flow(tracked):
    with pytest.raises(RuntimeError, match="no reads for S9"):
        flows_more.failing("S9")

    task_run = tl.Run.get(transform__key="failing/explode")
    assert task_run.status == "errored"
    assert task_run.error == "RuntimeError: no reads for S9"
    assert 'raise RuntimeError(f"no reads for {sample}")' in task_run.traceback
    flow_run = task_run.parent
    assert flow_run.transform.key == "failing" and flow_run.status == "errored"
    assert "no reads for S9" in flow_run.error


def test_retries_are_one_run_with_the_attempt_count(tracked):
    assert flows_more.retrying() == 3

    run = tl.Run.get(transform__key="retrying/flaky")  # one run for the three attempts
    assert run.status == "completed"
    assert run.features.get_values() == {"attempt": 3}


def test_hook_failure_does_not_fail_prefect(tracked, hook_failures, monkeypatch):
    monkeypatch.delenv("THREADLINE_STRICT")

    @task(key_template="{no_such_field}")  # a real failure: the template cannot be filled
    def write(name: str) -> str:
        with open(name, "w") as fh:
            fh.write("x\n")
        return name

    @flow(name="bad-template")
    def bad_template() -> str:
        return write("a.txt") + write("b.txt")

    assert bad_template() == "a.txtb.txt"  # the flow's own result stands

    assert len(hook_failures) == 1  # logged once, loudly, with the traceback
    assert "key_template '{no_such_field}' cannot be filled" in hook_failures[0].getMessage()
    assert hook_failures[0].exc_info is not None
    runs = tl.Run.filter(transform__key="bad-template/write")
    assert runs.count() == 2 and all(r.status == "errored" for r in runs)  # not hidden
    assert all("key_template '{no_such_field}' cannot be filled" in r.error for r in runs)
    assert tl.Run.get(transform__key="bad-template").status == "completed"
    hook_failures.clear()  # expected here; the tracked fixture fails on any other


def test_secrets_in_parameters_are_redacted(tracked):
    flows_basic.three_steps("s4", 1, api_token="ghp_" + "a" * 36)

    runs = tl.Run.filter(engine="prefect")
    assert all("ghp_" not in str(r.params) for r in runs)
    assert tl.Run.get(transform__key="three-steps").params["api_token"] == "***"
