"""A corpus of real workflow shapes (checkpoints, shadow rules, pipes, modules, and the
rule features of workflows/features and workflows/scatter): for every job, its inputs
are the files it read, made by the jobs that wrote them, with no cycle
(``check_lineage``); where a plain run is made too, both succeed and leave the same
files."""

import shutil
from pathlib import Path

import pytest
import threadline as tl

from tests.plugins.snakemake.conftest import WORKFLOWS, copy_workflow, run_snakemake
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


def run_plain(workdir: Path) -> None:
    """The same workflow without the logger (raises when Snakemake fails)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=2),
            snakefile=workdir / "Snakefile",
            workdir=workdir,
        )
        workflow.dag(dag_settings=DAGSettings()).execute_workflow()


def outputs(folder: Path) -> dict[str, bytes | None]:
    """Every file the run left (content; None for benchmark tables, which hold timings)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(".snakemake/") or not path.is_file():
            continue
        found[rel] = None if rel.startswith("bench/") else path.read_bytes()
    return found


def same_as_plain(tmp_path: Path, name: str) -> Path:
    """Run workflow ``name`` plainly and with the logger (cores=2): both succeed and leave
    the same files. Returns the logger run's folder."""
    plain = tmp_path / "plain" / name
    shutil.copytree(WORKFLOWS / name, plain)
    run_plain(plain)
    folder = copy_workflow(name, tmp_path)
    assert run_snakemake(folder, cores=2)[0].failures == []
    assert outputs(folder) == outputs(plain)
    return folder


GATHERED = b"two\nthree\none\nbeta\nalpha\nREFERENCE\n"
REPORT = b"1: two\n2: three\n3: one\n4: beta\n5: alpha\n6: REFERENCE\n"


def test_rule_features_link_what_each_job_read(local_instance, tmp_path: Path, batching):
    """Wildcard constraints, an input function, multiext(), params functions, log: and
    benchmark: files, priority, unpack(), protected(), ancient(), touch(), a run: rule,
    a script: rule and localrules (workflows/features)."""
    same_as_plain(tmp_path, "features")
    x_head, x_tail = b"one\n", b"two\nthree\n"
    y_head, y_tail = b"alpha\n", b"beta\n"
    check_lineage(
        {
            "split (sample=x)": {"raw/x.txt": (None, x_head + x_tail)},
            "split (sample=yy)": {"raw/yy.txt": (None, y_head + y_tail)},
            "combine (sample=x)": {
                "split/x.head": ("split (sample=x)", x_head),
                "split/x.tail": ("split (sample=x)", x_tail),
            },
            "combine (sample=yy)": {
                "split/yy.head": ("split (sample=yy)", y_head),
                "split/yy.tail": ("split (sample=yy)", y_tail),
            },
            "reference": {"ref.txt": (None, b"reference\n")},
            "gather": {
                "combined/x.txt": ("combine (sample=x)", x_tail + x_head),
                "combined/yy.txt": ("combine (sample=yy)", y_tail + y_head),
                "ref.upper.txt": ("reference", b"REFERENCE\n"),
            },
            "report": {"gathered.txt": ("gather", GATHERED)},
            "all": {"report.txt": ("report", REPORT), "report.done": ("report", b"")},
        }
    )
    split = job_runs()["split (sample=yy)"]
    assert split.params == {"size": 2}  # a params function, evaluated for the job
    assert split.logs is not None and split.logs.load() == "size 2\n"
    made = {a.key for a in tl.Artifact.filter(run=split)}
    assert made == {"split/yy.head", "split/yy.tail", "logs/split_yy.log", "bench/split_yy.tsv"}


def test_scatter_gather_groups_and_nested_checkpoints(local_instance, tmp_path: Path, batching):
    """scattergather:, a group:, a checkpoint whose outputs feed another checkpoint, and
    a full shadow rule (workflows/scatter)."""
    folder = same_as_plain(tmp_path, "scatter")
    numbers = b"1\n2\n3\n4\n5\n6\n"
    chunks = {
        "1-of-3": (b"3\n6\n", b"9\n36\n"),
        "2-of-3": (b"1\n4\n", b"1\n16\n"),
        "3-of-3": (b"2\n5\n", b"4\n25\n"),
    }
    expected: dict[str, dict[str, tuple[str | None, bytes]]] = {
        "scatter": {"numbers.txt": (None, numbers)},
        "shadowed": {"numbers.txt": (None, numbers)},
        "gather": {
            f"squared/{item}.txt": (f"square (scatteritem={item})", squared)
            for item, (_, squared) in chunks.items()
        },
        "first": {"squares.txt": ("gather", b"9\n36\n1\n16\n4\n25\n")},
    }
    for item, (chunk, _) in chunks.items():
        expected[f"square (scatteritem={item})"] = {f"chunks/{item}.txt": ("scatter", chunk)}
    check_lineage(expected)
    runs = job_runs()
    for n in ("9", "36"):  # a file inside a checkpoint's folder is that folder
        assert [(a.key, a.run.name) for a in runs[f"second (n={n})"].inputs] == [
            ("level1", "first")
        ]
    final = sorted((a.key, a.run.name) for a in runs["final"].inputs)
    assert final == [("level2/36", "second (n=36)"), ("level2/9", "second (n=9)")]
    assert (folder / "final.txt").read_text() == "36\n9\n"
    assert not (folder / "scratch.count").exists()  # the shadow folder kept it
