"""``ingest``: real launch dir, real traces, the real lineage store, resumed runs."""

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import threadline as tl
from threadline.nextflow import ingest

from .conftest import STORE, TRACES

SESSION = "557717e5-de78-4cd3-b5eb-349b8787c32b"


def children(workflow_uid: str) -> list[tl.Run]:
    workflow = tl.Run.get(uid=workflow_uid)
    return sorted(tl.Run.filter(parent=workflow), key=lambda r: r.id)


def test_ingest_real_launch_dir(instance, launchdir):
    result = ingest(launchdir)
    assert (result.run_name, result.session_id, result.created) == (
        "nostalgic_shockley",
        SESSION,
        True,
    )
    assert (result.tasks, result.artifacts, result.missing) == (2, 4, ())
    workflow = tl.Run.get(uid=result.workflow)
    assert (workflow.status, workflow.engine, workflow.reference) == (
        "completed",
        "nextflow",
        f"{SESSION}/nostalgic_shockley",
    )
    assert workflow.transform.key == "hello.nf" and workflow.transform.kind == "pipeline"
    assert workflow.transform.reference == "82e528da80f50419c0b641f0a154bb61"
    assert workflow.features.get_values()["session_id"] == SESSION
    tasks = children(result.workflow)
    assert [t.name for t in tasks] == ["qc_fastq (1)", "qc_fastq (2)"]
    values = tasks[1].features.get_values()
    assert (values["process"], values["tag"], values["exit"]) == ("qc_fastq", "2", 0)
    assert values["trace"]["hash"] == "0203efbb340cc762309c4adaf00bcd59"
    assert tasks[1].transform.key == "hello.nf/qc_fastq"
    assert all(t.status == "completed" for t in tasks)
    # the four outputs are empty files: one content, saved once, by the first task
    assert {a.size for a in tasks[0].outputs} == {0}


def test_reingest_is_a_noop(local_instance, launchdir):
    first = ingest(launchdir)
    counts = (tl.Run.filter().count(), tl.Artifact.filter().count(), tl.Transform.filter().count())
    again = ingest(launchdir)
    assert (again.workflow, again.created, again.tasks, again.skipped) == (
        first.workflow,
        False,
        0,
        2,
    )
    assert (
        tl.Run.filter().count(),
        tl.Artifact.filter().count(),
        tl.Transform.filter().count(),
    ) == counts


def test_older_run_by_name(local_instance, launchdir):
    result = ingest(launchdir, run_name="thirsty_lamport")
    workflow = tl.Run.get(uid=result.workflow)
    assert workflow.status == "errored"
    # its tasks come from .nextflow.log.1; their work dirs were not kept: no outputs
    assert (result.tasks, result.artifacts) == (2, 0)
    assert sorted(t.reference for t in children(result.workflow)) == [
        "1dfdf00b0dc9c132e9a8fcd828e42b02",
        "3eb9e90c85fcdddead1f334c2520493b",
    ]
    with pytest.raises(tl.errors.NotFound, match="no Nextflow run named 'nope'"):
        ingest(launchdir, run_name="nope")


def test_bad_arguments(local_instance, launchdir, tmp_path):
    with pytest.raises(tl.errors.InvalidInput, match="no such folder"):
        ingest(tmp_path / "missing")
    with pytest.raises(tl.errors.InvalidInput, match="no Nextflow run found"):
        ingest(tmp_path)
    with pytest.raises(tl.errors.InvalidInput, match="trace file not found"):
        ingest(launchdir, trace=tmp_path / "nope.txt")
    with pytest.raises(tl.errors.InvalidInput, match="lineage store not found"):
        ingest(launchdir, lineage=tmp_path / "nope")
    bad = tmp_path / "bad.txt"
    bad.write_text(
        (TRACES / "nf-executor" / "job-success-no-retries.txt")
        .read_text()
        .replace("237ms", "237 lightyears")
    )
    with pytest.raises(tl.errors.InvalidInput, match="not a Nextflow duration"):
        ingest(launchdir, trace=bad)
    assert tl.Run.filter().count() == 0  # nothing half-recorded


def history_line(run_name: str, session: str, status: str = "OK") -> str:
    return (
        f"2023-11-01 11:53:38\t1.2s\t{run_name}\t{status}\t"
        f"56503691ebd13d4b795bdaa317807c02\t{session}\tnextflow run hello.nf\n"
    )


def test_retries_are_separate_attempts(local_instance, tmp_path):
    (tmp_path / ".nextflow").mkdir()
    (tmp_path / ".nextflow" / "history").write_text(history_line("insert_id_here", "s-1"))
    trace = TRACES / "nf-executor" / "job-success-with-task-retries.txt"
    result = ingest(tmp_path, trace=trace)
    tasks = children(result.workflow)
    assert result.tasks == len(trace.read_text().splitlines()) - 1
    upper2 = [t for t in tasks if t.name == "CONVERTTOUPPER (2)"]
    assert [t.status for t in upper2][:2] == ["errored", "errored"]
    assert upper2[-1].status == "completed" and upper2[0].error == "exit status 1"
    assert len({t.reference for t in upper2}) == len(upper2)
    assert tl.Run.filter(process="CONVERTTOUPPER").count() == len(tasks) - 1


def test_aborted_tasks(local_instance, tmp_path):
    (tmp_path / ".nextflow").mkdir()
    (tmp_path / ".nextflow" / "history").write_text(history_line("r1", "s-2", "ERR"))
    result = ingest(
        tmp_path, trace=TRACES / "nf-executor" / "job-fail-task2-retries-and-aborts.txt"
    )
    statuses = {t.status for t in children(result.workflow)}
    assert statuses == {"completed", "errored", "aborted"}
    assert tl.Run.get(uid=result.workflow).status == "errored"


def resumed_trace(source: Path, target: Path, cached: bool) -> Path:
    """The real trace rewritten as a ``-resume`` run writes it: every row CACHED."""
    lines = source.read_text().splitlines()
    rows = [line.replace("\tCOMPLETED\t", "\tCACHED\t") if cached else line for line in lines[1:]]
    target.write_text("\n".join([lines[0], *rows]) + "\n")
    return target


def test_resume_links_cached_tasks_to_the_earlier_runs(local_instance, tmp_path):
    source = TRACES / "nf-executor" / "job-success-no-retries.txt"
    (tmp_path / ".nextflow").mkdir()
    history = tmp_path / ".nextflow" / "history"
    history.write_text(history_line("first_run", "s-3"))
    first = ingest(tmp_path, trace=resumed_trace(source, tmp_path / "t1.txt", False))
    history.write_text(history_line("first_run", "s-3") + history_line("second_run", "s-3"))
    second = ingest(tmp_path, trace=resumed_trace(source, tmp_path / "t2.txt", True))
    assert second.workflow != first.workflow and second.cached == 3
    before = {t.reference: t for t in children(first.workflow)}
    for task in children(second.workflow):
        assert task.features.get_values()["trace"]["cached"] is True
        assert [r.uid for r in task.upstream_runs] == [before[task.reference].uid]
    assert tl.Run.filter(parent__uid=second.workflow, trace__cached=True).count() == 3
    assert tl.Run.filter(parent__uid=first.workflow, trace__cached=False).count() == 3


def lineage_launch(tmp_path: Path) -> Path:
    launch = tmp_path / "launch"
    shutil.copytree(STORE, launch / ".lineage")
    return launch


def test_ingest_real_lineage_store(instance, tmp_path):
    result = ingest(lineage_launch(tmp_path))
    assert (result.run_name, result.session_id) == (
        "elegant_davinci",
        "3a535bd4-dda0-49d7-b77a-e8ade8f9fab9",
    )
    assert result.tasks == 8 and result.artifacts == 0 and len(result.missing) == 8
    workflow = tl.Run.get(uid=result.workflow)
    assert workflow.params == {"input": "data/greetings.csv"}
    assert (workflow.status, workflow.user) == ("completed", "luisa.santus")
    assert workflow.features.get_values()["nextflow_version"] == "26.04.3"
    tasks = {t.reference: t for t in children(result.workflow)}
    upper = tasks["d10752af16523c3c4fad3c9a0bc0c0c0"]
    assert upper.name == "CONVERTTOUPPER (4)"
    assert [r.reference for r in upper.upstream_runs] == ["6764128034f4b7965feb45e09aaa3355"]
    assert tasks["6764128034f4b7965feb45e09aaa3355"].name.startswith("SAYHELLO")
    assert len({t.transform.uid for t in tasks.values()}) == 2  # one per process


def test_lineage_outputs_on_disk_become_artifacts(local_instance, tmp_path):
    """A store whose FileOutput paths exist: the files are hashed by threadline."""
    launch = lineage_launch(tmp_path)
    for data in (launch / ".lineage").rglob(".data.json"):
        text = data.read_text().replace(
            "/Users/luisa.santus/Desktop/projects/training/side-quests/lineage", str(launch)
        )
        data.write_text(text)
    for record in tl.nextflow.read_store(launch / ".lineage").of_kind("FileOutput"):
        path = Path(record.spec["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(path.name.upper()[:8])
    result = ingest(launch)
    assert (result.artifacts, result.missing) == (8, ())
    upper = tl.Run.get(reference="d10752af16523c3c4fad3c9a0bc0c0c0")
    [output] = upper.outputs
    assert tl.Artifact.filter(hash=output.hash).count() == 1 and output.size == 8


def test_ingest_after_serve_adds_files_to_live_runs(local_instance, tmp_path):
    """Tasks recorded live by the receiver are completed with their files by ingest."""
    from .test_serve import CAPTURE, replay

    replay(CAPTURE)
    session, name = "456ae710-1ac1-4148-a6a2-10b5e73d0157", "insert_id_here"
    (tmp_path / ".nextflow").mkdir()
    (tmp_path / ".nextflow" / "history").write_text(history_line(name, session))
    for event in CAPTURE:
        if event["event"] == "process_completed":
            folder = tmp_path / "work" / event["trace"]["workdir"].split("/work/")[1]
            folder.mkdir(parents=True)
            (folder / ".exitcode").write_text("0")
            (folder / f"chunk_{event['trace']['task_id']}").write_text(event["trace"]["name"])
    result = ingest(tmp_path)
    assert (result.created, result.tasks, result.skipped, result.artifacts) == (False, 0, 3, 3)
    workflow = tl.Run.get(reference=f"{session}/{name}")
    tasks = list(tl.Run.filter(parent=workflow))
    assert len(tasks) == 3 and all(len(t.outputs) == 1 for t in tasks)
    again = ingest(tmp_path)
    assert (again.tasks, again.skipped, again.artifacts) == (0, 3, 0)


RUN_HASH = "139010997f21dc20a882653da07a7855"


def publish(launch: Path, place: Callable[[str, str], str]) -> None:
    """Write the run's task files and add the published FileOutputs that upstream's store
    lacks, as LinObserver writes them (``taskRun`` null, ``source`` the task file's LID);
    ``place(name, text)`` stores a published copy and returns its path or URI."""
    store = launch / ".lineage"
    for data in store.rglob(".data.json"):
        data.write_text(
            data.read_text().replace(
                "/Users/luisa.santus/Desktop/projects/training/side-quests/lineage", str(launch)
            )
        )
    refs = json.loads((store / f"{RUN_HASH}#output" / ".data.json").read_text())
    for record in tl.nextflow.read_store(store).of_kind("FileOutput"):
        task_file = Path(record.spec["path"])
        task_file.parent.mkdir(parents=True, exist_ok=True)
        task_file.write_text(task_file.name.upper())
        if f"lid://{RUN_HASH}/results/{task_file.name}" not in refs["spec"]["output"][0]["value"]:
            continue
        spec = {
            **record.spec,
            "path": place(task_file.name, task_file.name.upper()),
            "taskRun": None,
            "source": f"{record.spec['taskRun']}/{task_file.name}",
        }
        folder = store / RUN_HASH / "results" / task_file.name
        folder.mkdir(parents=True)
        (folder / ".data.json").write_text(
            json.dumps({"version": "lineage/v1beta1", "kind": "FileOutput", "spec": spec})
        )


def test_published_files_become_keyed_artifacts_of_their_task(local_instance, tmp_path):
    launch = lineage_launch(tmp_path)

    def place(name: str, text: str) -> str:
        (launch / "results").mkdir(exist_ok=True)
        (launch / "results" / name).write_text(text)
        return str(launch / "results" / name)

    publish(launch, place)
    result = ingest(launch)
    assert (result.artifacts, result.missing) == (12, ())  # 8 task files, 4 published
    report = tl.Artifact.get(key="results/UPPER-Bonjour-output.txt")
    assert report.run.reference == "d10752af16523c3c4fad3c9a0bc0c0c0"
    assert report.features.get_values() == {"published": True}
    assert (
        report.hash == tl.Run.get(reference="d10752af16523c3c4fad3c9a0bc0c0c0").outputs[0].hash
    )  # the same content as the task file
    assert not report.in_place  # results/ is outside the storage root: stored as a copy
    assert ingest(launch).artifacts == 0


def test_published_files_under_the_storage_root_are_registered_in_place(instance, tmp_path):
    """An output dir inside the storage root (a local folder, or an S3 prefix such as
    ``--outdir s3://bucket/data/results``) is registered where it is, not copied."""
    root = instance.settings.storage
    launch = lineage_launch(tmp_path)

    def place(name: str, text: str) -> str:
        if root.startswith("s3://"):
            bucket, _, prefix = root.removeprefix("s3://").partition("/")
            s3_client().put_object(
                Bucket=bucket, Key=f"{prefix}/results/{name}", Body=text.encode()
            )
            return f"{root}/results/{name}"
        (Path(root) / "results").mkdir(parents=True, exist_ok=True)
        (Path(root) / "results" / name).write_text(text)
        return str(Path(root) / "results" / name)

    publish(launch, place)
    result = ingest(launch)
    assert (result.artifacts, result.missing) == (12, ())
    report = tl.Artifact.get(key="results/UPPER-Bonjour-output.txt")
    assert report.in_place and report.uri == f"{root}/results/UPPER-Bonjour-output.txt"
    assert report.hash == tl.Run.get(reference="d10752af16523c3c4fad3c9a0bc0c0c0").outputs[0].hash
    assert Path(report.cache()).read_text() == "UPPER-BONJOUR-OUTPUT.TXT"


def s3_client():
    import boto3

    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")


def test_published_dirs_are_scanned_without_a_lineage_store(local_instance, launchdir):
    """Before 25.04 nothing lists published files: ``published=`` scans the output dir and
    finds each file's task by its symlink into a work dir, or else by its content."""
    first, second = (
        launchdir / "work" / "02" / "03efbb340cc762309c4adaf00bcd59",
        launchdir / "work" / "f5" / "52e5e8882ec9f04ac05f95b4442823",
    )
    for number, folder in enumerate((first, second)):
        for name in ("output_1.fastq.gz", "output_2.fastq.gz"):
            (folder / name).write_text(f"{folder.name} {name} {number}")
    results = launchdir / "results"
    results.mkdir()
    (results / "a.fastq.gz").symlink_to(first / "output_1.fastq.gz")  # mode: 'symlink'
    shutil.copy(second / "output_2.fastq.gz", results / "b.fastq.gz")  # mode: 'copy'
    (results / "notes.txt").write_text("written by hand")

    result = ingest(launchdir, published=[results])
    assert (result.tasks, result.artifacts) == (2, 4 + 3)
    by_key = {a.key: a for a in tl.Artifact.filter(key__startswith="results/")}
    assert sorted(by_key) == ["results/a.fastq.gz", "results/b.fastq.gz", "results/notes.txt"]
    assert by_key["results/a.fastq.gz"].run.reference == "0203efbb340cc762309c4adaf00bcd59"
    assert by_key["results/b.fastq.gz"].run.reference == "f552e5e8882ec9f04ac05f95b4442823"
    assert by_key["results/notes.txt"].run is None
    assert all(a.features.get_values() == {"published": True} for a in by_key.values())
    assert ingest(launchdir, published=[results]).artifacts == 0


def test_a_missing_published_dir_is_refused_before_anything_is_written(local_instance, launchdir):
    with pytest.raises(tl.errors.InvalidInput, match="published output dir not found"):
        ingest(launchdir, published=[launchdir / "results"])
    assert tl.Run.filter().count() == 0
