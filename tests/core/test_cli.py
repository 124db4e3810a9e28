"""The ``threadline`` command, run for real: click's runner in-process, plus the installed
entry point in a subprocess. Exit codes: 0 ok, 1 error (one ``error: ...`` line), 2 usage."""

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import threadline as tl
from click.testing import CliRunner, Result
from threadline.cli import main

from tests.harness import write


def cli(*args: str, code: int = 0) -> Result:
    """Run ``threadline ARGS`` in-process and check its exit code."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, prog_name="threadline")
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def fails(*args: str, match: str) -> str:
    """A user error: exit 1, nothing on stdout, exactly one ``error: ...`` line on stderr."""
    result = cli(*args, code=1)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert match in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def as_json(*args: str) -> object:
    return json.loads(cli(*args, "--json").stdout)


def columns(text: str) -> tuple[list[str], list[list[str]]]:
    """A piped table: its header and rows, cells split at runs of two or more spaces."""
    header, *rows = text.splitlines()
    return re.split(r"\s{2,}", header), [re.split(r"\s{2,}", row) for row in rows]


# what ``gc --json`` prints when there is nothing to purge
NOTHING_PURGED = {
    "trash_purged": 0,
    "tombstones_kept": 0,
    "objects_removed": 0,
    "records_forgotten": 0,
}


def installed_cli() -> str:
    path = Path(sys.executable).with_name("threadline")
    assert path.exists(), f"the threadline entry point is not installed next to {sys.executable}"
    return str(path)


# -- init and info ---------------------------------------------------------------------


def test_init_writes_project_file_and_later_commands_use_it(isolated):
    result = cli("init", "--storage", "store")
    assert result.stdout.startswith("initialized: storage ")
    text = (isolated / "threadline.toml").read_text()
    assert f'storage = "{isolated / "store"}"' in text
    assert f'db = "sqlite:///{isolated / ".threadline" / "threadline.db"}"' in text
    tl.disconnect()
    sub = isolated / "analysis" / "deep"
    sub.mkdir(parents=True)
    os.chdir(sub)  # the project file is found upward from the working directory
    info = as_json("info")
    assert info["source"] == str(isolated / "threadline.toml")
    assert info["storage"] == str(isolated / "store")
    assert (info["artifacts"], info["runs"]) == (0, 0)
    tl.disconnect()


def test_init_json_and_group_storage_option(isolated):
    data = json.loads(cli("--storage", str(isolated / "s2"), "init", "--json").stdout)
    assert data["storage"] == str(isolated / "s2") and data["source"] == "arguments"
    assert data["db"].startswith("sqlite:///")
    assert (isolated / "threadline.toml").is_file()
    tl.disconnect()


def test_init_without_options_makes_a_working_instance_here(isolated):
    result = cli("init")
    assert result.stdout.startswith("initialized: storage ")
    assert (isolated / ".threadline" / "storage").is_dir()
    assert (isolated / ".threadline" / "threadline.db").is_file()
    text = (isolated / "threadline.toml").read_text()
    assert f'storage = "{isolated / ".threadline" / "storage"}"' in text
    tl.disconnect()
    write(isolated / "a.txt", "a")
    saved = as_json("save", "a.txt", "--key", "a.txt")  # the project file is found and works
    stored = Path(saved["storage"]) / saved["path"]
    assert stored.read_text() == "a" and saved["storage"] == str(
        isolated / ".threadline" / "storage"
    )
    tl.disconnect()


def test_init_unreachable_postgres_fails_and_writes_no_file(isolated):
    from tests.harness import free_port

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/lineage"  # nothing listens there
    line = fails("init", "--storage", "store", "--db", url, match="database postgresql://")
    assert "refused" in line.lower() or "failed" in line.lower()
    assert not (isolated / "threadline.toml").exists()
    assert [p for p in isolated.rglob("*") if p.is_file()] == []


def test_info_human_output(local_instance, isolated):
    write(isolated / "a.txt", "a")
    cli("save", "a.txt", "--key", "a.txt")
    out = cli("info").stdout
    assert "source: environment" in out and "artifacts: 1" in out and "runs: 0" in out


# -- save --------------------------------------------------------------------------------


def test_save_file_human_and_json(local_instance, isolated):
    write(isolated / "reads.fasta", ">r1\nACGT\n")
    out = cli("save", "reads.fasta", "--key", "raw/reads.fasta").stdout
    saved = tl.Artifact.get(key="raw/reads.fasta")
    assert out == f"saved raw/reads.fasta v1 sha256:{saved.hash[:12]} ({saved.uid})\n"
    data = as_json("save", "reads.fasta", "--key", "raw/reads.fasta", "--description", "x")
    assert data["uid"] == saved.uid  # same key and content: the same artifact
    assert (data["key"], data["version"], data["hash"]) == ("raw/reads.fasta", 1, saved.hash)
    write(isolated / "reads.fasta", ">r1\nACGTT\n")
    data = as_json("save", "reads.fasta", "--key", "raw/reads.fasta")
    assert data["version"] == 2 and data["uid"] != saved.uid and data["is_latest"]


def test_save_folder_and_without_key(local_instance, isolated):
    write(isolated / "run1" / "a.txt", "A")
    write(isolated / "run1" / "sub" / "b.txt", "B")
    data = as_json("save", "run1", "--key", "runs/run1")
    assert data["kind"] == "folder" and data["n_files"] == 2 and data["size"] == 2
    write(isolated / "loose.txt", "loose")
    out = cli("save", "loose.txt").stdout
    assert out.startswith("saved (no key) v1 sha256:")
    assert tl.Artifact.filter(key=None).count() == 1


@pytest.mark.parametrize(
    "key, reason",
    [
        ("../up.txt", "'..' segment"),
        ("/abs.txt", "absolute"),
        ("a//b", "empty segment"),
    ],
)
def test_save_bad_key_is_one_line_error(local_instance, isolated, key, reason):
    write(isolated / "a.txt", "a")
    fails("save", "a.txt", "--key", key, match=reason)
    assert tl.Artifact.filter().count() == 0


def test_save_missing_path_is_one_line_error(local_instance, isolated):
    line = fails("save", "nope.txt", "--key", "n.txt", match="path not found")
    assert line.endswith("nope.txt")  # the message names the path
    assert tl.Artifact.filter().count() == 0  # and nothing was written


# -- load ----------------------------------------------------------------------------------


def test_load_prints_local_path_and_versions(local_instance, isolated):
    src = write(isolated / "a.txt", "one")
    cli("save", "a.txt", "--key", "k/a.txt")
    write(src, "two")
    cli("save", "a.txt", "--key", "k/a.txt")
    latest = Path(cli("load", "k/a.txt").stdout.strip())
    assert latest.read_text() == "two"
    first = Path(cli("load", "k/a.txt@1").stdout.strip())
    assert first.read_text() == "one"
    uid = tl.Artifact.get(key="k/a.txt", version=1).uid
    assert Path(cli("load", uid).stdout.strip()) == first
    assert as_json("load", "k/a.txt@2") == {
        "uid": tl.Artifact.get(key="k/a.txt").uid,
        "path": str(latest),
    }


def test_load_to_copies_file_and_folder(local_instance, isolated):
    write(isolated / "a.txt", "content")
    write(isolated / "f" / "x" / "y.txt", "Y")
    cli("save", "a.txt", "--key", "k/a.txt")
    cli("save", "f", "--key", "k/f")
    out = cli("load", "k/a.txt", "--to", "copy.txt").stdout
    assert out == "copy.txt\n" and (isolated / "copy.txt").read_text() == "content"
    (isolated / "into").mkdir()
    assert cli("load", "k/a.txt", "--to", "into").stdout == f"{Path('into', 'a.txt')}\n"
    copied = isolated / "into" / "a.txt"
    assert copied.read_text() == "content" and os.access(copied, os.W_OK)
    cli("load", "k/f", "--to", "fcopy")
    assert (isolated / "fcopy" / "x" / "y.txt").read_text() == "Y"
    assert stat.S_IMODE((isolated / "fcopy" / "x" / "y.txt").stat().st_mode) & stat.S_IWUSR


def test_load_errors(local_instance, isolated):
    write(isolated / "a.txt", "a")
    cli("save", "a.txt", "--key", "k/a.txt")
    fails("load", "no/such.txt", match="no artifact with uid or key 'no/such.txt'")
    fails("load", "k/a.txt@7", match="no version 7 of key 'k/a.txt'")
    fails("load", "k/a.txt@x", match="KEY@VERSION")
    fails(
        "load",
        "k/a.txt",
        "--to",
        str(isolated / "missing" / "dir" / "a.txt"),
        match="cannot copy k/a.txt",
    )
    assert not (isolated / "missing").exists()  # a failed copy leaves nothing behind


# -- ls --------------------------------------------------------------------------------------


def test_ls_prefix_versions_limit_json(local_instance, isolated):
    src = isolated / "a.txt"
    for text in ("1", "22"):
        write(src, text)
        cli("save", "a.txt", "--key", "raw/a.txt")
    write(isolated / "b.txt", "b")
    cli("save", "b.txt", "--key", "raw/b.txt")
    cli("save", "b.txt", "--key", "other/b.txt")
    out = cli("ls", "raw/").stdout
    header, rows = columns(out)
    assert header == ["KEY", "VERSION", "SIZE", "HASH", "CREATED (UTC)", "UID"]
    assert [row[:3] for row in rows] == [["raw/a.txt", "v2", "2 B"], ["raw/b.txt", "v1", "1 B"]]
    assert "\x1b[" not in out  # no colour when piped
    assert len({line.index("v") for line in out.splitlines()[1:]}) == 1  # aligned
    assert len(columns(cli("ls").stdout)[1]) == 3
    rows = as_json("ls", "raw/", "--all-versions")
    assert [(r["key"], r["version"]) for r in rows] == [
        ("raw/a.txt", 1),
        ("raw/a.txt", 2),
        ("raw/b.txt", 1),
    ]
    assert len(as_json("ls", "--limit", "1")) == 1
    created = as_json("ls", "raw/")[0]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", created)
    assert as_json("ls", "--limit", "0") == []
    assert cli("ls", "nothing/").stdout == "(no artifacts)\n"


def test_runs_filters_newest_first_json(local_instance, isolated):
    import datetime as dt

    from threadline import adapters

    pipeline = adapters.start_run(
        "wf", "pipeline", engine="nextflow", started_at=dt.datetime(2026, 1, 1, 9)
    )
    align = adapters.get_transform("wf/align", "process")
    adapters.start_runs(
        [
            {
                "transform": align,
                "parent": pipeline,
                "engine": "nextflow",
                "name": f"align ({n})",
                "status": "errored" if n == 2 else "completed",
                "started_at": dt.datetime(2026, 1, 1, 10, n),
            }
            for n in range(3)
        ]
    )
    adapters.start_run("train", "training", engine="lightning")
    header, rows = columns(cli("runs", "--parent", pipeline.uid).stdout)
    fails("runs", "--transform", "wf/algin", match="no transform with key 'wf/algin'")
    assert header == ["UID", "STATUS", "ENGINE", "TRANSFORM", "NAME", "STARTED (UTC)", "DURATION"]
    assert [row[4] for row in rows] == ["align (2)", "align (1)", "align (0)"]
    assert rows[0][1:4] == ["errored", "nextflow", "wf/align"]
    assert rows[0][5] == "2026-01-01 10:02:00"
    rows = as_json("runs", "--engine", "nextflow", "--status", "completed", "--limit", "1")
    assert [(r["name"], r["parent"], r["transform"]) for r in rows] == [
        ("align (1)", pipeline.uid, "wf/align")
    ]
    # every JSON date: ISO 8601, microseconds, the timezone (threadline stores UTC)
    assert rows[0]["started_at"] == "2026-01-01T10:01:00.000000+00:00"
    assert len(as_json("runs", "--transform", "train")) == 1
    assert len(as_json("runs")) == 5
    assert cli("runs", "--engine", "prefect").stdout == "(no runs)\n"
    fails("runs", "--parent", "nope", match="no run with uid 'nope'")
    assert "Invalid value for '--status'" in cli("runs", "--status", "done", code=2).stderr


def test_ls_trash(local_instance, isolated):
    write(isolated / "a.txt", "a")
    cli("save", "a.txt", "--key", "t/a.txt")
    assert as_json("ls", "--trash") == []
    cli("delete", "t/a.txt")
    assert [r["key"] for r in as_json("ls", "--trash")] == ["t/a.txt"]
    assert as_json("ls") == []


# -- on every backend ------------------------------------------------------------------------


def test_save_load_ls_on_each_backend(instance, isolated):
    write(isolated / "data" / "x.csv", "a,b\n1,2\n")
    write(isolated / "data" / "sub" / "y.csv", "c\n3\n")
    file_art = as_json("save", "data/x.csv", "--key", "tables/x.csv")
    folder_art = as_json("save", "data", "--key", "tables/all")
    assert file_art["storage"] == tl.instance().settings.storage
    local = Path(cli("load", "tables/x.csv").stdout.strip())
    assert local.read_text() == "a,b\n1,2\n"
    folder = Path(cli("load", "tables/all").stdout.strip())
    assert (folder / "sub" / "y.csv").read_text() == "c\n3\n"
    cli("load", "tables/all", "--to", "restored")
    assert (isolated / "restored" / "x.csv").read_text() == "a,b\n1,2\n"
    rows = as_json("ls", "tables/")
    assert [(r["key"], r["uid"]) for r in rows] == [
        ("tables/all", folder_art["uid"]),
        ("tables/x.csv", file_art["uid"]),
    ]
    assert cli("check").stdout == "ok: all objects intact\n"


def test_ls_order_is_the_same_on_each_backend(instance, isolated):
    for name in ("b", "a", "loose1", "loose2"):
        write(isolated / f"{name}.txt", name)
    cli("save", "b.txt", "--key", "k/b.txt")
    cli("save", "loose1.txt")  # no key
    cli("save", "a.txt", "--key", "k/a.txt")
    cli("save", "loose2.txt")
    rows = as_json("ls")
    assert [r["key"] for r in rows] == ["k/a.txt", "k/b.txt", None, None]
    assert rows[2]["created_at"] < rows[3]["created_at"]
    assert [r["key"] for r in as_json("ls", "--limit", "3")] == ["k/a.txt", "k/b.txt", None]
    assert [r["key"] for r in as_json("ls", "k/", "--limit", "1")] == ["k/a.txt"]


def test_lifecycle_on_each_backend(instance, isolated):
    write(isolated / "x.csv", "a,b\n1,2\n")
    saved = as_json("save", "x.csv", "--key", "t/x.csv")
    cli("delete", "t/x.csv")
    assert [r["uid"] for r in as_json("ls", "--trash")] == [saved["uid"]]
    cli("restore", "t/x.csv")
    assert [r["uid"] for r in as_json("ls", "t/")] == [saved["uid"]]
    cli("delete", saved["uid"], "--permanent")
    assert not tl.instance().backend.exists(saved["path"])
    assert as_json("ls", "--all-versions") == [] and as_json("check") == []
    assert as_json("gc", "--min-age", "0") == NOTHING_PURGED


def test_explicit_db_and_storage_options(isolated):
    db = f"sqlite:///{isolated / 'x.db'}"
    write(isolated / "a.txt", "a")
    opts = ("--db", db, "--storage", str(isolated / "objects"))
    # a database with no instance is not created by a typo'd URL: only init creates one
    fails(*opts, "save", "a.txt", "--key", "a.txt", match="no threadline instance at sqlite:")
    assert not (isolated / "x.db").exists()
    cli(*opts, "init")
    tl.disconnect()
    data = json.loads(cli(*opts, "save", "a.txt", "--key", "a.txt", "--json").stdout)
    assert data["storage"] == str(isolated / "objects")
    assert [r["uid"] for r in json.loads(cli(*opts, "ls", "--json").stdout)] == [data["uid"]]
    assert (isolated / "x.db").is_file()
    tl.disconnect()


# -- describe and lineage ---------------------------------------------------------------------


def _pipeline(isolated: Path) -> tuple[tl.Artifact, tl.Artifact, tl.Artifact]:
    """raw -> step clean -> clean; flow reads clean -> report (a tracked run's outputs)."""
    raw = tl.Artifact(write(isolated / "raw.txt", "acgt"), key="p/raw.txt").save()

    @tl.step("clean")
    def clean(source: tl.Artifact) -> tl.Artifact:
        write(isolated / "clean.txt", source.load().upper())
        return tl.Artifact(isolated / "clean.txt", key="p/clean.txt").save()

    @tl.flow("pipeline")
    def pipeline(source: tl.Artifact) -> tl.Artifact:
        cleaned = clean(source)
        write(isolated / "report.txt", f"{len(cleaned.load())} bases")
        return tl.Artifact(isolated / "report.txt", key="p/report.txt").save()

    report = pipeline(raw)
    return raw, tl.Artifact.get(key="p/clean.txt"), report


def test_lineage_upstream_and_downstream(local_instance, isolated):
    raw, _clean, report = _pipeline(isolated)
    up = as_json("lineage", "p/report.txt")
    assert [a["key"] for a in up["artifacts"]] == ["p/raw.txt", "p/clean.txt"]
    assert [r["transform"] for r in up["runs"]] == ["pipeline", "clean"]
    assert all(r["status"] == "completed" for r in up["runs"])
    down = as_json("lineage", raw.uid, "--downstream")
    assert [a["key"] for a in down["artifacts"]] == ["p/clean.txt", "p/report.txt"]
    text = cli("lineage", "p/report.txt").stdout
    assert text.startswith("upstream of Artifact p/report.txt\n")
    assert f"run {report.run.uid}  flow pipeline (completed)" in text
    assert f"artifact {raw.uid}  p/raw.txt v1" in text
    assert "(nothing upstream)" in cli("lineage", "p/raw.txt").stdout
    assert "(nothing downstream)" in cli("lineage", "p/report.txt", "--downstream").stdout
    alone = tl.Artifact(write(isolated / "alone.txt", "alone"), key="p/alone.txt").save()
    assert cli("lineage", alone.uid, "--both").stdout == (
        "upstream and downstream of Artifact p/alone.txt\n  (nothing upstream or downstream)\n"
    )  # was 'both of ...' and '(nothing both)'
    # a run uid works as well: the flow run's upstream is what it read
    by_run = as_json("lineage", report.run.uid)
    assert [a["key"] for a in by_run["artifacts"]] == ["p/raw.txt", "p/clean.txt"]
    fails("lineage", "nope", match="no artifact with uid or key 'nope'")


def test_describe(local_instance, isolated):
    raw, clean, report = _pipeline(isolated)
    tl.Feature(name="sample", dtype=str).save()
    report.features.add_values({"sample": "S1"})
    report.labels.add("qc-passed")
    text = cli("describe", "p/report.txt").stdout
    assert text.startswith("Artifact p/report.txt  v1  (latest)\n")
    assert f"run: {report.run.uid} (completed, python)" in text
    assert "transform: pipeline v1 (flow)" in text
    assert "sample = 'S1'" in text and "labels: qc-passed" in text
    data = as_json("describe", report.uid)
    assert data["features"] == {"sample": "S1"} and data["labels"] == ["qc-passed"]
    assert sorted(data["inputs"]) == sorted([raw.uid, clean.uid])
    assert data["run"] == report.run.uid
    fails("describe", "p/none.txt", match="no artifact with uid or key 'p/none.txt'")


def test_describe_draws_the_tree_and_says_how_many_more(local_instance, isolated):
    from threadline import adapters

    sources = [
        tl.Artifact(write(isolated / f"in/{n:02d}.txt", str(n)), key=f"in/{n:02d}.txt").save()
        for n in range(57)
    ]
    run = adapters.start_run("merge", "task")
    adapters.link_inputs(run, artifacts=sources)
    (merged,) = adapters.register_outputs(
        run, [adapters.Output(str(write(isolated / "m.txt", "all")), key="out/m.txt")]
    )
    adapters.finish_run(run)
    merged.description = "every sample\nmerged"
    merged.save()
    lines = cli("describe", "out/m.txt").stdout.splitlines()
    assert lines[1] == "├── description: every sample merged"
    inputs = lines.index("├── inputs of that run: 57")
    assert lines[inputs + 1] == "│   ├── in/00.txt v1"
    assert lines[inputs + 20] == "│   ├── in/19.txt v1"
    assert lines[inputs + 21] == "│   └── ... and 37 more inputs"  # not a silent stop at 20
    run_line = next(i for i, line in enumerate(lines) if line.startswith("├── run: "))
    assert lines[run_line + 1] == "│   └── transform: merge v1 (task)"  # its last child
    assert lines[-2] == "├── features: 0" and lines[-1] == "└── labels: -"


def test_describe_a_run(local_instance, isolated):
    raw, clean, report = _pipeline(isolated)
    step = clean.run
    lines = cli("describe", step.uid).stdout.splitlines()
    assert lines[0] == f"Run {step.uid}  clean (completed, python)"
    assert "├── transform: clean v1 (step)" in lines
    assert f"├── parent: {report.run.uid} (pipeline)" in lines
    assert lines[-4:] == [
        "├── inputs: 1",
        "│   └── p/raw.txt v1",
        "└── outputs: 1",
        "    └── p/clean.txt v1",
    ]
    data = as_json("describe", step.uid)
    assert (data["uid"], data["parent"], data["status"]) == (step.uid, report.run.uid, "completed")
    assert data["inputs"] == [raw.uid] and data["outputs"] == [clean.uid]
    assert data["started_at"].endswith("+00:00") and data["cache_note"] is None


# -- delete, restore, check, gc ----------------------------------------------------------------


def test_delete_restore_permanent(local_instance, isolated):
    src = write(isolated / "a.txt", "v1")
    cli("save", "a.txt", "--key", "d/a.txt")
    write(src, "v2")
    cli("save", "a.txt", "--key", "d/a.txt")
    v2 = tl.Artifact.get(key="d/a.txt")
    assert cli("delete", "d/a.txt").stdout == "d/a.txt v2 moved to trash\n"
    assert tl.Artifact.get(key="d/a.txt").version == 1  # v1 is the latest visible again
    assert cli("restore", "d/a.txt").stdout == "d/a.txt v2 restored\n"  # the trashed one
    assert tl.Artifact.get(key="d/a.txt").uid == v2.uid
    fails("restore", "d/a.txt", match="no version of key 'd/a.txt' is in the trash")
    v1 = tl.Artifact.get(key="d/a.txt", version=1)
    assert as_json("delete", "d/a.txt@1", "--permanent") == {
        "uid": v1.uid,
        "permanent": True,
        "action": "erase",  # no run used it: record and object go (else a tombstone)
    }
    assert not tl.instance().backend.exists(v1.path)
    assert tl.Artifact.filter(key="d/a.txt", visibility__in=["main", "trash"]).count() == 1
    assert as_json("restore", v2.uid) == {"uid": v2.uid, "visibility": "main"}
    fails("delete", "d/none.txt", match="no artifact with uid or key 'd/none.txt'")
    fails("restore", "d/none.txt", match="no artifact with uid or key 'd/none.txt'")


def test_check_clean_then_corrupted(local_instance, isolated):
    write(isolated / "a.txt", "intact")
    write(isolated / "b.txt", "other")
    cli("save", "a.txt", "--key", "c/a.txt")
    cli("save", "b.txt", "--key", "c/b.txt")
    assert cli("check").stdout == "ok: all objects intact\n"
    assert as_json("check") == []
    artifact = tl.Artifact.get(key="c/a.txt")
    stored = Path(tl.instance().backend.local_path(artifact.path))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444  # stored objects are read-only
    stored.chmod(0o644)
    stored.write_text("tampered")
    result = cli("check", code=1)
    assert result.stdout == f"hash mismatch: c/a.txt ({artifact.uri})\n"
    assert result.stderr == "error: 1 of 2 artifacts failed the check\n"
    stored.unlink()
    problems = json.loads(cli("check", "--json", code=1).stdout)
    assert problems == [
        {"uid": artifact.uid, "key": "c/a.txt", "path": artifact.uri, "issue": "missing"}
    ]


def test_gc_purges_trash_and_orphans(local_instance, isolated):
    write(isolated / "a.txt", "keep")
    write(isolated / "b.txt", "trash me")
    cli("save", "a.txt", "--key", "g/a.txt")
    cli("save", "b.txt", "--key", "g/b.txt")
    trashed = tl.Artifact.get(key="g/b.txt")
    backend = tl.instance().backend
    orphan = isolated / "orphan.txt"
    write(orphan, "nobody points here")
    backend.put_file(str(orphan), ".threadline/objects/sha256/ff/orphan.txt")
    cli("delete", "g/b.txt")
    assert as_json("gc", "--keep-trash") == NOTHING_PURGED
    out = cli("gc", "--min-age", "0", "--yes").stdout  # no terminal here: --yes
    assert out == "purged 1 from trash, removed 1 objects\n"
    assert not backend.exists(trashed.path)
    assert not backend.exists(".threadline/objects/sha256/ff/orphan.txt")
    assert tl.Artifact.get(key="g/a.txt").load() == "keep"
    assert as_json("gc", "--min-age", "0") == NOTHING_PURGED


# -- usage errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["ls", "--bogus"], "No such option '--bogus'"),
        (["ls", "--limit", "-1"], "Invalid value for '--limit'"),
        (["load"], "Missing argument 'REF'"),
    ],
)
def test_usage_errors_exit_2(isolated, args, message):
    result = cli(*args, code=2)
    assert message in result.stderr and result.stderr.startswith("Usage: threadline")
    assert result.stdout == ""


def test_every_command_has_help(isolated):
    for name, command in main.commands.items():
        assert command.help, name
        result = cli(name, "--help")
        assert result.stdout.startswith(f"Usage: threadline {name} ")


# -- the installed entry point ---------------------------------------------------------------------


def test_installed_entry_point_end_to_end(local_instance, isolated):
    exe = installed_cli()
    env = {**os.environ}
    write(isolated / "s.fasta", ">s\nAC\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=isolated,
            timeout=120,
            check=False,
        )

    saved = run("save", "s.fasta", "--key", "raw/s.fasta", "--json")
    assert saved.returncode == 0, saved.stderr
    data = json.loads(saved.stdout)
    assert {"uid", "key", "version", "hash"} <= set(data)
    assert tl.Artifact.get(key="raw/s.fasta").uid == data["uid"]  # same instance, by env
    loaded = run("load", "raw/s.fasta")
    assert loaded.returncode == 0 and Path(loaded.stdout.strip()).read_text() == ">s\nAC\n"
    missing = run("load", "raw/none")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "error: no artifact with uid or key 'raw/none'\n"
    usage = run("no-such-command")
    assert usage.returncode == 2 and "No such command" in usage.stderr
    version = run("--version")
    assert version.returncode == 0 and tl.__version__ in version.stdout


@pytest.mark.skipif(not Path("/usr/bin/script").exists(), reason="needs util-linux script(1)")
def test_ls_and_runs_are_coloured_on_a_terminal_only(local_instance, isolated):
    from threadline import adapters

    write(isolated / "a.txt", "a")
    cli("save", "a.txt", "--key", "a.txt")
    adapters.finish_run(adapters.start_run("align", "task"), "errored", error="boom")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    for command in ("ls", "runs"):
        line = f"{sys.executable} -m threadline {command}"
        on_tty = subprocess.run(
            ["script", "-qec", line, "/dev/null"], env=env, capture_output=True, text=True
        ).stdout
        assert "\x1b[" in on_tty, command  # rich's colours and bold header
        piped = subprocess.run(line.split(), env=env, capture_output=True, text=True, check=True)
        assert "\x1b[" not in piped.stdout and piped.stdout == cli(command).stdout


def test_python_m_threadline_and_the_since_example(local_instance, isolated):
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and tl.__version__ in done.stdout
    help_text = cli("export", "openlineage", "--help").stdout
    assert "e.g. 2026-11-30T09:00" in help_text
    assert cli("export", "openlineage", "--since", "2026-11-30T09:00").stdout == ""


@pytest.mark.skipif(not Path("/usr/bin/script").exists(), reason="needs util-linux script(1)")
def test_save_shows_progress_on_a_terminal_only(local_instance, isolated):
    big = isolated / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(80 << 20)  # above the 64 MiB progress threshold
    command = f"{sys.executable} -m threadline.cli save {big} --key big/b.bin"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    on_tty = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hashing" in on_tty and "100%" in on_tty and "saved big/b.bin v1" in on_tty
    piped = subprocess.run(command.split(), env=env, capture_output=True, text=True, check=True)
    assert "hashing" not in piped.stderr and "saved big/b.bin v1" in piped.stdout


def test_human_sizes_and_durations_never_show_a_rounded_up_limit():
    import datetime as dt

    from threadline._output import human_duration, human_size

    assert [human_size(n) for n in (0, 1023, 1536, 1024 * 1024 - 1, 2**30 - 100)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "1.0 MiB",  # was '1024.0 KiB'
        "1.0 GiB",  # was '1024.0 MiB'
    ]
    start = dt.datetime(2026, 1, 1)
    took = [0.85, 0.9996, 12.5, 59.97, 187, 3599.6, 7500]
    assert [human_duration(start, start + dt.timedelta(seconds=s)) for s in took] == [
        "850ms",
        "1.0s",  # was '1000ms'
        "12.5s",
        "1m 00s",  # was '60.0s'
        "3m 07s",
        "1h 00m",  # was '59m 59s'
        "2h 05m",
    ]


def test_describe_of_a_tombstone_says_its_object_is_freed(local_instance, isolated):
    from threadline import adapters

    raw = tl.Artifact(write(isolated / "raw.txt", "raw"), key="raw.txt").save()
    run = adapters.start_run("clean", "task")
    adapters.link_inputs(run, artifacts=[raw])
    adapters.finish_run(run)
    cli("delete", "raw.txt")
    cli("gc", "--yes")
    storage = [
        line for line in cli("describe", "raw.txt").stdout.splitlines() if "storage:" in line
    ]
    # the path is where the object was: gc freed it
    assert len(storage) == 1 and storage[0].endswith(f"{raw.path}  (object freed)"), storage


def test_gc_json_on_a_terminal_prints_only_json_on_stdout(local_instance, isolated):
    import pty
    import select

    from threadline import adapters

    raw = tl.Artifact(write(isolated / "raw.txt", "raw"), key="raw.txt").save()
    run = adapters.start_run("clean", "task")
    adapters.link_inputs(run, artifacts=[raw])
    adapters.finish_run(run)
    raw.delete()
    command = str(Path(sys.executable).with_name("threadline"))
    primary, secondary = pty.openpty()  # a person at the terminal, stdout to a script
    child = subprocess.Popen(
        [command, "gc", "--json", "--min-age", "0"],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    seen = b""
    try:
        while b"go ahead?" not in seen:
            ready, _, _ = select.select([primary], [], [], 60)
            assert ready, f"no prompt: {seen!r}"
            seen += os.read(primary, 4096)
        os.write(primary, b"y\n")
        out = child.communicate(timeout=60)[0].decode()
    finally:
        os.close(primary)
    assert b"purge raw.txt v1" in seen  # the listing goes with the question
    assert json.loads(out)["tombstones_kept"] == 1  # was the listing, then the JSON


def test_save_of_a_folder_with_a_dangling_link_on_a_terminal_is_one_error_line(
    local_instance, isolated
):
    import pty

    folder = isolated / "with-dead-link"
    write(folder / "a.txt", "a")
    (folder / "dead").symlink_to(isolated / "nowhere")
    command = str(Path(sys.executable).with_name("threadline"))
    primary, secondary = pty.openpty()  # stderr on a terminal: the progress bar's path
    child = subprocess.Popen(
        [command, "save", str(folder), "--key", "linked"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
    )
    os.close(secondary)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed with the child
                break
            if not chunk:
                break
            seen += chunk
        child.wait(timeout=60)
    finally:
        os.close(primary)
    lines = seen.decode().splitlines()
    assert child.returncode == 1 and len(lines) == 1, lines  # was a FileNotFoundError traceback
    assert lines[0].startswith("error: "), lines
