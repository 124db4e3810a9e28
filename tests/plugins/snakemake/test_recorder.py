"""The recorder's batches: file work outside the write transaction, few statements per
batch, and a batch the database refuses costs no record it need not cost."""

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import threadline as tl

from tests.plugins.snakemake.conftest import run_snakemake

_OPENED_IN_TRANSACTION: list[str] | None = None  # set while a test watches
_WATCHED_ROOT = ""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Python's audit hook for ``open``: note files opened while this thread's database
    connection is inside a transaction (what holds SQLite's write lock)."""
    if event != "open" or _OPENED_IN_TRANSACTION is None:
        return
    path = args[0]
    if (
        isinstance(path, str)
        and path.startswith(_WATCHED_ROOT)
        and tl.Run._meta.database.in_transaction()
    ):
        _OPENED_IN_TRANSACTION.append(path)


_HOOKED: list[bool] = []


def refuse_runs(name: str) -> None:
    """A real database fault: a trigger that makes SQLite refuse to insert runs named
    ``name`` (nothing in threadline is replaced or mocked)."""
    tl.Run._meta.database.execute_sql(
        f'CREATE TRIGGER refuse BEFORE INSERT ON "{tl.Run._meta.table_name}" '
        f"WHEN NEW.name = '{name}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )


def _one_job_started(tmp_path: Path, workflow_id: str) -> tuple[Any, dt.datetime]:
    """A recorder that saw a workflow start and one job ``make (sample=A)`` writing
    out.txt (the plugin's own types: imported here, after the instance fixture)."""
    from threadline.snakemake._events import JobInfo, WorkflowInfo
    from threadline.snakemake._files import Reported
    from threadline.snakemake._recorder import Recorder
    from threadline.snakemake._register import Options

    now = dt.datetime(2024, 5, 2, 12)
    (tmp_path / "Snakefile").write_text("rule make:\n    output: 'out.txt'\n")
    (tmp_path / "out.txt").write_text("made\n")
    recorder = Recorder(Options())
    recorder.workflow_started(
        WorkflowInfo(
            workflow_id=workflow_id,
            snakefile="Snakefile",
            workdir=str(tmp_path),
            cmd="snakemake",
            host=None,
            user=None,
            snakemake_version="9",
            config_md5=None,
            started_at=now,
        )
    )
    recorder.job_info(
        JobInfo(
            jobid=1,
            rule="make",
            inputs=(),
            outputs=(Reported("out.txt"),),
            logs=(),
            benchmark=None,
            wildcards=(("sample", "A"),),
            threads=1,
            resources=(),
            shellcmd="echo made > out.txt",
            reason=None,
            message=None,
            started_at=now,
        )
    )
    return recorder, now


def test_files_are_hashed_and_stored_outside_the_write_transaction(
    three_rules: Path, tmp_path: Path
):
    global _OPENED_IN_TRANSACTION, _WATCHED_ROOT
    if not _HOOKED:  # once: audit hooks cannot be removed (idle unless a test watches)
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    _OPENED_IN_TRANSACTION, _WATCHED_ROOT = [], str(tmp_path)
    try:
        handlers = run_snakemake(three_rules)
    finally:
        opened, _OPENED_IN_TRANSACTION = _OPENED_IN_TRANSACTION, None
    assert handlers[0].failures == []
    assert tl.Artifact.get(key="results/combined.txt").run.name == "combine"
    assert tl.Run.get(name="make (sample=A)").inputs[0].key == "raw/A.txt"  # source hashed
    assert opened == []


def test_a_batch_costs_a_few_statements(
    local_instance, tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
):
    """Four jobs store through the storage plugin and a fifth reads their outputs, all in
    one batch: one lookup of the storage artifacts, one UPDATE claiming them for their
    jobs, one INSERT of the run links."""
    monkeypatch.setattr("threadline.snakemake._recorder.BATCH_SECONDS", 3600.0)
    folder = tmp_path / "fan"
    folder.mkdir()
    (folder / "Snakefile").write_text(
        'S = ["A", "B", "C", "D"]\n'
        'rule all:\n    input: "report.txt"\n'
        'rule norm:\n    output: storage.threadline("threadline://fan/{s}.txt")\n'
        '    shell: "echo {wildcards.s} > {output}"\n'
        "rule report:\n"
        '    input: storage.threadline(expand("threadline://fan/{s}.txt", s=S))\n'
        '    output: "report.txt"\n    shell: "cat {input} > {output}"\n'
    )
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        assert run_snakemake(folder)[0].failures == []
    report = tl.Run.get(name="report")
    assert sorted(r.name for r in report.upstream_runs) == [f"norm (s={s})" for s in "ABCD"]
    assert tl.Artifact.get(key="fan/C.txt").run.name == "norm (s=C)"
    assert tl.Artifact.get(key="fan/C.txt").features.get_values() == {"s": "C"}
    assert len(report.inputs) == 4

    sql = [str(r.msg) for r in caplog.records if r.name == "peewee"]  # every statement
    assert sum('UPDATE "artifact" SET "run_id"' in q for q in sql) == 1
    assert sum('INTO "run_link"' in q for q in sql) == 1
    assert sum('"key" IN (?, ?, ?, ?)' in q for q in sql) == 1  # the batch's 4 keys


def test_a_refused_job_costs_itself_not_the_batch(
    three_rules: Path, monkeypatch, caplog: pytest.LogCaptureFixture
):
    """The database refuses one job's run: the other jobs of its batch are recorded, no
    record refers to a run that was rolled back, Snakemake finishes, and the failure is
    logged once."""
    monkeypatch.delenv("THREADLINE_STRICT")
    refuse_runs("combine")
    with caplog.at_level(logging.ERROR, logger="threadline.snakemake"):
        handlers = run_snakemake(three_rules)
    assert (three_rules / "results" / "combined.txt").exists()
    messages = [r.getMessage() for r in caplog.records if r.name == "threadline.snakemake"]
    assert handlers[0].failures and len(messages) == len(set(handlers[0].failures))
    assert all("refused by the test" in m for m in messages)

    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert pipeline.status == "completed"  # Snakemake's result stands
    jobs = {run.name: run for run in tl.Run.filter(parent=pipeline)}
    assert sorted(jobs) == ["all", "make (sample=A)", "make (sample=B)", "summarize"]
    assert all(run.status == "completed" for run in jobs.values())
    assert tl.Artifact.get(key="results/A.txt").run.uid == jobs["make (sample=A)"].uid
    run_ids = {run.id for run in tl.Run.filter()}
    assert {a.run_id for a in tl.Artifact.filter()} <= run_ids | {None}
    assert tl.Artifact.filter(key="results/combined.txt").count() == 0  # combine's


def test_failed_flush_resets_its_runs_and_close_retries_them(local_instance, tmp_path: Path):
    """Driven without Snakemake, so the test can lift the fault between two flushes."""
    recorder, now = _one_job_started(tmp_path, "wf-1")
    recorder.job_finished(1, now)
    refuse_runs("make (sample=A)")
    with pytest.raises(Exception, match="refused by the test"):
        recorder.flush()
    assert recorder.jobs[1].run is None  # not a run that was rolled back
    assert tl.Run.filter(name="make (sample=A)").count() == 0

    tl.Run._meta.database.execute_sql("DROP TRIGGER refuse")
    recorder.close()
    run = tl.Run.get(name="make (sample=A)")
    assert run.status == "completed" and run.parent.status == "completed"
    assert tl.Artifact.get(key="out.txt").run.uid == run.uid
    assert tl.Artifact.get(key="out.txt").features.get_values() == {"sample": "A"}


def test_a_job_given_up_has_its_run_aborted_not_left_started(local_instance, tmp_path: Path):
    """A job whose run was written at its start but whose files are refused in two
    batches is given up: its run is closed as aborted, not left started forever."""
    recorder, now = _one_job_started(tmp_path, "wf-2")
    recorder.flush()  # the job's run is written, started
    assert tl.Run.get(name="make (sample=A)").status == "started"
    table = tl.Run._meta.database  # a real fault: every run feature value is refused
    table.execute_sql(
        'CREATE TRIGGER refuse BEFORE INSERT ON "run_feature_value" '
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    recorder.job_finished(1, now)
    with pytest.raises(Exception, match="refused by the test"):
        recorder.flush()
    with pytest.raises(Exception, match="refused by the test"):
        recorder.close()  # the second try fails too: given up
    run = tl.Run.get(name="make (sample=A)")
    assert run.status == "aborted" and "could not record" in run.error
    assert run.parent.status == "completed"


def test_a_pipeline_feature_that_does_not_fit_costs_only_that_feature(
    three_rules: Path, caplog: pytest.LogCaptureFixture
):
    tl.Feature(name="snakemake_version", dtype="int").save()  # the version is a string
    with caplog.at_level(logging.WARNING, logger="threadline.snakemake"):
        handlers = run_snakemake(three_rules)
    assert handlers[0].failures == []
    assert any("snakemake_version" in r.getMessage() for r in caplog.records)
    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert pipeline.status == "completed" and pipeline.children.count() == 5
    assert tl.Artifact.get(key="results/combined.txt").run.name == "combine"
    values = pipeline.features.get_values()
    assert "snakemake_version" not in values and values["workdir"] == str(three_rules)


KILLED_SHELL = (
    "RuleException:\nCalledProcessError in file Snakefile, line 20:\n"
    "Command 'set -euo pipefail;  sleep 600' died with <Signals.SIGINT: 2>."
)


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(["interrupt", "rule_error", "job_error"], id="interrupt-first"),
        pytest.param(["rule_error", "job_error", "interrupt"], id="killed-job-first"),
        pytest.param(["rule_error", "job_error"], id="interrupt-swallowed"),
        pytest.param(["job_error_130"], id="exit-status-130"),
    ],
)
def test_interrupt_in_any_order_aborts_the_workflow(local_instance, tmp_path: Path, events):
    """Snakemake's threads report a Ctrl-C and the job it killed in either order (and a
    Ctrl-C that lands while Snakemake writes a log line is swallowed there): the killed
    job and the workflow are aborted whatever arrives, and the finished job stays
    completed. Driven without Snakemake, so every order is run on purpose."""
    from threadline.snakemake._events import JobInfo, WorkflowInfo
    from threadline.snakemake._recorder import Recorder
    from threadline.snakemake._register import Options

    now = dt.datetime(2024, 5, 2, 12)
    (tmp_path / "Snakefile").write_text("rule quick: ...\nrule slow: ...\n")
    recorder = Recorder(Options())
    recorder.workflow_started(
        WorkflowInfo("wf-1", "Snakefile", str(tmp_path), "snakemake", None, None, "9", None, now)
    )
    for jobid, rule in ((2, "quick"), (1, "slow")):
        recorder.job_info(JobInfo(jobid, rule, (), (), (), None, (), 1, (), None, None, None, now))
    recorder.job_finished(2, now)
    for event in events:
        if event == "interrupt":
            recorder.message("Terminating processes on user request, this might take some time.")
        elif event == "rule_error":
            recorder.error(KILLED_SHELL, "RuleException")
        elif event == "job_error":
            recorder.job_error(1, "Error in rule slow, jobid: 1", now)
        else:
            recorder.job_error(1, "Command 'sleep 600' returned non-zero exit status 130.", now)
    recorder.error(
        "WorkflowError:\nAt least one job did not complete successfully.", "WorkflowError"
    )
    recorder.close()

    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert (pipeline.status, pipeline.error) == (
        "aborted",
        "interrupted (Ctrl-C or a termination signal)",
    )
    jobs = {run.name: run.status for run in pipeline.children}
    assert jobs == {"quick": "completed", "slow": "aborted"}


def test_a_failed_job_still_errors_the_workflow(local_instance, tmp_path: Path):
    """The other side of the rule above: a job that fails on its own is errored."""
    from threadline.snakemake._events import JobInfo, WorkflowInfo
    from threadline.snakemake._recorder import Recorder
    from threadline.snakemake._register import Options

    now = dt.datetime(2024, 5, 2, 12)
    (tmp_path / "Snakefile").write_text("rule slow: ...\n")
    recorder = Recorder(Options())
    recorder.workflow_started(
        WorkflowInfo("wf-1", "Snakefile", str(tmp_path), "snakemake", None, None, "9", None, now)
    )
    recorder.job_info(JobInfo(1, "slow", (), (), (), None, (), 1, (), None, None, None, now))
    recorder.error(
        "RuleException:\nCommand 'false' returned non-zero exit status 1.", "RuleException"
    )
    recorder.job_error(1, "Error in rule slow, jobid: 1", now)
    recorder.close()
    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert (pipeline.status, pipeline.error) == ("errored", "1 job(s) failed: slow")
    assert [run.status for run in pipeline.children] == ["errored"]
