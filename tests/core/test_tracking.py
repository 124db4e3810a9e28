"""track()/finish(), @flow/@step: runs, parents, params, inputs, errors, threads, asyncio."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import threadline as tl
from click.testing import CliRunner
from threadline import _liveness
from threadline.cli import main
from threadline.errors import TrackingError

from tests import harness


def test_flow_and_nested_steps(local_instance, isolated):
    @tl.step()
    def double(x: int) -> int:
        return 2 * x

    @tl.flow()
    def pipeline(n: int, scale: float = 1.5) -> int:
        return double(n) + double(n + 1)

    assert pipeline(3) == 14
    flow_run = tl.Run.get(transform__kind="flow")
    steps = list(tl.Run.filter(transform__kind="step").order_by("id"))
    assert flow_run.params == {"n": 3, "scale": 1.5}  # defaults bound too
    assert flow_run.status == "completed" and flow_run.finished_at is not None
    assert [s.params for s in steps] == [{"x": 3}, {"x": 4}]
    assert all(s.parent_id == flow_run.id for s in steps)
    assert steps[0].transform.key.endswith("test_flow_and_nested_steps.<locals>.double")
    assert steps[0].transform_id == steps[1].transform_id  # one transform, two runs
    assert tl.context.run is None  # nothing leaks after the flow returns


def test_exception_marks_run_errored_and_reraises(local_instance, isolated):
    @tl.step()
    def fails() -> None:
        raise RuntimeError("bad input row 7")

    @tl.flow()
    def outer() -> None:
        fails()

    with pytest.raises(RuntimeError, match="bad input row 7"):
        outer()
    step_run = tl.Run.get(transform__kind="step")
    flow_run = tl.Run.get(transform__kind="flow")
    assert step_run.status == "errored" and flow_run.status == "errored"
    assert step_run.error == "RuntimeError: bad input row 7"
    assert "raise RuntimeError" in step_run.traceback


def test_params_are_json_safe_and_secrets_redacted(local_instance, isolated):
    @tl.flow("etl")
    def etl(path: Path, db_url: str, api_token: str, options: dict, tags: set) -> None:
        return None

    etl(
        Path("/data/in.csv"),
        "postgresql://bob:hunter2@db:5432/x",
        "abc123",
        {"password": "pw", "depth": 2},
        {"b", "a"},
    )
    params = tl.Run.get(transform__key="etl").params
    assert params == {
        "path": "/data/in.csv",
        "db_url": "postgresql://bob:***@db:5432/x",
        "api_token": "***",
        "options": {"password": "***", "depth": 2},
        "tags": ["a", "b"],
    }


def test_artifact_arguments_and_loads_are_inputs(local_instance, isolated):
    (isolated / "a.txt").write_text("A")
    (isolated / "b.txt").write_text("B")
    a = tl.Artifact(isolated / "a.txt", key="a.txt").save()
    b = tl.Artifact(isolated / "b.txt", key="b.txt").save()

    @tl.step()
    def combine(first: tl.Artifact, others: list) -> tl.Artifact:
        (isolated / "c.txt").write_text(first.load() + "C")
        return tl.Artifact(isolated / "c.txt", key="c.txt").save()

    @tl.flow()
    def main() -> tl.Artifact:
        return combine(a, [b])

    c = main()
    assert c.run.transform.kind == "step"
    assert sorted(x.key for x in c.run.inputs) == ["a.txt", "b.txt"]
    assert {x.key for x in tl.lineage.upstream(c).artifacts} == {"a.txt", "b.txt"}


def test_cache_and_open_inside_run_record_inputs(local_instance, isolated):
    (isolated / "x.txt").write_text("X")
    x = tl.Artifact(isolated / "x.txt", key="x.txt").save()

    @tl.flow()
    def reader() -> None:
        with x.open() as handle:
            handle.read()

    reader()
    run = tl.Run.get(transform__kind="flow")
    assert [i.key for i in run.inputs] == ["x.txt"]


def test_threads_get_their_own_runs_under_the_flow(local_instance, isolated):
    seen = []

    @tl.step()
    def work(i: int) -> int:
        seen.append(threading.current_thread().name)
        return i * i

    @tl.flow()
    def fan_out() -> list:
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(work, range(12)))

    assert fan_out() == [i * i for i in range(12)]
    flow_run = tl.Run.get(transform__kind="flow")
    steps = list(tl.Run.filter(transform__kind="step"))
    assert len(steps) == 12 and len(set(seen)) > 1
    assert {s.parent_id for s in steps} == {flow_run.id}
    assert sorted(s.params["i"] for s in steps) == list(range(12))


def test_asyncio_tasks_nest_correctly(local_instance, isolated):
    @tl.step()
    async def leaf(i: int) -> int:
        await asyncio.sleep(0.01)
        return i

    @tl.flow()
    async def branch(name: str) -> int:
        return sum(await asyncio.gather(leaf(1), leaf(2)))

    async def main() -> list:
        return await asyncio.gather(branch("a"), branch("b"))

    assert asyncio.run(main()) == [3, 3]
    flows = {r.params["name"]: r.id for r in tl.Run.filter(transform__kind="flow")}
    leaves = list(tl.Run.filter(transform__kind="step"))
    assert len(leaves) == 4
    per_parent = sorted(r.parent_id for r in leaves)
    assert per_parent == sorted([flows["a"]] * 2 + [flows["b"]] * 2)


def test_track_and_finish(local_instance, isolated):
    run = tl.track(params={"alpha": 0.1, "secret_key": "s3cr3t"}, project="demo")
    assert tl.context.run.uid == run.uid
    assert run.params == {"alpha": 0.1, "secret_key": "***"}
    assert run.project.name == "demo" and run.status == "started"
    assert run.environment is not None and run.python_version.startswith("3.")
    assert any(p.startswith("peewee==") for p in run.environment.packages)
    assert os.environ["THREADLINE_PARENT_RUN"] == run.uid
    with pytest.raises(TrackingError, match="already tracking"):
        tl.track()
    (isolated / "o.txt").write_text("o")
    out = tl.Artifact(isolated / "o.txt", key="o.txt").save()
    finished = tl.finish()
    assert out.run_id == run.id
    assert finished.status == "completed" and tl.context.run is None
    assert "THREADLINE_PARENT_RUN" not in os.environ
    with pytest.raises(TrackingError, match="no run to finish"):
        tl.finish()


def test_environment_is_stored_once(local_instance, isolated):
    tl.track()
    tl.finish()
    tl.track()
    tl.finish()
    assert tl.Run.filter().count() == 2
    assert len({r.environment_id for r in tl.Run.filter()}) == 1


SCRIPT = """
import pathlib, subprocess, sys
import threadline as tl
run = tl.track(params={"n": 1})
pathlib.Path("parent.txt").write_text("from parent")
tl.Artifact("parent.txt", key="parent.txt").save()
child = "import threadline as tl; r = tl.track(); " \\
        "tl.Artifact.get(key='parent.txt').load(); tl.finish(); print(r.uid)"
uid = subprocess.run([sys.executable, "-c", child], check=True, capture_output=True,
                     text=True).stdout.strip()
tl.finish()
print(run.uid, uid)
"""


def test_script_run_with_child_process_and_git(local_instance, isolated, tmp_path):
    repo = isolated / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    script = repo / "analysis.py"
    script.write_text(SCRIPT)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "init",
        ],
        check=True,
    )
    (repo / "analysis.py").write_text(SCRIPT + "\n# edited\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    parent_uid, child_uid = done.stdout.split()
    parent = tl.Run.get(uid=parent_uid)
    child = tl.Run.get(uid=child_uid)
    assert parent.transform.key == "analysis.py" and parent.transform.kind == "script"
    assert "# edited" in parent.transform.source
    assert child.parent_id == parent.id
    assert [a.key for a in child.inputs] == ["parent.txt"]
    assert parent.git_commit is not None and len(parent.git_commit) == 40
    assert parent.git_dirty is True


def test_notebook_is_found_through_jupyter_session_name(local_instance, isolated):
    notebook = isolated / "explore.ipynb"
    notebook.write_text('{"cells": [], "nbformat": 4}')
    code = (
        "import sys, threadline as tl; del sys.modules['__main__'].__file__; "
        "r = tl.track(); tl.finish(); print(r.uid)"
    )
    script = isolated / "as_kernel.py"
    script.write_text(code)
    env = {**os.environ, "JPY_SESSION_NAME": str(notebook), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=isolated,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    run = tl.Run.get(uid=done.stdout.strip())
    assert run.transform.kind == "notebook"
    assert run.transform.key.endswith("explore.ipynb")
    assert '"nbformat": 4' in run.transform.source


# -- runs that end: SIGTERM, SIGINT, SIGKILL ------------------------------------------------

LONG_SCRIPT = """
import signal, sys, time, pathlib
import threadline as tl

if sys.argv[2] == "chained":
    def own(signum, frame):
        pathlib.Path(sys.argv[1] + ".own").write_text("ran")
        sys.exit(3)
    signal.signal(signal.SIGTERM, own)
run = tl.track()

@tl.flow("long-flow")
def long_flow() -> None:
    written = pathlib.Path(sys.argv[1] + ".part")  # whole or absent: renamed into place
    written.write_text(run.uid)
    written.rename(sys.argv[1])
    time.sleep(120)

long_flow()
"""


def _start_long(isolated: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    script = isolated / "long.py"
    script.write_text(LONG_SCRIPT)
    marker = isolated / f"uid-{mode}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    errors = isolated / f"{mode}.err"
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(marker), mode],
            cwd=isolated,
            env=env,
            stderr=stderr,
            preexec_fn=harness.ctrl_c_as_in_a_terminal,
        )
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), errors.read_text()
    return proc, marker


@pytest.mark.parametrize(
    "sig, code, error",
    [
        (signal.SIGTERM, 143, "terminated by signal 15 (SIGTERM)"),
        (signal.SIGINT, -signal.SIGINT, "KeyboardInterrupt"),
    ],
)
def test_sigterm_and_ctrl_c_end_the_runs_aborted(local_instance, isolated, sig, code, error):
    proc, marker = _start_long(isolated, "plain")
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    script_run = tl.Run.get(uid=marker.read_text())
    flow_run = tl.Run.get(transform__key="long-flow")
    assert script_run.status == "aborted" and script_run.error == error
    assert flow_run.status == "aborted" and flow_run.finished_at is not None
    assert script_run.pid == proc.pid and script_run.hostname == socket.gethostname()


def test_a_previous_sigterm_handler_is_kept(local_instance, isolated):
    proc, marker = _start_long(isolated, "chained")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 3  # the script's own handler ran and chose the exit
    assert Path(f"{marker}.own").read_text() == "ran"
    assert tl.Run.get(uid=marker.read_text()).status == "aborted"
    assert tl.Run.get(transform__key="long-flow").status == "aborted"


def test_runs_of_killed_processes_are_found_and_aborted(local_instance, isolated):
    killed, killed_marker = _start_long(isolated, "plain")
    alive, alive_marker = _start_long(isolated, "other")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        dead = tl.Run.get(uid=killed_marker.read_text())
        assert dead.status == "started" and dead.process_start is not None
        found = {r.uid for r in _liveness.dead_runs()}
        flow_run = tl.Run.get(transform__key="long-flow", pid=killed.pid)
        assert found == {dead.uid, flow_run.uid}  # the live process's runs are not listed
        runner = CliRunner()
        listed = runner.invoke(main, ["check"])
        assert listed.exit_code == 1
        assert f"dead run: {dead.uid} (long.py, pid {killed.pid})" in listed.output
        assert "2 runs whose process is gone (--fix aborts them)" in listed.output
        fixed = runner.invoke(main, ["check", "--fix", "--json"])
        assert fixed.exit_code == 0, fixed.output
        rows = [r for r in json.loads(fixed.output) if r.get("issue") == "dead run, aborted"]
        assert {r["uid"] for r in rows} == found
        dead = tl.Run.get(uid=dead.uid)
        assert dead.status == "aborted" and f"process {killed.pid}" in dead.error
        assert tl.Run.get(uid=alive_marker.read_text()).status == "started"
        assert _liveness.dead_runs() == []
    finally:
        alive.kill()
        alive.wait(timeout=60)


def test_a_reused_pid_is_not_mistaken_for_the_run(local_instance, isolated):
    me = os.getpid()
    started = _liveness.process_start(me)
    assert started is not None and _liveness.is_alive(me, started)
    assert not _liveness.is_alive(me, started - 3600)  # same pid, another process start
