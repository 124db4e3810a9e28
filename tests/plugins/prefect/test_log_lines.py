"""Issue 17: Prefect logs two INFO lines around every hook it calls. threadline's own hooks
must not add them to a user's console; every other hook's lines and Prefect's other logs
stay. Run as users run a flow: a script in a subprocess, Prefect's default INFO logging."""

import subprocess
import sys
import textwrap

import threadline as tl

from tests.plugins.prefect.server import script_environment

SCRIPT = textwrap.dedent(
    """
    from threadline.prefect import flow, task

    def user_task_hook(task, task_run, state):
        print("user task hook ran")

    def user_flow_hook(flow, flow_run, state):
        print("user flow hook ran")

    @task(on_completion=[user_task_hook])
    def add(x: int) -> int:
        return x + 1

    @flow(on_running=[user_flow_hook], on_completion=[user_flow_hook])
    def adding(n: int) -> int:
        return add(n) + add.submit(n).result()

    print("result", adding(2))
    """
)


def test_only_threadlines_own_hook_lines_are_dropped(tracked, tmp_path):
    script = tmp_path / "adding.py"
    script.write_text(SCRIPT)
    env = script_environment(PREFECT_LOGGING_LEVEL="INFO")  # Prefect's default, as a user has it
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "result 6" in done.stdout
    log = done.stderr
    assert "Finished in state Completed()" in log  # Prefect's INFO lines are there
    assert "threadline_" not in log  # none about threadline's hooks
    for hook in ("user_task_hook", "user_flow_hook"):  # a user's hooks keep both lines
        assert f"Running hook '{hook}' in response to entering state" in log
        assert f"Hook '{hook}' finished running successfully" in log
    assert log.count("Running hook 'user_task_hook'") == 2
    assert log.count("Running hook 'user_flow_hook'") == 2  # Running (engine log) + Completed
    assert tl.Run.filter(engine="prefect").count() == 3  # and the runs were recorded
