"""What users type: the ``snakemake`` command finds the plugins, reads their options,
and a workflow profile switches the logger on; jobs run out of process on a (local
imitation of a) cluster."""

import subprocess
from pathlib import Path

import threadline as tl

from tests import harness
from tests.plugins.snakemake.conftest import copy_workflow, run_snakemake

from .conftest import cli

HERE = Path(__file__).resolve().parent


def test_workflow_profile_activates_the_logger(local_instance, tmp_path: Path):
    folder = copy_workflow("profile", tmp_path)
    cli(["--dry-run"], cwd=folder)  # the profile's logger is on, but dry runs record nothing
    assert tl.Run.filter().count() == 0

    done = cli([], cwd=folder)
    assert "Using workflow specific profile" in done.stderr
    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert pipeline.status == "completed" and pipeline.transform.key == "hello-pipeline"
    hello = tl.Artifact.get(key="hello-pipeline/results/hello.txt")
    assert hello.load() == "hello hello\n" and hello.run.name == "hello (name=hello)"


def test_help_lists_the_plugins_and_their_options(tmp_path: Path):
    text = cli(["--help"], cwd=tmp_path).stdout
    for option in (
        "--logger-threadline-db",
        "--logger-threadline-key-prefix",
        "--logger-threadline-skip-unknown-inputs",
        "--logger-threadline-skip-logs",
        "--storage-threadline-db",
        "--storage-threadline-storage",
    ):
        assert option in text
    assert "{threadline}" in text  # a choice of --logger


def test_cluster_generic_executor_runs_jobs_out_of_process(three_rules: Path):
    from snakemake_executor_plugin_cluster_generic import ExecutorSettings

    handlers = run_snakemake(
        three_rules,
        executor="cluster-generic",
        nodes=2,
        executor_settings=ExecutorSettings(submit_cmd=str(HERE / "submit.sh")),
    )
    assert handlers[0].failures == []
    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert pipeline.status == "completed"
    assert sorted(r.name for r in pipeline.children) == [
        "all",
        "combine",
        "make (sample=A)",
        "make (sample=B)",
        "summarize",
    ]
    combined = tl.Artifact.get(key="results/combined.txt")
    assert {a.key for a in tl.lineage.upstream(combined).artifacts} == {
        "results/A.txt",
        "results/B.txt",
        "raw/A.txt",  # source data, by the paths the jobs read
        "raw/B.txt",
    }


def test_interrupted_workflow_is_aborted(local_instance, tmp_path: Path):
    """Ctrl-C (SIGINT to the process group) during a job: the pipeline run and the
    killed job are aborted, the finished job stays completed.

    No timing assumption: the signal goes once the slow job has started (it touches a
    flag, then waits for a file that never comes), and the recorder reads the end from
    what the killed job reports, in whatever order Snakemake's threads report it."""
    import os
    import signal
    import subprocess

    from .conftest import SNAKEMAKE

    folder = copy_workflow("slow", tmp_path)
    process = subprocess.Popen(
        [str(SNAKEMAKE), "--cores", "1", "--logger", "threadline"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
        preexec_fn=harness.ctrl_c_as_in_a_terminal,
    )
    try:
        wait_for(folder / "started.flag", process)
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group
        _, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:  # never leave it behind for the next test
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0, stderr[-2000:]

    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert pipeline.status == "aborted" and "interrupted" in pipeline.error, stderr[-3000:]
    jobs = {run.name: run for run in pipeline.children}
    assert jobs["quick"].status == "completed"
    assert jobs["slow"].status == "aborted"  # killed by the signal, not failed


def wait_for(flag: Path, process: subprocess.Popen[str]) -> None:
    """Until ``flag`` exists; fails at once if the process ended without making it."""
    import time

    while not flag.exists():
        if process.poll() is not None:
            raise AssertionError(f"snakemake ended before {flag.name}: {process.communicate()}")
        time.sleep(0.05)  # a short pause between looks


def test_logger_with_an_equals_sign_leaves_the_targets_alone(local_instance, tmp_path: Path):
    """``--logger`` takes several names: ``--logger threadline TARGET`` reads TARGET as a
    logger (Snakemake refuses it), ``--logger=threadline TARGET`` builds TARGET."""
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "Snakefile").write_text(
        'rule stage:\n    input: "raw.txt"\n    output: "staged.txt"\n'
        '    shell: "cp {input} {output}"\n'
        'rule publish:\n    input: "staged.txt"\n    output: "final.txt"\n'
        '    shell: "cp {input} {output}"\n'
    )
    (folder / "raw.txt").write_text("same\n")
    refused = cli(["--cores", "1", "--logger", "threadline", "staged.txt"], folder, check=False)
    assert refused.returncode != 0 and "invalid choice: 'staged.txt'" in refused.stderr

    cli(["--cores", "1", "--logger=threadline", "staged.txt"], cwd=folder)
    assert (folder / "staged.txt").exists() and not (folder / "final.txt").exists()
    (stage,) = tl.Run.filter(engine="snakemake", name="stage")
    assert [(a.key, a.run) for a in stage.inputs] == [("raw.txt", None)]
    assert tl.Artifact.get(key="staged.txt").run.uid == stage.uid


def test_the_command_refuses_a_provider_that_switches_the_database_mid_pipeline(
    local_instance, tmp_path: Path
):
    """As the storage test through the API, with ``snakemake --logger threadline``: the
    command fails with threadline's reason, the records stay in the first instance."""
    folder = copy_workflow("two_instances", tmp_path)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    done = cli(
        [
            "--cores",
            "1",
            "--logger",
            "threadline",
            "--config",
            f"other_db={other}",
            f"other_storage={tmp_path / 'o'}",
        ],
        cwd=folder,
        check=False,
    )
    pipeline = tl.Run.get(transform__key="Snakefile")
    assert done.returncode != 0
    assert "a threadline storage provider names sqlite:///" in done.stderr
    assert "but this workflow records into" in done.stderr
    assert pipeline.status == "errored"
    assert tl.Run.get(transform__key="Snakefile/split").parent.uid == pipeline.uid
    assert not (tmp_path / "other.db").exists()


def test_the_command_refuses_a_provider_naming_another_database_than_the_logger(
    local_instance, tmp_path: Path
):
    """``--logger-threadline-db`` names one database, the Snakefile's ``storage:`` block
    another, first used while Snakemake builds the DAG: the command fails with one line
    naming both, before the provider opens anything. Before, the provider's connect
    switched the process and the logger's database was silently not used."""
    folder = copy_workflow("two_providers", tmp_path)
    done = cli(
        [
            "--cores",
            "1",
            "--logger",
            "threadline",
            "--logger-threadline-db",
            local_instance.settings.db,
            "--logger-threadline-storage",
            local_instance.settings.storage,
            "--config",
            f"other_db=sqlite:///{tmp_path / 'other.db'}",
            f"other_storage={tmp_path / 'o'}",
        ],
        cwd=folder,
        check=False,
        env={"THREADLINE_DB": "", "THREADLINE_STORAGE": ""},  # the options alone name it
    )
    assert done.returncode != 0
    refusal = (
        f"a threadline storage provider names sqlite:///{tmp_path / 'other.db'}, but this "
        f"workflow records into {local_instance.settings.db} (opened by the threadline logger)"
    )
    assert refusal in done.stderr
    assert tl.Run.get(transform__key="Snakefile").status == "errored"
    assert not (tmp_path / "other.db").exists()
