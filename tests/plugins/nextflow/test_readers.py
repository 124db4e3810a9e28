"""The lineage-store, work-dir and history readers, on the real fixtures."""

import pytest
from threadline.nextflow import (
    parse_command_trace,
    read_history,
    read_store,
    read_workdir,
)
from threadline.nextflow._history import find_run, logged_tasks
from threadline.nextflow._lineage import input_refs, params_of, parse_record, task_hash_of_lid
from threadline.nextflow._workdir import find_workdir, staged_inputs

from .conftest import FIXTURES, FLAT, STORE

RUN_HASH = "139010997f21dc20a882653da07a7855"


def test_store_reads_every_record_of_the_real_store():
    store = read_store(STORE)
    kinds = sorted(r.kind for r in store.records.values())
    assert kinds.count("TaskRun") == 8 and kinds.count("TaskOutput") == 8
    assert kinds.count("FileOutput") == 8 and kinds.count("WorkflowRun") == 1
    assert kinds.count("WorkflowOutput") == 1
    [entry] = store.history
    assert (entry.run_name, entry.lid) == ("elegant_davinci", f"lid://{RUN_HASH}")
    workflow = store.workflow_run()
    assert workflow.key == RUN_HASH and params_of(workflow) == {"input": "data/greetings.csv"}
    assert store.workflow_run("no_such_run") is None
    assert len(store.tasks_of(workflow)) == 8


def test_dangling_references_resolve_to_none():
    store = read_store(STORE)
    output = store.records[f"{RUN_HASH}#output"]
    refs = output.spec["output"][0]["value"]
    assert len(refs) == 4 and all(store.get(ref) is None for ref in refs)  # not committed
    assert store.get("not a lid") is None and store.get(None) is None


def test_task_inputs_and_outputs():
    store = read_store(STORE)
    task = store.records["d10752af16523c3c4fad3c9a0bc0c0c0"]
    assert task.spec["name"] == "CONVERTTOUPPER (4)" and ">" in task.spec["script"]
    lids, paths = input_refs(task)
    assert lids == ["lid://6764128034f4b7965feb45e09aaa3355/Bonjour-output.txt"] and not paths
    assert task_hash_of_lid(lids[0]) == "6764128034f4b7965feb45e09aaa3355"
    assert store.get(lids[0]).kind == "FileOutput"
    [out] = store.file_outputs_of(task)
    assert out.spec["size"] == 8 and out.spec["path"].endswith("UPPER-Bonjour-output.txt")


@pytest.mark.parametrize(
    "name, kind",
    [
        ("TaskRun_MULTIQC.json", "TaskRun"),
        ("FileOutput_task_multiqc_report.json", "FileOutput"),
        ("FileOutput_published_multiqc_report.json", "FileOutput"),
    ],
)
def test_flat_25_04_0_records(name, kind):
    record = parse_record("k", (FLAT / name).read_text())
    assert record.kind == kind and "type" not in record.spec
    assert record.spec["workflowRun"] == "lid://16b31030474f2e96c55f4940bca3ab64"


def test_flat_task_inputs_mix_lids_and_data_paths():
    lids, paths = input_refs(parse_record("k", (FLAT / "TaskRun_MULTIQC.json").read_text()))
    assert len(lids) == 2 and paths[0].startswith("https://github.com/nextflow-io/rnaseq-nf")


def test_middle_shape_and_bad_records(tmp_path):
    record = parse_record("k", '{"version":"lineage/v1beta1","kind":"TaskOutput","taskRun":"x"}')
    assert (record.kind, record.spec) == ("TaskOutput", {"taskRun": "x"})
    for text in ("[]", '{"spec": {}}', "{not json"):
        with pytest.raises(ValueError):
            parse_record("k", text)
    (tmp_path / "abc").mkdir()
    (tmp_path / "abc" / ".data.json").write_text('{"kind":"TaskRun","spe')  # half written
    (tmp_path / "def").mkdir()
    (tmp_path / "def" / ".data.json").write_text('{"kind":"TaskRun","spec":{"name":"A"}}')
    assert list(read_store(tmp_path).records) == ["def"]


def test_work_dirs_of_the_real_launch_dir(launchdir):
    folder = find_workdir(launchdir / "work", "02/03efbb")
    found = read_workdir(folder)
    assert found.task_hash == "0203efbb340cc762309c4adaf00bcd59"
    assert found.exit_status == 0 and found.name is None  # .command.run was not committed
    assert [p.rsplit("/", 1)[1] for p in found.outputs] == [
        "output_1.fastq.gz",
        "output_2.fastq.gz",
    ]
    assert find_workdir(launchdir / "work", "99/999999") is None


def test_work_dir_staging_and_symlinks(launchdir, tmp_path):
    """.command.run as Nextflow writes it (lines quoted in the fixtures README)."""
    source = tmp_path / "samples"
    source.mkdir()
    for name in ("sampleB_1.fastq.gz", "sampleB_2.fastq.gz"):
        (source / name).write_text(name)
    folder = launchdir / "work" / "02" / "03efbb340cc762309c4adaf00bcd59"
    stage = "".join(
        f"    rm -f {n}\n    ln -s {source / n} {n}\n"
        for n in ("sampleB_1.fastq.gz", "sampleB_2.fastq.gz")
    )
    (folder / ".command.run").write_text(
        f"#!/bin/bash\n# NEXTFLOW TASK: qc_fastq (2)\nnxf_stage() {{\n    true\n{stage}}}\n"
    )
    for name in ("sampleB_1.fastq.gz", "sampleB_2.fastq.gz"):
        (folder / name).symlink_to(source / name)
    found = read_workdir(folder)
    assert found.name == "qc_fastq (2)"
    assert found.inputs == (str(source / "sampleB_1.fastq.gz"), str(source / "sampleB_2.fastq.gz"))
    assert len(found.outputs) == 2
    assert staged_inputs("nxf_stage() {\n    cp -fRL /a/b.txt b.txt\n}\n") == [
        ("/a/b.txt", "b.txt")
    ]


def test_command_trace_formats():
    v2 = parse_command_trace((FIXTURES / "command_trace/v2/.command.trace").read_text())
    assert (v2["%cpu"], v2["realtime"], v2["peak_rss"]) == (311.9, 367, 3312 * 1024)
    assert v2["cpu_model"].startswith("Intel") and v2["rchar"] == 17769718
    legacy = parse_command_trace((FIXTURES / "command_trace/legacy/.command.trace").read_text())
    assert (legacy["%cpu"], legacy["realtime"], legacy["rss"]) == (295.5, 27523, 1224212 * 1024)
    assert "pid" not in legacy and parse_command_trace("") == {}


def test_history_and_log(launchdir):
    runs = read_history(launchdir / ".nextflow" / "history")
    assert len(runs) == 19 and runs[0].status is None and runs[0].duration is None
    last = find_run(runs, None)
    assert (last.run_name, last.status, last.script_id) == (
        "nostalgic_shockley",
        "completed",
        "82e528da80f50419c0b641f0a154bb61",
    )
    assert find_run(runs, "thirsty_lamport").status == "errored"
    assert find_run(runs, "nope") is None
    tasks = logged_tasks(launchdir / ".nextflow.log", "nostalgic_shockley")
    assert [(t.name, t.status, t.exit_status) for t in tasks] == [
        ("qc_fastq (1)", "COMPLETED", 0),
        ("qc_fastq (2)", "COMPLETED", 0),
    ]
    assert logged_tasks(launchdir / ".nextflow.log", "thirsty_lamport") == []
