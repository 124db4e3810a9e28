"""check() and gc(): missing and corrupt objects, the trash, orphans, interrupted saves."""

import json
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import threadline as tl
from click.testing import CliRunner, Result
from threadline import adapters
from threadline.cli import main
from threadline.errors import ArtifactPurged, InvalidInput
from threadline.maintenance import Problem, check, gc, gc_plan
from threadline.storage import OBJECTS

from tests.harness import write


def backend():
    return tl.instance().backend


def overwrite_object(path: str, data: bytes, scratch: Path) -> None:
    """Replace a stored object's bytes for real (local objects are stored read-only)."""
    local = backend().local_path(path)
    if local is not None:
        os.chmod(local, 0o644)
        Path(local).write_bytes(data)
        os.chmod(local, 0o444)
    else:
        scratch.write_bytes(data)
        backend().put_file(str(scratch), path)


def objects() -> list[str]:
    return backend().list(OBJECTS)


# -- check ----------------------------------------------------------------------------------


def test_check_is_clean_on_a_healthy_instance(instance, isolated):
    tl.Artifact(write(isolated / "a.txt", "a"), key="a.txt").save()
    write(isolated / "folder" / "x.txt", "x")
    write(isolated / "folder" / "sub" / "y.txt", "y")
    tl.Artifact(isolated / "folder", key="folder").save()
    trashed = tl.Artifact(write(isolated / "t.txt", "t"), key="t.txt").save()
    trashed.delete()
    ticks = []
    assert check(progress=ticks.append) == []
    assert sum(ticks) == 3  # every record, the trash included


def test_check_reports_missing_objects(instance, isolated):
    kept = tl.Artifact(write(isolated / "a.txt", "a"), key="a.txt").save()
    lost = tl.Artifact(write(isolated / "b.txt", "b"), key="b.txt").save()
    backend().remove(lost.path)
    assert check() == [Problem(lost.uid, "b.txt", lost.uri, "missing")]
    assert check()[0].to_dict() == {
        "uid": lost.uid,
        "key": "b.txt",
        "path": lost.uri,
        "issue": "missing",
    }
    assert kept.load() == "a"


def test_check_reports_changed_content(instance, isolated):
    good = tl.Artifact(write(isolated / "a.txt", "same size A"), key="a.txt").save()
    bad = tl.Artifact(write(isolated / "b.txt", "same size B"), key="b.txt").save()
    overwrite_object(bad.path, b"same size X", isolated / "scratch")
    assert check() == [Problem(bad.uid, "b.txt", bad.uri, "hash mismatch")]
    assert good.load() == "same size A"


def test_check_reports_a_changed_file_inside_a_folder(instance, isolated):
    write(isolated / "run" / "a.txt", "a")
    write(isolated / "run" / "b.txt", "b")
    folder = tl.Artifact(isolated / "run", key="run").save()
    overwrite_object(f"{folder.path}/b.txt", b"B", isolated / "scratch")
    assert [p.issue for p in check()] == ["hash mismatch"]
    backend().remove(f"{folder.path}/a.txt")
    assert [p.issue for p in check()] == ["hash mismatch"]  # the folder is still there


def test_check_rereads_content_the_stat_cache_would_trust(local_instance, isolated):
    artifact = tl.Artifact(write(isolated / "a.txt", "original"), key="a.txt").save()
    local = backend().local_path(artifact.path)
    assert check() == []  # a first pass that would fill a stat cache
    before = os.stat(local)
    os.chmod(local, 0o644)
    with open(local, "r+b") as handle:  # same inode, same size ...
        handle.write(b"tampered")
    os.utime(local, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... same mtime
    os.chmod(local, 0o444)
    assert [p.issue for p in check()] == ["hash mismatch"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_check_reports_unreadable_objects(local_instance, isolated):
    artifact = tl.Artifact(write(isolated / "a.txt", "a"), key="a.txt").save()
    os.chmod(backend().local_path(artifact.path), 0)
    try:
        assert [p.issue for p in check()] == ["unreadable"]
    finally:
        os.chmod(backend().local_path(artifact.path), 0o444)


# -- gc -------------------------------------------------------------------------------------


def done(purged: int, removed: int) -> dict[str, int]:
    """What gc returns when no run used what it purged (no tombstone) and nothing is forgotten."""
    return {
        "trash_purged": purged,
        "tombstones_kept": 0,
        "objects_removed": removed,
        "records_forgotten": 0,
    }


def put_orphan(scratch: Path, name: str = "ff/orphan.txt") -> str:
    path = f"{OBJECTS}/{name}"
    backend().put_file(str(write(scratch, f"orphan {name}")), path)
    return path


def test_gc_empties_trash_and_removes_only_unreferenced_objects(instance, isolated):
    kept = tl.Artifact(write(isolated / "a.txt", "kept"), key="a.txt").save()
    trashed = tl.Artifact(write(isolated / "b.txt", "trashed"), key="b.txt").save()
    shared = tl.Artifact(write(isolated / "c.txt", "kept"), key="c.txt").save()  # kept's bytes
    trashed.delete()
    shared.delete()
    orphan = put_orphan(isolated / "scratch")
    assert gc(min_age_s=0) == {
        "trash_purged": 2,
        "tombstones_kept": 0,  # no run used them
        "objects_removed": 1,
        "records_forgotten": 0,
    }
    assert not backend().exists(orphan) and not backend().exists(trashed.path)
    assert backend().exists(kept.path) and kept.load() == "kept"  # still referenced
    assert tl.Artifact.filter(visibility__in=["main", "trash"]).count() == 1
    assert objects() == [kept.path]
    assert check() == []
    assert gc(min_age_s=0) == done(0, 0)


def test_gc_can_keep_the_trash(instance, isolated):
    trashed = tl.Artifact(write(isolated / "b.txt", "trashed"), key="b.txt").save()
    trashed.delete()
    orphan = put_orphan(isolated / "scratch")
    assert gc(keep_trash=True, min_age_s=0) == done(0, 1)
    assert backend().exists(trashed.path) and not backend().exists(orphan)
    trashed.restore()
    assert tl.Artifact.get(key="b.txt").load() == "trashed"


def test_gc_keeps_young_objects_by_default(instance, isolated):
    orphan = put_orphan(isolated / "scratch")
    folder = f"{OBJECTS}/ee/orphan-folder"
    for name in ("a.txt", "sub/b.txt"):
        backend().put_file(str(write(isolated / "f" / name, name)), f"{folder}/{name}")
    assert gc() == done(0, 0)  # maybe a save in progress
    assert backend().exists(orphan) and backend().exists(f"{folder}/sub/b.txt")
    assert gc(min_age_s=0) == done(0, 2)
    assert objects() == []


def test_gc_never_touches_objects_registered_in_place(instance, isolated):
    backend().put_file(str(write(isolated / "r.txt", "results")), "results/r.txt")
    artifact = tl.Artifact(backend().uri("results/r.txt"), key="results/r.txt").save()
    artifact.delete()
    assert gc(min_age_s=0)["trash_purged"] == 1
    assert backend().exists("results/r.txt")


# -- an interrupted save --------------------------------------------------------------------

SAVER = """
import sys
import threadline as tl
tl.Artifact(sys.argv[1], key="big/file.bin").save()
"""


def big_file(path: Path, size: int, salt: bytes) -> Path:
    """A sparse file of ``size`` bytes with unique leading bytes (a new hash each time)."""
    with open(path, "wb") as handle:
        handle.write(salt + os.urandom(1 << 20))
        handle.truncate(size)
    return path


def save_in_place_of_death(folder: Path, size: int, attempt: int) -> int:
    """Start a save in a child process and SIGKILL it while the object is being stored.

    Returns the child's exit status (``-SIGKILL`` when it was killed in time)."""
    inst = tl.instance()
    source = big_file(folder / f"big-{attempt}.bin", size, f"attempt {attempt}".encode())
    cache = folder / f"child-cache-{attempt}"
    env = {
        **os.environ,
        "THREADLINE_DB": inst.settings.db,
        "THREADLINE_STORAGE": inst.settings.storage,
        "THREADLINE_CACHE_DIR": str(cache),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(source)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    local = inst.backend.local_path(OBJECTS)
    deadline = time.time() + 120
    while child.poll() is None and time.time() < deadline:
        if local is not None:  # local storage: the object's temporary file is being written
            if any(".tmp-" in name for _, dirs, files in os.walk(local) for name in dirs + files):
                break
        elif _hashed(cache):  # remote storage: hashing is over, the upload has begun
            time.sleep(0.2)
            break
        time.sleep(0.001)
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    _, errors = child.communicate(timeout=60)
    assert child.returncode in (0, -signal.SIGKILL), errors.decode()
    return child.returncode


def _hashed(cache: Path) -> bool:
    path = cache / "statcache.sqlite"
    if not path.exists():
        return False
    try:
        with sqlite3.connect(path, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM stat2").fetchone()[0] > 0
    except sqlite3.Error:
        return False


@pytest.mark.slow
def test_a_save_killed_midway_leaves_a_consistent_instance(instance, isolated):
    tl.Artifact(write(isolated / "small.txt", "before"), key="small.txt").save()
    for attempt in range(5):
        status = save_in_place_of_death(isolated, 200 << 20, attempt)
        if status == -signal.SIGKILL:
            break
        tl.Artifact.get(key="big/file.bin").delete(permanent=True)  # finished first: again
    assert status == -signal.SIGKILL, "the save always finished before it could be killed"
    assert tl.Artifact.filter(key="big/file.bin", visibility__in=["main", "trash"]).count() == 0
    assert check() == []
    removed = gc(min_age_s=0)["objects_removed"]
    assert objects() == [tl.Artifact.get(key="small.txt").path]
    if tl.instance().backend.is_local:
        assert removed == 1  # the half-written temporary file
    assert check() == []
    # the same content saves cleanly afterwards
    again = tl.Artifact(isolated / f"big-{attempt}.bin", key="big/file.bin").save()
    assert again.size == 200 << 20 and check() == []


# -- tombstones: gc never erases lineage ----------------------------------------------------


def chain(folder: Path) -> tuple[tl.Artifact, tl.Artifact, tl.Run]:
    """raw/reads.txt -> clean (a run) -> clean/reads.txt, recorded as an engine would."""
    raw = tl.Artifact(write(folder / "raw.txt", "ACGT"), key="raw/reads.txt").save()
    run = adapters.start_run("clean", "task")
    adapters.link_inputs(run, artifacts=[raw])
    made = adapters.register_outputs(
        run, [adapters.Output(str(write(folder / "clean.txt", "acgt")), key="clean/reads.txt")]
    )
    adapters.finish_run(run)
    return raw, made[0], run


def test_gc_keeps_a_tombstone_where_a_run_used_the_artifact(instance, isolated):
    raw, clean, run = chain(isolated)
    loose = tl.Artifact(write(isolated / "loose.txt", "no run"), key="loose.txt").save()
    raw.delete()
    loose.delete()
    listed = gc_plan(min_age_s=0)
    assert [(p.key, p.tombstone) for p in listed.purge] == [
        ("loose.txt", False),
        ("raw/reads.txt", True),
    ]
    assert gc(min_age_s=0, planned=listed) == {
        "trash_purged": 2,
        "tombstones_kept": 1,
        "objects_removed": 0,
        "records_forgotten": 0,
    }
    assert objects() == [clean.path]  # both objects freed
    assert tl.Artifact.filter(key="loose.txt", visibility__in=["trash", "purged"]).count() == 0
    stone = tl.Artifact.get(uid=raw.uid, visibility="purged")
    assert (stone.key, stone.version, stone.hash, stone.size) == ("raw/reads.txt", 1, raw.hash, 4)
    assert stone.deleted_by and stone.deleted_at and stone.purged_at and not stone.is_latest
    assert [a.uid for a in run.inputs] == [raw.uid]  # the lineage still reaches it
    assert [a.key for a in tl.lineage.upstream(clean).artifacts] == ["raw/reads.txt"]
    assert "raw/reads.txt v1  (purged)" in clean.describe(as_text=True)
    assert check() == []  # a tombstone has no object to miss
    with pytest.raises(ArtifactPurged, match=r"raw/reads.txt v1 .* was purged at .* UTC by "):
        stone.load()
    with pytest.raises(ArtifactPurged):
        stone.restore()
    assert gc(min_age_s=0)["trash_purged"] == 0  # purged once


def test_a_purged_version_is_never_the_latest_and_its_number_is_kept(db_instance, isolated):
    raw, _, _ = chain(isolated)
    v2 = tl.Artifact(write(isolated / "raw.txt", "ACGTT"), key="raw/reads.txt").save()
    run = adapters.start_run("count", "task")
    adapters.link_inputs(run, artifacts=[v2])
    adapters.finish_run(run)
    v2.delete()  # the previous version is the latest again (restorable until gc)
    assert tl.Artifact.get(key="raw/reads.txt").version == 1
    gc(min_age_s=0)
    assert tl.Artifact.get(key="raw/reads.txt").uid == raw.uid
    assert [a.version for a in raw.versions] == [1]  # versions with content
    again = tl.Artifact(write(isolated / "raw.txt", "ACGTT"), key="raw/reads.txt").save()
    assert again.version == 3 and again.uid != v2.uid and again.is_latest  # v2 stays taken
    assert again.load() == "ACGTT"  # stored anew
    raw.delete()
    v3 = tl.Artifact.get(key="raw/reads.txt")
    v3.delete()
    gc(min_age_s=0)
    with pytest.raises(tl.errors.NotFound):
        tl.Artifact.get(key="raw/reads.txt")  # only tombstones left: no latest


def test_forget_refuses_while_records_depend_and_forgets_what_is_named(db_instance, isolated):
    raw, clean, run = chain(isolated)
    raw.delete()
    gc(min_age_s=0)
    with pytest.raises(InvalidInput, match=r"refusing to forget: .*clean/reads\.txt v1"):
        gc(min_age_s=0, forget=True)
    assert tl.Artifact.filter(uid=raw.uid, visibility="purged").count() == 1  # nothing done
    with pytest.raises(InvalidInput, match=r"no purged artifact matches 'clean/reads\.txt'"):
        gc(forget=["clean/reads.txt"])
    listed = gc_plan(forget=["raw/reads.txt@1"])
    assert [(f.key, f.cuts) for f in listed.forget] == [("raw/reads.txt", ("clean/reads.txt v1",))]
    assert gc(planned=listed)["records_forgotten"] == 1
    assert (
        list(run.inputs) == [] and tl.Artifact.filter(uid=raw.uid, visibility="purged").count() == 0
    )
    assert clean.load() == "acgt"


def test_forget_all_when_nothing_depends(db_instance, isolated):
    raw, clean, _ = chain(isolated)
    clean.delete()  # an output nobody read
    assert gc(min_age_s=0, forget=True)["records_forgotten"] == 1  # purged, then forgotten
    assert tl.Artifact.filter(uid=clean.uid, visibility__in=["trash", "purged"]).count() == 0
    assert raw.load() == "ACGT"


# -- the gc command -------------------------------------------------------------------------


def cli(*args: str, code: int = 0, stdin: str | None = None) -> Result:
    """``threadline ARGS`` in-process (stdin is not a terminal there)."""
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def assert_purged_but_shown(raw: tl.Artifact) -> None:
    """raw's object is gone; its tombstone is named in what was derived from it."""
    assert not backend().exists(raw.path)
    described = cli("describe", "clean/reads.txt").stdout
    assert "inputs of that run: 1" in described and "raw/reads.txt v1  (purged)" in described
    assert "purged: object freed at" in cli("describe", raw.uid).stdout
    listed = cli("lineage", "clean/reads.txt").stdout
    assert f"artifact {raw.uid}  raw/reads.txt v1  (purged)" in listed


def test_delete_then_gc_keeps_the_lineage_of_what_was_derived(instance, isolated):
    raw, clean, _ = chain(isolated)
    cli("delete", "raw/reads.txt")
    refused = cli("gc", "--min-age", "0", code=1)  # no terminal, no --yes: nothing purged
    assert refused.stdout.splitlines() == [
        f"purge raw/reads.txt v1 ({raw.uid}, 4 B): object freed, "
        "record kept as a tombstone (runs used it)"
    ]
    assert refused.stderr.startswith("error: nothing purged: stdin is not a terminal")
    assert tl.Artifact.get(uid=raw.uid, visibility="trash").hash == raw.hash
    assert (
        json.loads(cli("gc", "--min-age", "0", "--dry-run", "--json").stdout)["purge"][0]["action"]
        == "tombstone"
    )
    done = cli("gc", "--min-age", "0", "--yes").stdout
    assert done == "purged 1 from trash (1 kept as tombstones), removed 0 objects\n"
    assert_purged_but_shown(raw)
    walked = json.loads(cli("lineage", "clean/reads.txt", "--json").stdout)
    assert [(a["key"], a.get("purged")) for a in walked["artifacts"]] == [("raw/reads.txt", True)]
    mermaid = cli("lineage", "clean/reads.txt", "--format", "mermaid").stdout
    assert "raw/reads.txt v1 (purged)" in mermaid and "classDef purged" in mermaid
    html = cli("lineage", "clean/reads.txt", "--format", "html").stdout
    assert "raw/reads.txt v1 (purged)" in html and re.search(r'"purged": ?true', html)
    assert 'n.purged ? " purged"' in html  # the view draws a tombstone dashed
    events = cli("export", "openlineage").stdout  # one JSON event a line
    assert '"purged": {' in events and raw.uid in events
    failed = cli("load", "raw/reads.txt@1", code=1)
    assert failed.stdout == "" and len(failed.stderr.splitlines()) == 1
    assert (
        failed.stderr.startswith("error: artifact raw/reads.txt v1") and "purged" in failed.stderr
    )
    assert [a.key for a in tl.lineage.upstream(clean).artifacts] == ["raw/reads.txt"]


def test_gc_forget_on_the_command_line(db_instance, isolated):
    raw, _, _ = chain(isolated)
    cli("delete", "raw/reads.txt")
    cli("gc", "--yes")
    refused = cli("gc", "--forget", "--yes", code=1)
    assert refused.stderr.count("\n") == 1 and "refusing to forget" in refused.stderr
    assert "clean/reads.txt v1" in refused.stderr
    cli("gc", "raw/reads.txt", code=2)  # KEY without --forget: a usage error
    out = cli("gc", "--forget", "raw/reads.txt", "--dry-run").stdout
    assert out == (
        f"forget raw/reads.txt v1 ({raw.uid}): record removed, "
        "cutting the lineage of clean/reads.txt v1\n"
    )
    assert cli("gc", "--forget", "raw/reads.txt", "--yes").stdout.endswith("forgot 1 tombstones\n")
    assert "inputs of that run: 0" in cli("describe", "clean/reads.txt").stdout
    assert cli("gc", "--dry-run").stdout == "nothing to purge\n"


def test_gc_asks_on_a_terminal(db_instance, isolated):
    """A real pseudo-terminal as stdin: gc lists, asks, and does only what is confirmed."""
    raw, _, _ = chain(isolated)
    raw.delete()
    answer_no = on_a_terminal(["gc", "--min-age", "0"], "n")
    assert "purge raw/reads.txt v1" in answer_no and "go ahead? [y/N]" in answer_no
    assert tl.Artifact.get(uid=raw.uid, visibility="trash").visibility == "trash"
    answer_yes = on_a_terminal(["gc", "--min-age", "0"], "y")
    assert "purged 1 from trash (1 kept as tombstones)" in answer_yes
    assert tl.Artifact.get(uid=raw.uid, visibility="purged").purged_at is not None


def on_a_terminal(args: list[str], answer: str) -> str:
    """Run the installed ``threadline ARGS`` with a pseudo-terminal as its stdin, stdout
    and stderr; type ``answer`` at the prompt; return what it printed."""
    command = str(Path(sys.executable).with_name("threadline"))
    primary, secondary = pty.openpty()
    child = subprocess.Popen([command, *args], stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    seen = b""
    try:
        while b"go ahead?" not in seen:
            ready, _, _ = select.select([primary], [], [], 60)
            assert ready, f"no prompt: {seen!r}"
            seen += os.read(primary, 4096)
        os.write(primary, f"{answer}\n".encode())
        while True:
            ready, _, _ = select.select([primary], [], [], 60)
            try:
                chunk = os.read(primary, 4096) if ready else b""
            except OSError:  # the terminal closed with the child
                break
            if not chunk:
                break
            seen += chunk
    finally:
        child.wait(timeout=60)
        os.close(primary)
    return seen.decode()


def test_gc_does_what_it_listed_and_skips_what_was_restored_since(db_instance, isolated):
    raw, _, _ = chain(isolated)
    loose = tl.Artifact(write(isolated / "loose.txt", "no run"), key="loose.txt").save()
    raw.delete()
    loose.delete()
    listed = gc_plan(min_age_s=0)
    raw.restore()  # between the listing and the answer
    loose.restore()
    late = tl.Artifact(write(isolated / "late.txt", "late"), key="late.txt").save()
    late.delete()  # trashed after the listing: not in it
    assert gc(planned=listed) == done(0, 0)
    assert raw.load() == "ACGT" and loose.load() == "no run" and backend().exists(late.path)


# -- delete --permanent: the same tombstones, at once ---------------------------------------


def test_permanent_delete_keeps_a_tombstone_where_a_run_used_it(db_instance, isolated):
    """``delete(permanent=True)`` purges as gc does: one mechanism, not a second eraser."""
    raw, clean, run = chain(isolated)
    loose = tl.Artifact(write(isolated / "loose.txt", "no run"), key="loose.txt").save()
    assert raw.delete(permanent=True) == "tombstone"
    assert (raw.visibility, raw.is_latest) == ("purged", False)  # the object shows it too
    stone = tl.Artifact.get(uid=raw.uid, visibility="purged")
    assert (stone.key, stone.version, stone.hash, stone.size) == ("raw/reads.txt", 1, raw.hash, 4)
    assert stone.deleted_by and stone.deleted_at and stone.purged_by and stone.purged_at
    assert stone.deleted_at == stone.purged_at  # deleted and purged in one step
    assert not backend().exists(raw.path) and objects() == sorted([clean.path, loose.path])
    assert [a.uid for a in run.inputs] == [raw.uid]
    assert "raw/reads.txt v1  (purged)" in clean.describe(as_text=True)
    assert [a.key for a in tl.lineage.upstream(clean).artifacts] == ["raw/reads.txt"]
    with pytest.raises(ArtifactPurged, match=r"raw/reads.txt v1 .* was purged"):
        stone.load()
    assert stone.delete(permanent=True) == "purged"  # a tombstone already: nothing done
    assert loose.delete(permanent=True) == "erase"  # no run used it: record and object go
    assert (
        tl.Artifact.filter(uid=loose.uid, visibility__in=["main", "trash", "purged"]).count() == 0
    )
    assert gc(min_age_s=0) == done(0, 0)  # nothing left for gc: the same end state


def test_permanent_delete_of_a_trashed_artifact_keeps_who_trashed_it(db_instance, isolated):
    raw, clean, _ = chain(isolated)
    raw.delete()
    trashed_at = tl.Artifact.get(uid=raw.uid, visibility="trash").deleted_at
    assert tl.Artifact.get(uid=raw.uid, visibility="trash").delete(permanent=True) == "tombstone"
    stone = tl.Artifact.get(uid=raw.uid, visibility="purged")
    assert stone.deleted_at == trashed_at and stone.purged_at >= trashed_at
    # a run's output that nobody read is a tombstone too (its run used it)
    assert clean.delete(permanent=True) == "tombstone"
    assert tl.Artifact.filter(visibility="purged").count() == 2


def test_delete_forget_refuses_while_records_depend(db_instance, isolated):
    raw, clean, run = chain(isolated)
    with pytest.raises(InvalidInput, match=r"refusing to forget raw/reads\.txt v1 .*clean/reads"):
        raw.delete(forget=True)
    assert tl.Artifact.get(uid=raw.uid).visibility == "main" and raw.load() == "ACGT"  # no change
    assert clean.delete(forget=True) == "forget"  # an output nobody read: nothing depends
    assert tl.Artifact.filter(uid=clean.uid, visibility__in=["main", "purged"]).count() == 0
    assert raw.delete(permanent=True) == "tombstone"
    assert raw.delete(forget=True) == "forget"  # its reader's outputs are gone now
    assert list(run.inputs) == [] and objects() == []


def test_delete_on_the_command_line_keeps_tombstones(instance, isolated):
    raw, _, _ = chain(isolated)
    refused = cli("delete", "raw/reads.txt", "--forget", code=1)
    assert (
        refused.stderr.count("\n") == 1 and "refusing to forget raw/reads.txt v1" in refused.stderr
    )
    assert "threadline gc --forget raw/reads.txt@1" in refused.stderr
    assert cli("delete", "raw/reads.txt", "--permanent").stdout == (
        "raw/reads.txt v1 purged: object freed, record kept as a tombstone (runs used it)\n"
    )
    assert_purged_but_shown(raw)
    again = json.loads(cli("delete", raw.uid, "--permanent", "--json").stdout)
    assert again == {"uid": raw.uid, "permanent": True, "action": "purged"}
    assert cli("gc", "--min-age", "0", "--dry-run").stdout == "nothing to purge\n"
    forgot = cli("gc", "--forget", "raw/reads.txt@1", "--yes").stdout  # named: forgotten anyway
    assert forgot.endswith("forgot 1 tombstones\n")
    assert "inputs of that run: 0" in cli("describe", "clean/reads.txt").stdout
