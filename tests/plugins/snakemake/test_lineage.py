"""Snakemake jobs link what they really read: real workflows (copy steps, update(),
temp(), retries, folder outputs behind symlinks, logs in storage), and for every job its
inputs are the files it read, made by the jobs that wrote them, with no cycle. The
lineage cases run on SQLite and PostgreSQL (``db_instance``)."""

import hashlib
import logging
from pathlib import Path

import pytest
import threadline as tl
from threadline.storage import _manifest

from tests.plugins.snakemake.conftest import run_snakemake


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_workflow(tmp_path: Path, snakefile: str, **files: str) -> Path:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "Snakefile").write_text(snakefile)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def job_runs() -> dict[str, tl.Run]:
    pipeline = tl.Run.get(engine="snakemake", parent=None)
    return {run.name: run for run in tl.Run.filter(parent=pipeline)}


def check_lineage(expected: dict[str, dict[str, tuple[str | None, bytes]]]) -> None:
    """For each job named: its inputs are exactly the expected (key, content) pairs, each
    made by the job named (None: a source file), and no run is its own ancestor."""
    jobs = job_runs()
    for name, inputs in expected.items():
        run = jobs[name]
        got = {a.key: a for a in run.inputs}
        assert sorted(got, key=str) == sorted(inputs, key=str), name
        for key, (producer, content) in inputs.items():
            artifact = got[key]
            assert artifact.hash == sha256(content), (name, key)
            assert (artifact.run.name if artifact.run else None) == producer, (name, key)
    for run in jobs.values():  # no cycle: upstream of a run never contains the run
        assert run.uid not in {r.uid for r in tl.lineage.upstream(run).runs if r.id != run.id}
        for artifact in run.inputs:
            assert artifact.run_id != run.id
            if artifact.run is not None:
                assert artifact.run.started_at <= run.started_at


@pytest.fixture
def one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every job registered together at the end: the case where a content lookup after a
    batch's outputs are saved would find a later job's copy."""
    monkeypatch.setattr("threadline.snakemake._recorder.BATCH_SECONDS", 3600.0)


COPY_CHAIN = """
rule all:
    input: "final.txt"
rule stage:
    input: "raw.txt"
    output: "staged.txt"
    shell: "cp {input} {output}"
rule publish:
    input: "staged.txt"
    output: "final.txt"
    shell: "cp {input} {output}"
"""


def test_a_copy_step_never_turns_the_raw_input_into_its_copy(
    db_instance, tmp_path: Path, one_batch: None
):
    folder = write_workflow(tmp_path, COPY_CHAIN, **{"raw.txt": "same bytes\n"})
    assert run_snakemake(folder, cores=1)[0].failures == []
    data = b"same bytes\n"
    check_lineage(
        {
            "stage": {"raw.txt": (None, data)},  # the source, under its path
            "publish": {"staged.txt": ("stage", data)},
        }
    )
    staged = tl.Artifact.get(key="staged.txt")
    assert [r.name for r in tl.lineage.upstream(staged).runs] == ["stage"]
    assert "publish" not in [r.name for r in staged.run.upstream_runs]


def test_an_input_changed_in_place_later_is_linked_as_it_was_read(
    db_instance, tmp_path: Path, one_batch: None
):
    """``read`` takes db.txt before ``grow`` appends to it (``update()``): read's input is
    the original content, grow's output the grown one, made by grow."""
    snakefile = """
rule all:
    input: "copy.txt", "grown.flag"
rule read:
    input: before_update("db.txt")
    output: "copy.txt"
    shell: "cp {input} {output}"
rule grow:
    input: "copy.txt"
    output: update("db.txt"), touch("grown.flag")
    shell: "echo more >> db.txt"
"""
    folder = write_workflow(tmp_path, snakefile, **{"db.txt": "first\n"})
    assert run_snakemake(folder, cores=1)[0].failures == []
    assert (folder / "db.txt").read_text() == "first\nmore\n"
    check_lineage(
        {
            "read": {"db.txt": (None, b"first\n")},
            "grow": {"copy.txt": ("read", b"first\n")},
        }
    )
    grown = tl.Artifact.get(key="db.txt", is_latest=True)
    assert grown.hash == sha256(b"first\nmore\n") and grown.run.name == "grow"


def test_temp_outputs_are_recorded_before_snakemake_deletes_them(
    db_instance, tmp_path: Path, one_batch: None
):
    """An unconsumed temp() output and a consumed one, both deleted by Snakemake before
    the plugin's batch runs: both recorded, the consumer linked to its producer."""
    snakefile = """
rule all:
    input: "final.txt", "side.done"
rule first:
    output: temp("intermediate.txt"), temp("unused.txt")
    shell: "echo one > {output[0]}; echo spare > {output[1]}"
rule second:
    input: "intermediate.txt"
    output: "final.txt"
    shell: "tr a-z A-Z < {input} > {output}"
rule side:
    output: temp(directory("scratch")), "side.done"
    shell: "mkdir -p scratch && echo x > scratch/x && touch side.done"
"""
    folder = write_workflow(tmp_path, snakefile)
    assert run_snakemake(folder, cores=1)[0].failures == []
    assert not (folder / "intermediate.txt").exists() and not (folder / "unused.txt").exists()
    check_lineage({"second": {"intermediate.txt": ("first", b"one\n")}})
    assert tl.Artifact.get(key="unused.txt").load() == "spare\n"
    assert tl.Artifact.get(key="unused.txt").run.name == "first"
    assert tl.Artifact.get(key="scratch").run.name == "side"
    assert not list((folder / ".snakemake" / "threadline").glob("*/*"))  # copies removed


def test_a_job_retried_twice_is_three_runs_with_their_own_resources(local_instance, tmp_path: Path):
    snakefile = """
rule all:
    input: "flaky.txt"
rule flaky:
    output: "flaky.txt"
    retries: 2
    resources: mem_mb=lambda wildcards, attempt: 100 * attempt
    shell:
        "n=$(cat tries 2>/dev/null || echo 0); echo $((n+1)) > tries; "
        "if [ $n -ge 2 ]; then echo ok > {output}; else exit 1; fi"
"""
    folder = write_workflow(tmp_path, snakefile)
    assert run_snakemake(folder, cores=1)[0].failures == []
    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert pipeline.status == "completed"
    attempts = sorted(tl.Run.filter(parent=pipeline, name="flaky"), key=lambda r: r.id)
    assert [r.status for r in attempts] == ["errored", "errored", "completed"]
    values = [r.features.get_values() for r in attempts]
    assert [v["resources"]["mem_mb"] for v in values] == [100, 200, 300]
    assert [v.get("attempt", 1) for v in values] == [1, 2, 3]
    assert tl.Artifact.get(key="flaky.txt").run.uid == attempts[2].uid


def test_a_folder_output_behind_a_symlink_to_an_empty_folder(
    local_instance, tmp_path: Path, capfd: pytest.CaptureFixture[str]
):
    """directory() outputs that are a symlink to an empty folder, and a folder with
    symlink loops inside (``loop -> .``, ``self -> self``, two links to each other) and a
    link to a subfolder: both recorded, their downstream jobs too, the links left out
    listed in the folder's manifest, no traceback on Snakemake's console."""
    snakefile = """
rule all:
    input: "listing.txt", "looped.txt"
rule empty:
    output: directory("out")
    shell: "mkdir -p target && ln -s target {output}"
rule list:
    input: "out"
    output: "listing.txt"
    shell: "ls {input} > {output}"
rule loop:
    output: directory("looped")
    shell:
        "mkdir -p looped/sub && echo a > looped/sub/a.txt && ln -s . looped/loop && "
        "ln -s self looped/self && ln -s loop_b looped/loop_a && ln -s loop_a looped/loop_b && "
        "ln -s sub looped/sub_link"
rule read_loop:
    input: "looped"
    output: "looped.txt"
    shell: "cat {input}/sub_link/a.txt > {output}"
"""
    folder = write_workflow(tmp_path, snakefile)
    handlers = run_snakemake(folder, cores=1)
    assert handlers[0].failures == []
    out = tl.Artifact.get(key="out")
    assert out.run.name == "empty" and out.kind == "folder" and out.n_files == 0
    assert [a.key for a in job_runs()["list"].inputs] == ["out"]
    runs = job_runs()
    assert {runs[n].status for n in ("list", "loop", "read_loop", "all")} == {"completed"}
    assert not runs["loop"].error
    looped = tl.Artifact.get(key="looped")
    assert looped.run.name == "loop"
    assert [(a.key, a.run.name) for a in runs["read_loop"].inputs] == [("looped", "loop")]
    assert "unverified_inputs" not in runs["all"].features.get_values()
    backend = tl.instance().backend
    saved = [rel for rel, _, _ in _manifest.read(backend, looped.path) or []]
    assert {"sub/a.txt", "sub_link/a.txt"} <= set(saved)  # the linked subfolder, followed
    skipped = dict(_manifest.skipped_links(backend, looped.path))
    assert sorted(skipped) == ["loop", "loop_a", "loop_b", "self"]
    assert (folder / "looped.txt").read_text() == "a\n"
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "OSError" not in captured.err


def test_logs_in_storage_belong_to_their_job_run(local_instance, tmp_path: Path):
    from snakemake.settings.types import StorageSettings

    snakefile = """
rule all:
    input: "out.txt"
rule make:
    output: "out.txt"
    log: "logs/make.log"
    shell: "echo data > {output}; echo made > {log}"
"""
    folder = write_workflow(tmp_path, snakefile)
    storage = StorageSettings(
        default_storage_provider="threadline", default_storage_prefix="threadline://proj"
    )
    assert run_snakemake(folder, storage=storage)[0].failures == []
    make = job_runs()["make"]
    log = tl.Artifact.get(key="proj/logs/make.log")
    assert log.load() == "made\n" and log.run_id == make.id
    assert tl.Artifact.get(key="proj/out.txt").run_id == make.id
    assert make.logs is not None and make.logs.id == log.id


@pytest.mark.parametrize("batches", ["one", "per-job"])
def test_equal_contents_never_cross_link(
    db_instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batches: str, caplog
):
    """Empty marker files and copies of one file everywhere: each job's inputs are the
    files at its paths, whatever other file has the same bytes; registered all at the
    end, or each job in a batch of its own."""
    if batches == "one":
        monkeypatch.setattr("threadline.snakemake._recorder.BATCH_SECONDS", 3600.0)
    else:
        monkeypatch.setattr("threadline.snakemake._recorder.BATCH_JOBS", 1)
    snakefile = """
rule all:
    input: expand("done/{s}.flag", s=["a", "b"]), "both.txt"
rule mark:
    output: touch("done/{s}.flag")
rule copy:
    input: "src/{s}.txt"
    output: "copies/{s}.txt"
    shell: "cp {input} {output}"
rule both:
    input: "copies/a.txt", "copies/b.txt", "done/a.flag"
    output: "both.txt"
    shell: "cat {input} > {output}"
"""
    folder = write_workflow(tmp_path, snakefile)
    (folder / "src").mkdir()
    for s in "ab":
        (folder / "src" / f"{s}.txt").write_text("equal\n")
    with caplog.at_level(logging.WARNING, logger="threadline.snakemake"):
        assert run_snakemake(folder, cores=2)[0].failures == []
    equal = b"equal\n"
    check_lineage(
        {
            "copy (s=a)": {"src/a.txt": (None, equal)},
            "copy (s=b)": {"src/b.txt": (None, equal)},
            "both": {
                "copies/a.txt": ("copy (s=a)", equal),
                "copies/b.txt": ("copy (s=b)", equal),
                "done/a.flag": ("mark (s=a)", b""),
            },
        }
    )
