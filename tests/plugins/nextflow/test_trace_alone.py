"""A Nextflow run from its trace file alone: every real trace with its launch folder gone
(no ``.nextflow/history``, no lineage store), on SQLite and PostgreSQL."""

import json
import shutil
from pathlib import Path

import pytest
import threadline as tl
from click.testing import CliRunner
from threadline.cli import main
from threadline.nextflow import ingest, ingest_traces, read_trace

from .conftest import LAUNCHDIR, TRACES

REAL = sorted(p for p in TRACES.rglob("*.txt") if p.name != "pipeline_report.txt")
OUTCOME = {  # the run's status as Nextflow ended it
    "execution_trace.txt": "completed",
    "job-success-no-retries.txt": "completed",
    "job-success-with-task-retries.txt": "completed",  # CONVERTTOUPPER (2) failed twice, then ran
    "job-fail-task1-firsttry.txt": "errored",
    "job-fail-task1-manyretry.txt": "errored",
    "job-fail-task2-retries-and-aborts.txt": "errored",
}
TASK_STATUS = {"COMPLETED": "completed", "CACHED": "completed", "FAILED": "errored"}
FIRST_QC, SECOND_QC = "0203efbb340cc762309c4adaf00bcd59", "f552e5e8882ec9f04ac05f95b4442823"


def counts() -> tuple[int, int, int, int]:
    return (
        tl.Run.filter().count(),
        tl.Artifact.filter().count(),
        tl.Transform.filter().count(),
        tl.Feature.filter().count(),
    )


def tasks_of(workflow: tl.Run) -> list[tl.Run]:
    return sorted(tl.Run.filter(parent=workflow), key=lambda r: r.id)


def published(tmp_path: Path, source: Path, name: str | None = None) -> Path:
    """The trace as nf-core leaves it: results/pipeline_info/, no launch folder."""
    folder = tmp_path / "results" / "pipeline_info"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, folder / (name or source.name)))


def test_every_real_trace_is_covered():
    assert sorted(p.name for p in REAL) == sorted(OUTCOME)


@pytest.mark.parametrize("source", REAL, ids=lambda p: p.name)
def test_a_real_trace_alone(db_instance, tmp_path, source):
    trace = published(tmp_path, source)
    rows = read_trace(trace)
    result = ingest(tmp_path / "results", trace=trace)
    first = min(r.get("submit") for r in rows)
    assert (result.created, result.tasks, result.skipped, result.session_id) == (
        True,
        len(rows),
        0,
        "",
    )
    assert result.run_name == f"{trace.stem}@{first:%Y-%m-%dT%H:%M:%S}"
    workflow = tl.Run.get(uid=result.workflow)
    assert (workflow.engine, workflow.status, workflow.started_at) == (
        "nextflow",
        OUTCOME[source.name],
        first,
    )
    assert workflow.reference == f"trace:{trace.name}@{first.isoformat(timespec='milliseconds')}"
    assert workflow.features.get_values() == {"trace_file": str(trace)}
    assert workflow.transform.key == "nextflow-pipeline"
    assert (workflow.error is None) == (OUTCOME[source.name] == "completed")
    tasks = tasks_of(workflow)
    expected = [(r.get("name"), TASK_STATUS.get(r.get("status"), "aborted")) for r in rows]
    assert sorted((t.name, t.status) for t in tasks) == sorted(expected)
    assert len({t.reference for t in tasks}) == len(rows)  # every attempt its own run
    for task, row in zip(sorted(tasks, key=_task_id), sorted(rows, key=_row_id), strict=True):
        values = task.features.get_values()
        assert values["trace"]["task_id"] == row.get("task_id")
        assert values.get("exit") == row.get("exit")
        assert values["trace"].get("duration_ms") == row.get("duration")
        assert task.transform.key == f"nextflow-pipeline/{values['process']}"

    before = counts()
    again = ingest(tmp_path / "results", trace=trace)
    assert (again.workflow, again.created, again.tasks, again.skipped) == (
        result.workflow,
        False,
        0,
        len(rows),
    )
    assert counts() == before  # re-ingest is a no-op


def _task_id(run: tl.Run) -> int:
    return int(run.features.get_values()["trace"]["task_id"])


def _row_id(row) -> int:
    return int(row.get("task_id"))


def test_run_name_is_a_label_and_the_file_the_identity(db_instance, tmp_path):
    trace = published(tmp_path, TRACES / "nf-executor" / "job-fail-task1-manyretry.txt")
    named = ingest(tmp_path, trace=trace, run_name="lost_launch_dir")
    workflow = tl.Run.get(uid=named.workflow)
    assert (named.run_name, workflow.name, workflow.status) == (
        "lost_launch_dir",
        "lost_launch_dir",
        "errored",
    )
    assert workflow.error == "1 task(s) did not complete: SPLITLETTERS (1) (errored)"
    assert tl.Run.filter(parent=workflow, status="errored").count() == 10  # every attempt
    before = counts()
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    again = ingest(moved, trace=shutil.copy(trace, moved / trace.name))  # copied, unnamed
    assert (again.workflow, again.run_name, again.tasks, counts()) == (
        named.workflow,
        "lost_launch_dir",
        0,
        before,
    )


def test_a_folder_of_traces(db_instance, tmp_path):
    """nf-core's pipeline_info/: a trace per launch, a report that is not a trace."""
    folder = tmp_path / "results" / "pipeline_info"
    for source in REAL:
        published(tmp_path, source, f"execution_trace_{source.stem}.txt")
    shutil.copy(TRACES / "wfcommons_nf-core-hlatyping-1.2.0_nf20.10.0/pipeline_report.txt", folder)
    results = ingest_traces(tmp_path / "results")  # pipeline_info/ is looked into
    assert [r.run_name.split("@")[0] for r in results] == sorted(
        f"execution_trace_{p.stem}" for p in REAL
    )
    assert sum(r.tasks for r in results) == sum(len(read_trace(p)) for p in REAL)
    statuses = sorted(tl.Run.get(uid=r.workflow).status for r in results)
    assert statuses == sorted(OUTCOME.values())
    before = counts()
    assert [r.tasks for r in ingest_traces(folder)] == [0] * len(REAL)
    assert counts() == before
    with pytest.raises(tl.errors.InvalidInput, match=r"a run name names one run; .* holds 6"):
        ingest_traces(folder, run_name="x")
    with pytest.raises(tl.errors.InvalidInput, match="is a folder: ingest_traces"):
        ingest(tmp_path, trace=folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(tl.errors.InvalidInput, match="no Nextflow trace files in"):
        ingest_traces(empty)
    assert counts() == before


RAW_FIELDS = "task_id hash native_id process tag name status exit attempt submit start complete"


def custom_trace(path: Path, work: Path, status: str = "COMPLETED", action: str = "-") -> Path:
    """A raw trace with an extended field set, as threadline's own config asks for, of the
    two tasks of the real 22.04.0 launch dir (their work dirs under ``work``)."""
    header = [*RAW_FIELDS.split(), "duration", "realtime", "%cpu", "peak_rss", "error_action"]
    rows = []
    for number, digest in enumerate((FIRST_QC, SECOND_QC), start=1):
        submit = 1651569293000 + number * 1000
        last = number == 2
        rows.append(
            [
                *(str(number), f"{digest[:2]}/{digest[2:8]}", str(4000 + number), "qc_fastq"),
                *(str(number), f"qc_fastq ({number})", status if last else "COMPLETED"),
                *("1" if status == "FAILED" and last else "0", "1", str(submit)),
                *(str(submit + 5), str(submit + 900), "900", "880", "97.5", str(2**20 * number)),
                action if last else "-",
                str(work / digest[:2] / digest[2:]),
            ]
        )
    lines = ["\t".join([*header, "workdir"]), *("\t".join(r) for r in rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def gone_launch_dir(tmp_path: Path) -> Path:
    """The real launch dir's work dirs on scratch; its history and logs gone."""
    work = tmp_path / "scratch" / "work"
    shutil.copytree(LAUNCHDIR / "work", work)
    for path in [work, *work.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for number, digest in enumerate((FIRST_QC, SECOND_QC)):
        for name in ("output_1.fastq.gz", "output_2.fastq.gz"):
            (work / digest[:2] / digest[2:] / name).write_text(f"{digest} {name} {number}")
    return work


def test_custom_fields_with_work_dirs_and_a_publish_dir(db_instance, tmp_path):
    work = gone_launch_dir(tmp_path)
    trace = custom_trace(tmp_path / "results" / "pipeline_info" / "trace.txt", work)
    results = tmp_path / "results"
    (results / "qc").mkdir()
    (results / "qc" / "a.fastq.gz").symlink_to(work / "02" / FIRST_QC[2:] / "output_1.fastq.gz")
    shutil.copy(work / "f5" / SECOND_QC[2:] / "output_2.fastq.gz", results / "qc" / "b.fastq.gz")
    result = ingest(results, trace=trace, run_name="ci_run", published=[results / "qc"])
    assert (result.tasks, result.artifacts, result.missing) == (2, 4 + 2, ())
    workflow = tl.Run.get(uid=result.workflow)
    assert workflow.status == "completed"
    first, second = tasks_of(workflow)
    assert (first.reference, second.reference) == (FIRST_QC, SECOND_QC)  # full hashes
    values = second.features.get_values()
    assert (values["process"], values["tag"], values["attempt"]) == ("qc_fastq", "2", 1)
    assert values["trace"]["peak_rss"] == 2**21 and values["trace"]["cpu_percent"] == 97.5
    assert values["trace"]["workdir"] == str(work / "f5" / SECOND_QC[2:])
    # each task: its two work-dir files, and the published copy found by symlink or content
    assert sorted(str(a.key) for a in first.outputs) == ["None", "None", "qc/a.fastq.gz"]
    assert sorted(str(a.key) for a in second.outputs) == ["None", "None", "qc/b.fastq.gz"]
    before = counts()
    assert ingest(results, trace=trace, published=[results / "qc"]).artifacts == 0
    assert counts() == before


@pytest.mark.parametrize(
    "status, action, outcome",
    [("FAILED", "TERMINATE", "errored"), ("FAILED", "IGNORE", "completed")],
)
def test_failed_tasks_decide_the_outcome(db_instance, tmp_path, status, action, outcome):
    work = gone_launch_dir(tmp_path)
    trace = custom_trace(tmp_path / "t" / "trace-20220503-1.txt", work, status, action)
    result = ingest(tmp_path / "t", trace=trace)
    workflow = tl.Run.get(uid=result.workflow)
    assert workflow.status == outcome
    failed = tl.Run.get(parent=workflow, reference=SECOND_QC)
    assert (failed.status, failed.error) == ("errored", "exit status 1")


def test_a_resumed_run_links_its_cached_tasks(db_instance, tmp_path):
    """Two traces of one session (the second from ``-resume``): cached tasks are linked
    to the runs of the first trace that did the work."""
    source = TRACES / "nf-executor" / "job-success-no-retries.txt"
    text = source.read_text()
    folder = tmp_path / "pipeline_info"
    folder.mkdir()
    (folder / "execution_trace_2023-11-01_11-59-07.txt").write_text(text)
    resumed = text.replace("\tCOMPLETED\t", "\tCACHED\t")
    (folder / "execution_trace_2023-11-01_12-30-00.txt").write_text(resumed)
    first, second = ingest_traces(folder)
    assert (first.cached, second.cached, second.tasks) == (0, 3, 3)
    earlier = {t.reference: t.uid for t in tasks_of(tl.Run.get(uid=first.workflow))}
    for task in tasks_of(tl.Run.get(uid=second.workflow)):
        assert [r.uid for r in task.upstream_runs] == [earlier[task.reference]]


def test_cli_trace_alone_and_a_folder(local_instance, tmp_path):
    source = TRACES / "nf-executor" / "job-fail-task2-retries-and-aborts.txt"
    trace = published(tmp_path, source, "execution_trace_2023-11-01_12-15-16.txt")
    runner = CliRunner()
    args = ["nextflow", "ingest", str(tmp_path), "--trace", str(trace), "--run", "r1"]
    one = runner.invoke(main, [*args, "--json"], catch_exceptions=False)
    assert one.exit_code == 0, one.output
    data = json.loads(one.stdout)
    assert (data["run_name"], data["tasks"], data["created"]) == ("r1", 5, True)
    assert tl.Run.get(uid=data["workflow"]).status == "errored"
    folder = runner.invoke(
        main, ["nextflow", "ingest", str(tmp_path), "--trace", str(trace.parent)]
    )
    assert folder.exit_code == 0 and folder.stdout.startswith("already recorded: run r1 (")
    bare = runner.invoke(main, ["nextflow", "ingest", str(tmp_path / "results")])
    assert bare.stdout.startswith("already recorded: run r1 (")  # pipeline_info/ looked into
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = runner.invoke(main, ["nextflow", "ingest", str(empty)])
    assert failed.exit_code == 1 and failed.stderr.count("\n") == 1
    assert "no .nextflow/history, no lineage store and no trace file" in failed.stderr
