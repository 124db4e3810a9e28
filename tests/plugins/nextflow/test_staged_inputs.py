"""Staged inputs: which artifact each file a task read is, on SQLite and PostgreSQL.

The launch dir is written as Nextflow 23 leaves it: ``.nextflow/history``, a raw trace
(``trace.raw = true``, the fields ``threadline nextflow config`` asks for), and per task a
work dir with ``.command.run`` (its ``nxf_stage()`` linking each input by absolute path),
the staged symlinks, ``.exitcode`` and the outputs. Eight ALIGN tasks read their own
sample and one genome from ``data/`` and, in parallel, write byte-identical BAM files;
each CALL task reads one ALIGN's BAM; ``results/`` holds a published copy.
"""

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
import threadline as tl
from click.testing import CliRunner
from threadline.cli import main
from threadline.nextflow import ingest, ingest_traces

from .fake_nextflow import write_trace
from .test_serve import CAPTURE, replay

SESSION = "8d1c3a52-6c1f-4a5e-9b0f-2f1f0c0e7a11"
RUN_NAME = "tender_turing"
SAMPLES = 8
FIELDS = [
    "task_id",
    "hash",
    "native_id",
    "process",
    "tag",
    "name",
    "status",
    "exit",
    "submit",
    "start",
    "complete",
    "duration",
    "realtime",
    "workdir",
]
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def task_hash(number: int) -> str:
    return f"{number:02x}" + f"{number:030x}"[::-1].replace("0", "c")


def ms(offset_ms: int) -> int:
    return int(T0.timestamp() * 1000) + offset_ms


def write_task(
    launch: Path, number: int, name: str, reads: list[Path], outputs: dict[str, str]
) -> Path:
    """A work dir as Nextflow leaves it: staged symlinks named in ``nxf_stage()``."""
    digest = task_hash(number)
    folder = launch / "work" / digest[:2] / digest[2:]
    folder.mkdir(parents=True)
    stage = "".join(f"    rm -f {p.name}\n    ln -s {p} {p.name}\n" for p in reads)
    (folder / ".command.run").write_text(
        f"#!/bin/bash\n# NEXTFLOW TASK: {name}\nnxf_stage() {{\n    true\n"
        f"    # stage input files\n{stage}}}\n"
    )
    for path in reads:
        (folder / path.name).symlink_to(path)
    for file_name, text in outputs.items():
        (folder / file_name).write_text(text)
    (folder / ".exitcode").write_text("0")
    return folder


def row(number: int, process: str, tag: str, start: int, end: int, folder: Path) -> dict:
    return {
        "task_id": number,
        "hash": f"{task_hash(number)[:2]}/{task_hash(number)[2:8]}",
        "native_id": 4000 + number,
        "process": process,
        "tag": tag,
        "name": f"{process} ({tag})",
        "status": "COMPLETED",
        "exit": 0,
        "submit": ms(start - 5),
        "start": ms(start),
        "complete": ms(end),
        "duration": end - start + 5,
        "realtime": end - start,
        "workdir": str(folder),
    }


def write_launch(launch: Path) -> Path:
    """The pipeline's launch dir, its data and its work dirs; returns the trace file."""
    data = launch / "data"
    (data / "samples").mkdir(parents=True)
    genome = data / "genome.fa"
    genome.write_text(">chr1\nACGTACGT\n")
    rows = []
    for i in range(SAMPLES):
        sample = data / "samples" / f"S{i}.fastq"
        sample.write_text(f"@read{i}\nACGT{i}\n+\nIIII\n")
        folder = write_task(
            launch, i + 1, f"ALIGN (S{i})", [sample, genome], {"aligned.bam": "BAM\n"}
        )  # every ALIGN writes the same bytes, all at nearly the same time
        rows.append(row(i + 1, "ALIGN", f"S{i}", 10 * i, 1000 + i, folder))
    for i in range(SAMPLES):
        bam = launch / "work" / task_hash(i + 1)[:2] / task_hash(i + 1)[2:] / "aligned.bam"
        number = SAMPLES + 1 + i
        folder = write_task(launch, number, f"CALL (S{i})", [bam], {f"S{i}.vcf": f"calls {i}\n"})
        rows.append(row(number, "CALL", f"S{i}", 5000 + i, 6000 + i, folder))
    (launch / "results").mkdir()
    shutil.copy(folder / f"S{SAMPLES - 1}.vcf", launch / "results" / f"S{SAMPLES - 1}.vcf")
    (launch / ".nextflow").mkdir()
    (launch / ".nextflow" / "history").write_text(
        f"2026-03-02 09:00:00\t6.1s\t{RUN_NAME}\tOK\t1f2e3d4c5b6a79880f1e2d3c4b5a6978"
        f"\t{SESSION}\tnextflow run main.nf\n"
    )
    trace = launch / "trace.txt"
    write_trace(str(trace), FIELDS, rows)
    return trace


@pytest.fixture
def launch(tmp_path: Path) -> Path:
    folder = tmp_path / "pipeline"
    write_launch(folder)
    return folder


def sources_of(run: tl.Run) -> list[str]:
    return sorted(str(a.key) for a in run.inputs if a.run is None)


def check_lineage(workflow_uid: str) -> None:
    """Every task's inputs: source data named under the launch dir, the BAM of its ALIGN."""
    tasks = {r.name: r for r in tl.Run.filter(parent__uid=workflow_uid)}
    assert len(tasks) == 2 * SAMPLES
    for i in range(SAMPLES):
        align, call = tasks[f"ALIGN (S{i})"], tasks[f"CALL (S{i})"]
        assert sources_of(align) == ["data/genome.fa", f"data/samples/S{i}.fastq"]
        [bam] = call.inputs
        assert (bam.run.uid, bam.hash) == (align.uid, align.outputs[0].hash)  # the right one
        assert [r.uid for r in call.upstream_runs] == [align.uid]
    genome = tl.Artifact.get(key="data/genome.fa")
    assert genome.run is None and genome.description.startswith("source data read from /")


@pytest.mark.parametrize("where", ["launch", "outside", "work"])
def test_source_inputs_are_keyed_under_the_launch_dir_from_any_cwd(
    db_instance, tmp_path, monkeypatch, launch, where
):
    cwd = {"launch": launch, "outside": tmp_path / "elsewhere", "work": launch / "work"}[where]
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    result = ingest(os.path.relpath(launch, cwd), published=[launch / "results"])
    assert (result.tasks, result.missing) == (2 * SAMPLES, ())
    check_lineage(result.workflow)
    assert not tl.Artifact.filter(key__contains="elsewhere").exists()
    # named by their work path: the BAMs whose bytes an earlier ALIGN's record holds
    named = tl.Artifact.filter(key__startswith="work/")
    assert named.count() == SAMPLES - 1 and all(a.run is not None for a in named)


def test_lineage_of_a_published_output_names_its_source_inputs(db_instance, launch):
    ingest(launch, published=[launch / "results"])
    last = f"S{SAMPLES - 1}"
    runner = CliRunner()
    text = runner.invoke(main, ["lineage", f"results/{last}.vcf"], catch_exceptions=False)
    assert text.exit_code == 0, text.output
    assert f"data/samples/{last}.fastq" in text.stdout and "data/genome.fa" in text.stdout
    assert "data/samples/S0.fastq" not in text.stdout  # not another sample's reads
    walked = runner.invoke(main, ["lineage", f"results/{last}.vcf", "--json"])
    keys = {a["key"] for a in json.loads(walked.stdout)["artifacts"]}
    assert {f"data/samples/{last}.fastq", "data/genome.fa"} <= keys


def test_parallel_producers_of_equal_content_resolve_to_the_one_read(db_instance, launch):
    """Eight BAMs with the same bytes, written in parallel; each CALL read one of them:
    every link goes to that one's ALIGN (the content alone would pick the first)."""
    result = ingest(launch)
    bams = tl.Artifact.filter(hash=tl.Run.get(name="ALIGN (S0)").outputs[0].hash)
    assert bams.count() == SAMPLES  # one artifact per ALIGN: they are distinct outputs
    check_lineage(result.workflow)
    assert ingest(launch).tasks == 0  # again: nothing new, no second source artifact
    assert tl.Artifact.filter(key="data/genome.fa").count() == 1


def test_a_producer_that_finished_after_the_task_started_is_not_its_source(db_instance, launch):
    """A late task wrote bytes equal to a sample; the ALIGN that read the sample started
    before it finished, so the sample is source data, not the late task's output."""
    sample = (launch / "data" / "samples" / "S0.fastq").read_text()
    folder = write_task(launch, 99, "LATE (x)", [], {"copy.fastq": sample})
    trace = launch / "trace.txt"
    lines = trace.read_text().splitlines()
    late = row(99, "LATE", "x", 20, 3000, folder)
    lines.append("\t".join(str(late[f]) for f in FIELDS))
    trace.write_text("\n".join(lines) + "\n")
    ingest(launch)
    align = tl.Run.get(name="ALIGN (S0)")
    assert sources_of(align) == ["data/genome.fa", "data/samples/S0.fastq"]
    assert (
        tl.Artifact.get(key="data/samples/S0.fastq").hash
        == tl.Run.get(name="LATE (x)").outputs[0].hash
    )


def test_a_trace_alone_keys_inputs_as_the_launch_dir_does(
    db_instance, tmp_path, monkeypatch, launch
):
    """Without .nextflow/history (the launch folder's records gone), from another cwd."""
    shutil.rmtree(launch / ".nextflow")
    monkeypatch.chdir(tmp_path)
    [result] = ingest_traces(launch / "trace.txt")
    check_lineage(result.workflow)
    assert ingest_traces(launch / "trace.txt")[0].tasks == 0


def test_a_trace_in_the_output_folder_finds_the_launch_dir_of_its_work_dirs(
    db_instance, tmp_path, monkeypatch, launch
):
    """nf-core publishes ``pipeline_info/execution_trace_*.txt`` under the output dir;
    the launch dir is where the trace's ``workdir`` fields say (``<launch>/work/..``)."""
    shutil.rmtree(launch / ".nextflow")
    info = launch / "results" / "pipeline_info"
    info.mkdir()
    trace = (launch / "trace.txt").rename(info / "execution_trace_2026-03-02_09-00-00.txt")
    monkeypatch.chdir(tmp_path)
    [result] = ingest_traces(trace)
    check_lineage(result.workflow)


def weblog_events(launch: Path) -> list[dict]:
    """The run as the weblog receiver hears it: the real 23.04.2 capture's ``started``
    and ``completed`` bodies, and a ``process_completed`` per task of this launch dir
    (the capture's trace body with this task's fields)."""
    first, last = CAPTURE[0], CAPTURE[-1]
    body = next(e for e in CAPTURE if e["event"] == "process_completed")["trace"]
    names = [line.split("\t") for line in (launch / "trace.txt").read_text().splitlines()]
    header, rows = names[0], names[1:]
    tasks = [
        {
            "event": "process_completed",
            "runId": SESSION,
            "runName": RUN_NAME,
            "utcTime": first["utcTime"],
            "trace": {
                **body,
                **{k: int(v) if v.isdigit() else v for k, v in zip(header, r, strict=True)},
            },
        }
        for r in rows
    ]
    ends = [{**e, "runId": SESSION, "runName": RUN_NAME} for e in (first, last)]
    return [ends[0], *tasks, ends[1]]


def test_tasks_the_receiver_recorded_get_the_same_inputs_from_ingest(
    db_instance, tmp_path, monkeypatch, launch
):
    """``serve`` records the tasks live (no files); ``ingest`` adds their files later,
    from any cwd, with the same keys and producers as an ingest alone."""
    replay(weblog_events(launch))
    workflow = tl.Run.get(reference=f"{SESSION}/{RUN_NAME}")
    assert tl.Run.filter(parent=workflow).count() == 2 * SAMPLES
    assert not tl.Artifact.filter().exists()  # the receiver records no files
    monkeypatch.chdir(tmp_path)
    result = ingest(launch)
    assert (result.created, result.tasks, result.skipped) == (False, 0, 2 * SAMPLES)
    check_lineage(result.workflow)
