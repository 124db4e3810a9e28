"""The logger plugin on real in-process Snakemake runs of a three-rule workflow."""

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import threadline as tl

from tests.plugins.snakemake.conftest import run_snakemake


def pipeline_runs() -> list[tl.Run]:
    return list(tl.Run.filter(engine="snakemake", parent=None).order_by("id"))


def jobs_of(pipeline: tl.Run) -> dict[str, tl.Run]:
    return {run.name: run for run in tl.Run.filter(parent=pipeline)}


def test_workflow_becomes_pipeline_run_with_job_runs(three_rules: Path):
    handlers = run_snakemake(three_rules, cores=2)
    assert [h.failures for h in handlers] == [[]]

    (pipeline,) = pipeline_runs()
    assert pipeline.status == "completed" and pipeline.finished_at is not None
    assert pipeline.transform.key == "Snakefile" and pipeline.transform.kind == "pipeline"
    assert "rule summarize:" in pipeline.transform.source  # the Snakefile, hashed...
    assert "rule combine:" in pipeline.transform.source  # ...with what it includes
    jobs = jobs_of(pipeline)
    assert sorted(jobs) == ["all", "combine", "make (sample=A)", "make (sample=B)", "summarize"]
    assert all(run.status == "completed" for run in jobs.values())

    make = jobs["make (sample=A)"]
    assert make.transform.key == "Snakefile/make" and make.transform.kind == "rule"
    assert make.transform.source == (
        "shell: tr a-z A-Z < {input} > {output}; echo made {params.label} > {log}"
    )
    assert make.params == {"factor": 2, "label": "sample-A"}  # harvested: not in events
    values = make.features.get_values()
    assert values["sample"] == "A" and values["threads"] == 2
    assert values["resources"] == {"mem_mb": 100}
    assert values["shellcmd"].startswith("tr a-z A-Z < raw/A.txt > results/A.txt")
    assert values["reason"] == "Missing output files: results/A.txt"
    assert jobs["summarize"].transform.source.startswith("script: scripts/summarize.py\n")
    assert len({run.transform.uid for run in jobs.values()}) == 4  # one per rule


def test_outputs_are_artifacts_with_lineage_to_raw_inputs(three_rules: Path):
    run_snakemake(three_rules)
    combined = tl.Artifact.get(key="results/combined.txt")
    assert combined.run.name == "combine" and combined.load() == "ALPHA\nBETA\nGAMMA\n"

    up = tl.lineage.upstream(combined)
    raw = [a for a in up.artifacts if a.key.startswith("raw/")]  # sources, by their paths
    assert {a.key for a in up.artifacts} == {
        "results/A.txt",
        "results/B.txt",
        "raw/A.txt",
        "raw/B.txt",
    }
    assert [a.run for a in raw] == [None, None]
    assert sorted(r.name for r in up.runs) == ["combine", "make (sample=A)", "make (sample=B)"]
    summary = tl.Artifact.get(key="results/summary.json")
    assert summary.load() == {"A": 2, "B": 1}  # the script rule's output, loaded as JSON

    make = tl.Run.get(name="make (sample=A)")
    assert [a.key for a in make.upstream_runs] == []
    combine = tl.Run.get(name="combine")
    assert sorted(r.name for r in combine.upstream_runs) == ["make (sample=A)", "make (sample=B)"]


def test_wildcards_annotate_outputs_and_logs_are_attached(three_rules: Path):
    run_snakemake(three_rules)
    assert [a.key for a in tl.Artifact.filter(sample="A")] == ["results/A.txt"]
    assert tl.Artifact.get(key="results/B.txt").features.get_values() == {"sample": "B"}
    make = tl.Run.get(name="make (sample=B)")
    assert make.logs.key == "logs/make_B.log" and make.logs.load() == "made sample-B\n"
    assert tl.Run.filter(sample="B").count() == 1  # the job run too


def test_dry_run_records_nothing(three_rules: Path):
    run_snakemake(three_rules, executor="dryrun")
    assert tl.Run.filter().count() == 0 and tl.Artifact.filter().count() == 0
    assert not (three_rules / "results").exists()


def test_rerun_records_no_new_jobs_and_versions_only_changed_content(three_rules: Path):
    run_snakemake(three_rules)
    run_snakemake(three_rules)  # everything up to date
    _, second = pipeline_runs()
    assert second.status == "completed" and second.children.count() == 0

    run_snakemake(three_rules, forceall=True)  # same inputs, same bytes
    assert tl.Artifact.get(key="results/combined.txt").version == 1
    (three_rules / "raw" / "B.txt").write_text("delta\n")
    run_snakemake(three_rules)  # B changed: make B, combine, summarize rerun
    assert tl.Artifact.get(key="results/combined.txt").version == 2
    assert tl.Artifact.get(key="results/A.txt").version == 1
    assert [a.version for a in tl.Artifact.get(key="results/B.txt").versions] == [1, 2]
    last = pipeline_runs()[-1]
    assert sorted(jobs_of(last)) == ["all", "combine", "make (sample=B)", "summarize"]


def test_failing_job_is_errored_with_its_log(local_instance, tmp_path: Path):
    from tests.plugins.snakemake.conftest import copy_workflow

    folder = copy_workflow("failing", tmp_path)
    with pytest.raises(Exception, match="did not complete successfully"):
        run_snakemake(folder, cores=1)
    (pipeline,) = pipeline_runs()
    assert pipeline.status == "errored"
    assert pipeline.error == "1 job(s) failed: bad"
    assert "CalledProcessError" in pipeline.traceback  # Snakemake's error messages
    jobs = jobs_of(pipeline)
    assert jobs["ok"].status == "completed"
    bad = jobs["bad"]
    assert bad.status == "errored" and "Error in rule bad" in bad.error
    assert "something broke" in bad.traceback and bad.logs.load() == "something broke\n"
    assert tl.Artifact.filter(key="bad.txt").count() == 0  # Snakemake removed it
    assert "after" not in jobs  # never started


def test_quiet_run_settles_jobs_at_close(three_rules: Path):
    from snakemake.settings.enums import Quietness

    run_snakemake(three_rules, quiet={Quietness.PROGRESS})  # no job_finished events at all
    (pipeline,) = pipeline_runs()
    jobs = jobs_of(pipeline)
    assert pipeline.status == "completed"
    assert all(run.status == "completed" for run in jobs.values())
    assert tl.Artifact.get(key="results/combined.txt").run.name == "combine"


def test_key_prefix_and_project(three_rules: Path):
    from threadline.snakemake import LogHandlerSettings

    run_snakemake(
        three_rules, settings=LogHandlerSettings(key_prefix="demo", project="p1", skip_logs=True)
    )
    (pipeline,) = pipeline_runs()
    assert pipeline.transform.key == "demo" and pipeline.project.name == "p1"
    assert tl.Artifact.get(key="demo/results/A.txt").run.transform.key == "demo/make"
    assert tl.Artifact.filter(key__startswith="demo/logs/").count() == 0


def test_retried_job_records_each_attempt(local_instance, tmp_path: Path):
    from tests.plugins.snakemake.conftest import copy_workflow

    run_snakemake(copy_workflow("retry", tmp_path), cores=1)
    (pipeline,) = pipeline_runs()
    assert pipeline.status == "completed"  # the retry made it
    attempts = sorted(tl.Run.filter(parent=pipeline, name="flaky"), key=lambda r: r.id)
    assert [r.status for r in attempts] == ["errored", "completed"]
    assert attempts[1].features.get_values()["attempt"] == 2
    assert tl.Artifact.get(key="flaky.txt").run.uid == attempts[1].uid


def test_secrets_are_masked_and_a_tracked_parent_is_the_parent(
    local_instance, tmp_path: Path, monkeypatch
):
    folder = tmp_path / "secret"
    folder.mkdir()
    (folder / "Snakefile").write_text(
        'rule call:\n    output: "out.txt"\n    params: password="hunter2"\n'
        '    shell: "echo calling --token s3cr3t > {output}"\n'
    )
    parent = tl.adapters.start_run("driver.py", "script")  # as tl.track() in a driver script
    monkeypatch.setenv("THREADLINE_PARENT_RUN", parent.uid)

    run_snakemake(folder, cores=1)
    pipeline = tl.Run.get(engine="snakemake", parent=parent)
    job = tl.Run.get(parent=pipeline)
    assert job.params == {"password": "***"}
    assert job.features.get_values()["shellcmd"] == "echo calling --token *** > out.txt"
    assert "s3cr3t" not in job.transform.source and "hunter2" not in pipeline.transform.source
    assert (folder / "out.txt").read_text() == "calling --token s3cr3t\n"  # Snakemake's own


def test_temp_benchmark_and_folder_outputs(local_instance, tmp_path: Path):
    from tests.plugins.snakemake.conftest import copy_workflow

    folder = copy_workflow("temp", tmp_path)
    run_snakemake(folder, cores=1)
    assert not (folder / "intermediate.txt").exists()  # Snakemake removed it...
    final = tl.Artifact.get(key="final.txt")  # ...after threadline recorded it
    assert [a.key for a in tl.lineage.upstream(final).artifacts] == ["intermediate.txt"]
    first = tl.Artifact.get(key="intermediate.txt").run
    assert first.name == "first"
    assert {a.key for a in first.outputs} == {"intermediate.txt", "benchmarks/first.tsv"}
    parts = tl.Artifact.get(key="parts")
    assert (parts.kind, parts.n_files) == ("folder", 2)  # a part and .snakemake_timestamp
    assert parts.run.name == "split" and [a.key for a in parts.run.inputs] == ["final.txt"]


def test_inputs_already_saved_are_found_by_content(three_rules: Path):
    raw = tl.Artifact(three_rules / "raw" / "A.txt", key="datasets/A.txt").save()
    run_snakemake(three_rules)
    make = tl.Run.get(name="make (sample=A)")
    assert [a.uid for a in make.inputs] == [raw.uid]  # not a second artifact
    assert tl.Run.get(name="make (sample=B)").inputs[0].key == "raw/B.txt"  # a source


def _hold_write_lock(db: str) -> tuple[object, Callable[[], None]]:
    """Another client holds the instance's write lock (a concurrent ingest, say): reads
    go on, every write waits until ``release()``."""
    if db.startswith("sqlite"):
        other = sqlite3.connect(
            db.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
        )
        other.execute("BEGIN IMMEDIATE")
    else:
        import psycopg2

        other = psycopg2.connect(db)
        other.cursor().execute('LOCK TABLE "run" IN SHARE ROW EXCLUSIVE MODE')
    return other, lambda: (other.rollback(), other.close())  # type: ignore[attr-defined]


def test_jobs_inherit_the_pipeline_run_even_when_the_listener_lags(db_instance, tmp_path: Path):
    """The first job's process sees THREADLINE_PARENT_RUN although the log listener is
    stuck behind another client's write lock: the pipeline run and the jobs' environment
    are made on Snakemake's main thread before it starts the job, never set from the
    listener while jobs start (a write to the environment while another thread forks
    can also make the child's exec fail with EFAULT)."""
    folder = tmp_path / "lagging"
    folder.mkdir()
    (folder / "Snakefile").write_text(
        'rule env:\n    output: "env.txt"\n'
        '    shell: "echo ${{THREADLINE_PARENT_RUN:-unset}} > {output}"\n'
    )
    _, release = _hold_write_lock(tl.instance().settings.db)
    done = threading.Event()

    def release_later() -> None:
        # The lock goes when the job has run (only possible before the fix) or after 3 s;
        # a slow machine can only let the old order pass, never fail the new one.
        for _ in range(30):
            if (folder / "env.txt").exists() or done.wait(0.1):
                break
        release()

    releaser = threading.Thread(target=release_later)
    releaser.start()
    try:
        run_snakemake(folder, cores=1)
    finally:
        done.set()
        releaser.join()
    (pipeline,) = pipeline_runs()
    assert (folder / "env.txt").read_text().strip() == pipeline.uid
    assert tl.Run.get(parent=pipeline).name == "env"
    assert "THREADLINE_PARENT_RUN" not in os.environ  # restored at the end


def test_a_pipeline_run_that_cannot_be_written_is_tried_once_on_snakemakes_thread(
    three_rules: Path, monkeypatch: pytest.MonkeyPatch
):
    """The write before the first job is the only one Snakemake's own thread waits for:
    refused (a real trigger), it is not tried again there for the next jobs; the
    listener goes on trying, and the workflow runs to its end."""
    from tests.plugins.snakemake.test_recorder import refuse_runs

    monkeypatch.setenv("THREADLINE_STRICT", "0")
    refuse_runs("Snakefile")  # the pipeline run's name
    (handler,) = run_snakemake(three_rules, cores=2)
    on_main_thread = [f for f in handler.failures if "(main thread)" in f]
    assert len(on_main_thread) == 1 and "job_info" in on_main_thread[0]
    assert len(handler.failures) > 1  # the listener's own tries, one per event
    assert (three_rules / "results" / "combined.txt").exists()
    assert not pipeline_runs()


def test_an_exception_the_caller_was_handling_does_not_fail_the_workflow(three_rules: Path):
    """The handler reads the exception leaving Snakemake's API (``Outcome.raised``); one
    the caller was already handling around the whole run is not the workflow's."""
    try:
        raise ValueError("handled by the caller")
    except ValueError:
        handlers = run_snakemake(three_rules)
    assert [h.failures for h in handlers] == [[]]
    (pipeline,) = pipeline_runs()
    assert (pipeline.status, pipeline.error) == ("completed", None)


def test_an_exception_after_the_workflow_succeeded_is_not_the_workflows(three_rules: Path):
    """The caller's own code inside ``with SnakemakeApi(...)`` raising after the workflow
    returned: the exception leaves the API as the workflow's would, but the workflow
    succeeded, so its pipeline run is completed. Before, it was errored with the
    caller's exception."""

    def then() -> None:
        raise RuntimeError("the caller's own code, after the workflow")

    with pytest.raises(RuntimeError, match="the caller's own code"):
        run_snakemake(three_rules, then=then)
    (pipeline,) = pipeline_runs()
    assert (pipeline.status, pipeline.error) == ("completed", None)
    assert (three_rules / "results" / "combined.txt").exists()


def test_what_an_exception_out_of_the_api_makes_of_the_outcome():
    from threadline.snakemake._outcome import Outcome

    group = ExceptionGroup("unhandled errors in a TaskGroup", [OSError("disk full\nmore")])
    failed = Outcome()
    failed.raised(group)
    assert failed.failed and failed.summary() == "OSError: disk full"
    stopped = Outcome()
    stopped.raised(KeyboardInterrupt())
    assert stopped.stopped and not stopped.failed
    for fine in (SystemExit(0), SystemExit(None)):
        untouched = Outcome()
        untouched.raised(fine)
        assert not (untouched.failed or untouched.stopped)
    told = Outcome()  # an error event came first: it stays the summary
    told.error("MissingInputException: no input", "MissingInputException")
    told.raised(RuntimeError("later"))
    assert told.errors == ["MissingInputException: no input"]
