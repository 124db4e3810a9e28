"""Examples of docs/adapters.md: every public function of ``threadline.adapters``, run."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import threadline as tl
from threadline import adapters

from tests.harness import write


def workflow_and_job() -> tuple[tl.Run, tl.Run]:
    workflow = adapters.start_run(
        "pipelines/rnaseq", "pipeline", source="rule all: ...", engine="snakemake", reference="wf-1"
    )
    job = adapters.start_run(
        "rules/align",
        "rule",
        source="shell: bwa mem",
        engine="snakemake",
        reference="job-7",
        parent=workflow,
    )
    return workflow, job


def test_start_and_finish_run(local_instance, isolated):
    # -- start adapter-start-run --
    from threadline import adapters

    workflow = adapters.start_run(
        "pipelines/rnaseq",
        "pipeline",
        source="rule all:\n    input: ...",
        engine="snakemake",
        reference="2f1c9e0a",
        params={"genome": "hg38", "token": "t0k"},
    )
    job = adapters.start_run(
        "rules/align",
        "rule",
        source="shell: 'bwa mem {input} > {output}'",
        engine="snakemake",
        reference="job-7",
        parent=workflow.uid,
    )

    assert job.parent.uid == workflow.uid and job.status == "started"
    assert workflow.params == {"genome": "hg38", "token": "***"}  # secrets redacted
    # -- end adapter-start-run --
    # -- start adapter-start-runs --
    align = adapters.get_transform("processes/align", "process")
    shards = adapters.start_runs(
        [
            {
                "transform": align,
                "parent": workflow,
                "engine": "nextflow",
                "reference": f"shard-{n}",
                "name": f"align ({n})",
                "status": "completed",
            }
            for n in range(1000)
        ]
    )
    assert shards[7].name == "align (7)" and shards[7].parent.uid == workflow.uid
    assert tl.Run.filter(parent=workflow, status="completed").count() == 1000
    # -- end adapter-start-runs --
    # -- start adapter-runtemplate --
    shard = adapters.RunTemplate(
        "processes/shard", "process", source="split {input}", parent=workflow, engine="myengine"
    )
    parts = [shard.start(reference=f"part-{n}", params={"n": n}, later=True) for n in range(3)]
    adapters.writer().flush()
    assert [tl.Run.get(uid=p.uid).reference for p in parts] == ["part-0", "part-1", "part-2"]
    assert {p.parent.uid for p in parts} == {workflow.uid}
    # -- end adapter-runtemplate --
    # -- start adapter-finish-run --
    import datetime

    adapters.finish_run(job, "errored", error="exit status 1", traceback="bwa: no index")
    adapters.finish_run(workflow, "completed", finished_at=datetime.datetime(2024, 5, 2, 12))
    assert workflow.status == "completed" and workflow.finished_at.hour == 12
    # -- end adapter-finish-run --
    job = tl.Run.get(uid=job.uid)
    assert (job.status, job.error, job.traceback) == ("errored", "exit status 1", "bwa: no index")
    assert job.finished_at is not None and job.engine == "snakemake"
    assert tl.Run.get(reference="2f1c9e0a").transform.kind == "pipeline"
    with pytest.raises(tl.errors.InvalidInput, match="final status"):
        adapters.finish_run(job, "done")
    with pytest.raises(tl.errors.NotFound, match="no run with uid"):
        adapters.start_run("x", "rule", parent="nope")


def test_get_transform(local_instance, isolated):
    # -- start adapter-get-transform --
    rule = adapters.get_transform("rules/align", "rule", source="shell: bwa mem")
    same = adapters.get_transform("rules/align", "rule", source="shell: bwa mem")
    edited = adapters.get_transform("rules/align", "rule", source="shell: bwa mem -M")

    assert same.uid == rule.uid  # same key and source: the same transform
    assert (rule.version, edited.version) == (1, 2)  # new source: the next version
    # -- end adapter-get-transform --
    assert rule.hash == hashlib.sha256(b"shell: bwa mem").hexdigest()
    pinned = adapters.get_transform("nf/proc", "process", hash="abc123", reference="v1.2")
    assert pinned.hash == "abc123" and pinned.reference == "v1.2"
    with pytest.raises(tl.errors.InvalidInput, match="non-empty key"):
        adapters.get_transform("", "rule")


def test_register_outputs(local_instance, isolated):
    workflow, job = workflow_and_job()
    write("results/S1.bam", "bam one")
    write("results/S2.bam", "bam two")
    write("results/align.log", "done")
    # -- start adapter-register-outputs --
    outputs = adapters.register_outputs(
        job,
        [
            adapters.Output("results/S1.bam", key="aligned/S1.bam", features={"sample": "S1"}),
            adapters.Output("results/S2.bam", key="aligned/S2.bam", features={"sample": "S2"}),
            "results/align.log",  # a plain path: no key, no features of its own
        ],
        features={"rule": "align"},
    )

    assert [a.key for a in outputs] == ["aligned/S1.bam", "aligned/S2.bam", None]
    assert all(a.run.uid == job.uid for a in outputs)
    assert outputs[0].features.get_values() == {"rule": "align", "sample": "S1"}
    # -- end adapter-register-outputs --
    assert tl.Feature.get(name="sample").dtype == "str"  # created on demand
    again = adapters.register_outputs(
        job, [adapters.Output("results/S1.bam", key="aligned/S1.bam")]
    )
    assert again[0].uid == outputs[0].uid  # idempotent per key and content
    assert workflow.uid != job.uid


def test_transaction(local_instance, isolated):
    workflow, _ = workflow_and_job()
    # -- start adapter-transaction --
    with adapters.transaction():
        shards = [
            adapters.start_run("align", "process", parent=workflow, reference=f"shard-{n}")
            for n in range(3)
        ]
        adapters.annotate_records(
            [(run, {"shard": n}) for n, run in enumerate(shards)], create_features=True
        )

    assert tl.Run.filter(parent=workflow, shard__gte=1).count() == 2
    # -- end adapter-transaction --


def test_output(local_instance, isolated):
    # -- start adapter-output --
    out = adapters.Output(
        "results/S1.bam", key="aligned/S1.bam", features={"sample": "S1"}, description="sorted BAM"
    )
    assert (out.path, out.key, out.description) == (
        "results/S1.bam",
        "aligned/S1.bam",
        "sorted BAM",
    )
    # -- end adapter-output --
    with pytest.raises(AttributeError):
        out.key = "other"  # type: ignore[misc]


def test_link_inputs(local_instance, isolated):
    workflow, job = workflow_and_job()
    reference = tl.Artifact(write("hg38.fa", ">chr1\nACGT\n"), key="genomes/hg38.fa").save()
    known = tl.Artifact(write("S1.fastq", "@r\nAC\n+\nII\n"), key="raw/S1.fastq").save()
    write("copy-of-S1.fastq", "@r\nAC\n+\nII\n")
    write("adapters.txt", "AGATCGGAAGAGC\n")
    # -- start adapter-link-inputs --
    linked = adapters.link_inputs(job, paths=["copy-of-S1.fastq", "adapters.txt"])
    # known content is found whatever the file name; a new file is source data,
    # registered under its path relative to the working directory
    assert sorted(str(a.key) for a in linked) == ["adapters.txt", "raw/S1.fastq"]

    adapters.link_inputs(job, artifacts=[reference], hashes=[known.hash])
    assert {a.key for a in tl.Run.get(uid=job.uid).inputs} == {
        "genomes/hg38.fa",
        "raw/S1.fastq",
        "adapters.txt",
    }
    # -- end adapter-link-inputs --
    new = next(a for a in linked if a.key == "adapters.txt")
    assert new.run is None and new.load() == "AGATCGGAAGAGC\n"
    assert tl.Run.get(uid=job.uid).inputs.count() == 3
    with pytest.raises(tl.errors.NotFound, match="no artifact has hash"):
        adapters.link_inputs(job, hashes=["0" * 64])
    with pytest.raises(tl.errors.InvalidInput, match="input path not found"):
        adapters.link_inputs(job, paths=["missing.fastq"])
    assert workflow is not None


def test_resolve_inputs(local_instance, isolated):
    workflow, job = workflow_and_job()
    # -- start adapter-resolve-inputs --
    # two jobs wrote files with the same bytes; a third job read raw_a.csv
    writer_a = adapters.start_run("write_a", "job", parent=workflow)
    writer_b = adapters.start_run("write_b", "job", parent=workflow)
    for writer, name in ((writer_b, "raw_b.csv"), (writer_a, "raw_a.csv")):
        write(name, "id,value\n")
        adapters.register_outputs(writer, [adapters.Output(name, key=name)])
        adapters.finish_run(writer)
    reader = adapters.start_run("clean", "job", parent=workflow)
    write("data/samples/A.fastq", "@r1\nACGT\n+\nIIII\n")
    found = adapters.resolve_inputs(
        reader,
        [
            adapters.Input(path="raw_a.csv"),  # at its key first: never raw_b.csv
            adapters.Input(path="data/samples/A.fastq"),  # no run made it: source data
        ],
        workdir=".",  # what source data is named relative to
    )
    assert [a.key for a in found if a] == ["raw_a.csv", "data/samples/A.fastq"]
    assert found[0] is not None and found[0].run.uid == writer_a.uid
    assert found[1] is not None and found[1].description.startswith("source data read from /")
    # -- end adapter-resolve-inputs --
    assert job is not None


def test_input_source_key_and_inputs_in(local_instance, isolated):
    workflow, job = workflow_and_job()
    write("data/genome.fa", ">chr1\nACGT\n")
    reference = tl.Artifact(write("hg38.fa", ">chr1\nAC\n"), key="genomes/hg38.fa").save()
    # -- start adapter-input --
    given = adapters.Input(artifact=reference)  # what the consumer was handed
    read = adapters.Input(path="data/genome.fa", key="data/genome.fa")
    assert [a.key for a in adapters.resolve_inputs(job, [given, read]) if a] == [
        "genomes/hg38.fa",
        "data/genome.fa",
    ]
    # -- end adapter-input --
    # -- start adapter-source-key --
    assert adapters.source_key("data/genome.fa") == "data/genome.fa"
    assert adapters.source_key("data/genome.fa", workdir="data") == "genome.fa"
    assert adapters.source_key("/refs/hg38.fa") == "refs/hg38.fa"  # outside: absolute
    # -- end adapter-source-key --
    # -- start adapter-inputs-in --
    values = [reference, "data/genome.fa", Path("data"), "results", 3, ["data/genome.fa"]]
    assert adapters.inputs_in(values) == [reference, "data/genome.fa", "data"]
    # -- end adapter-inputs-in --
    assert workflow is not None


def test_hash_files(local_instance, isolated):
    known = tl.Artifact(write("S1.fastq", "@r\nAC\n+\nII\n"), key="raw/S1.fastq").save()
    # -- start adapter-hash-files --
    (digest,) = adapters.hash_files(["S1.fastq"])
    assert digest == hashlib.sha256(Path("S1.fastq").read_bytes()).hexdigest()
    assert tl.Artifact.get(hash=digest).key == "raw/S1.fastq"  # found by content
    # -- end adapter-hash-files --
    assert digest == known.hash


def test_resolve_reference(local_instance, isolated):
    write("counts.csv", "a,1\n")
    first = tl.Artifact("counts.csv", key="tables/counts.csv").save()
    write("counts.csv", "a,2\n")
    second = tl.Artifact("counts.csv", key="tables/counts.csv").save()
    # -- start adapter-resolve-reference --
    assert adapters.resolve_reference("tables/counts.csv").version == 2  # the latest
    assert adapters.resolve_reference("tables/counts.csv@1").uid == first.uid
    assert adapters.resolve_reference(second.uid).version == 2  # a uid
    second.delete()  # to the trash: gone for engines, still there for people
    assert adapters.resolve_reference("tables/counts.csv").version == 1
    assert adapters.resolve_reference("tables/counts.csv@2", hidden=True).uid == second.uid
    assert adapters.resolve_reference("tables/counts.csv", trashed=True).uid == second.uid
    # -- end adapter-resolve-reference --
    with pytest.raises(tl.errors.NotFound, match="no version 2 of key"):
        adapters.resolve_reference("tables/counts.csv@2")
    with pytest.raises(tl.errors.NotFound, match="no artifact with uid or key"):
        adapters.resolve_reference("tables/other.csv")
    with pytest.raises(tl.errors.InvalidInput, match="KEY@VERSION"):
        adapters.resolve_reference("tables/counts.csv@latest")
    second.restore()
    # -- start adapter-resolve-references --
    found = adapters.resolve_references(
        ["tables/counts.csv", "tables/counts.csv@1", "tables/missing.csv"]
    )
    assert found["tables/counts.csv"].version == 2
    assert found["tables/counts.csv@1"].version == 1
    assert "tables/missing.csv" not in found  # what names nothing is left out
    # -- end adapter-resolve-references --
    # -- start adapter-split-reference --
    assert adapters.split_reference("tables/counts.csv@3") == ("tables/counts.csv", 3)
    assert adapters.split_reference("tables/counts.csv") == ("tables/counts.csv", None)
    # -- end adapter-split-reference --


def test_activate(local_instance, isolated):
    workflow, job = workflow_and_job()
    write("multiqc.html", "<html></html>")
    # -- start adapter-activate --
    with adapters.activate(job):
        assert tl.context.run.uid == job.uid
        report = tl.Artifact("multiqc.html", key="reports/multiqc.html").save()

    assert report.run.uid == job.uid
    assert tl.context.run is None  # the previous current run again
    # -- end adapter-activate --
    assert workflow.uid != job.uid


def test_hold(local_instance, isolated):
    other_db, other_store = isolated / "other.db", isolated / "other-store"
    # -- start adapter-hold --
    pipeline = adapters.start_run("Snakefile", "pipeline", engine="snakemake")
    adapters.hold(pipeline)
    assert tl.context.run is None  # held, not current
    with pytest.raises(tl.errors.TrackingError, match=r"while run .* is open"):
        tl.connect(db=f"sqlite:///{other_db}", storage=str(other_store))
    adapters.finish_run(pipeline)  # closed: no longer held
    tl.connect(db=f"sqlite:///{other_db}", storage=str(other_store))
    # -- end adapter-hold --
    assert tl.Run.select().count() == 0  # the other instance: nothing of the first
    tl.connect(db=local_instance.settings.db, storage=local_instance.settings.storage)
    # -- start adapter-release --
    again = adapters.start_run("Snakefile", "pipeline", engine="snakemake")
    adapters.hold(again)
    adapters.release(again)  # still open in the database, no longer held
    tl.connect(db=f"sqlite:///{other_db}", storage=str(other_store))
    # -- end adapter-release --
    assert tl.Run.filter(uid=again.uid).count() == 0  # written in the first instance


def test_annotate(local_instance, isolated):
    workflow, job = workflow_and_job()
    # -- start adapter-annotate --
    adapters.annotate(job, {"threads": 8, "wildcards": {"sample": "S1"}}, create_features=True)
    assert job.features.get_values() == {"threads": 8, "wildcards": {"sample": "S1"}}
    assert tl.Run.filter(threads__gte=4).count() == 1
    # -- end adapter-annotate --
    with pytest.raises(tl.errors.UnknownFeature):
        adapters.annotate(job, {"memory_mb": 100})
    assert workflow.uid != job.uid
    # -- start adapter-check-features --
    adapters.check_features({"threads": 4, "sample": "S2"}, create_features=True)  # fine
    try:
        adapters.check_features({"threads": "many"})
    except tl.errors.InvalidFeatureValue as err:
        print(err)  # feature 'threads' expects int, got 'many'
    assert not tl.Feature.filter(name="sample").exists()  # nothing written
    # -- end adapter-check-features --
    with pytest.raises(tl.errors.UnknownFeature):
        adapters.check_features({"memory_mb": 100})


def test_link_runs(local_instance, isolated):
    workflow, align = workflow_and_job()
    # -- start adapter-link-runs --
    call = adapters.start_run("rules/call", "rule", source="shell: bcftools call", parent=workflow)
    merge = adapters.start_run("rules/merge", "rule", parent=workflow)
    adapters.link_runs([(align, call), (align, merge), (call, merge)])  # upstream, downstream
    adapters.link_runs([(align, call)])  # recording an edge twice keeps one
    assert [r.uid for r in call.upstream_runs] == [align.uid]
    assert sorted(r.uid for r in merge.upstream_runs) == sorted([align.uid, call.uid])
    # -- end adapter-link-runs --
    with pytest.raises(tl.errors.InvalidInput, match="its own upstream"):
        adapters.link_runs([(merge, merge)])


def test_check_key(local_instance, isolated):
    # -- start adapter-check-key --
    from threadline import adapters

    assert adapters.check_key("results/S1/counts.csv") == "results/S1/counts.csv"
    for bad in ("/abs/path", "a/../b", "a//b", ""):
        try:
            adapters.check_key(bad)
        except tl.errors.InvalidKey as err:
            print(err)  # e.g. invalid key 'a/../b': has a '..' segment
        else:
            raise AssertionError(f"{bad!r} passed")
    # -- end adapter-check-key --


def test_child_environment(local_instance, isolated):
    workflow, job = workflow_and_job()
    write(
        "job.py", "import threadline as tl\nrun = tl.track()\nprint(run.parent.uid)\ntl.finish()\n"
    )
    # -- start adapter-child-environment --
    env = {**os.environ, **adapters.child_environment(job)}
    assert env["THREADLINE_PARENT_RUN"] == job.uid  # with THREADLINE_DB, THREADLINE_STORAGE
    done = subprocess.run(
        [sys.executable, "job.py"], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == job.uid  # the child's tl.track() ran under the job
    # -- end adapter-child-environment --
    plain = adapters.child_environment()
    assert set(plain) == {"THREADLINE_DB", "THREADLINE_STORAGE"}  # no current run
    assert plain["THREADLINE_DB"] == tl.instance().settings.db
    assert workflow.uid != job.uid


def test_database_url(local_instance, isolated, monkeypatch):
    monkeypatch.chdir(isolated)
    # -- start adapter-database-url --
    here = adapters.database_url("sqlite:///lineage.db", "store")  # resolved, not opened
    assert here == f"sqlite:///{os.path.join(os.getcwd(), 'lineage.db')}"
    assert not os.path.exists("lineage.db")
    current = tl.instance().settings.db
    assert adapters.database_url(current) == current  # the same database: no conflict
    # -- end adapter-database-url --
    assert adapters.database_url() == tl.instance().settings.db  # the environment's


def test_same_database():
    # -- start adapter-same-database --
    pg = "postgresql://lab@db.example.org:5432/lineage"
    assert adapters.same_database(pg, "postgres://lab:s3cret@DB.example.org/lineage")
    assert not adapters.same_database(pg, "postgresql://lab@db.example.org:5433/lineage")
    assert not adapters.same_database(pg, "postgresql://lab@db.example.org/lineage?port=5433")
    # -- end adapter-same-database --


def test_redact():
    # -- start adapter-redact --
    command = "nextflow run main.nf --api_token s3cr3t -with-weblog http://u:pw@host:8000/"
    assert adapters.redact(command) == (
        "nextflow run main.nf --api_token *** -with-weblog http://u:***@host:8000/"
    )
    assert adapters.redact({"genome": "hg38", "aws": {"secret_key": "k"}}) == {
        "genome": "hg38",
        "aws": {"secret_key": "***"},
    }
    # -- end adapter-redact --


def test_annotate_records(local_instance, isolated):
    workflow, _ = workflow_and_job()
    # -- start adapter-annotate-records --
    jobs = [
        adapters.start_run("rules/call", "rule", parent=workflow, reference=f"job-{i}")
        for i in range(3)
    ]
    adapters.annotate_records(
        [(job, {"exit": 0, "realtime_ms": 120 * i}) for i, job in enumerate(jobs)],
        create_features=True,
    )
    assert tl.Run.filter(realtime_ms__gte=120).count() == 2
    # -- end adapter-annotate-records --
    with pytest.raises(tl.errors.InvalidInput, match="not both"):
        adapters.annotate_records(
            [(jobs[0], {"exit": 1}), (tl.Artifact.filter().first() or _artifact(), {"exit": 1})]
        )
    assert jobs[0].features.get_values() == {"exit": 0, "realtime_ms": 0}


def _artifact() -> tl.Artifact:
    write("x.txt", "x")
    return tl.Artifact("x.txt", key="x.txt").save()


def test_strict(local_instance, isolated, monkeypatch, caplog):
    _, job = workflow_and_job()
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    # -- start adapter-strict --
    import logging

    log = logging.getLogger("threadline.myengine")

    def on_job_finished(job: tl.Run) -> None:  # called by the engine
        try:
            adapters.annotate(job, {"lane": 3})  # "lane" is no feature yet: fails
        except tl.errors.ThreadlineError:
            if adapters.strict():
                raise
            log.exception("threadline could not annotate %s; the engine goes on", job.name)

    with pytest.raises(tl.errors.UnknownFeature):
        on_job_finished(job)  # THREADLINE_STRICT=1: the failure surfaces
    # -- end adapter-strict --
    monkeypatch.setenv("THREADLINE_STRICT", "0")
    assert not adapters.strict()
    on_job_finished(job)  # logged, not raised
    assert "threadline could not annotate" in caplog.text


def test_guard(local_instance, isolated, monkeypatch, caplog):
    _, job = workflow_and_job()
    monkeypatch.setenv("THREADLINE_STRICT", "0")
    # -- start adapter-guard --
    guard = adapters.Guard("myengine", host="the workflow")  # logs on threadline.myengine

    @guard("a finished job")  # as a decorator: the engine's callback never raises
    def on_job_finished(job: tl.Run) -> None:
        adapters.annotate(job, {"lane": 3})  # "lane" is no feature yet: fails

    on_job_finished(job)
    on_job_finished(job)  # the same failure again: logged at DEBUG only
    with guard("the end of the workflow"):  # or as a block
        adapters.finish_run(job, "done")  # not a status: fails, logged once
    assert guard.failures == [
        "a finished job: UnknownFeature",
        "a finished job: UnknownFeature",
        "the end of the workflow: InvalidInput",
    ]
    # -- end adapter-guard --
    errors = [
        r for r in caplog.records if r.name == "threadline.myengine" and r.levelname == "ERROR"
    ]
    assert len(errors) == 2 and all(r.exc_info for r in errors)
    assert "(the workflow is not affected" in errors[0].getMessage()
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    with pytest.raises(tl.errors.UnknownFeature):
        on_job_finished(job)  # strict: logged, then raised


def test_update_run(local_instance, isolated):
    workflow, _ = workflow_and_job()
    # -- start adapter-update-run --
    task = adapters.start_run("processes/align", "process", parent=workflow, status="scheduled")
    adapters.update_run(task, status="started", params={"reads": "S1.fq", "token": "t0k"})
    assert tl.Run.get(uid=task.uid).status == "started"
    assert tl.Run.get(uid=task.uid).params == {"reads": "S1.fq", "token": "***"}
    # -- end adapter-update-run --
    with pytest.raises(tl.errors.InvalidInput, match="finish_run"):
        adapters.update_run(task, status="completed")
    with pytest.raises(tl.errors.InvalidInput, match="unknown run fields"):
        adapters.update_run(task, colour="red")


def test_abort_children(local_instance, isolated):
    workflow, done = workflow_and_job()
    adapters.finish_run(done, "completed")
    # -- start adapter-abort-children --
    open_tasks = [adapters.start_run("tasks/qc", "task", parent=workflow) for _ in range(3)]
    assert adapters.abort_children(workflow, error="the flow crashed") == 3
    assert {tl.Run.get(uid=t.uid).status for t in open_tasks} == {"aborted"}
    assert tl.Run.get(uid=done.uid).status == "completed"  # closed runs keep their status
    # -- end adapter-abort-children --


def test_descendants_and_outputs_of(local_instance, isolated):
    workflow, job = workflow_and_job()
    write("S1.bam", "bam")
    write("report.html", "<html/>")
    # -- start adapter-descendants --
    sub = adapters.start_run("tasks/report", "task", parent=job)  # a grandchild
    assert [r.uid for r in adapters.descendants(workflow)] == [job.uid, sub.uid]
    # -- end adapter-descendants --
    adapters.register_outputs(job, [adapters.Output("S1.bam", key="aligned/S1.bam")])
    adapters.register_outputs(sub, [adapters.Output("report.html", key="report.html")])
    # -- start adapter-outputs-of --
    made = adapters.outputs_of([workflow, *adapters.descendants(workflow)])
    assert [(a.key, a.run.uid) for a in made] == [
        ("aligned/S1.bam", job.uid),
        ("report.html", sub.uid),
    ]
    # -- end adapter-outputs-of --
    assert len(adapters.outputs_of([job, sub], limit=1)) == 1


def test_claim_outputs(local_instance, isolated):
    _, job = workflow_and_job()
    write("counts.csv", "a,1\n")
    # -- start adapter-claim-outputs --
    stored = tl.Artifact("counts.csv", key="tables/counts.csv").save()  # by a storage plugin
    assert stored.run is None
    assert adapters.claim_outputs([(stored, job)]) == 1  # the job made it
    assert tl.Artifact.get(key="tables/counts.csv").run.uid == job.uid
    assert adapters.claim_outputs([(stored, job)]) == 0  # a creator is never replaced
    # -- end adapter-claim-outputs --


def test_register_inputs(local_instance, isolated):
    _, job = workflow_and_job()
    write("config.yaml", "genome: hg38\n")
    # -- start adapter-register-inputs --
    (config,) = adapters.register_inputs(
        job, [adapters.Output("config.yaml", key="configs/rnaseq.yaml")], kind="config"
    )
    assert config.run is None  # no run made it
    assert [a.key for a in tl.Run.get(uid=job.uid).inputs] == ["configs/rnaseq.yaml"]
    # -- end adapter-register-inputs --
    with adapters.activate(job):  # also inside the run: still not its output
        (again,) = adapters.register_inputs(job, ["config.yaml"])
    assert again.run is None


def test_emit(capsys):
    # -- start adapter-emit --
    rows = [{"uid": "r1", "status": "completed"}]
    adapters.emit(rows, as_json=False, human=lambda: "r1  completed")  # a table for people
    adapters.emit(rows, as_json=True, human=lambda: "")  # --json: the same data, for scripts
    # -- end adapter-emit --
    text, data = capsys.readouterr().out.split("\n", 1)
    assert text == "r1  completed" and json.loads(data) == rows


def test_start_run_later(local_instance, isolated):
    workflow, _ = workflow_and_job()
    # -- start adapter-start-run-later --
    writer = adapters.writer()
    task = adapters.start_run("tasks/square", "task", parent=workflow, later=True)  # queued

    def on_task_end() -> None:  # queued after the row, written after it
        adapters.annotate(task, {"attempt": 2}, create_features=True)

    writer.submit(on_task_end, where="a finished task")
    adapters.finish_run(task, "completed", later=True)  # part of the queued row if still queued
    writer.flush()  # where the flow ends: its records are all visible
    assert tl.Run.get(uid=task.uid).status == "completed"
    assert task.id == tl.Run.get(uid=task.uid).id  # the id, once the row is written
    assert tl.Run.get(uid=task.uid).features.get_values() == {"attempt": 2}
    # -- end adapter-start-run-later --


def test_writer(local_instance, isolated):
    workflow, job = workflow_and_job()
    guard = adapters.Guard("myengine", host="the workflow")
    # -- start adapter-writer --
    writer = adapters.writer()  # this process's writer thread (started on first use)

    def on_job_finished(job: tl.Run, lane: int) -> None:  # an engine callback: returns at once
        def write() -> None:
            adapters.finish_run(job, "completed")
            adapters.annotate(job, {"lane": lane}, create_features=True)

        writer.submit(write, where="a finished job", guard=guard)

    on_job_finished(job, 3)
    writer.flush()  # where the workflow ends: everything it queued is written
    assert tl.Run.get(uid=job.uid).status == "completed"
    with writer.turn:  # a write the callback needs at once takes turns with the writer
        task = adapters.start_run("rules/sort", "rule", parent=workflow)
    # -- end adapter-writer --
    assert task.id is not None and guard.failures == []
