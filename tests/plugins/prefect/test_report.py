"""The markdown artifact on each flow run (``_report``): sent in the background, so a flow
call does not wait for Prefect's API, and sent before the process exits."""

import subprocess
import sys
import textwrap
import threading

import threadline as tl

from tests.plugins.prefect import flows_basic
from tests.plugins.prefect.server import script_environment


def _markdowns(flow_run: tl.Run) -> list[str]:
    """The threadline markdown artifacts Prefect holds for this flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.reference])
            )
        )
    return [a.data for a in found if (a.key or "").startswith("threadline-")]


def test_the_flow_call_does_not_wait_for_the_api(tracked):
    from threadline.prefect import _report

    finished = threading.Event()

    def call() -> None:
        flows_basic.three_steps("r1", 2)
        finished.set()

    with _report._lock:  # the sender is held, as by a slow or busy API
        caller = threading.Thread(target=call)
        caller.start()
        caller.join(timeout=120)
        assert finished.is_set()  # the flow returned while its markdown could not be sent
        flow_run = tl.Run.get(transform__key="three-steps")
        assert flow_run.status == "completed"
        assert _markdowns(flow_run) == []
    _report.wait()
    (markdown,) = _markdowns(flow_run)
    assert flow_run.uid in markdown


SCRIPT = textwrap.dedent(
    """
    import threadline as tl
    from threadline.prefect import flow, task

    @task
    def add(x: int) -> int:
        return x + 1

    @flow(name="ends-the-script")
    def ends_the_script(n: int) -> int:
        return add(n)

    ends_the_script(1)
    print(tl.Run.get(transform__key="ends-the-script").uid)
    """
)


def test_a_script_that_ends_with_its_flow_still_sends_the_markdown(tracked, tmp_path):
    """The process exits right after the flow call: the queued markdown goes first."""
    script = tmp_path / "ends.py"
    script.write_text(SCRIPT)
    env = script_environment()
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    flow_run = tl.Run.get(uid=done.stdout.split()[-1])
    (markdown,) = _markdowns(flow_run)
    assert f'tl.Run.get(uid="{flow_run.uid}")' in markdown
    assert "threadline could not record" not in done.stderr
