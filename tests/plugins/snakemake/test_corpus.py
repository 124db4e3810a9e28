"""A corpus of real workflow shapes (checkpoints, shadow rules, pipes, modules): for
every job, its inputs are the files it read, made by the jobs that wrote them, with no
cycle (``check_lineage``)."""

from pathlib import Path

import pytest
import threadline as tl

from tests.plugins.snakemake.conftest import run_snakemake
from tests.plugins.snakemake.test_lineage import check_lineage, job_runs, write_workflow


@pytest.fixture(params=[False, True], ids=["batches", "one-batch"])
def batching(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """As jobs finish, and everything at the end (the later a batch, the more a content
    lookup could find)."""
    if request.param:
        monkeypatch.setattr("threadline.snakemake._recorder.BATCH_SECONDS", 3600.0)


def test_checkpoint_outputs_read_inside_its_folder(local_instance, tmp_path: Path, batching):
    snakefile = """
import os
rule all:
    input: "gathered.txt"
checkpoint split:
    input: "data.txt"
    output: directory("parts")
    shell: "mkdir -p {output} && split -l 1 {input} {output}/p_"
def parts(wildcards):
    folder = checkpoints.split.get().output[0]
    names = glob_wildcards(os.path.join(folder, "{name}")).name
    return expand("parts/{name}", name=sorted(names))
rule gather:
    input: parts
    output: "gathered.txt"
    shell: "cat {input} > {output}"
"""
    folder = write_workflow(tmp_path, snakefile, **{"data.txt": "one\ntwo\n"})
    assert run_snakemake(folder, cores=1)[0].failures == []
    check_lineage({"split": {"data.txt": (None, b"one\ntwo\n")}})
    gather = job_runs()["gather"]
    assert [(a.key, a.run.name) for a in gather.inputs] == [("parts", "split")]
    assert [r.name for r in gather.upstream_runs] == ["split"]


def test_shadow_rule(local_instance, tmp_path: Path, batching):
    snakefile = """
rule all:
    input: "b.txt"
rule a:
    input: "in.txt"
    output: "a.txt"
    shadow: "minimal"
    shell: "cp {input} scratch.tmp && cp scratch.tmp {output}"
rule b:
    input: "a.txt"
    output: "b.txt"
    shadow: "shallow"
    shell: "cp {input} {output}"
"""
    folder = write_workflow(tmp_path, snakefile, **{"in.txt": "x\n"})
    assert run_snakemake(folder, cores=1)[0].failures == []
    check_lineage({"a": {"in.txt": (None, b"x\n")}, "b": {"a.txt": ("a", b"x\n")}})
    assert not (folder / "scratch.tmp").exists()


def test_pipe_between_two_jobs(local_instance, tmp_path: Path, batching):
    snakefile = """
rule all:
    input: "counted.txt"
rule produce:
    input: "words.txt"
    output: pipe("stream.pipe")
    shell: "cat {input} > {output}"
rule consume:
    input: "stream.pipe"
    output: "counted.txt"
    shell: "wc -l < {input} > {output}"
"""
    folder = write_workflow(tmp_path, snakefile, **{"words.txt": "a\nb\nc\n"})
    assert run_snakemake(folder, cores=2)[0].failures == []
    check_lineage({"produce": {"words.txt": (None, b"a\nb\nc\n")}, "consume": {}})
    counted = tl.Artifact.get(key="counted.txt")
    assert counted.run.name == "consume" and counted.load().strip() == "3"
    assert tl.Artifact.filter(key="stream.pipe").count() == 0  # a stream, not a file


def test_module_rules(local_instance, tmp_path: Path, batching):
    module = """
rule upper:
    input: "raw/{s}.txt"
    output: "up/{s}.txt"
    shell: "tr a-z A-Z < {input} > {output}"
"""
    snakefile = """
rule all:
    input: "both.txt"
module lib:
    snakefile: "lib/Snakefile"
use rule * from lib as lib_*
rule both:
    input: "up/a.txt", "up/b.txt"
    output: "both.txt"
    shell: "cat {input} > {output}"
"""
    folder = write_workflow(tmp_path, snakefile)
    (folder / "lib").mkdir()
    (folder / "lib" / "Snakefile").write_text(module)
    (folder / "raw").mkdir()
    for s in "ab":
        (folder / "raw" / f"{s}.txt").write_text(f"{s}\n")
    assert run_snakemake(folder, cores=1)[0].failures == []
    check_lineage(
        {
            "lib_upper (s=a)": {"raw/a.txt": (None, b"a\n")},
            "lib_upper (s=b)": {"raw/b.txt": (None, b"b\n")},
            "both": {
                "up/a.txt": ("lib_upper (s=a)", b"A\n"),
                "up/b.txt": ("lib_upper (s=b)", b"B\n"),
            },
        }
    )
